package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
)

// runNationClone makes a child nation of --from per row of --csv. Bad rows
// are reported with their line and the rest proceeds; the exit code is 0
// when every row was created or skipped, 1 when some row was rejected.
func runNationClone(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("nation clone", e.stderr)
	cfg.RegisterStorage(fs)
	from := fs.String("from", "", "`slug` of the template nation (required)")
	file := fs.String("csv", "", "CSV `file`: slug,name,candidate_name,email[,domain][,language][,constituency] (required)")
	baseURL := fs.String("base-url", config.Env("MUSTER_BASE_URL", "http://localhost:8080"), "public base `URL` for the invitation links (env MUSTER_BASE_URL)")
	jsonOut := fs.Bool("json", false, "print the report as one JSON object")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *from == "" || *file == "" {
		return usagef("--from and --csv are required: muster nation clone --from SLUG --csv FILE")
	}
	if err := nation.ValidateSlug(*from); err != nil {
		return err
	}
	f, err := os.Open(*file)
	if err != nil {
		return usagef("%v", err)
	}
	rows, bad, err := clone.ParseCSV(f)
	f.Close()
	if err != nil {
		if errs.KindOf(err) == errs.KindInvalid {
			return errs.Invalid("%s: %s", *file, errs.Message(err))
		}
		return err
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	c := &clone.Cloner{DB: db, Nations: nation.NewStore(db), Pages: pages.NewStore(db), Auth: auth.NewStore(db), BaseURL: *baseURL}
	rep, err := c.Run(ctx, *from, rows, 0)
	if err != nil {
		return err
	}
	rep.Rejected = append(append([]clone.RowError{}, bad...), rep.Rejected...)
	rep.Rows += len(bad)
	if *jsonOut {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		for _, c := range rep.Created {
			fmt.Fprintf(e.stdout, "created %s (line %d): invite %s at %s\n", c.Slug, c.Line, c.Email, c.InviteLink)
		}
		for _, s := range rep.Skipped {
			fmt.Fprintf(e.stdout, "skipped %s (line %d): %s\n", s.Slug, s.Line, s.Reason)
		}
		fmt.Fprintf(e.stdout, "%d created, %d skipped, %d rejected in %.2fs\n", len(rep.Created), len(rep.Skipped), len(rep.Rejected), rep.Seconds)
	}
	for _, r := range rep.Rejected {
		fmt.Fprintf(e.stderr, "%s:%d: %s\n", *file, r.Line, r.Reason)
	}
	if len(rep.Rejected) > 0 {
		return errRowsRejected
	}
	return nil
}

// errRowsRejected makes the exit code 1 after the report has been printed.
var errRowsRejected = errors.New("some rows were rejected (see above)")
