package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
)

func runBenchImport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench import", e.stderr)
	rows := fs.Int("rows", 100000, "number of `rows` in the generated NationBuilder file")
	dup := fs.Float64("dup", 0.05, "`fraction` of rows that repeat an earlier person's e-mail (other case and spacing)")
	target := addBenchTarget(fs)
	jsonOut := fs.Bool("json", false, "print the figures as one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the two imports to `file` (go tool pprof)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("unexpected argument %q", pos[0])
	case *rows < 1:
		return usagef("--rows must be at least 1")
	case *dup < 0 || *dup >= 1:
		return usagef("--dup must be in [0, 1)")
	}
	if err := target.validate(); err != nil {
		return err
	}

	bd, err := target.open(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer bd.Close(*target.keep)
	db, dir := bd.DB, bd.Dir
	file := filepath.Join(dir, "people.csv")
	genStart := time.Now()
	if err := generateNationBuilder(file, *rows, *dup); err != nil {
		return err
	}
	genTime := time.Since(genStart)

	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "bench", Name: "Bench", Country: "BE"})
	if err != nil {
		return err
	}
	st := people.NewStore(db)
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var passes [2]importer.Summary
	var timings [2]people.Timings
	for i := range passes {
		opts := importer.RunOptions{RejectsPath: filepath.Join(dir, "rejects.csv"), Timings: &timings[i]}
		passes[i], err = importer.Run(ctx, st, n.ID, file, opts, nil)
		if err != nil {
			return fmt.Errorf("bench: pass %d: %w", i+1, err)
		}
	}
	hwm := peakRSS()
	stages := [2][]people.Stage{timings[0].Stages(), timings[1].Stages()}
	res := map[string]any{
		"engine": *target.engine, "rows": *rows, "dup": *dup, "generate_seconds": genTime.Seconds(),
		"import": passes[0], "reimport": passes[1],
		"import_rows_per_s":   float64(passes[0].Rows) / passes[0].Seconds,
		"reimport_rows_per_s": float64(passes[1].Rows) / passes[1].Seconds,
		"peak_rss_mib":        float64(hwm) / 1024,
		"import_stages":       stages[0],
		"reimport_stages":     stages[1],
	}
	if *jsonOut {
		return printJSON(e.stdout, res)
	}
	w := e.stdout
	fmt.Fprintf(w, "muster bench import: %d rows, %.0f%% duplicates, %s\n", *rows, *dup*100, *target.engine)
	fmt.Fprintf(w, "method: a generated NationBuilder people export (nationbuilder_id, names, e-mail with opt-in,\n"+
		"  phones, birth date, sex, 1–3 tags, support level, primary address with lat/lng; duplicates repeat an\n"+
		"  earlier e-mail in other case and spacing) imported with `muster import people` logic into a fresh,\n"+
		"  migrated database in one process, batches of %d; then the same file imported again.\n"+
		"  Times are wall clock from opening the file to the last commit. %d CPUs, %s, %s/%s.\n",
		importer.DefaultBatchSize, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "generate:  %.1fs\n", genTime.Seconds())
	for i, p := range passes {
		name := "import:  "
		if i == 1 {
			name = "reimport:"
		}
		fmt.Fprintf(w, "%s %8.1fs  %9.0f rows/s  created %d, updated %d, unchanged %d, merged %d, rejected %d\n",
			name, p.Seconds, float64(p.Rows)/p.Seconds, p.Created, p.Updated, p.Unchanged, p.Merged, p.Rejected)
	}
	fmt.Fprintf(w, "peak RSS:  %.0f MiB (VmHWM of this process)\n", float64(hwm)/1024)
	fmt.Fprintf(w, "where the time went, seconds per stage summed over batches (normalising runs beside the\n"+
		"  writer; on PostgreSQL two batches are written at once, so stages can add up to more than the wall clock):\n")
	for i, pass := range stages {
		fmt.Fprintf(w, "  %s\n", [2]string{"import", "reimport"}[i])
		for _, st := range pass {
			if st.Seconds >= 0.05 {
				fmt.Fprintf(w, "    %7.1fs  %s\n", st.Seconds, st.Name)
			}
		}
	}
	return nil
}

// generateNationBuilder writes a NationBuilder-style people file of n rows,
// a fraction dup of which repeat an earlier person's e-mail.
func generateNationBuilder(path string, n int, dup float64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: create file: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	_ = w.Write([]string{"nationbuilder_id", "first_name", "last_name", "email", "email_opt_in", "phone_number",
		"mobile_number", "born_at", "sex", "tag_list", "support_level", "primary_address1", "primary_city",
		"primary_zip", "primary_country_code", "primary_lat", "primary_lng"})
	rng := mrand.New(mrand.NewPCG(1, 2))
	// Realistic variety: thousands of first and last names and a thousand
	// postcodes, so that same-name-and-postcode duplicate proposals are as
	// rare as in a real file (a handful of names would make almost every
	// new person a "duplicate" of an earlier one).
	first := syllableNames(rng, 3000)
	last := syllableNames(rng, 8000)
	cities := []string{"Bruxelles", "Antwerpen", "Gent", "Liège", "Namur", "Leuven", "Brugge", "Charleroi", "Mons", "Hasselt"}
	tags := []string{"pensions", "climate", "housing", "transport", "member", "volunteer", "donor", "canvass-2026",
		"petition-water", "newsletter", "youth", "health", "education", "energy", "jobs", "culture", "sport", "digital", "europe", "mobility"}
	person := 0
	for i := range n {
		var email string
		id := i + 1
		p := person
		if i > 0 && rng.Float64() < dup {
			p = rng.IntN(person) // an earlier person, written differently
			email = "  " + strings.ToUpper(fmt.Sprintf("person%d", p)) + "@Example.ORG "
		} else {
			person++
			email = fmt.Sprintf("person%d@example.org", p)
		}
		// Person p's name and postcode are a function of p alone, so that a
		// duplicate row repeats them.
		zip := 1000 + (p*7919)%9000
		city := cities[zip%len(cities)]
		var tl []string
		for range 1 + rng.IntN(3) {
			tl = append(tl, tags[rng.IntN(len(tags))])
		}
		_ = w.Write([]string{
			strconv.Itoa(id), first[(p*31)%len(first)], last[(p*17+p/len(first))%len(last)], email,
			strconv.FormatBool(p%3 != 0), "",
			fmt.Sprintf("+32 47%d %02d %02d %02d", p/1000000%10, p/10000%100, p/100%100, p%100),
			fmt.Sprintf("%02d/%02d/%d", 1+p%12, 1+p%28, 1940+p%65), []string{"F", "M", "O"}[p%3],
			strings.Join(tl, ", "), strconv.Itoa(1 + p%5), fmt.Sprintf("Rue %d", 1+p%200), city, strconv.Itoa(zip), "BE",
			strconv.FormatFloat(50.5+float64(p%1000)/2000, 'f', 5, 64), strconv.FormatFloat(4.3+float64(p%997)/2000, 'f', 5, 64),
		})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("bench: write file: %w", err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("bench: write file: %w", err)
	}
	return f.Close()
}

// syllableNames makes n distinct, pronounceable capitalised names.
func syllableNames(rng *mrand.Rand, n int) []string {
	syl := []string{"an", "be", "ce", "da", "el", "fo", "gi", "ha", "is", "jo", "ka", "lu", "ma", "ne", "ol", "pi",
		"qu", "ro", "sa", "ti", "ul", "ve", "wi", "xa", "yo", "ze", "ber", "don", "man", "sen", "ter", "vin"}
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		k := 2 + rng.IntN(2)
		var b strings.Builder
		for range k {
			b.WriteString(syl[rng.IntN(len(syl))])
		}
		name := b.String()
		if seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, strings.ToUpper(name[:1])+name[1:])
	}
	return out
}

// peakRSS returns the process's peak resident set size in KiB, from
// /proc/self/status (VmHWM), or 0 where there is no /proc.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(r io.Reader) int64 {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}
