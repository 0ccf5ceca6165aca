// Package store opens Muster's database — an embedded SQLite file or a
// PostgreSQL server — applies the paired migrations, and gives the domains one
// portable way to run SQL on either engine.
//
// Conventions every domain follows (so that one SQL text runs on both):
//   - placeholders are written `?` and rebound to `$n` for PostgreSQL;
//   - times are BIGINT milliseconds since the Unix epoch, UTC (store.Millis);
//     calendar dates (birth dates) are TEXT 'YYYY-MM-DD';
//   - booleans are INTEGER 0/1 in both engines;
//   - every nation-owned table has nation_id first in its primary key; row ids
//     come from store.DB.NextID, a block allocator over the id_sequences table,
//     because SQLite cannot auto-increment the second column of a key.
//
// SQLite runs with WAL, busy_timeout (set first), synchronous=NORMAL,
// foreign_keys and immediate transactions, over one writer connection and a
// pool of read-only readers, and write transactions retry on SQLITE_BUSY.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open Muster database on one engine.
type DB struct {
	Engine Engine
	// Path is the SQLite file, empty on PostgreSQL.
	Path string

	w *sql.DB // writes and write transactions
	r *sql.DB // reads; the same pool as w on PostgreSQL

	// Keys is the keyring that encrypts opinion fields (a *crypt.Keyring,
	// set by crypt.Attach after Open; any to keep store free of crypt).
	Keys any

	idMu    sync.Mutex
	idCache map[idKey]*idBlock

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // Tx.Cached; nil while being prepared
	stmtWG sync.WaitGroup       // preparations under way

	// ckpt is the connection that checkpoints the SQLite WAL in the
	// background, and stop ends that loop (see checkpointLoop).
	ckpt     *sql.DB
	stopCkpt chan struct{}
	ckptDone chan struct{}
	stopOnce sync.Once // Close may be called more than once
}

// Open opens the database named by dsn: a URL starting with postgres:// or
// postgresql:// for PostgreSQL, otherwise an SQLite file path (an optional
// "sqlite:" or "file:" prefix is accepted). It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "file:")
	return openSQLite(ctx, path)
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	return &DB{Engine: Postgres, w: db, r: db, idCache: map[idKey]*idBlock{}, stmts: map[string]*sql.Stmt{}}, nil
}

// sqlitePragmas lists the connection settings; busy_timeout comes first so
// that the others wait for a lock instead of failing.
var sqlitePragmas = []string{
	"busy_timeout(10000)",
	"journal_mode(WAL)",
	"synchronous(NORMAL)",
	"foreign_keys(1)",
	"temp_store(MEMORY)",
	"cache_size(-32000)",
	"secure_delete(1)",
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	for _, p := range sqlitePragmas {
		q.Add("_pragma", p)
	}
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "wal_autocheckpoint(0)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: open sqlite: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: create data directory: %w", err)
		}
	}
	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	// One writer: SQLite allows one at a time, and queueing in Go is cheaper
	// than queueing on the file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	c, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("store: open sqlite checkpointer: %w", err)
	}
	c.SetMaxOpenConns(1)
	db := &DB{Engine: SQLite, Path: path, w: w, r: r, idCache: map[idKey]*idBlock{}, stmts: map[string]*sql.Stmt{},
		ckpt: c, stopCkpt: make(chan struct{}), ckptDone: make(chan struct{})}
	go db.checkpointLoop()
	return db, nil
}

// checkpointLoop copies the WAL back into the database file every
// checkpointEvery, on its own connection. The writer connection has
// automatic checkpoints off (wal_autocheckpoint=0): left on, the commit
// that crosses the threshold does the copy and its fsyncs itself, and every
// caller queued behind the one writer waits for the disk. A PASSIVE
// checkpoint never blocks the writer or readers.
func (db *DB) checkpointLoop() {
	defer close(db.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stopCkpt:
			return
		case <-t.C:
			_, _ = db.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

const checkpointEvery = time.Second

// Close checkpoints the SQLite WAL (so the main file is whole) and closes.
func (db *DB) Close() error {
	db.stmtWG.Wait()
	db.stmtMu.Lock()
	for _, st := range db.stmts {
		if st != nil {
			st.Close()
		}
	}
	db.stmts = nil
	db.stmtMu.Unlock()
	if db.Engine == SQLite {
		db.stopOnce.Do(func() {
			close(db.stopCkpt)
			<-db.ckptDone
			db.ckpt.Close()
		})
		_, _ = db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	var err error
	if db.r != db.w {
		err = db.r.Close()
	}
	if e := db.w.Close(); e != nil {
		err = e
	}
	return err
}

// Ping reports whether the database answers a trivial query.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Rebind rewrites `?` placeholders into the engine's form. Question marks
// inside single-quoted strings, double-quoted identifiers and comments are
// left alone.
func (db *DB) Rebind(q string) string {
	if db.Engine != Postgres || !strings.Contains(q, "?") {
		return q
	}
	return rebindDollar(q)
}

func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			if j >= len(q) {
				j = len(q) - 1
			}
			b.WriteString(q[i : j+1])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Exec runs a statement on the writer.
func (db *DB) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := retryBusy(ctx, func() error {
		var err error
		res, err = db.w.ExecContext(ctx, db.Rebind(q), args...)
		return err
	})
	return res, err
}

// Query runs a query on a reader.
func (db *DB) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.r.QueryContext(ctx, db.Rebind(q), args...)
}

// QueryRow runs a single-row query on a reader.
func (db *DB) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return db.r.QueryRowContext(ctx, db.Rebind(q), args...)
}

// QueryRowWriter runs a single-row statement on the writer, for
// INSERT … RETURNING and for reads that must see the writer's latest state.
func (db *DB) QueryRowWriter(ctx context.Context, q string, args ...any) *sql.Row {
	return db.w.QueryRowContext(ctx, db.Rebind(q), args...)
}

// Tx is a write transaction that rebinds placeholders.
type Tx struct {
	db *DB
	tx *sql.Tx
}

// Engine returns the engine the transaction runs on.
func (tx *Tx) Engine() Engine { return tx.db.Engine }

// Exec runs a statement in the transaction.
func (tx *Tx) Exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, tx.db.Rebind(q), args...)
}

// Query runs a query in the transaction.
func (tx *Tx) Query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.tx.QueryContext(ctx, tx.db.Rebind(q), args...)
}

// QueryRow runs a single-row query in the transaction.
func (tx *Tx) QueryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.tx.QueryRowContext(ctx, tx.db.Rebind(q), args...)
}

// Prepare prepares a statement in the transaction.
func (tx *Tx) Prepare(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.tx.PrepareContext(ctx, tx.db.Rebind(q))
}

// Cached returns the statement q prepared once per database and reused by
// every transaction: on SQLite, parsing a statement can cost more than
// running it, and hot paths (form submissions, import batches) run the
// same few statements thousands of times. Only for a fixed set of
// statement texts (the cache is never trimmed); the statement returned is
// closed with the transaction.
//
// The transaction holds SQLite's one writer connection, so a statement
// not yet cached is prepared in the transaction for this once, and on the
// writer pool by a goroutine that gets the connection when the
// transaction ends; database/sql then reuses that preparation in later
// transactions on the same connection. PostgreSQL's driver caches
// prepared statements itself.
func (tx *Tx) Cached(ctx context.Context, q string) (*sql.Stmt, error) {
	db := tx.db
	if db.Engine != SQLite {
		return tx.tx.PrepareContext(ctx, db.Rebind(q))
	}
	db.stmtMu.Lock()
	st, ok := db.stmts[q]
	if !ok {
		db.stmts[q] = nil // being prepared
		db.stmtWG.Add(1)
		go db.prepareCached(q)
	}
	db.stmtMu.Unlock()
	if st == nil {
		return tx.tx.PrepareContext(ctx, q)
	}
	return tx.tx.StmtContext(ctx, st), nil
}

func (db *DB) prepareCached(q string) {
	defer db.stmtWG.Done()
	st, err := db.w.Prepare(q)
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	if err != nil || db.stmts == nil { // failed (tried again next time), or closing
		if st != nil {
			st.Close()
		}
		if db.stmts != nil {
			delete(db.stmts, q)
		}
		return
	}
	db.stmts[q] = st
}

// Raw returns the underlying *sql.Tx for engine-specific fast paths.
func (tx *Tx) Raw() *sql.Tx { return tx.tx }

// InTx runs fn in a write transaction, committing if fn returns nil. On
// SQLite a busy database (another process holding the write lock past the
// busy timeout) is retried a few times before giving up.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	return retryBusy(ctx, func() error {
		sqlTx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		tx := &Tx{db: db, tx: sqlTx}
		if err := fn(tx); err != nil {
			_ = sqlTx.Rollback()
			return err
		}
		if err := sqlTx.Commit(); err != nil {
			return fmt.Errorf("store: commit: %w", err)
		}
		return nil
	})
}

// IsBusy reports whether err is SQLite's "database is locked/busy".
func IsBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

func retryBusy(ctx context.Context, fn func() error) error {
	delay := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || !IsBusy(err) || attempt >= 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// IsDeadlock reports whether PostgreSQL aborted the transaction to break a
// deadlock (SQLSTATE 40P01); running it again is the remedy. SQLite, with
// one writer, has none.
func IsDeadlock(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLSTATE 40P01")
}

// IsUniqueViolation reports whether err is a unique-constraint failure on
// either engine.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	// pgx reports SQLSTATE 23505; matching the text keeps pgconn out of the
	// domains' imports.
	return strings.Contains(err.Error(), "SQLSTATE 23505")
}

// Millis returns t as the stored form of a time.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// Time converts a stored time back; zero stays the zero time.
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Bool converts a Go bool to the stored 0/1 form.
func Bool(b bool) int {
	if b {
		return 1
	}
	return 0
}
