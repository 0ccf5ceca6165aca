// Package storetest gives tests a fresh, migrated Muster database on each
// engine: SQLite always, PostgreSQL whenever MUSTER_TEST_POSTGRES holds a
// server URL (each test then gets a schema of its own, dropped afterwards).
// With CI=true a missing PostgreSQL URL fails the test instead of narrowing
// the run to SQLite, so CI always proves both engines.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
)

// PostgresURL returns the test server URL, failing the test under CI when
// none is configured.
func PostgresURL(t testing.TB) string {
	u := os.Getenv("MUSTER_TEST_POSTGRES")
	if u == "" && os.Getenv("CI") == "true" {
		t.Fatal("storetest: CI=true but MUSTER_TEST_POSTGRES is empty; run the suite with ./test.sh")
	}
	return u
}

// Engines lists the engines available to this test run.
func Engines(t testing.TB) []store.Engine {
	engines := []store.Engine{store.SQLite}
	if PostgresURL(t) != "" {
		engines = append(engines, store.Postgres)
	}
	return engines
}

// Each runs fn as a subtest named after each available engine, with a fresh
// migrated database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, e := range Engines(t) {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

// TestMasterKey is the master key storetest attaches to every database.
func TestMasterKey() []byte { return []byte("muster-test-master-key-32-bytes!") }

// Open returns a fresh migrated database on engine, closed when the test ends.
func Open(t testing.TB, engine store.Engine) *store.DB {
	t.Helper()
	dsn := DSN(t, engine)
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: open %s: %v", engine, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s: %v", engine, err)
	}
	if _, err := crypt.Attach(ctx, db, &crypt.Master{Key: TestMasterKey()}); err != nil {
		t.Fatalf("storetest: attach keys %s: %v", engine, err)
	}
	return db
}

// DSN returns the address of a fresh, empty database on engine: a file in the
// test's temp directory, or a new PostgreSQL schema.
func DSN(t testing.TB, engine store.Engine) string {
	t.Helper()
	if engine == store.SQLite {
		return filepath.Join(t.TempDir(), "muster.db")
	}
	base := PostgresURL(t)
	if base == "" {
		t.Fatal("storetest: no PostgreSQL configured (MUSTER_TEST_POSTGRES)")
	}
	schema := "t_" + randomHex(8)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: connect postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns a PostgreSQL URL whose connections use schema.
func WithSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return base
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
