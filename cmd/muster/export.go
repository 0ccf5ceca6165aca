package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
)

func runExportPeople(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("export people", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	filter := fs.String("filter", "", "filter `expression` choosing who is exported, e.g. 'tag:member -tag:lapsed' (default: everyone)")
	format := fs.String("format", "csv", "output `format`: csv (NationBuilder column names), json, or audience (hashed identifiers for ad platforms)")
	purpose := fs.String("purpose", "", "with --format audience: the `purpose` recorded in the targeting register (required)")
	out := fs.String("out", "", "write to `file` instead of standard output")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *slug == "" {
		return usagef("--nation is required")
	}
	if *format != "csv" && *format != "json" && *format != "audience" {
		return usagef("--format must be csv, json or audience")
	}
	if *format == "audience" && strings.TrimSpace(*purpose) == "" {
		return usagef("--format audience needs --purpose (recorded in the targeting register)")
	}
	// Parse before touching the database: a typo is a usage error (exit 2)
	// naming the column, and never an export of everyone.
	expr, err := segment.Parse(*filter)
	if err != nil {
		return errs.Invalid("--filter: %s", errs.Message(err))
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	nations := nation.NewStore(db)
	n, err := nations.BySlug(ctx, *slug)
	if err != nil {
		return err
	}
	if *format == "audience" {
		return exportAudience(ctx, e, db, nations, n, *filter, *purpose, *out)
	}
	opts := importer.ExportOptions{Format: *format}
	if strings.TrimSpace(*filter) != "" {
		if opts.Where, opts.Args, err = compileFilter(ctx, db, nations, n.ID, expr); err != nil {
			return err
		}
	}
	w := e.stdout
	var f *os.File
	if *out != "" {
		f, err = os.OpenFile(*out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return usagef("cannot write %s: %v", *out, unwrapPath(err))
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	count, err := importer.Export(ctx, db, n.ID, bw, opts)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("export: write %s: %w", *out, err)
		}
		fmt.Fprintf(e.stderr, "exported %d people to %s\n", count, *out)
	}
	return nil
}

// compileFilter turns a parsed filter into the SQL condition the export
// streams by, as the segment service does for counts: saved segments
// expanded, ages and dates counted in the nation's time zone, today.
func compileFilter(ctx context.Context, db *store.DB, nations *nation.Store, nationID int64, expr segment.Expr) (string, []any, error) {
	svc := segment.NewService(db, segment.Options{})
	if segment.Uses(expr, "segment") {
		saved, err := svc.ListSaved(ctx, nationID)
		if err != nil {
			return "", nil, err
		}
		byName := map[string]string{}
		for _, g := range saved {
			byName[strings.ToLower(g.Name)] = g.Filter
		}
		expr, err = segment.Expand(expr, func(name string) (segment.Expr, bool) {
			text, ok := byName[strings.ToLower(name)]
			if !ok {
				return nil, false
			}
			x, err := segment.Parse(text)
			return x, err == nil
		})
		if err != nil {
			return "", nil, errs.Invalid("--filter: %s", errs.Message(err))
		}
	}
	loc, err := nationZone(nations)(ctx, nationID)
	if err != nil {
		return "", nil, err
	}
	key, err := segment.ReadKey(ctx, db, nationID)
	if err != nil {
		return "", nil, err
	}
	where, args, err := segment.Compile(expr, segment.Env{Engine: db.Engine, NationID: nationID, Today: time.Now(), Loc: loc, Key: key})
	if err != nil {
		return "", nil, errs.Invalid("--filter: %s", errs.Message(err))
	}
	return where, args, nil
}

// exportAudience writes the hashed customer-list file for ad platforms
// (segment.Service.AudienceExport): only people whose ads consent is
// granted, never opinion data, each export in the targeting register. The
// command line has no staff member, so the register names actor 0
// ("command line").
func exportAudience(ctx context.Context, e *env, db *store.DB, nations *nation.Store, n *nation.Nation, filter, purpose, out string) error {
	svc := segment.NewService(db, segment.Options{Zone: nationZone(nations), NoIndex: true})
	w := e.stdout
	var f *os.File
	if out != "" {
		var err error
		f, err = os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return usagef("cannot write %s: %v", out, unwrapPath(err))
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	count, err := svc.AudienceExport(ctx, n.ID, filter, purpose, 0, bw)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export: write: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("export: write %s: %w", out, err)
		}
	}
	fmt.Fprintf(e.stderr, "exported an audience of %d people\n", count)
	return nil
}
