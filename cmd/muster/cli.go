package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// usageError marks bad command-line usage (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// report prints err as one line on stderr and returns the exit code.
func report(stderr io.Writer, name string, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "muster %s: %s\n", name, ue.msg)
		return 2
	}
	switch errs.KindOf(err) {
	case errs.KindInvalid:
		fmt.Fprintf(stderr, "muster %s: %s\n", name, errs.Message(err))
		return 2
	case errs.KindInternal:
		fmt.Fprintf(stderr, "muster %s: %v\n", name, err)
		return 1
	default:
		fmt.Fprintf(stderr, "muster %s: %s\n", name, errs.Message(err))
		return 1
	}
}

// parseArgs parses flags that may come before, between or after positional
// arguments (muster nation create SLUG --name X), which the standard flag
// package alone does not allow.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if rest[0] == "--" {
			return append(positional, rest[1:]...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("muster "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// openDB validates the configuration and opens and migrates the database.
func openDB(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, &usageError{err.Error()}
	}
	db, err := store.Open(ctx, cfg.DSN())
	if err != nil {
		return nil, err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	// Opinion fields are encrypted: without the right master key, refuse to
	// start rather than write under a new one or show garbage.
	m, err := crypt.LoadMaster(nil, cfg.DataDir, newLogger(os.Stderr, slog.LevelWarn))
	if err == nil {
		_, err = crypt.Attach(ctx, db, m)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

func splitWords(s string) []string { return strings.Fields(s) }

func equalWords(a, b []string) bool {
	for i := range b {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func joinWords(args []string, n int) string {
	if len(args) < n {
		n = len(args)
	}
	return strings.Join(args[:n], " ")
}

// openStore opens the database without migrating (for `migrate` itself).
func openStore(ctx context.Context, cfg *config.Config) (*store.DB, error) {
	return store.Open(ctx, cfg.DSN())
}
