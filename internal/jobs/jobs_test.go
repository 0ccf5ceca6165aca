package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// newQueue returns a queue with intervals short enough for tests.
func newQueue(db *store.DB, opts ...Option) *Queue {
	base := []Option{
		WithPollInterval(10 * time.Millisecond),
		WithLease(2 * time.Second),
		WithBackoff(time.Millisecond, 5*time.Millisecond),
		WithProgressInterval(0),
		WithShutdownTimeout(5 * time.Second),
		WithMaintenance(time.Hour, 0),
	}
	return New(db, slog.New(slog.DiscardHandler), append(base, opts...)...)
}

// run starts q.Run and returns a function that stops it and waits for Run
// to return.
func run(t *testing.T, q *Queue, workers int) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, workers) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds, failing the test after a generous
// time (a hang, not a slow machine).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t *testing.T, q *Queue, nation, id int64) *Job {
	t.Helper()
	j, err := q.Get(context.Background(), nation, id)
	if err != nil {
		t.Fatalf("Get(%d, %d): %v", nation, id, err)
	}
	return j
}

func waitState(t *testing.T, q *Queue, nation, id int64, want State) *Job {
	t.Helper()
	var j *Job
	eventually(t, fmt.Sprintf("job %d to be %s", id, want), func() bool {
		j = get(t, q, nation, id)
		return j.State == want
	})
	return j
}

func enqueue(t *testing.T, q *Queue, p Params) *Job {
	t.Helper()
	j, err := q.Enqueue(context.Background(), p)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return j
}

func TestRunSucceeds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db)
		type args struct{ N int }
		var got atomic.Int64
		q.Register("echo", func(ctx context.Context, j *Job) error {
			var a args
			if err := j.Decode(&a); err != nil {
				return err
			}
			got.Store(int64(a.N))
			return nil
		})
		j := enqueue(t, q, Params{NationID: 1, Kind: "echo", Args: args{N: 7}})
		if j.State != StateAvailable || j.ID == 0 || j.MaxAttempts != 5 {
			t.Fatalf("enqueued job = %+v", j)
		}
		run(t, q, 2)
		done := waitState(t, q, 1, j.ID, StateSucceeded)
		if got.Load() != 7 {
			t.Errorf("handler saw N=%d, want 7", got.Load())
		}
		if done.Attempts != 1 || done.LockedBy != "" || done.FinishedAt.IsZero() || done.LastError != "" {
			t.Errorf("finished job = %+v", done)
		}
	})
}

func TestRetryWithBackoffThenFail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db)
		var failing, flaky atomic.Int64
		q.Register("failing", func(ctx context.Context, j *Job) error {
			failing.Add(1)
			return errors.New("provider said no")
		})
		q.Register("flaky", func(ctx context.Context, j *Job) error {
			if flaky.Add(1) < 3 {
				return errors.New("try again")
			}
			return nil
		})
		a := enqueue(t, q, Params{NationID: 1, Kind: "failing", MaxAttempts: 3})
		b := enqueue(t, q, Params{NationID: 1, Kind: "flaky", MaxAttempts: 5})
		run(t, q, 2)
		fa := waitState(t, q, 1, a.ID, StateFailed)
		if fa.Attempts != 3 || failing.Load() != 3 || fa.LastError != "provider said no" {
			t.Errorf("failed job: attempts %d, calls %d, error %q", fa.Attempts, failing.Load(), fa.LastError)
		}
		fb := waitState(t, q, 1, b.ID, StateSucceeded)
		if fb.Attempts != 3 || flaky.Load() != 3 {
			t.Errorf("flaky job: attempts %d, calls %d", fb.Attempts, flaky.Load())
		}
	})
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	q := New(nil, nil, WithBackoff(time.Second, time.Minute))
	for attempt := 1; attempt <= 20; attempt++ {
		full := min(time.Second<<min(attempt-1, 30), time.Minute)
		for range 50 {
			d := q.backoff(attempt)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, full/2, full)
			}
		}
	}
}

func TestPermanentAndSnooze(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db)
		var permCalls, snoozeCalls atomic.Int64
		q.Register("perm", func(ctx context.Context, j *Job) error {
			permCalls.Add(1)
			return Permanent(errors.New("bad address"))
		})
		q.Register("snooze", func(ctx context.Context, j *Job) error {
			if snoozeCalls.Add(1) == 1 {
				return Snooze(20 * time.Millisecond)
			}
			return nil
		})
		p := enqueue(t, q, Params{NationID: 1, Kind: "perm", MaxAttempts: 5})
		s := enqueue(t, q, Params{NationID: 1, Kind: "snooze", MaxAttempts: 1})
		run(t, q, 2)
		fp := waitState(t, q, 1, p.ID, StateFailed)
		if permCalls.Load() != 1 || fp.Attempts != 1 || fp.LastError != "bad address" {
			t.Errorf("permanent: calls %d, attempts %d, error %q", permCalls.Load(), fp.Attempts, fp.LastError)
		}
		// MaxAttempts 1 and two calls: the snooze did not use the attempt.
		fs := waitState(t, q, 1, s.ID, StateSucceeded)
		if snoozeCalls.Load() != 2 || fs.Attempts != 1 {
			t.Errorf("snooze: calls %d, attempts %d", snoozeCalls.Load(), fs.Attempts)
		}
	})
}

func TestUniqueKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := newQueue(db)
		later := time.Now().Add(time.Hour)
		a := enqueue(t, q, Params{NationID: 1, Kind: "send", UniqueKey: "broadcast:9", RunAt: later})
		b := enqueue(t, q, Params{NationID: 1, Kind: "send", UniqueKey: "broadcast:9"})
		if b.ID != a.ID {
			t.Fatalf("second enqueue made job %d, want the existing %d", b.ID, a.ID)
		}
		other := enqueue(t, q, Params{NationID: 2, Kind: "send", UniqueKey: "broadcast:9"})
		otherKind := enqueue(t, q, Params{NationID: 1, Kind: "count", UniqueKey: "broadcast:9"})
		if other.ID == a.ID && other.NationID == a.NationID || otherKind.ID == a.ID {
			t.Fatal("the unique key leaked across nations or kinds")
		}
		// Inside a transaction too.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			c, err := q.EnqueueTx(ctx, tx, Params{NationID: 1, Kind: "send", UniqueKey: "broadcast:9"})
			if err != nil {
				return err
			}
			if c.ID != a.ID {
				t.Errorf("EnqueueTx made job %d, want the existing %d", c.ID, a.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Once the job is no longer live, the key is free again.
		if _, err := q.Cancel(ctx, 1, a.ID); err != nil {
			t.Fatal(err)
		}
		d := enqueue(t, q, Params{NationID: 1, Kind: "send", UniqueKey: "broadcast:9"})
		if d.ID == a.ID || d.State != StateAvailable {
			t.Fatalf("enqueue after cancel = job %d in %s, want a new available job", d.ID, d.State)
		}
	})
}

func TestEnqueueTxRollsBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := newQueue(db)
		var id int64
		err := db.InTx(ctx, func(tx *store.Tx) error {
			j, err := q.EnqueueTx(ctx, tx, Params{NationID: 1, Kind: "x"})
			if err != nil {
				return err
			}
			id = j.ID
			return errors.New("roll back")
		})
		if err == nil || id == 0 {
			t.Fatalf("transaction: err %v, id %d", err, id)
		}
		if _, err := q.Get(ctx, 1, id); !errors.Is(err, errs.ErrNotFound) {
			t.Fatalf("Get after rollback: %v, want not found", err)
		}
	})
}

func TestInvalidParams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db)
		for _, p := range []Params{{Kind: " "}, {NationID: -1, Kind: "x"}, {Kind: "x", Args: make(chan int)}} {
			if _, err := q.Enqueue(context.Background(), p); err == nil {
				t.Errorf("Enqueue(%+v) succeeded", p)
			}
		}
	})
}

// expireLease simulates a worker that died holding the job: its lease is
// already over.
func expireLease(t *testing.T, db *store.DB, nation, id int64) {
	t.Helper()
	past := store.Millis(time.Now().Add(-time.Second))
	if _, err := db.Exec(context.Background(), `UPDATE jobs SET locked_until = ? WHERE nation_id = ? AND id = ?`,
		past, nation, id); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseExpiryReclaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var calls atomic.Int64
		handler := func(ctx context.Context, j *Job) error { calls.Add(1); return nil }
		crashed := newQueue(db, WithWorkerID("crashed"), WithLease(time.Hour))
		crashed.Register("work", handler)
		other := newQueue(db, WithWorkerID("other"))
		other.Register("work", handler)

		j := enqueue(t, crashed, Params{NationID: 1, Kind: "work", MaxAttempts: 3})
		last := enqueue(t, crashed, Params{NationID: 1, Kind: "work", MaxAttempts: 1})
		claimed, err := crashed.claim(ctx, 10)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("claim: %d jobs, %v", len(claimed), err)
		}
		// While the lease holds, nobody else can take the jobs.
		if again, err := other.claim(ctx, 10); err != nil || len(again) != 0 {
			t.Fatalf("claim under a live lease: %d jobs, %v", len(again), err)
		}
		expireLease(t, db, 1, j.ID)
		expireLease(t, db, 1, last.ID)

		run(t, other, 2)
		done := waitState(t, other, 1, j.ID, StateSucceeded)
		if done.Attempts != 2 || calls.Load() < 1 {
			t.Errorf("re-claimed job: attempts %d, calls %d", done.Attempts, calls.Load())
		}
		// The job whose only attempt died with its worker fails, unrun.
		lost := waitState(t, other, 1, last.ID, StateFailed)
		if lost.Attempts != 1 || lost.LastError == "" {
			t.Errorf("lost last attempt: %+v", lost)
		}
		if calls.Load() != 1 {
			t.Errorf("handler ran %d times, want 1", calls.Load())
		}
		// The crashed worker coming back cannot overwrite the new outcome.
		for _, c := range claimed {
			crashed.finish(ctx, c, errors.New("late"))
		}
		if got := get(t, other, 1, j.ID); got.State != StateSucceeded {
			t.Errorf("after the stale worker finished: %s", got.State)
		}
	})
}

func TestHeartbeatExtendsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db, WithLease(150*time.Millisecond))
		release := make(chan struct{})
		var calls atomic.Int64
		q.Register("long", func(ctx context.Context, j *Job) error {
			calls.Add(1)
			<-release
			return nil
		})
		j := enqueue(t, q, Params{NationID: 1, Kind: "long"})
		run(t, q, 1)
		first := waitState(t, q, 1, j.ID, StateRunning).LockedUntil
		eventually(t, "the lease to be extended", func() bool {
			return get(t, q, 1, j.ID).LockedUntil.After(first)
		})
		close(release)
		waitState(t, q, 1, j.ID, StateSucceeded)
		if calls.Load() != 1 {
			t.Errorf("handler ran %d times", calls.Load())
		}
	})
}

func TestTwoQueuesNeverRunAJobTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Two processes: on SQLite a second connection set on the same file,
		// on PostgreSQL the pool's connections are already independent.
		db2 := db
		if db.Engine == store.SQLite {
			var err error
			if db2, err = store.Open(ctx, db.Path); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db2.Close() })
		}
		var mu sync.Mutex
		runs := map[jobKey]int{}
		byQueue := map[string]int{}
		handler := func(ctx context.Context, j *Job) error {
			mu.Lock()
			runs[jobKey{j.NationID, j.ID}]++
			if j.Attempts > 1 {
				t.Logf("job %d/%d attempt %d by %s", j.NationID, j.ID, j.Attempts, j.LockedBy)
			}
			byQueue[j.LockedBy]++
			mu.Unlock()
			return nil
		}
		// Long leases: this test is about claiming, not about lease expiry
		// (a lease that runs out re-runs a job by design).
		q1 := newQueue(db, WithWorkerID("one"), WithLease(time.Minute))
		q2 := newQueue(db2, WithWorkerID("two"), WithLease(time.Minute))
		q1.Register("count", handler)
		q2.Register("count", handler)

		const n = 200
		for i := range n {
			enqueue(t, q1, Params{NationID: int64(1 + i%3), Kind: "count"})
		}
		run(t, q1, 4)
		run(t, q2, 4)
		eventually(t, "every job to succeed", func() bool {
			var left int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE state <> 'succeeded'`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			return left == 0
		})
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for id, c := range runs {
			if c != 1 {
				t.Errorf("job %v ran %d times", id, c)
			}
			total += c
		}
		if total != n {
			t.Errorf("%d executions, want %d", total, n)
		}
		t.Logf("executions by worker: %v", byQueue)
	})
}

func TestCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := newQueue(db, WithLease(150*time.Millisecond))
		var stopped atomic.Bool
		q.Register("wait", func(ctx context.Context, j *Job) error {
			<-ctx.Done()
			stopped.Store(true)
			return ctx.Err()
		})
		q.Register("later", func(ctx context.Context, j *Job) error { return nil })

		waiting := enqueue(t, q, Params{NationID: 1, Kind: "later", RunAt: time.Now().Add(time.Hour)})
		c, err := q.Cancel(ctx, 1, waiting.ID)
		if err != nil || c.State != StateCancelled || c.FinishedAt.IsZero() {
			t.Fatalf("Cancel: %+v, %v", c, err)
		}
		if _, err := q.Cancel(ctx, 1, waiting.ID); !errors.Is(err, errs.ErrConflict) {
			t.Errorf("second Cancel: %v, want conflict", err)
		}

		running := enqueue(t, q, Params{NationID: 1, Kind: "wait"})
		run(t, q, 1)
		waitState(t, q, 1, running.ID, StateRunning)
		if _, err := q.Cancel(ctx, 1, running.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the handler's context to be cancelled", stopped.Load)
		// Wait for the worker to be free again, then check the state held.
		probe := enqueue(t, q, Params{NationID: 1, Kind: "later"})
		waitState(t, q, 1, probe.ID, StateSucceeded)
		if got := get(t, q, 1, running.ID); got.State != StateCancelled {
			t.Errorf("cancelled running job ended %s", got.State)
		}
	})
}

func TestProgress(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db, WithProgressInterval(time.Hour))
		release := make(chan struct{})
		q.Register("import", func(ctx context.Context, j *Job) error {
			if err := j.Progress(ctx, 3, 10, "reading rows"); err != nil {
				return err
			}
			<-release
			// Rate-limited away, but written when the job finishes.
			return j.Progress(ctx, 10, 10, "done")
		})
		j := enqueue(t, q, Params{NationID: 1, Kind: "import"})
		run(t, q, 1)
		eventually(t, "progress to be visible", func() bool {
			g := get(t, q, 1, j.ID)
			return g.ProgressDone == 3 && g.ProgressTotal == 10 && g.ProgressNote == "reading rows"
		})
		close(release)
		done := waitState(t, q, 1, j.ID, StateSucceeded)
		if done.ProgressDone != 10 || done.ProgressNote != "done" {
			t.Errorf("final progress %d/%d %q", done.ProgressDone, done.ProgressTotal, done.ProgressNote)
		}
		if err := done.Progress(context.Background(), 1, 1, ""); err == nil {
			t.Error("Progress on a job not running here succeeded")
		}
	})
}

func TestShutdownReleasesWork(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db, WithShutdownTimeout(100*time.Millisecond))
		stuck := make(chan struct{})
		defer close(stuck)
		q.Register("polite", func(ctx context.Context, j *Job) error {
			<-ctx.Done()
			return ctx.Err()
		})
		q.Register("stuck", func(ctx context.Context, j *Job) error {
			<-stuck // ignores its context
			return nil
		})
		a := enqueue(t, q, Params{NationID: 1, Kind: "polite"})
		b := enqueue(t, q, Params{NationID: 1, Kind: "stuck"})
		stop := run(t, q, 2)
		waitState(t, q, 1, a.ID, StateRunning)
		waitState(t, q, 1, b.ID, StateRunning)
		stop()
		for _, id := range []int64{a.ID, b.ID} {
			j := get(t, q, 1, id)
			if j.State != StateAvailable || j.Attempts != 0 || j.LockedBy != "" {
				t.Errorf("job %d after shutdown: state %s, attempts %d, locked by %q", id, j.State, j.Attempts, j.LockedBy)
			}
		}
		// Another worker takes both.
		next := newQueue(db)
		next.Register("polite", func(ctx context.Context, j *Job) error { return nil })
		next.Register("stuck", func(ctx context.Context, j *Job) error { return nil })
		run(t, next, 2)
		waitState(t, next, 1, a.ID, StateSucceeded)
		waitState(t, next, 1, b.ID, StateSucceeded)
	})
}

func TestDeadlineHoldsOverdueJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := newQueue(db)
		var calls atomic.Int64
		q.Register("broadcast", func(ctx context.Context, j *Job) error { calls.Add(1); return nil })
		late := enqueue(t, q, Params{NationID: 1, Kind: "broadcast", Deadline: time.Now().Add(-time.Minute)})
		onTime := enqueue(t, q, Params{NationID: 1, Kind: "broadcast", Deadline: time.Now().Add(time.Hour)})
		run(t, q, 1)
		waitState(t, q, 1, onTime.ID, StateSucceeded)
		held := waitState(t, q, 1, late.ID, StateHeld)
		if calls.Load() != 1 || held.Attempts != 0 || held.LastError == "" {
			t.Fatalf("held job: calls %d, %+v", calls.Load(), held)
		}
		if _, err := q.Resume(ctx, 2, late.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("Resume from another nation: %v, want not found", err)
		}
		if _, err := q.Resume(ctx, 1, late.ID); err != nil {
			t.Fatal(err)
		}
		waitState(t, q, 1, late.ID, StateSucceeded)
		if calls.Load() != 2 {
			t.Errorf("handler ran %d times, want 2", calls.Load())
		}
	})
}

func TestNationScoping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		q := newQueue(db)
		// Ids are per nation: make nation 1's job id one that nation 2 lacks.
		enqueue(t, q, Params{NationID: 1, Kind: "other", RunAt: time.Now().Add(time.Hour)})
		a := enqueue(t, q, Params{NationID: 1, Kind: "export", RunAt: time.Now().Add(time.Hour)})
		enqueue(t, q, Params{NationID: 2, Kind: "export", RunAt: time.Now().Add(time.Hour)})

		if _, err := q.Get(ctx, 2, a.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("nation 2 Get of nation 1's job: %v, want not found", err)
		}
		if _, err := q.Cancel(ctx, 2, a.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("nation 2 Cancel of nation 1's job: %v, want not found", err)
		}
		if got := get(t, q, 1, a.ID); got.State != StateAvailable {
			t.Errorf("after a foreign cancel the job is %s", got.State)
		}
		list, err := q.List(ctx, 2, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list {
			if j.NationID != 2 {
				t.Errorf("nation 2's list holds a job of nation %d", j.NationID)
			}
		}
		if len(list) != 1 {
			t.Errorf("nation 2 lists %d jobs, want 1", len(list))
		}
		mine, err := q.List(ctx, 1, Filter{Kind: "export", States: []State{StateAvailable}})
		if err != nil || len(mine) != 1 || mine[0].ID != a.ID {
			t.Errorf("nation 1 list: %v, %v", mine, err)
		}
		none, err := q.List(ctx, 1, Filter{States: []State{StateFailed}})
		if err != nil || len(none) != 0 {
			t.Errorf("filtered list: %d jobs, %v", len(none), err)
		}
	})
}

func TestPeriodic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var calls atomic.Int64
		periods := make(chan time.Time, 100)
		newTicker := func() *Queue {
			q := newQueue(db)
			q.Register("tick", func(ctx context.Context, j *Job) error {
				var a struct{ Period time.Time }
				if err := j.Decode(&a); err != nil {
					return err
				}
				select {
				case periods <- a.Period:
				default:
				}
				calls.Add(1)
				return nil
			})
			q.Every("tick", 30*time.Millisecond, func(p time.Time) any { return map[string]any{"Period": p} })
			return q
		}
		// Two processes schedule the same periodic kind.
		run(t, newTicker(), 1)
		run(t, newTicker(), 1)
		eventually(t, "three periodic runs", func() bool { return calls.Load() >= 3 })

		var live int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE kind = 'tick' AND state IN ('available', 'running')`).Scan(&live); err != nil {
			t.Fatal(err)
		}
		if live != 1 {
			t.Errorf("%d live periodic jobs, want 1", live)
		}
		seen := map[int64]bool{}
		for len(periods) > 0 {
			p := <-periods
			if seen[p.UnixMilli()] {
				t.Errorf("period %s ran twice", p)
			}
			seen[p.UnixMilli()] = true
		}
	})
}

func TestRetryIsScheduledAfterBackoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		q := newQueue(db, WithBackoff(time.Hour, 24*time.Hour))
		var calls atomic.Int64
		q.Register("fails", func(ctx context.Context, j *Job) error {
			calls.Add(1)
			return errors.New("smtp refused")
		})
		before := time.Now()
		j := enqueue(t, q, Params{NationID: 1, Kind: "fails"})
		run(t, q, 1)
		var got *Job
		eventually(t, "the first failure to be recorded", func() bool {
			got = get(t, q, 1, j.ID)
			return got.State == StateAvailable && got.Attempts == 1
		})
		// First retry: between half and all of the one-hour base.
		if got.RunAt.Before(before.Add(30*time.Minute)) || got.RunAt.After(time.Now().Add(time.Hour)) {
			t.Errorf("retry at %s, want 30–60 minutes after %s", got.RunAt, before)
		}
		if got.LastError != "smtp refused" || calls.Load() != 1 {
			t.Errorf("after one failure: error %q, calls %d", got.LastError, calls.Load())
		}
	})
}
