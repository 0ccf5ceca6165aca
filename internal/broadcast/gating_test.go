package broadcast_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
	"github.com/muster-org/muster/internal/web"
)

func personID(t *testing.T, db *store.DB, nationID int64, email string) int64 {
	t.Helper()
	var id int64
	if err := db.QueryRow(context.Background(), `SELECT id FROM people WHERE nation_id = ? AND email_norm = ?`, nationID, email).Scan(&id); err != nil {
		t.Fatalf("person %s: %v", email, err)
	}
	return id
}

func withdraw(t *testing.T, f *fixture, email string) {
	t.Helper()
	_, err := f.people.RecordConsent(context.Background(), f.nation.ID, personID(t, f.db, f.nation.ID, email),
		people.ConsentInput{Channel: "email", Granted: false, Basis: "consent"}, people.Source{Kind: "staff", At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
}

func recipients(f *fixture) map[string]int {
	out := map[string]int{}
	for _, m := range f.sink.Messages() {
		for _, to := range m.To {
			out[to]++
		}
	}
	return out
}

func TestConsentSuppressionAndBadAddresses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "gate", 10)
		ctx := context.Background()
		withdraw(t, f, "p1@gate.example.org")
		withdraw(t, f, "p2@gate.example.org")
		if err := broadcast.Suppress(ctx, db, f.mail.SecretKey, f.nation.ID, "P3@gate.example.org", broadcast.ReasonHardBounce, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE people SET email_norm = 'not-an-address' WHERE nation_id = ? AND email_norm = 'p4@gate.example.org'`, f.nation.ID); err != nil {
			t.Fatal(err)
		}
		est, err := f.svc.Estimate(ctx, f.nation.ID, "has:email", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if *est != (broadcast.Estimate{Audience: 10, Sendable: 6, NoConsent: 2, Suppressed: 1, BadAddress: 1}) {
			t.Fatalf("estimate %+v", est)
		}
		b := f.sendAll(t, broadcast.Draft{Subject: "S", Body: "B", Filter: "has:email"})
		got := recipients(f)
		for _, skipped := range []string{"p1@gate.example.org", "p2@gate.example.org", "p3@gate.example.org", "not-an-address"} {
			if got[skipped] != 0 {
				t.Errorf("%s was sent to", skipped)
			}
		}
		if len(got) != 6 {
			t.Fatalf("sent to %d, want 6: %v", len(got), got)
		}
		p, _ := f.svc.Progress(ctx, f.nation.ID, b.ID)
		if p.SkippedConsent != 2 || p.SkippedSuppressed != 1 || p.SkippedBad != 1 || p.Sent != 6 {
			t.Fatalf("progress %+v", p)
		}
		var reached int64
		if err := db.QueryRow(ctx, `SELECT count FROM targeting_register WHERE nation_id = ? AND format = 'email'`, f.nation.ID).Scan(&reached); err != nil || reached != 6 {
			t.Fatalf("register count %d, %v", reached, err)
		}
		// A template that does not parse is refused when saved.
		if _, err := f.svc.Create(ctx, f.nation.ID, 1, broadcast.Draft{Subject: "x", Body: "Hi {{ secret_env }}", Filter: "has:email"}); err == nil {
			t.Fatal("a template with an unknown field was accepted")
		}
	})
}

func TestTemporaryAndPermanentFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "fail", 5)
		f.sink.RejectRecipient("p0@fail.example.org", 550, "5.1.1 no such user")
		f.sink.RejectRecipient("p1@fail.example.org", 451, "4.3.0 try later")
		b, err := f.svc.Create(context.Background(), f.nation.ID, 1, broadcast.Draft{Subject: "S", Body: "B", Filter: "has:email"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Send(context.Background(), f.nation.ID, b.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		f.runUntilDone(t, f.worker(t, "w"), b.ID)
		p, _ := f.svc.Progress(context.Background(), f.nation.ID, b.ID)
		// p0: 5xx fails at once; p1: 4xx retried until it gives up (6 attempts).
		if p.Sent != 3 || p.Failed != 2 || p.State != broadcast.StateFinished {
			t.Fatalf("progress %+v", p)
		}
		var attempts int
		var code string
		db.QueryRow(context.Background(), `SELECT attempts, last_error FROM deliveries WHERE nation_id = ? AND email = 'p1@fail.example.org'`, f.nation.ID).Scan(&attempts, &code)
		if attempts != 6 || !strings.Contains(code, "451") {
			t.Fatalf("4xx delivery: %d attempts, %q", attempts, code)
		}
		db.QueryRow(context.Background(), `SELECT attempts, last_error FROM deliveries WHERE nation_id = ? AND email = 'p0@fail.example.org'`, f.nation.ID).Scan(&attempts, &code)
		if attempts != 1 || code != "smtp_550" {
			t.Fatalf("5xx delivery: %d attempts, %q", attempts, code)
		}
	})
}

func TestTwoWorkersNeverDoubleSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "two", 400)
		ctx := context.Background()
		b, _ := f.svc.Create(ctx, f.nation.ID, 1, broadcast.Draft{Subject: "S", Body: "B", Filter: "has:email"})
		if _, err := f.svc.Send(ctx, f.nation.ID, b.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b", "c"} {
			w := broadcast.NewWorker(broadcast.WorkerConfig{DB: db, Mail: f.mail, ID: id, Chunk: 17})
			defer w.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					if err := w.Run(ctx, f.nation.ID, b.ID, nil); err == nil {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		got := recipients(f)
		if len(got) != 400 {
			t.Fatalf("%d distinct recipients, want 400", len(got))
		}
		for to, n := range got {
			if n != 1 {
				t.Fatalf("%s got %d messages", to, n)
			}
		}
	})
}

// TestRecoverAfterCrash simulates a worker killed mid-broadcast: some rows
// claimed (never on a connection) and some sending, their lease expired.
func TestRecoverAfterCrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "crash", 20)
		ctx := context.Background()
		b, _ := f.svc.Create(ctx, f.nation.ID, 1, broadcast.Draft{Subject: "S", Body: "B", Filter: "has:email"})
		f.svc.Send(ctx, f.nation.ID, b.ID, time.Time{})
		// First pass materialises; pause it so nothing goes out, then fake the crash.
		if _, err := f.svc.Pause(ctx, f.nation.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		w := f.worker(t, "w")
		if err := w.Run(ctx, f.nation.ID, b.ID, nil); err != nil {
			t.Fatal(err)
		}
		// Materialised only when sending: resume, and fake the dead worker's rows by hand.
		if _, err := db.Exec(ctx, `UPDATE broadcasts SET state = 'sending' WHERE nation_id = ? AND id = ?`, f.nation.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		must := func(q string, args ...any) {
			if _, err := db.Exec(ctx, q, args...); err != nil {
				t.Fatal(err)
			}
		}
		// Materialise through a run against a sink that refuses nothing, but
		// first create the rows via a paused broadcast: simplest is to run,
		// then rewrite states.
		if err := w.Run(ctx, f.nation.ID, b.ID, nil); err != nil {
			t.Fatal(err)
		}
		if got := len(f.sink.Messages()); got != 20 {
			t.Fatalf("first run sent %d", got)
		}
		// Now rewind: 3 rows 'sending' and 5 'claimed' by a dead worker, the rest sent.
		must(`UPDATE broadcasts SET state = 'sending', finished_at = 0 WHERE nation_id = ? AND id = ?`, f.nation.ID, b.ID)
		must(`UPDATE deliveries SET state = 'sending', locked_by = 'dead', lease_until = 1 WHERE nation_id = ? AND broadcast_id = ? AND email IN ('p0@crash.example.org', 'p1@crash.example.org', 'p2@crash.example.org')`, f.nation.ID, b.ID)
		must(`UPDATE deliveries SET state = 'claimed', locked_by = 'dead', lease_until = 1 WHERE nation_id = ? AND broadcast_id = ? AND email IN ('p3@crash.example.org', 'p4@crash.example.org', 'p5@crash.example.org', 'p6@crash.example.org', 'p7@crash.example.org')`, f.nation.ID, b.ID)
		// A live worker's claim (lease in the future) must not be taken.
		must(`UPDATE deliveries SET state = 'claimed', locked_by = 'alive', lease_until = ? WHERE nation_id = ? AND broadcast_id = ? AND email = 'p8@crash.example.org'`,
			store.Millis(time.Now().Add(time.Hour)), f.nation.ID, b.ID)
		before := recipients(f)
		err := w.Run(ctx, f.nation.ID, b.ID, nil)
		if err == nil || !strings.Contains(err.Error(), "snooze") {
			t.Fatalf("run with a live foreign claim: %v (want a snooze)", err)
		}
		after := recipients(f)
		for i := range 9 {
			addr := fmt.Sprintf("p%d@crash.example.org", i)
			if after[addr]-before[addr] != map[bool]int{true: 1, false: 0}[i < 8] {
				t.Errorf("%s: %d new messages", addr, after[addr]-before[addr])
			}
		}
		p, _ := f.svc.Progress(ctx, f.nation.ID, b.ID)
		if p.Resent != 3 || p.State != broadcast.StateSending || p.Queued != 1 {
			t.Fatalf("progress %+v", p)
		}
	})
}

func TestUnsubscribeAndBounces(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "unsub", 4)
		other := newFixture(t, db, "other", 2)
		ctx := context.Background()
		h := broadcast.NewHandlers(broadcast.HandlerDeps{Service: f.svc, Nations: nationStore(db)})
		mux := http.NewServeMux()
		h.Register(mux)
		srv := httptest.NewServer(web.Chain(mux, web.CSRF(broadcast.CSRFBypass...)))
		defer srv.Close()

		p0 := personID(t, db, f.nation.ID, "p0@unsub.example.org")
		token := mail.SignUnsubscribe(f.mail.SecretKey, f.nation.ID, p0, 0)
		// A one-click POST from another site, no cookie.
		req, _ := http.NewRequest("POST", srv.URL+"/u/"+token, strings.NewReader("List-Unsubscribe=One-Click"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://mail.example.net")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("one-click: %v %v", resp.StatusCode, err)
		}
		cur, _ := f.people.CurrentConsents(ctx, f.nation.ID, p0)
		if c := cur["email"]; c.Granted() || c.Source.Kind != "unsubscribe" {
			t.Fatalf("consent after unsubscribe: %+v", c)
		}
		// A token of nation "other" for a person id that exists in it cannot
		// touch this nation, and a forged token is not found.
		q0 := personID(t, db, other.nation.ID, "p0@other.example.org")
		otherToken := mail.SignUnsubscribe(f.mail.SecretKey, other.nation.ID, q0, 0)
		resp, _ = http.PostForm(srv.URL+"/u/"+otherToken, url.Values{"List-Unsubscribe": {"One-Click"}})
		if resp.StatusCode != 200 {
			t.Fatalf("other nation's token: %d", resp.StatusCode)
		}
		if cur, _ := f.people.CurrentConsents(ctx, f.nation.ID, personID(t, db, f.nation.ID, "p1@unsub.example.org")); !cur["email"].Granted() {
			t.Fatal("a token of another nation withdrew consent here")
		}
		forged := mail.SignUnsubscribe([]byte("another key, another installation"), f.nation.ID, p0, 0)
		if resp, _ := http.PostForm(srv.URL+"/u/"+forged, url.Values{"List-Unsubscribe": {"One-Click"}}); resp.StatusCode != 404 {
			t.Fatalf("forged token: %d", resp.StatusCode)
		}

		// Bounce webhook: hard bounce of p1 suppresses it.
		body := `{"events":[{"type":"hard_bounce","email":"P1@unsub.example.org","status":"5.1.1"}]}`
		post := func(slug, secret, body string) int {
			req, _ := http.NewRequest("POST", srv.URL+"/webhooks/bounces/"+slug, strings.NewReader(body))
			req.Header.Set(mail.WebhookHeader, mail.SignWebhook([]byte(secret), []byte(body), time.Now()))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode
		}
		if code := post("unsub", broadcast.WebhookSecret(f.mail.SecretKey, f.nation.ID), body); code != 200 {
			t.Fatalf("webhook: %d", code)
		}
		// Nation A's secret does not open nation B's endpoint.
		if code := post("other", broadcast.WebhookSecret(f.mail.SecretKey, f.nation.ID), `{"events":[{"type":"hard_bounce","email":"p1@other.example.org"}]}`); code != 401 {
			t.Fatalf("cross-nation webhook: %d", code)
		}
		if ok, _ := broadcast.IsSuppressed(ctx, db, f.mail.SecretKey, other.nation.ID, "p1@other.example.org"); ok {
			t.Fatal("cross-nation webhook suppressed")
		}
		// DSN mbox: the postfix sample hard-bounces jean.dupont@example.be.
		raw, err := os.ReadFile("../mail/testdata/dsn/postfix.eml")
		if err != nil {
			t.Fatal(err)
		}
		mbox := "From MAILER-DAEMON Tue Mar 10 09:12:03 2026\n" + strings.ReplaceAll(string(raw), "\r\n", "\n") + "\n"
		rep, err := f.svc.ImportMbox(ctx, f.nation.ID, strings.NewReader(mbox))
		if err != nil || rep.Hard != 1 {
			t.Fatalf("mbox import: %+v %v", rep, err)
		}
		if ok, _ := broadcast.IsSuppressed(ctx, db, f.mail.SecretKey, f.nation.ID, "jean.dupont@example.be"); !ok {
			t.Fatal("DSN hard bounce not suppressed")
		}

		// The next message goes to neither the unsubscribed p0 nor the bounced p1.
		f.sendAll(t, broadcast.Draft{Subject: "S", Body: "B", Filter: "has:email"})
		got := recipients(f)
		if got["p0@unsub.example.org"] != 0 || got["p1@unsub.example.org"] != 0 || len(got) != 2 {
			t.Fatalf("after unsubscribe and bounce: %v", got)
		}
	})
}
