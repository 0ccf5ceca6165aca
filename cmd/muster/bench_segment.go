package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/segment"
)

// benchFilters are typical filters by class: the index answers "flags"
// from bitmaps alone and "scans" with a column scan (DESIGN §8 targets p95
// ≤ 10 ms and ≤ 100 ms over 1,000,000 people).
var benchFilters = []struct{ class, filter string }{
	{"flags", "tag:pensions"},
	{"flags", "tag:pensions consent:email -tag:member"},
	{"flags", "tag:youth OR tag:housing OR tag:health"},
	{"flags", "consent:email has:mobile gender:f"},
	{"flags", "tag:pensions tag:donor consent:email consent:sms has:email -tag:member support:1..2 country:BE"},
	{"scans", "age:45.."},
	{"scans", "tag:pensions age:45.. consent:email -tag:member"},
	{"scans", "near:50.85,4.35,10km"},
	{"scans", "postcode:10*"},
	{"scans", "created:>=2025-01-01"},
	{"scans", "active:2024-01-01..2024-12-31 consent:email -age:..30"},
}

func runBenchSegment(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench segment", e.stderr)
	n := fs.Int("people", 100000, "number of `people` to generate")
	target := addBenchTarget(fs)
	runs := fs.Int("runs", 200, "index counts per filter")
	sqlRuns := fs.Int("sql-runs", 3, "SQL counts per filter (0 skips SQL)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the index build to `file`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("unexpected argument %q", pos[0])
	case *n < 1:
		return usagef("--people must be at least 1")
	case *runs < 1:
		return usagef("--runs must be at least 1")
	}
	if err := target.validate(); err != nil {
		return err
	}
	bd, err := target.open(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer func() { bd.Close(*target.keep) }()
	db, dsn := bd.DB, bd.DSN
	nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "bench", Name: "Bench", TimeZone: "Europe/Brussels"})
	if err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, "muster bench segment: %d people on %s, %d CPUs, %s\n", *n, *target.engine, runtime.NumCPU(), runtime.Version())
	t0 := time.Now()
	gen := segment.GenOptions{Seed: 1, Tags: 30}
	how := "multi-row prepared INSERTs"
	if *target.engine == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return fmt.Errorf("bench: connect for COPY: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		gen.BulkLoad = func(ctx context.Context, table string, cols []string, rows [][]any) error {
			_, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			return err
		}
		how = "COPY"
	}
	if err := segment.GeneratePeople(ctx, db, nat.ID, *n, gen); err != nil {
		return err
	}
	if *target.engine == "postgres" { // as autovacuum would soon
		if _, err := db.Exec(ctx, "ANALYZE"); err != nil {
			return fmt.Errorf("bench: analyze: %w", err)
		}
	}
	fmt.Fprintf(e.stdout, "generated (%s; with tags, consents, actions): %.1f s\n", how, time.Since(t0).Seconds())

	// A cold start: close (SQLite checkpoints its WAL) and open again, drop
	// what generating left in memory and reset the peak RSS, so that the
	// figures below are the index's.
	if err := db.Close(); err != nil {
		return err
	}
	if err := bd.reopen(ctx); err != nil {
		return err
	}
	db = bd.DB
	debug.FreeOSMemory()
	resetPeakRSS()

	svc := segment.NewService(db, segment.Options{})
	ix := svc.Index(nat.ID)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	t0, cpu0 := time.Now(), cpuTime()
	if err := ix.Sync(ctx); err != nil {
		return err
	}
	build, buildCPU := time.Since(t0), cpuTime()-cpu0
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	buildRSS := peakRSS()
	runtime.GC()
	runtime.ReadMemStats(&after)
	st, err := ix.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "index build (cold start): %.2f s (CPU %.2f s) for %d people, %d tags; heap +%.0f MiB (estimate %.0f MiB), peak RSS while building %.0f MiB\n\n",
		build.Seconds(), buildCPU.Seconds(), st.People, st.Tags, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), float64(st.Bytes)/(1<<20), float64(buildRSS)/1024)

	fmt.Fprintf(e.stdout, "%-6s %10s %10s %10s %10s %9s  %s\n", "class", "index p50", "index p95", "SQL p50", "SQL p95", "count", "filter")
	classes := map[string][]time.Duration{}
	for _, bf := range benchFilters {
		var ixTimes, sqlTimes []time.Duration
		var count, sqlCount int64
		for range *runs {
			t := time.Now()
			if count, err = svc.CountVia(ctx, nat.ID, bf.filter, segment.ViaIndex); err != nil {
				return err
			}
			ixTimes = append(ixTimes, time.Since(t))
		}
		classes[bf.class] = append(classes[bf.class], ixTimes...)
		for range *sqlRuns {
			t := time.Now()
			if sqlCount, err = svc.CountVia(ctx, nat.ID, bf.filter, segment.ViaSQL); err != nil {
				return err
			}
			sqlTimes = append(sqlTimes, time.Since(t))
		}
		mark := ""
		if *sqlRuns > 0 && sqlCount != count {
			mark = fmt.Sprintf("  MISMATCH: SQL says %d", sqlCount)
		}
		fmt.Fprintf(e.stdout, "%-6s %10s %10s %10s %10s %9d  %s%s\n", bf.class, ms(pct(ixTimes, 50)), ms(pct(ixTimes, 95)),
			ms(pct(sqlTimes, 50)), ms(pct(sqlTimes, 95)), count, bf.filter, mark)
	}
	fmt.Fprintln(e.stdout)
	for _, c := range []struct{ class, what, target string }{
		{"flags", "tags/flags/consents", "10 ms"}, {"scans", "age/near/postcode/dates", "100 ms"}} {
		fmt.Fprintf(e.stdout, "index, %s (%s) p50 %s, p95 %s (target p95 ≤ %s)\n", c.class, c.what,
			ms(pct(classes[c.class], 50)), ms(pct(classes[c.class], 95)), c.target)
	}
	fmt.Fprintln(e.stdout, "index counts include the change-log check each count makes; \"scans\" are age, near, postcode and dates.")
	runtime.GC()
	runtime.ReadMemStats(&after)
	fmt.Fprintf(e.stdout, "heap in use at the end (index held): %.0f MiB\n", float64(after.HeapAlloc)/(1<<20))
	runtime.KeepAlive(svc)
	if rss := peakRSS(); rss > 0 {
		fmt.Fprintf(e.stdout, "peak RSS since the cold start (VmHWM): %.0f MiB\n", float64(rss)/1024)
	}
	return nil
}

// pct is the p-th percentile (nearest rank) of the durations; 0 for none.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// resetPeakRSS resets the process's VmHWM (Linux: "5" to clear_refs), so
// that peakRSS measures from here; elsewhere it does nothing.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// cpuTime is the process's user+system CPU time from /proc/self/stat
// (Linux; 0 elsewhere), in clock ticks of 10 ms.
func cpuTime() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state is field 3; utime and
	// stime are fields 14 and 15.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}
