package broadcastweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/broadcast/broadcastweb"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/mail/smtptest"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/store"
)

const testKey = "0707070707070707070707070707070707070707070707070707070707070707"

// withMail points the application built by servertest at an in-process
// SMTP server, through the environment `muster serve` reads.
func withMail(t *testing.T) *smtptest.Server {
	sink := smtptest.Start(t, smtptest.Options{})
	t.Setenv("MUSTER_SMTP_URL", sink.URL()+"?tls=none")
	t.Setenv("MUSTER_SMTP_FROM", "Parti <news@muster.example.org>")
	t.Setenv("MUSTER_SECRET_KEY", testKey)
	t.Setenv("MUSTER_ORG_ADDRESS", "Rue de la Loi 16, 1000 Bruxelles")
	return sink
}

// mailCfg is the configuration the application read (for the in-test worker).
func mailCfg(t *testing.T, s *servertest.Server) *config.Mail {
	c := &config.Config{BaseURL: s.URL}
	m, err := c.MailSettings()
	if err != nil {
		t.Fatal(err)
	}
	m.Connections = 2
	return m
}

// runQueue runs a job queue with the broadcast and automatic-message
// handlers in the test process until the test ends.
func runQueue(t *testing.T, s *servertest.Server) {
	m := mailCfg(t, s)
	q := jobs.New(s.DB, slog.New(slog.DiscardHandler), jobs.WithPollInterval(20*time.Millisecond))
	w := broadcast.NewWorker(broadcast.WorkerConfig{DB: s.DB, Mail: m, ID: "test-worker", Lease: 5 * time.Second})
	q.Register(broadcast.JobKind, w.Handle)
	s.App.Automail.Register(q)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = q.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		w.Close()
	})
}

// to lists the recipients of the sink's messages within domain.
func to(sink *smtptest.Server, domain string) map[string][]byte {
	out := map[string][]byte{}
	for _, m := range sink.Messages() {
		for _, r := range m.To {
			if strings.HasSuffix(r, "@"+domain) {
				out[r] = m.Data
			}
		}
	}
	return out
}

// decoded is a message with quoted-printable soft breaks and escapes undone.
func decoded(raw []byte) string {
	b, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	return string(b)
}

type audience struct {
	ana, bob, carl, dora, eve int64
}

// seed makes five people tagged "news" in n: Ana and Bob (no first name)
// consent; Carl does not; Dora consents but is suppressed; Eve consents
// but her address is unusable.
func seed(t *testing.T, s *servertest.Server, n *nation.Nation, domain string) audience {
	t.Helper()
	ctx := context.Background()
	ps := people.NewStore(s.DB)
	add := func(first, local string, consent bool) int64 {
		res, err := ps.Upsert(ctx, n.ID, people.Record{FirstName: first, Emails: []string{local + "@" + domain}, Tags: []string{"news"}},
			people.Source{Kind: "import", Ref: "seed.csv"}, people.UpsertOptions{})
		if err != nil || res.PersonID == 0 {
			t.Fatalf("seed %s: %+v %v", local, res, err)
		}
		if consent {
			if _, err := ps.RecordConsent(ctx, n.ID, res.PersonID, people.ConsentInput{Channel: "email", Granted: true, Basis: "consent", Wording: "Yes"},
				people.Source{Kind: "import", Ref: "seed.csv", At: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		return res.PersonID
	}
	a := audience{ana: add("Ana", "ana", true), bob: add("", "bob", true), carl: add("Carl", "carl", false),
		dora: add("Dora", "dora", true), eve: add("Eve", "eve", true)}
	key, _ := hexKey()
	if err := broadcast.Suppress(ctx, s.DB, key, n.ID, "dora@"+domain, broadcast.ReasonHardBounce, store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.Exec(ctx, `UPDATE people SET email_norm = 'eve at nowhere' WHERE nation_id = ? AND id = ?`, n.ID, a.eve); err != nil {
		t.Fatal(err)
	}
	return a
}

func hexKey() ([]byte, error) {
	c := &config.Config{}
	m, err := c.MailSettings()
	if err != nil {
		return nil, err
	}
	return m.SecretKey, nil
}

var idPath = regexp.MustCompile(`/broadcasts/(\d+)$`)

// TestComposeAndSend walks the compose flow over HTTP: a broken template is
// refused with its line; the estimate counts who is left out and why; the
// preview is personalised; the test send reaches the staff member; the
// send, carried out by a job queue running in the test, reaches only the
// consenting people; the progress page shows it finished.
func TestComposeAndSend(t *testing.T) {
	sink := withMail(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		domain := string(s.Engine) + ".example.org"
		n := s.CreateNation("parti")
		staff := "org-" + string(s.Engine) + "@example.org"
		s.CreateUser(staff, n, auth.RoleOrganizer)
		a := seed(t, s, n, domain)
		c := s.Client()
		c.Login(staff, servertest.Password)
		base := "/admin/parti/broadcasts"

		if res := c.Get(base); res.Status != http.StatusOK || !res.Has(`href="/admin/parti/broadcasts/new"`) {
			t.Fatalf("list: %d", res.Status)
		}
		// "Message this segment" on the segments page opens the compose form
		// with the segment's filter filled in.
		if res := c.Get("/admin/parti/segments?q=" + url.QueryEscape("tag:news -tag:x")); !res.Has(`href="/admin/parti/broadcasts/new?filter=tag%3anews%20-tag%3ax"`) {
			t.Errorf("segments page lacks the message link:\n%s", excerpt(res.Body, "message-segment"))
		}
		if res := c.Get(base + "/new?filter=" + url.QueryEscape("tag:news -tag:x")); !res.Has(`value="tag:news -tag:x"`) {
			t.Errorf("compose form does not carry the segment's filter")
		}
		// A broken template is refused on save, naming its line.
		res := c.PostForm(base+"/new", url.Values{"subject": {"Hello"}, "filter": {"tag:news"},
			"body": {"Line one\n\nHello {{ frist_name }}"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("line 3") {
			t.Fatalf("broken template: status %d, want 422 naming line 3:\n%s", res.Status, excerpt(res.Body, "compose-error"))
		}
		res = c.PostForm(base+"/new", url.Values{"subject": {"News for {{first_name | default \"ami·e\"}}"}, "filter": {"tag:news"},
			"purpose": {"monthly newsletter"}, "body": {"Hello {{first_name | default \"ami·e\"}}, here is the news."}})
		m := idPath.FindStringSubmatch(res.Location)
		if res.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("create: %d %q", res.Status, res.Location)
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		bpath := base + "/" + m[1]

		// Estimate: 2 sendable; left out 1 for consent, 1 suppressed, 1 bad address.
		res = c.Get(base + "/estimate?filter=" + url.QueryEscape("tag:news"))
		var e broadcast.Estimate
		if err := json.Unmarshal([]byte(res.Body), &e); err != nil || res.Status != 200 {
			t.Fatalf("estimate: %d %s", res.Status, res.Body)
		}
		if e != (broadcast.Estimate{Audience: 5, Sendable: 2, NoConsent: 1, Suppressed: 1, BadAddress: 1}) {
			t.Errorf("estimate = %+v", e)
		}
		if res := c.Get(base + "/estimate?filter=" + url.QueryEscape("tag:(")); res.Status != http.StatusUnprocessableEntity || !res.Has("error") {
			t.Errorf("bad filter estimate: %d %s", res.Status, res.Body)
		}
		if res := c.Get(bpath); res.Status != 200 || !res.Has("2 people will receive it") || !res.Has("1 without consent, 1 suppressed, 1 with a bad address") {
			t.Errorf("compose page lacks the estimate (%d)", res.Status)
		}

		// Preview: search, as Ana, as blank; the frame has its own strict CSP.
		if res := c.Get(bpath + "/preview?q=ana"); !res.Has("/preview?person=" + strconv.FormatInt(a.ana, 10)) {
			t.Errorf("person search does not offer Ana")
		}
		res = c.Get(bpath + "/preview?person=" + strconv.FormatInt(a.ana, 10))
		if res.Status != 200 || !res.Has("Hello Ana, here is the news.") || !res.Has("News for Ana") || !res.Has("<iframe id=\"preview-frame\" sandbox") {
			t.Errorf("preview as Ana: %d\n%s", res.Status, excerpt(res.Body, "preview-text"))
		}
		res = c.Get(bpath + "/preview.html?person=" + strconv.FormatInt(a.bob, 10))
		if res.Status != 200 || !res.Has("Hello ami·e") || res.Header.Get("Content-Security-Policy") != broadcastweb.PreviewCSP || !res.Has("Rue de la Loi 16") {
			t.Errorf("preview.html as Bob: %d csp %q", res.Status, res.Header.Get("Content-Security-Policy"))
		}

		// Test send goes to the signed-in staff member only.
		before := len(sink.Messages())
		if res := c.PostForm(bpath+"/test", url.Values{"person": {strconv.FormatInt(a.ana, 10)}}); res.Status != http.StatusSeeOther {
			t.Fatalf("test send: %d %s", res.Status, res.Body)
		}
		msgs := sink.Messages()
		if len(msgs) != before+1 || msgs[len(msgs)-1].To[0] != staff || !strings.Contains(decoded(msgs[len(msgs)-1].Data), "Subject: [TEST] News for Ana") {
			t.Fatalf("test send did not reach %s: %d messages", staff, len(msgs)-before)
		}
		if len(to(sink, domain)) != 0 {
			t.Fatalf("test send reached the audience")
		}

		// A second broadcast, scheduled: pause, resume, cancel.
		res = c.PostForm(base+"/new", url.Values{"subject": {"Later"}, "filter": {"tag:news"}, "body": {"Later."}})
		later := idPath.FindStringSubmatch(res.Location)[1]
		lpath := base + "/" + later
		at := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
		if res := c.PostForm(lpath+"/send", url.Values{"when": {"at"}, "at": {at}}); res.Status != http.StatusSeeOther {
			t.Fatalf("schedule: %d %s", res.Status, res.Body)
		}
		lid, _ := strconv.ParseInt(later, 10, 64)
		state := func(id int64) string {
			b, err := s.App.Broadcasts.Get(context.Background(), n.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			return b.State
		}
		if st := state(lid); st != broadcast.StateScheduled {
			t.Fatalf("scheduled broadcast is %s", st)
		}
		if res := c.Get(lpath + "/progress"); !res.Has(">Scheduled<") {
			t.Errorf("progress of a scheduled broadcast does not say so")
		}
		for _, step := range []struct{ action, want string }{{"pause", broadcast.StatePaused}, {"resume", broadcast.StateSending}, {"pause", broadcast.StatePaused}, {"cancel", broadcast.StateCancelled}} {
			if res := c.PostForm(lpath+"/"+step.action, nil); res.Status != http.StatusSeeOther {
				t.Fatalf("%s: %d", step.action, res.Status)
			}
			if st := state(lid); st != step.want {
				t.Fatalf("after %s: %s, want %s", step.action, st, step.want)
			}
		}
		if res := c.PostForm(lpath+"/resume", nil); !strings.Contains(res.Location, "conflict=1") {
			t.Errorf("resuming a cancelled broadcast: %d %q", res.Status, res.Location)
		}

		// Send now; a queue in the test process delivers.
		if res := c.PostForm(bpath+"/send", url.Values{"when": {"now"}}); res.Status != http.StatusSeeOther || !strings.HasSuffix(res.Location, "/progress") {
			t.Fatalf("send: %d %s", res.Status, res.Body)
		}
		if res := c.PostForm(bpath, url.Values{"subject": {"Changed"}, "filter": {"tag:news"}, "body": {"x"}}); res.Status != http.StatusConflict {
			t.Errorf("editing a sent broadcast: %d, want 409", res.Status)
		}
		runQueue(t, s)
		deadline := time.Now().Add(30 * time.Second)
		for state(id) != broadcast.StateFinished {
			if time.Now().After(deadline) {
				t.Fatalf("broadcast not finished: %s", state(id))
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := to(sink, domain)
		if len(got) != 2 || got["ana@"+domain] == nil || got["bob@"+domain] == nil {
			t.Fatalf("delivered to %d people: %v", len(got), keys(got))
		}
		if !strings.Contains(decoded(got["ana@"+domain]), "Hello Ana, here is the news.") || !strings.Contains(decoded(got["bob@"+domain]), "Hello ami·e, here is the news.") {
			t.Errorf("personalisation missing in delivered messages")
		}
		res = c.Get(bpath + "/progress")
		if res.Status != 200 || !res.Has(`<span id="percent">100 %</span>`) || !res.Has(`<dd id="sent">2</dd>`) || !res.Has(`<dd id="remaining">0</dd>`) || !res.Has(">Finished<") {
			t.Errorf("progress page:\n%s", excerpt(res.Body, "progress"))
		}
		if res.Header.Get("Refresh") != "" {
			t.Errorf("a finished broadcast's page still refreshes")
		}
		if res := c.Get(base); !res.Has("2 sent") {
			t.Errorf("list does not show the count sent")
		}
	})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// excerpt returns the part of an HTML body around an element id, for
// failure messages.
func excerpt(body, id string) string {
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		if len(body) > 2000 {
			return body[:2000]
		}
		return body
	}
	return body[i:min(len(body), i+1500)]
}

func TestParseLocal(t *testing.T) {
	got, err := broadcastweb.ParseLocal("2026-05-01T18:00", "Europe/Brussels")
	if err != nil || !got.Equal(time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("ParseLocal = %v %v", got, err)
	}
	if _, err := broadcastweb.ParseLocal("tomorrow", "Europe/Brussels"); err == nil {
		t.Errorf("ParseLocal accepted nonsense")
	}
}
