package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// Permanent wraps a handler error that retrying cannot fix: the job fails at
// once.
func Permanent(err error) error {
	if err == nil {
		err = errors.New("permanent failure")
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Snooze is returned by a handler to run the job again after d, without
// using up an attempt (waiting for a provider's rate limit, say).
func Snooze(d time.Duration) error { return &snoozeError{d} }

type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.d) }

// maxErrorLen caps last_error: a short reason, not a dump.
const maxErrorLen = 1000

// Run works the queue with up to workers handlers at once until ctx ends. It
// then cancels the handlers' contexts, waits for them (at most the shutdown
// timeout), releases the jobs that did not finish so that another worker
// takes them, and returns. Only one Run per Queue at a time.
func (q *Queue) Run(ctx context.Context, workers int) error {
	if workers < 1 {
		workers = 1
	}
	if !q.running.CompareAndSwap(false, true) {
		return errors.New("jobs: run: already running")
	}
	defer q.running.Store(false)

	// Handlers outlive ctx by design: they are cancelled explicitly below,
	// and a job they finish meanwhile is recorded as finished.
	hctx, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHandlers()
	r := &runner{q: q, active: map[jobKey]*activeJob{}, done: make(chan struct{}, workers)}
	hbStop, hbDone := make(chan struct{}), make(chan struct{})
	go r.heartbeat(hbStop, hbDone)

	q.maintain(ctx)
	poll := time.NewTicker(q.opts.poll)
	defer poll.Stop()
	maint := time.NewTicker(q.opts.maintenanceEvery)
	defer maint.Stop()

	busy := 0
	for ctx.Err() == nil {
		if free := workers - busy; free > 0 {
			claimed, err := q.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				q.log.Warn("claiming jobs failed", "err", err)
			}
			for _, j := range claimed {
				if q.screen(ctx, j) {
					busy++
					r.start(hctx, j)
				}
			}
			// A full batch means more may be due: claim again at once.
			if len(claimed) == free && busy < workers {
				continue
			}
		}
		select {
		case <-ctx.Done():
		case <-r.done:
			busy--
		case <-q.wakeCh:
		case <-poll.C:
		case <-maint.C:
			q.maintain(ctx)
		}
	}

	stopHandlers()
	finished := make(chan struct{})
	go func() { r.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(q.opts.shutdownTimeout):
		q.log.Warn("job handlers still running at shutdown; releasing their jobs")
	}
	close(hbStop)
	<-hbDone
	if n, err := q.releaseAll(context.WithoutCancel(ctx)); err != nil {
		q.log.Error("releasing jobs at shutdown failed", "err", err)
	} else if n > 0 {
		q.log.Info("released unfinished jobs", "count", n)
	}
	return nil
}

type jobKey struct{ nation, id int64 }

type activeJob struct {
	job    *Job
	cancel context.CancelFunc
}

// runner is the state of one Run: the jobs its handlers are running.
type runner struct {
	q    *Queue
	wg   sync.WaitGroup
	done chan struct{}

	mu     sync.Mutex
	active map[jobKey]*activeJob
}

func (r *runner) start(hctx context.Context, j *Job) {
	jctx, cancel := context.WithCancel(hctx)
	key := jobKey{j.NationID, j.ID}
	r.mu.Lock()
	r.active[key] = &activeJob{job: j, cancel: cancel}
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := r.q.call(jctx, j)
		cancel()
		r.q.finish(hctx, j, err)
		r.mu.Lock()
		delete(r.active, key)
		r.mu.Unlock()
		r.done <- struct{}{} // buffered to the number of workers
	}()
}

// heartbeat extends the leases of the running jobs every third of the lease,
// and cancels the handler of a job that is no longer ours (cancelled by a
// person, or re-claimed after our lease ran out).
func (r *runner) heartbeat(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	every := max(r.q.opts.lease/3, time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		snapshot := make(map[jobKey]*activeJob, len(r.active))
		for k, a := range r.active {
			snapshot[k] = a
		}
		r.mu.Unlock()
		if len(snapshot) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.q.opts.lease)
		kept, err := r.q.extend(ctx)
		cancel()
		if err != nil {
			r.q.log.Warn("extending job leases failed", "err", err)
			continue
		}
		for k, a := range snapshot {
			if !kept[k] {
				a.cancel()
			}
		}
	}
}

func (q *Queue) extend(ctx context.Context) (map[jobKey]bool, error) {
	kept := map[jobKey]bool{}
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		clear(kept)
		now := time.Now()
		rows, err := tx.Query(ctx, `UPDATE jobs SET locked_until = ?, updated_at = ?
			WHERE locked_by = ? AND state = 'running' RETURNING nation_id, id`,
			store.Millis(now.Add(q.opts.lease)), store.Millis(now), q.workerID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k jobKey
			if err := rows.Scan(&k.nation, &k.id); err != nil {
				return err
			}
			kept[k] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: extend leases: %w", err)
	}
	return kept, nil
}

// kinds lists the registered kinds: a worker only claims what it can run.
func (q *Queue) kinds() []string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	out := make([]string, 0, len(q.handlers))
	for k := range q.handlers {
		out = append(out, k)
	}
	return out
}

// claim leases up to n due jobs to this worker: available jobs whose run_at
// has come, and running jobs whose lease has expired (their worker died).
func (q *Queue) claim(ctx context.Context, n int) ([]*Job, error) {
	kinds := q.kinds()
	if len(kinds) == 0 || n <= 0 {
		return nil, nil
	}
	now := time.Now()
	nowMs := store.Millis(now)
	args := []any{q.workerID, store.Millis(now.Add(q.opts.lease)), nowMs}
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, nowMs, nowMs, n)
	lock := ""
	if q.db.Engine == store.Postgres {
		// Concurrent claimers skip each other's rows instead of waiting.
		lock = " FOR UPDATE SKIP LOCKED"
	}
	due := `FROM jobs WHERE kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)
			  AND ((state = 'available' AND run_at <= ?) OR (state = 'running' AND locked_until < ?))`
	// Look on a reader first: an idle poll then costs no write transaction,
	// which on SQLite would take the one write lock every poll interval.
	var one int
	err := q.db.QueryRow(ctx, `SELECT 1 `+due+` LIMIT 1`, args[3:len(args)-1]...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: look for due jobs: %w", err)
	}
	query := `UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = ?, locked_until = ?, updated_at = ?
		WHERE (nation_id, id) IN (
			SELECT nation_id, id ` + due + `
			ORDER BY run_at, id LIMIT ?` + lock + `)
		RETURNING ` + jobColumns
	var out []*Job
	err = q.db.InTx(ctx, func(tx *store.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			j.q = q
			out = append(out, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: claim: %w", err)
	}
	return out, nil
}

// screen decides whether a claimed job may run: one claimed after its
// deadline is held for a person, and one whose worker died during its last
// attempt has failed. It reports whether to run the job.
func (q *Queue) screen(ctx context.Context, j *Job) bool {
	var state State
	var reason string
	switch {
	case !j.Deadline.IsZero() && time.Now().After(j.Deadline):
		state, reason = StateHeld, "not started before its deadline; waiting for a person to resume or cancel it"
	case j.Attempts > j.MaxAttempts:
		state, reason = StateFailed, "its worker stopped during the last attempt"
	default:
		return true
	}
	finished := int64(0)
	if state == StateFailed {
		finished = store.Millis(time.Now())
	}
	now := store.Millis(time.Now())
	_, err := q.db.Exec(ctx, `UPDATE jobs SET state = ?, attempts = attempts - 1, last_error = ?, locked_by = '',
		locked_until = 0, updated_at = ?, finished_at = ?
		WHERE nation_id = ? AND id = ? AND locked_by = ? AND attempts = ? AND state = 'running'`,
		string(state), reason, now, finished, j.NationID, j.ID, q.workerID, j.Attempts)
	if err != nil {
		q.log.Error("setting a claimed job aside failed", "kind", j.Kind, "nation", j.NationID, "job", j.ID, "err", err)
		return false // its lease will expire and it will be screened again
	}
	q.log.Warn("job set aside", "kind", j.Kind, "nation", j.NationID, "job", j.ID, "state", state)
	return false
}

// call runs the handler, turning a panic into an error.
func (q *Queue) call(ctx context.Context, j *Job) (err error) {
	q.mu.RLock()
	h := q.handlers[j.Kind]
	q.mu.RUnlock()
	if h == nil {
		return Permanent(fmt.Errorf("no handler for kind %q", j.Kind))
	}
	defer func() {
		if p := recover(); p != nil {
			q.log.Error("job handler panicked", "kind", j.Kind, "nation", j.NationID, "job", j.ID,
				"stack", string(debug.Stack()))
			err = errors.New("the handler panicked")
		}
	}()
	return h(ctx, j)
}

// finish records the handler's outcome, if the job is still ours.
func (q *Queue) finish(hctx context.Context, j *Job, herr error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hctx), 30*time.Second)
	defer cancel()
	now := time.Now()
	state, runAt, attemptsDelta, lastErr := StateAvailable, j.RunAt, 0, j.LastError
	var snooze *snoozeError
	var perm *permanentError
	switch {
	case herr == nil:
		state = StateSucceeded
	case errors.As(herr, &snooze):
		runAt, attemptsDelta = now.Add(snooze.d), -1
	case errors.As(herr, &perm):
		state, lastErr = StateFailed, errorText(perm.err)
	case hctx.Err() != nil:
		// Shutting down: give the job back, without counting the attempt.
		runAt, attemptsDelta = now, -1
	case j.Attempts >= j.MaxAttempts:
		state, lastErr = StateFailed, errorText(herr)
	default:
		runAt, lastErr = now.Add(q.backoff(j.Attempts)), errorText(herr)
	}
	finishedAt := int64(0)
	if state.Finished() {
		finishedAt = store.Millis(now)
	}
	j.mu.Lock()
	done, total, note := j.ProgressDone, j.ProgressTotal, j.ProgressNote
	j.mu.Unlock()

	var ours bool
	err := q.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE jobs SET state = ?, run_at = ?, attempts = attempts + ?, last_error = ?,
			locked_by = '', locked_until = 0, progress_done = ?, progress_total = ?, progress_note = ?,
			updated_at = ?, finished_at = ?
			WHERE nation_id = ? AND id = ? AND locked_by = ? AND attempts = ? AND state = 'running'`,
			string(state), store.Millis(runAt), attemptsDelta, lastErr, done, total, note,
			store.Millis(now), finishedAt, j.NationID, j.ID, q.workerID, j.Attempts)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		ours = n == 1
		if ours && state.Finished() && j.NationID == 0 && j.UniqueKey == periodicKey {
			return q.scheduleNext(ctx, tx, j.Kind, now)
		}
		return nil
	})
	log := q.log.With("kind", j.Kind, "nation", j.NationID, "job", j.ID, "attempt", j.Attempts)
	switch {
	case err != nil:
		log.Error("recording a job's outcome failed; its lease will expire and it will run again", "err", err)
	case !ours:
		log.Info("job was cancelled or re-claimed before it finished")
	case state == StateFailed:
		log.Warn("job failed", "err", lastErr)
	case herr != nil && state == StateAvailable && attemptsDelta == 0:
		log.Warn("job will be retried", "err", lastErr, "at", runAt)
	default:
		log.Debug("job done", "state", state)
	}
}

func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen]
	}
	return strings.ToValidUTF8(s, "")
}

// backoff is the delay before retry after the given attempt: exponential
// from the base, capped, with jitter over its upper half so that jobs failing
// together do not retry together.
func (q *Queue) backoff(attempt int) time.Duration {
	d := q.opts.backoffBase
	for i := 1; i < attempt && d < q.opts.backoffMax; i++ {
		d *= 2
	}
	d = min(d, q.opts.backoffMax)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// scheduleNext enqueues the next period's run of a periodic kind.
func (q *Queue) scheduleNext(ctx context.Context, tx *store.Tx, kind string, after time.Time) error {
	q.mu.RLock()
	s, ok := q.schedules[kind]
	q.mu.RUnlock()
	if !ok {
		return nil
	}
	_, err := q.EnqueueTx(ctx, tx, q.periodicParams(kind, s, after))
	return err
}

func (q *Queue) periodicParams(kind string, s schedule, after time.Time) Params {
	at := nextPeriod(after, s.interval)
	var args any
	if s.args != nil {
		args = s.args(at)
	}
	return Params{Kind: kind, Args: args, RunAt: at, UniqueKey: periodicKey}
}

// maintain makes sure every periodic kind this queue can run has its next
// run waiting, and deletes finished jobs older than the retention.
func (q *Queue) maintain(ctx context.Context) {
	q.mu.RLock()
	var due []Params
	for kind, s := range q.schedules {
		if q.handlers[kind] != nil {
			due = append(due, q.periodicParams(kind, s, time.Now()))
		}
	}
	q.mu.RUnlock()
	for _, p := range due {
		if _, err := q.Enqueue(ctx, p); err != nil && ctx.Err() == nil {
			q.log.Warn("scheduling a periodic job failed", "kind", p.Kind, "err", err)
		}
	}
	if q.opts.retention <= 0 {
		return
	}
	cutoff := store.Millis(time.Now().Add(-q.opts.retention))
	if _, err := q.db.Exec(ctx, `DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')
		AND finished_at > 0 AND finished_at < ?`, cutoff); err != nil && ctx.Err() == nil {
		q.log.Warn("pruning finished jobs failed", "err", err)
	}
}

// releaseAll gives this worker's running jobs back to the queue, without
// counting the interrupted attempt.
func (q *Queue) releaseAll(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := store.Millis(time.Now())
	res, err := q.db.Exec(ctx, `UPDATE jobs SET state = 'available', attempts = attempts - 1, run_at = ?,
		locked_by = '', locked_until = 0, updated_at = ?
		WHERE locked_by = ? AND state = 'running'`, now, now, q.workerID)
	if err != nil {
		return 0, fmt.Errorf("jobs: release: %w", err)
	}
	return res.RowsAffected()
}
