// Package jobs is Muster's durable background job queue: work that must
// survive a restart (sending a broadcast, an import, the daily retention
// sweep) is a row in the jobs table, claimed and run by any Muster process
// sharing the database — `muster serve` or `muster worker`.
//
// One table-backed queue serves BOTH engines, rather than River on
// PostgreSQL and something else on SQLite: one set of semantics, tested on
// both engines, and no extra dependency. On PostgreSQL a claim is one
// UPDATE … RETURNING over a `SELECT … FOR UPDATE SKIP LOCKED`, so many
// processes claim concurrently without ever taking the same job; on SQLite
// claims go through the single writer connection in immediate transactions,
// so they are serialised anyway.
//
// Semantics, in short:
//   - A claimed job is leased to one worker until locked_until; the worker
//     extends the lease while the handler runs. A crashed worker's jobs become
//     claimable again once the lease has expired (this costs an attempt, so a
//     job that kills its worker every time still ends as failed).
//   - A handler error retries with exponential backoff and jitter until
//     max_attempts, then the job is failed. Permanent(err) fails at once;
//     Snooze(d) reschedules without using an attempt.
//   - A job may carry a Deadline ("not after"): claimed later than that, it is
//     not run but held, and waits for a person to Resume or Cancel it (a
//     broadcast hours overdue must not go out unattended).
//   - A UniqueKey is unique among the live (available, running, held) jobs of
//     one kind in one nation: enqueueing it again returns the existing job.
//   - Every read and change made for a user is scoped by nation: Get, List,
//     Cancel and Resume never reach another nation's jobs. Nation 0 holds
//     installation-wide jobs.
//   - Handlers must be idempotent: a job whose worker dies or shuts down is
//     run again from the start by another worker.
//
// last_error and progress notes are stored and shown to staff: handlers must
// never put personal data in their errors or notes.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// State is where a job is in its life.
type State string

const (
	StateAvailable State = "available" // waiting for run_at
	StateRunning   State = "running"   // claimed by a worker
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"    // out of attempts, or a permanent error
	StateCancelled State = "cancelled" // by a person
	StateHeld      State = "held"      // claimed after its deadline; needs a person
)

// Finished reports whether the state is final.
func (s State) Finished() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Handler runs one job. Its context is cancelled when the process shuts down
// or the job is cancelled or its lease is lost; it should then return soon.
type Handler func(ctx context.Context, j *Job) error

// Params describe a job to enqueue.
type Params struct {
	NationID int64  // 0 for installation-wide work
	Kind     string // names the registered handler
	Args     any    // marshalled to JSON; nil means {}
	// RunAt is the earliest time to run; zero means now.
	RunAt time.Time
	// UniqueKey, if set, makes a second enqueue of the same kind and key in the
	// same nation, while the first is still live, return the first.
	UniqueKey string
	// MaxAttempts bounds the runs before the job fails; 0 takes the default.
	MaxAttempts int
	// Deadline, if set, is the latest time the job may start: claimed after
	// it, the job is held for a person instead of run.
	Deadline time.Time
}

// Job is one row of the queue. Handlers receive it with Args to decode and
// may report Progress.
type Job struct {
	NationID      int64
	ID            int64
	Kind          string
	Args          json.RawMessage
	State         State
	RunAt         time.Time
	Deadline      time.Time
	Attempts      int
	MaxAttempts   int
	LastError     string
	UniqueKey     string
	LockedBy      string
	LockedUntil   time.Time
	ProgressDone  int64
	ProgressTotal int64
	ProgressNote  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	FinishedAt    time.Time

	// Set while a worker runs the job.
	q         *Queue
	mu        sync.Mutex
	lastFlush time.Time
}

// Decode unmarshals the job's arguments into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Args, v); err != nil {
		return fmt.Errorf("jobs: decode args of %s: %w", j.Kind, err)
	}
	return nil
}

// Queue enqueues jobs and, through Run, works them.
type Queue struct {
	db       *store.DB
	log      *slog.Logger
	opts     options
	workerID string

	mu        sync.RWMutex
	handlers  map[string]Handler
	schedules map[string]schedule

	wakeCh  chan struct{}
	running atomic.Bool
}

type schedule struct {
	interval time.Duration
	args     func(period time.Time) any
}

// Option tunes a Queue; the defaults suit production, tests shorten them.
type Option func(*options)

type options struct {
	poll, lease, backoffBase, backoffMax time.Duration
	progressEvery, shutdownTimeout       time.Duration
	maintenanceEvery, retention          time.Duration
	maxAttempts                          int
	workerID                             string
}

// WithPollInterval sets how often an idle worker looks for due jobs.
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// WithLease sets how long a claim lasts without a heartbeat; the heartbeat
// renews it every third of that.
func WithLease(d time.Duration) Option { return func(o *options) { o.lease = d } }

// WithBackoff sets the first retry delay and the cap of the exponential backoff.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithProgressInterval sets the least time between two progress writes of a job.
func WithProgressInterval(d time.Duration) Option { return func(o *options) { o.progressEvery = d } }

// WithShutdownTimeout bounds how long Run waits for handlers after its
// context ends before it releases their jobs anyway.
func WithShutdownTimeout(d time.Duration) Option { return func(o *options) { o.shutdownTimeout = d } }

// WithMaintenance sets how often Run ensures periodic jobs and prunes
// finished jobs older than retention.
func WithMaintenance(every, retention time.Duration) Option {
	return func(o *options) { o.maintenanceEvery, o.retention = every, retention }
}

// WithMaxAttempts sets the default attempts of a job.
func WithMaxAttempts(n int) Option { return func(o *options) { o.maxAttempts = n } }

// WithWorkerID names this queue's worker in locked_by (default host-pid-random).
func WithWorkerID(id string) Option { return func(o *options) { o.workerID = id } }

// New returns a queue on db. Register handlers before calling Run.
func New(db *store.DB, log *slog.Logger, opts ...Option) *Queue {
	o := options{
		poll: 200 * time.Millisecond, lease: 30 * time.Second,
		backoffBase: 2 * time.Second, backoffMax: time.Hour,
		progressEvery: 500 * time.Millisecond, shutdownTimeout: 15 * time.Second,
		maintenanceEvery: time.Minute, retention: 14 * 24 * time.Hour,
		maxAttempts: 5,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.workerID == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		o.workerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{
		db: db, log: log.With("component", "jobs"), opts: o, workerID: o.workerID,
		handlers: map[string]Handler{}, schedules: map[string]schedule{},
		wakeCh: make(chan struct{}, 1),
	}
}

// WorkerID returns the name this queue claims jobs under.
func (q *Queue) WorkerID() string { return q.workerID }

// Register sets the handler of a kind. Only registered kinds are claimed, so
// processes running different handler sets can share one database.
func (q *Queue) Register(kind string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handlers[kind] = h
}

// Every makes kind an installation-wide periodic job: one run per interval,
// at the multiples of interval since the Unix epoch, whichever process runs
// it. args, if not nil, gives the arguments of the run of a period. The kind
// still needs a handler (Register).
//
// It is kept simple on purpose: a periodic job is a live job with unique key
// "every"; when a run finishes, the next period's run is enqueued in the same
// transaction, and Run re-creates it if it is missing (e.g. cancelled).
func (q *Queue) Every(kind string, interval time.Duration, args func(period time.Time) any) {
	if interval <= 0 {
		panic("jobs: Every: interval must be positive")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.schedules[kind] = schedule{interval: interval, args: args}
}

const periodicKey = "every"

// nextPeriod returns the first multiple of interval after t.
func nextPeriod(t time.Time, interval time.Duration) time.Time {
	return t.Truncate(interval).Add(interval)
}

// wake nudges Run to look for work now rather than at the next poll.
func (q *Queue) wake() {
	select {
	case q.wakeCh <- struct{}{}:
	default:
	}
}

// Enqueue adds a job, or returns the live job with the same unique key.
func (q *Queue) Enqueue(ctx context.Context, p Params) (*Job, error) {
	if err := q.validate(&p); err != nil {
		return nil, err
	}
	id, err := q.db.NextID(ctx, p.NationID, "jobs")
	if err != nil {
		return nil, fmt.Errorf("jobs: enqueue: %w", err)
	}
	var j *Job
	err = q.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		j, err = q.insert(ctx, tx, id, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	q.wake()
	return j, nil
}

// EnqueueTx adds a job inside tx, so that it exists only if tx commits (a
// broadcast and its sending job, say).
func (q *Queue) EnqueueTx(ctx context.Context, tx *store.Tx, p Params) (*Job, error) {
	if err := q.validate(&p); err != nil {
		return nil, err
	}
	id, err := tx.NextID(ctx, p.NationID, "jobs")
	if err != nil {
		return nil, fmt.Errorf("jobs: enqueue: %w", err)
	}
	j, err := q.insert(ctx, tx, id, p)
	if err != nil {
		return nil, err
	}
	// The job is not visible until tx commits; the wake only shortens the wait.
	q.wake()
	return j, nil
}

func (q *Queue) validate(p *Params) error {
	if strings.TrimSpace(p.Kind) == "" {
		return errs.Invalid("a job needs a kind")
	}
	if p.NationID < 0 {
		return errs.Invalid("a job needs a valid nation")
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = q.opts.maxAttempts
	}
	if p.RunAt.IsZero() {
		p.RunAt = time.Now()
	}
	return nil
}

const jobColumns = `nation_id, id, kind, args, state, run_at, not_after, attempts, max_attempts,
	last_error, unique_key, locked_by, locked_until, progress_done, progress_total, progress_note,
	created_at, updated_at, finished_at`

func (q *Queue) insert(ctx context.Context, tx *store.Tx, id int64, p Params) (*Job, error) {
	args := []byte("{}")
	if p.Args != nil {
		var err error
		if args, err = json.Marshal(p.Args); err != nil {
			return nil, fmt.Errorf("jobs: enqueue %s: marshal args: %w", p.Kind, err)
		}
	}
	var unique any
	if p.UniqueKey != "" {
		unique = p.UniqueKey
	}
	var notAfter int64
	if !p.Deadline.IsZero() {
		notAfter = store.Millis(p.Deadline)
	}
	now := store.Millis(time.Now())
	// The unique index is partial, so the conflicting live job may finish
	// between the insert and the look-up: try again a few times.
	for range 3 {
		j, err := scanJob(tx.QueryRow(ctx, `
			INSERT INTO jobs (nation_id, id, kind, args, state, run_at, not_after, attempts, max_attempts,
			                  unique_key, created_at, updated_at)
			VALUES (?, ?, ?, ?, 'available', ?, ?, 0, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING
			RETURNING `+jobColumns,
			p.NationID, id, p.Kind, string(args), store.Millis(p.RunAt), notAfter, p.MaxAttempts,
			unique, now, now))
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("jobs: enqueue %s: %w", p.Kind, err)
		}
		if p.UniqueKey == "" {
			return nil, fmt.Errorf("jobs: enqueue %s: id %d already taken", p.Kind, id)
		}
		j, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs
			WHERE nation_id = ? AND kind = ? AND unique_key = ? AND state IN ('available', 'running', 'held')`,
			p.NationID, p.Kind, p.UniqueKey))
		if err == nil {
			return j, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("jobs: enqueue %s: find existing: %w", p.Kind, err)
		}
	}
	return nil, fmt.Errorf("jobs: enqueue %s: unique key keeps conflicting", p.Kind)
}

type scanner interface{ Scan(dest ...any) error }

func scanJob(s scanner) (*Job, error) {
	var (
		j                                                        Job
		args, state                                              string
		unique                                                   sql.NullString
		runAt, notAfter, lockedUntil, created, updated, finished int64
	)
	err := s.Scan(&j.NationID, &j.ID, &j.Kind, &args, &state, &runAt, &notAfter, &j.Attempts, &j.MaxAttempts,
		&j.LastError, &unique, &j.LockedBy, &lockedUntil, &j.ProgressDone, &j.ProgressTotal, &j.ProgressNote,
		&created, &updated, &finished)
	if err != nil {
		return nil, err
	}
	j.Args = json.RawMessage(args)
	j.State = State(state)
	j.UniqueKey = unique.String
	j.RunAt, j.Deadline, j.LockedUntil = store.Time(runAt), store.Time(notAfter), store.Time(lockedUntil)
	j.CreatedAt, j.UpdatedAt, j.FinishedAt = store.Time(created), store.Time(updated), store.Time(finished)
	return &j, nil
}

// Get returns a job of the nation.
func (q *Queue) Get(ctx context.Context, nationID, id int64) (*Job, error) {
	j, err := scanJob(q.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE nation_id = ? AND id = ?`, nationID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("job not found")
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: get: %w", err)
	}
	return j, nil
}

// Filter narrows List.
type Filter struct {
	Kind     string  // empty: every kind
	States   []State // empty: every state
	BeforeID int64   // paging: only ids below this; 0 for the first page
	Limit    int     // default 50, at most 500
}

// List returns the nation's jobs, newest first.
func (q *Queue) List(ctx context.Context, nationID int64, f Filter) ([]*Job, error) {
	where := []string{"nation_id = ?"}
	args := []any{nationID}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, f.Kind)
	}
	if len(f.States) > 0 {
		where = append(where, "state IN (?"+strings.Repeat(", ?", len(f.States)-1)+")")
		for _, s := range f.States {
			args = append(args, string(s))
		}
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 500)
	args = append(args, limit)
	rows, err := q.db.Query(ctx, `SELECT `+jobColumns+` FROM jobs WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("jobs: list: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobs: list: %w", err)
	}
	return out, nil
}

// Cancel stops a job of the nation that has not finished. A running handler
// sees its context cancelled at the worker's next heartbeat; whatever it
// returns then is ignored.
func (q *Queue) Cancel(ctx context.Context, nationID, id int64) (*Job, error) {
	now := store.Millis(time.Now())
	return q.transition(ctx, nationID, id, "cancelled", `
		UPDATE jobs SET state = 'cancelled', locked_by = '', locked_until = 0, updated_at = ?, finished_at = ?
		WHERE nation_id = ? AND id = ? AND state IN ('available', 'running', 'held')
		RETURNING `+jobColumns, now, now, nationID, id)
}

// Resume releases a held job (a person decided it may still run) or retries
// a failed one with fresh attempts. It runs as soon as a worker is free.
func (q *Queue) Resume(ctx context.Context, nationID, id int64) (*Job, error) {
	now := store.Millis(time.Now())
	j, err := q.transition(ctx, nationID, id, "resumed", `
		UPDATE jobs SET state = 'available', not_after = 0, run_at = ?, attempts = 0, last_error = '',
		       finished_at = 0, updated_at = ?
		WHERE nation_id = ? AND id = ? AND state IN ('held', 'failed')
		RETURNING `+jobColumns, now, now, nationID, id)
	if store.IsUniqueViolation(err) {
		return nil, errs.Conflict("another job with the same key is already waiting")
	}
	if err == nil {
		q.wake()
	}
	return j, err
}

// transition runs a state-changing UPDATE … RETURNING on one job of the
// nation, telling "no such job" apart from "not in a state that allows it".
func (q *Queue) transition(ctx context.Context, nationID, id int64, done, query string, args ...any) (*Job, error) {
	var j *Job
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, query, args...))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var state string
		err = tx.QueryRow(ctx, `SELECT state FROM jobs WHERE nation_id = ? AND id = ?`, nationID, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFound("job not found")
		}
		if err != nil {
			return err
		}
		return errs.Conflict("the job is %s and cannot be %s now", state, done)
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindInternal {
			return nil, err
		}
		return nil, fmt.Errorf("jobs: set job %s: %w", done, err)
	}
	return j, nil
}

// Progress records how far the handler has got. It is cheap to call often:
// the row is written at most once per progress interval (and once more when
// the job finishes).
func (j *Job) Progress(ctx context.Context, done, total int64, note string) error {
	if j.q == nil {
		return errors.New("jobs: progress: the job is not running here")
	}
	j.mu.Lock()
	j.ProgressDone, j.ProgressTotal, j.ProgressNote = done, total, note
	now := time.Now()
	if now.Sub(j.lastFlush) < j.q.opts.progressEvery {
		j.mu.Unlock()
		return nil
	}
	j.lastFlush = now
	j.mu.Unlock()
	_, err := j.q.db.Exec(ctx, `
		UPDATE jobs SET progress_done = ?, progress_total = ?, progress_note = ?, updated_at = ?
		WHERE nation_id = ? AND id = ? AND locked_by = ? AND state = 'running'`,
		done, total, note, store.Millis(now), j.NationID, j.ID, j.q.workerID)
	if err != nil {
		return fmt.Errorf("jobs: progress: %w", err)
	}
	return nil
}
