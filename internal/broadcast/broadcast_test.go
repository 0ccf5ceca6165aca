package broadcast_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/mail/smtptest"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// fixture is a nation with recipients, a sink and the service.
type fixture struct {
	db     *store.DB
	nation *nation.Nation
	sink   *smtptest.Server
	mail   *config.Mail
	svc    *broadcast.Service
	people *people.Store
	q      *jobs.Queue
}

func newFixture(t *testing.T, db *store.DB, slug string, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: slug, Name: "Parti " + slug})
	if err != nil {
		t.Fatal(err)
	}
	if err := broadcast.GenerateRecipients(ctx, db, nat.ID, n, slug+".example.org", store.Millis(time.Now().Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	sink := smtptest.Start(t, smtptest.Options{})
	m := &config.Mail{SMTPURL: sink.URL() + "?tls=none", From: "Parti <news@muster.example.org>", Connections: 4,
		OrgName: "Parti Exemple asbl", OrgAddress: "Rue de la Loi 16, 1000 Bruxelles", BaseURL: "https://muster.example.org",
		SecretKey: bytes.Repeat([]byte{7}, 32)}
	q := jobs.New(db, slog.New(slog.DiscardHandler))
	svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: q, Mail: m})
	return &fixture{db: db, nation: nat, sink: sink, mail: m, svc: svc, people: people.NewStore(db), q: q}
}

func (f *fixture) worker(t *testing.T, id string) *broadcast.Worker {
	w := broadcast.NewWorker(broadcast.WorkerConfig{DB: f.db, Mail: f.mail, ID: id, Lease: 3 * time.Second,
		RetryDelay: func(int) time.Duration { return time.Millisecond }})
	t.Cleanup(func() { w.Close() })
	return w
}

// sendAll creates and sends a broadcast and runs a worker until it is done.
func (f *fixture) sendAll(t *testing.T, d broadcast.Draft) *broadcast.Broadcast {
	t.Helper()
	ctx := context.Background()
	b, err := f.svc.Create(ctx, f.nation.ID, 1, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Send(ctx, f.nation.ID, b.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	f.runUntilDone(t, f.worker(t, "w1"), b.ID)
	return b
}

func (f *fixture) runUntilDone(t *testing.T, w *broadcast.Worker, id int64) {
	t.Helper()
	for range 50 {
		err := w.Run(context.Background(), f.nation.ID, id, nil)
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "snooze") {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("broadcast did not finish")
}

func TestSendContentAndHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "alpha", 30)
		ctx := context.Background()
		b := f.sendAll(t, broadcast.Draft{Subject: "Hello {{first_name}}", Body: "Dear **{{first_name | default \"ami·e\"}}** of {{city}}", Filter: "has:email"})
		msgs := f.sink.Messages()
		if len(msgs) != 30 {
			t.Fatalf("sink got %d messages, want 30", len(msgs))
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			if len(m.To) != 1 || seen[m.To[0]] {
				t.Fatalf("duplicate or bad recipient %v", m.To)
			}
			seen[m.To[0]] = true
			data := string(m.Data)
			for _, want := range []string{"List-Unsubscribe: <https://muster.example.org/u/", "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
				"Message-ID: <", "multipart/alternative", "Parti Exemple asbl", "Rue de la Loi 16", "Subject: Hello First"} {
				if !strings.Contains(data, want) {
					t.Fatalf("message lacks %q:\n%s", want, data)
				}
			}
		}
		p, err := f.svc.Progress(ctx, f.nation.ID, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.State != broadcast.StateFinished || p.Sent != 30 || p.Queued != 0 || p.Recipients != 30 {
			t.Fatalf("progress %+v", p)
		}
	})
}

func nationStore(db *store.DB) *nation.Store { return nation.NewStore(db) }
