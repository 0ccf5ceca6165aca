package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
)

// benchTarget is the throw-away database every `muster bench …` command
// works on: --engine, --database and --keep, a fresh SQLite file in a temp
// directory or a fresh schema on a PostgreSQL server, migrated, with a
// throw-away master key (written into the directory, where a subprocess
// can read it too).
type benchTarget struct {
	engine, url *string
	keep        *bool
}

func addBenchTarget(fs *flag.FlagSet) *benchTarget {
	return &benchTarget{
		engine: fs.String("engine", "sqlite", "`engine`: sqlite or postgres"),
		url:    fs.String("database", os.Getenv("MUSTER_DATABASE_URL"), "PostgreSQL server `URL` for --engine postgres (a fresh schema is created in it)"),
		keep:   fs.Bool("keep", false, "keep the generated files and database (their paths are printed)"),
	}
}

func (b *benchTarget) validate() error {
	switch {
	case *b.engine != "sqlite" && *b.engine != "postgres":
		return usagef("--engine must be sqlite or postgres")
	case *b.engine == "postgres" && !strings.HasPrefix(*b.url, "postgres"):
		return usagef("--engine postgres needs --database postgres://…")
	}
	return nil
}

// benchDB is an open throw-away database and where it lives.
type benchDB struct {
	DB   *store.DB
	Dir  string // temp directory: SQLite file, master key, generated files
	DSN  string // what store.Open takes
	drop func()
}

// open creates, migrates and keys a fresh database. Close removes it all
// unless --keep.
func (b *benchTarget) open(ctx context.Context, w io.Writer) (*benchDB, error) {
	dir, err := os.MkdirTemp("", "muster-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	bd := &benchDB{Dir: dir, DSN: filepath.Join(dir, "muster.db"), drop: func() {}}
	if *b.engine == "postgres" {
		if bd.DSN, bd.drop, err = freshSchema(ctx, *b.url, *b.keep); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if *b.keep {
		fmt.Fprintf(w, "files: %s\ndatabase: %s\n", dir, bd.DSN)
	}
	if err := bd.reopen(ctx); err != nil {
		bd.Close(*b.keep)
		return nil, err
	}
	return bd, nil
}

// reopen (re)opens and migrates the database (a no-op the second time) and
// attaches the throw-away master key, generated into Dir on first use; a
// bench that measures a cold start closes DB and calls it again.
func (bd *benchDB) reopen(ctx context.Context) error {
	db, err := store.Open(ctx, bd.DSN)
	if err != nil {
		return err
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return err
	}
	master, err := crypt.LoadMaster(func(string) string { return "" }, bd.Dir, newLogger(io.Discard, 0))
	if err == nil {
		_, err = crypt.Attach(ctx, db, master)
	}
	if err != nil {
		db.Close()
		return err
	}
	bd.DB = db
	return nil
}

// Close closes the database and, unless keep, removes its files and schema.
func (bd *benchDB) Close(keep bool) {
	if bd.DB != nil {
		bd.DB.Close()
	}
	if !keep {
		bd.drop()
		os.RemoveAll(bd.Dir)
	}
}

// freshSchema creates an empty schema on the PostgreSQL server and returns
// a URL whose connections use it, and a function that drops it (unless keep).
func freshSchema(ctx context.Context, base string, keep bool) (string, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, fmt.Errorf("bench: connect: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("bench: create schema: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("bench: database URL: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		if keep {
			return
		}
		if a, err := sql.Open("pgx", base); err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	}
	return u.String(), drop, nil
}
