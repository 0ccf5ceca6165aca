package broadcast_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// startQueue runs a job queue with the broadcast worker registered, as
// `muster serve` would, and returns the function that stops it (as the
// process stopping would) and waits until it has.
func startQueue(t *testing.T, f *fixture, id string) (*jobs.Queue, func()) {
	t.Helper()
	q := jobs.New(f.db, slog.New(slog.DiscardHandler), jobs.WithPollInterval(20*time.Millisecond), jobs.WithWorkerID(id))
	q.Register(broadcast.JobKind, f.worker(t, id).Handle)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Run(ctx, 2)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return q, stop
}

// waitFor polls cond until it holds, failing the test after a generous
// limit (the condition, not the time it takes, is what is asserted).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fixture) state(t *testing.T, id int64) string {
	t.Helper()
	b, err := f.svc.Get(context.Background(), f.nation.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return b.State
}

// A broadcast scheduled shortly ahead, whose process stops before the time
// and starts again after it, is sent by the new process — once to each
// recipient.
func TestScheduledSendSurvivesRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "restart", 3)
		ctx := context.Background()

		q1, stop1 := startQueue(t, f, "first")
		svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: q1, Mail: f.mail})
		b, err := svc.Create(ctx, f.nation.ID, 1, broadcast.Draft{Subject: "Soon", Body: "Soon.", Filter: "has:email"})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(1500 * time.Millisecond)
		if b, err = svc.Send(ctx, f.nation.ID, b.ID, at); err != nil || b.State != broadcast.StateScheduled {
			t.Fatalf("schedule: %+v %v", b, err)
		}
		stop1()
		if n := len(f.sink.Messages()); n != 0 {
			t.Fatalf("%d messages sent before the scheduled time", n)
		}

		// The process is down while the time passes.
		time.Sleep(time.Until(at) + 200*time.Millisecond)
		if st := f.state(t, b.ID); st != broadcast.StateScheduled {
			t.Fatalf("with no process running the broadcast became %s", st)
		}

		startQueue(t, f, "second")
		waitFor(t, "the broadcast to finish", func() bool { return f.state(t, b.ID) == broadcast.StateFinished })
		got := recipients(f)
		if len(got) != 3 {
			t.Fatalf("sent to %d people, want 3: %v", len(got), got)
		}
		for to, n := range got {
			if n != 1 {
				t.Errorf("%s got %d messages", to, n)
			}
		}
	})
}

// A broadcast whose time is more than MaxOverdue past when a worker first
// sees it (the server was down for hours) is not sent on its own: its job
// is held until a person resumes it.
func TestOverdueScheduledBroadcastIsHeld(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "overdue", 3)
		ctx := context.Background()

		// Scheduled three hours ago, for half an hour later: the deadline
		// (two hours after that) passed half an hour ago.
		past := broadcast.NewService(broadcast.Deps{DB: db, Jobs: f.q, Mail: f.mail,
			Now: func() time.Time { return time.Now().Add(-3 * time.Hour) }})
		b, err := past.Create(ctx, f.nation.ID, 1, broadcast.Draft{Subject: "Late", Body: "Late.", Filter: "has:email"})
		if err != nil {
			t.Fatal(err)
		}
		if b, err = past.Send(ctx, f.nation.ID, b.ID, time.Now().Add(-150*time.Minute)); err != nil || b.State != broadcast.StateScheduled {
			t.Fatalf("schedule: %+v %v", b, err)
		}

		q, _ := startQueue(t, f, "late")
		jobState := func() jobs.State {
			j, err := q.Get(ctx, f.nation.ID, b.JobID)
			if err != nil {
				t.Fatal(err)
			}
			return j.State
		}
		waitFor(t, "the job to be held", func() bool { return jobState() == jobs.StateHeld })
		if n := len(f.sink.Messages()); n != 0 {
			t.Fatalf("an overdue broadcast sent %d messages on its own", n)
		}
		p, err := f.svc.Progress(ctx, f.nation.ID, b.ID)
		if err != nil || p.JobState != string(jobs.StateHeld) {
			t.Errorf("progress does not report the hold: %+v %v", p, err)
		}

		// A person decides it may still go.
		svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: q, Mail: f.mail})
		if _, err := svc.Resume(ctx, f.nation.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the broadcast to finish", func() bool { return f.state(t, b.ID) == broadcast.StateFinished })
		if got := recipients(f); len(got) != 3 {
			t.Fatalf("after resume sent to %d people, want 3: %v", len(got), got)
		}
		waitFor(t, "the job to succeed", func() bool { return jobState() == jobs.StateSucceeded })
	})
}
