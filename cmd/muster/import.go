package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
)

// listFlag collects a repeated flag (--tag A --tag B).
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func runImportPeople(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("import people", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	format := fs.String("format", "auto", "file `format`: auto, nationbuilder, civicrm or csv")
	var maps, tags listFlag
	fs.Var(&maps, "map", "`COLUMN=FIELD` mapping, repeatable (fields: "+strings.Join(importer.FieldNames(), ", ")+", custom.NAME, or ignore)")
	fs.Var(&tags, "tag", "`tag` added to every imported person, repeatable")
	dry := fs.Bool("dry-run", false, "report what would happen and write nothing")
	overwrite := fs.Bool("overwrite", false, "replace conflicting non-empty values with the file's")
	showProgress := fs.Bool("progress", false, "print progress on stderr even when it is not a terminal")
	jsonOut := fs.Bool("json", false, `print {"rows","created","updated","merged","rejected","seconds",…} as JSON`)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one FILE: muster import people --nation SLUG [--format F] [--map COL=FIELD]… FILE")
	}
	if *slug == "" {
		return usagef("--nation is required")
	}
	f, ok := importer.ParseFormat(*format)
	if !ok {
		return usagef("--format must be auto, nationbuilder, civicrm or csv")
	}
	m := map[string]string{}
	for _, kv := range maps {
		col, field, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(col) == "" || strings.TrimSpace(field) == "" {
			return usagef("--map wants COLUMN=FIELD, got %q", kv)
		}
		m[strings.TrimSpace(col)] = strings.TrimSpace(field)
	}
	file := pos[0]
	if _, err := os.Stat(file); err != nil {
		return usagef("cannot read %s: %v", file, unwrapPath(err))
	}

	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := nation.NewStore(db).BySlug(ctx, *slug)
	if err != nil {
		return err
	}
	opts := importer.RunOptions{
		Options:   importer.Options{Format: f, Map: m, Tags: tags},
		Overwrite: *overwrite, DryRun: *dry,
	}
	var progress func(importer.Progress)
	if *showProgress || isTerminal(e.stderr) {
		progress = progressPrinter(e.stderr)
	}
	mailCfg, err := cfg.MailSettings() // its secret keys the erasure suppression list
	if err != nil {
		return err
	}
	sum, err := importer.Run(ctx, people.NewStore(db).WithSuppression(mailCfg.SecretKey), n.ID, file, opts, progress)
	if progress != nil {
		fmt.Fprintln(e.stderr)
	}
	if err != nil {
		if errs.KindOf(err) == errs.KindInvalid {
			return errs.Invalid("%s: %s", file, errs.Message(err))
		}
		if sum.Rows > 0 {
			return fmt.Errorf("%s: stopped after %d rows (committed batches are kept; run the import again to complete it): %w", file, sum.Rows, err)
		}
		return fmt.Errorf("%s: %w", file, err)
	}
	if *jsonOut {
		return printJSON(e.stdout, sum)
	}
	printSummary(e.stdout, file, sum)
	return nil
}

func printSummary(w io.Writer, file string, s importer.Summary) {
	verb := "imported"
	if s.DryRun {
		verb = "dry run of"
	}
	fmt.Fprintf(w, "%s %s (%s, %s, delimiter %q): %d rows in %.1fs\n", verb, file, s.Format, s.Encoding, s.Delimiter, s.Rows, s.Seconds)
	fmt.Fprintf(w, "  created   %d\n  updated   %d\n  unchanged %d\n  merged    %d (duplicate rows in the file)\n  rejected  %d\n",
		s.Created, s.Updated, s.Unchanged, s.Merged, s.Rejected)
	if s.FieldErrors > 0 {
		fmt.Fprintf(w, "  fields dropped from imported rows: %d\n", s.FieldErrors)
	}
	if s.Duplicates > 0 {
		fmt.Fprintf(w, "  possible duplicates queued for review: %d\n", s.Duplicates)
	}
	if len(s.Ignored) > 0 {
		fmt.Fprintf(w, "  ignored columns: %s\n", strings.Join(s.Ignored, ", "))
	}
	if s.RejectsFile != "" {
		fmt.Fprintf(w, "  rejected rows and fields, with line and reason: %s\n", s.RejectsFile)
	}
}

// progressPrinter returns a callback that rewrites one status line on w at
// most about once a second.
func progressPrinter(w io.Writer) func(importer.Progress) {
	var last time.Time
	return func(p importer.Progress) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		rate := 0.0
		if s := p.Elapsed.Seconds(); s > 0 {
			rate = float64(p.Rows) / s
		}
		fmt.Fprintf(w, "\r%d rows, %.0f rows/s: %d created, %d updated, %d unchanged, %d merged, %d rejected  ",
			p.Rows, rate, p.Created, p.Updated, p.Unchanged, p.Merged, p.Rejected)
	}
}

// isTerminal reports whether w is a character device (an interactive
// terminal), so progress lines are not written into logs and pipes.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
