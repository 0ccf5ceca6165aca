package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
)

// privacyService builds the privacy service as `serve` does: the secret key
// that keys suppression hashes, the imports directory and the erasure
// journal of the data directory.
func privacyService(cfg *config.Config, db *store.DB, log *slog.Logger) (*privacy.Service, error) {
	m, err := cfg.MailSettings()
	if err != nil {
		return nil, err
	}
	return privacy.NewService(privacy.Deps{DB: db, Key: m.SecretKey, ImportsDir: server.ImportsDir(cfg),
		JournalPath: privacy.JournalFile(cfg.DataDir), Log: log}), nil
}

// personCommand parses the flags shared by `person export|erase`.
func personCommand(ctx context.Context, e *env, name string, args []string, extra func(fs interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
})) (*privacy.Service, *store.DB, *nation.Nation, string, error) {
	var cfg config.Config
	fs := newFlagSet(name, e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	email := fs.String("email", "", "the person's e-mail `address` (required)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, nil, "", err
	}
	if *slug == "" || *email == "" || fs.NArg() > 0 {
		return nil, nil, nil, "", usagef("--nation and --email are required, and nothing else")
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return nil, nil, nil, "", err
	}
	n, err := nation.NewStore(db).BySlug(ctx, *slug)
	if err != nil {
		db.Close()
		return nil, nil, nil, "", err
	}
	svc, err := privacyService(&cfg, db, newLogger(e.stderr, cfg.LogLevel))
	if err != nil {
		db.Close()
		return nil, nil, nil, "", err
	}
	return svc, db, n, *email, nil
}

// runPersonExport prints everything a nation holds on the person with an
// address, as JSON in the published schema (subject access, Art. 15/20).
// An unknown address is a runtime failure (exit 1): there is nothing to
// hand over, and a script must not mistake an empty file for an answer.
func runPersonExport(ctx context.Context, e *env, args []string) error {
	var out *string
	svc, db, n, email, err := personCommand(ctx, e, "person export", args, func(fs interface {
		String(string, string, string) *string
		Bool(string, bool, string) *bool
	}) {
		out = fs.String("out", "", "write to `file` instead of standard output")
	})
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := svc.FindByEmail(ctx, n.ID, email)
	if err != nil {
		return errs.NotFound("nation %s holds no one with this address", n.Slug)
	}
	exp, err := svc.Collect(ctx, n.ID, id)
	if err != nil {
		return err
	}
	var w io.Writer = e.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("person export: %w", err)
		}
		defer f.Close()
		w = f
	}
	return exp.WriteJSON(w)
}

// runPersonErase erases the person with an address (and keeps the hashes of
// their identifiers on the suppression list). An address the nation does
// not hold is not an error (exit 0, "nothing held"): erasure is idempotent,
// so a script can run it again safely; the address is suppressed anyway.
func runPersonErase(ctx context.Context, e *env, args []string) error {
	var jsonOut *bool
	svc, db, n, email, err := personCommand(ctx, e, "person erase", args, func(fs interface {
		String(string, string, string) *string
		Bool(string, bool, string) *bool
	}) {
		jsonOut = fs.Bool("json", false, "print the report as one JSON object")
	})
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := svc.EraseByEmail(ctx, n.ID, email, 0)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, rep)
	}
	if !rep.Found {
		fmt.Fprintln(e.stdout, "nothing held under this address; it is on the suppression list now")
		return nil
	}
	fmt.Fprintf(e.stdout, "erased: %d record(s), %d identifier hash(es) suppressed, %d stored file(s) purged, %d job(s) cleaned\n",
		rep.People, rep.Suppressed, rep.Files, rep.Jobs)
	return nil
}

// runPersonReplay re-applies the erasure journal after a database restore.
func runPersonReplay(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("person replay-erasures", e.stderr)
	cfg.RegisterStorage(fs)
	jsonOut := fs.Bool("json", false, "print the report as one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := privacyService(&cfg, db, newLogger(e.stderr, cfg.LogLevel))
	if err != nil {
		return err
	}
	rep, err := svc.ReplayJournal(ctx)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "journal entries: %d, suppressions restored: %d, people erased again: %d, anonymised again: %d\n",
		rep.Entries, rep.Restored, rep.Erased, rep.Anonymised)
	return nil
}
