package privacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/mail/smtptest"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/servertest"
)

// citizen is a person of a nation with e-mail consent.
func citizen(t *testing.T, s *servertest.Server, n *nation.Nation, email, first string) int64 {
	t.Helper()
	res, err := people.NewStore(s.DB).Upsert(context.Background(), n.ID, people.Record{FirstName: first, LastName: "Citizen",
		Emails: []string{email}, Tags: []string{"tag-of-" + first},
		Consents: []people.ConsentInput{{Channel: "email", Granted: true, Basis: "consent", Wording: "Yes, e-mail me"}}},
		people.Source{Kind: "form", Ref: "join"}, people.UpsertOptions{})
	if err != nil || res.PersonID == 0 {
		t.Fatalf("citizen: %+v %v", res, err)
	}
	return res.PersonID
}

var linkRE = regexp.MustCompile(`/my-data/access\?t=([A-Za-z0-9_-]+)`)

// linkFrom reads the access link's token from the n-th message the sink got.
func linkFrom(t *testing.T, sink *smtptest.Server, i int) string {
	t.Helper()
	if !sink.Wait(i+1, 5*time.Second) {
		t.Fatalf("no access link e-mail (%d messages)", sink.Count())
	}
	m, err := mail.ReadMessage(bytes.NewReader(sink.Messages()[i].Data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	match := linkRE.FindSubmatch(body)
	if match == nil {
		t.Fatalf("no link in %q", body)
	}
	return string(match[1])
}

func mailServer(t *testing.T) *smtptest.Server {
	sink := smtptest.Start(t, smtptest.Options{})
	t.Setenv("MUSTER_SMTP_URL", sink.URL()+"?tls=none")
	t.Setenv("MUSTER_SMTP_FROM", "Parti <privacy@muster.example.org>")
	return sink
}

func TestMyDataFlow(t *testing.T) {
	sink := mailServer(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		sink := sink
		before := sink.Count()
		ctx := context.Background()
		n := s.CreateNation("parti")
		pid := citizen(t, s, n, "ada@example.org", "Ada")
		other := citizen(t, s, n, "bob@example.org", "Bob")
		c := s.Client()
		c.IP = "198.51.100.7"

		// Known and unknown addresses get the same answer.
		known := c.PostForm("/parti/my-data/access", url.Values{"email": {"Ada@Example.org"}})
		unknown := c.PostForm("/parti/my-data/access", url.Values{"email": {"nobody@example.org"}})
		if known.Status != http.StatusSeeOther || known.Status != unknown.Status || known.Location != unknown.Location || known.Body != unknown.Body {
			t.Fatalf("answers differ: %d %q / %d %q", known.Status, known.Location, unknown.Status, unknown.Location)
		}
		s.App.PrivacyWeb.WaitSends()
		if got := sink.Count() - before; got != 1 {
			t.Fatalf("%d messages sent, want 1 (none for the unknown address)", got)
		}
		if to := sink.Messages()[before].To; len(to) != 1 || to[0] != "ada@example.org" {
			t.Errorf("link sent to %v", to)
		}
		token := linkFrom(t, sink, before)

		// The link's page does not spend it (mail scanners open links);
		// its button does, once.
		if res := c.Get("/parti/my-data?t=" + token); res.Status != http.StatusMovedPermanently || res.Location != "/parti/my-data/access?t="+token {
			t.Errorf("bare address: %d %q", res.Status, res.Location)
		}
		if res := c.Get("/parti/my-data/access?t=" + token); res.Status != 200 || !res.Has(`name="t" value="`+token) {
			t.Fatalf("link page: %d", res.Status)
		}
		res := c.PostForm("/parti/my-data/open", url.Values{"t": {token}})
		if res.Status != http.StatusSeeOther || res.Location != "/parti/my-data/view" {
			t.Fatalf("open: %d %q", res.Status, res.Location)
		}
		again := s.Client().PostForm("/parti/my-data/open", url.Values{"t": {token}})
		if again.Status != http.StatusGone {
			t.Errorf("reused link: status %d, want 410", again.Status)
		}
		view := c.Get("/parti/my-data/view")
		if view.Status != 200 || !view.Has("Ada") || !view.Has("tag-of-Ada") || !view.Has("Yes, e-mail me") || view.Has("Bob") {
			t.Fatalf("view: %d", view.Status)
		}
		if view.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("view is cacheable")
		}
		// A stranger without the session sees nothing.
		if res := s.Client().Get("/parti/my-data/view"); res.Status != http.StatusGone || res.Has("Ada") {
			t.Errorf("view without session: %d", res.Status)
		}

		// Downloads.
		js := c.Get("/parti/my-data/export.json")
		var exp privacy.Export
		if err := json.Unmarshal([]byte(js.Body), &exp); err != nil || exp.PersonID != pid || len(exp.Consents) != 1 {
			t.Fatalf("json export: %v %+v", err, exp)
		}
		var doc any
		_ = json.Unmarshal([]byte(js.Body), &doc)
		validateExport(t, []byte(js.Body))
		if csv := c.Get("/parti/my-data/export.csv"); !strings.HasPrefix(csv.Body, "section,name,value") || !strings.Contains(csv.Body, "tag-of-Ada") {
			t.Errorf("csv export: %q", csv.Body)
		}

		// Rectification, recorded with source "subject".
		if res := c.PostForm("/parti/my-data/correct", url.Values{"last_name": {"Lovelace"}, "city": {"Gent"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("correct: %d %s", res.Status, res.Body)
		}
		p, _ := people.NewStore(s.DB).Get(ctx, n.ID, pid)
		if p.LastName != "Lovelace" || p.Home.City != "Gent" {
			t.Errorf("corrected person: %+v", p)
		}
		prov, _ := people.NewStore(s.DB).Provenance(ctx, n.ID, pid)
		if prov["last_name"].Source.Kind != privacy.SourceSubject {
			t.Errorf("provenance of the correction: %+v", prov["last_name"])
		}

		// Objection to all messaging in one click.
		if res := c.PostForm("/parti/my-data/withdraw", url.Values{"channel": {"all"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("withdraw: %d", res.Status)
		}
		cur, _ := people.NewStore(s.DB).CurrentConsents(ctx, n.ID, pid)
		if cur["email"].Granted() || cur["email"].Source.Kind != privacy.SourceSubject {
			t.Errorf("consent after objection: %+v", cur["email"])
		}

		// Erasure: a confirmation page, then the erasure.
		if res := c.PostForm("/parti/my-data/erase", url.Values{}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("erase without confirmation: %d", res.Status)
		}
		if res := c.PostForm("/parti/my-data/erase", url.Values{"confirm": {"yes"}}); res.Status != 200 || !res.Has(`id="erased"`) {
			t.Fatalf("erase: %d", res.Status)
		}
		if _, err := people.NewStore(s.DB).Get(ctx, n.ID, pid); err == nil {
			t.Errorf("the person is still there")
		}
		if _, err := people.NewStore(s.DB).Get(ctx, n.ID, other); err != nil {
			t.Errorf("the other person went too: %v", err)
		}
		if res := c.Get("/parti/my-data/view"); res.Status != http.StatusGone {
			t.Errorf("session after erasure: %d", res.Status)
		}
		// The request is kept as evidence, closed, without contact details.
		reqs, _ := s.App.Privacy.Requests(ctx, n.ID, 0)
		kinds := map[string]string{}
		for _, r := range reqs {
			kinds[r.Kind] = r.Status
		}
		if kinds["erasure"] != privacy.StatusDone || kinds["objection"] != privacy.StatusDone {
			t.Errorf("requests: %+v", kinds)
		}
	})
}

func TestLinkExpiryAndRateLimit(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("parti")
		citizen(t, s, n, "ada@example.org", "Ada")
		now := time.Now()
		svc := privacy.NewService(privacy.Deps{DB: s.DB, Key: testKey, Now: func() time.Time { return now }})
		token, ok, err := svc.IssueLink(ctx, n.ID, "ada@example.org")
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		if _, ok, _ := svc.IssueLink(ctx, n.ID, "nobody@example.org"); ok {
			t.Errorf("a link for an unknown address")
		}
		other := s.CreateNation("autre")
		if _, _, err := svc.OpenLink(ctx, other.ID, token); err == nil {
			t.Errorf("a link opened in another nation")
		}
		now = now.Add(privacy.LinkTTL + time.Second)
		if _, _, err := svc.OpenLink(ctx, n.ID, token); err == nil {
			t.Errorf("an expired link opened")
		}
		// Sessions expire too.
		now = time.Now()
		token, _, _ = svc.IssueLink(ctx, n.ID, "ada@example.org")
		sess, _, err := svc.OpenLink(ctx, n.ID, token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Session(ctx, n.ID, sess); err != nil {
			t.Errorf("fresh session: %v", err)
		}
		now = now.Add(privacy.SessionTTL + time.Second)
		if _, err := svc.Session(ctx, n.ID, sess); err == nil {
			t.Errorf("an expired session works")
		}

		// Per address: the fourth request within the hour is refused, also
		// from another client address; unknown addresses are limited alike.
		for _, email := range []string{"ada@example.org", "nobody@example.org"} {
			for i := range 4 {
				c := s.Client()
				c.IP = "203.0.113." + strconv.Itoa(i+1)
				res := c.PostForm("/parti/my-data/access", url.Values{"email": {email}})
				want := http.StatusSeeOther
				if i == 3 {
					want = http.StatusTooManyRequests
				}
				if res.Status != want {
					t.Errorf("%s request %d: status %d, want %d", email, i+1, res.Status, want)
				}
			}
		}
		s.App.PrivacyWeb.WaitSends()
	})
}

// TestAdminIsolation probes the routes of one request with a request of
// another nation; the queue routes are in servertest.NationRoutes.
func TestAdminIsolation(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		a, b := s.CreateNation("nation-a"), s.CreateNation("nation-b")
		s.CreateUser("alice@example.org", a, auth.RoleAdmin)
		s.CreateUser("bob@example.org", b, auth.RoleAdmin)
		bp := citizen(t, s, b, "zelda-secret@example.org", "Zelda-secret")
		ap := citizen(t, s, a, "alma@example.org", "Alma")
		mk := func(n *nation.Nation, kind string, pid int64) *privacy.Request {
			r := &privacy.Request{NationID: n.ID, Kind: kind, Channel: "post", PersonID: pid, Contact: "Zelda-secret street"}
			if n == a {
				r.Contact = "alma street"
			}
			if err := s.App.Privacy.CreateRequest(ctx, r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		// Ids are per nation: B gets more requests, so that B's id names
		// nothing in A and the probe in A's own slug is meaningful too.
		mk(b, "access", bp)
		mk(b, "access", bp)
		bErase, aErase := mk(b, "erasure", bp), mk(a, "erasure", ap)
		if bErase.ID == aErase.ID {
			t.Fatal("fixture ids collide")
		}
		c := s.Client()
		c.Login("alice@example.org", servertest.Password)
		routes := []struct {
			method, path string
			form         url.Values
		}{
			{"GET", "/admin/{nation}/privacy/requests/{id}", nil},
			{"GET", "/admin/{nation}/privacy/requests/{id}/export.json", nil},
			{"POST", "/admin/{nation}/privacy/requests/{id}/extend", url.Values{"note": {"probe"}}},
			{"POST", "/admin/{nation}/privacy/requests/{id}/close", url.Values{"status": {"done"}, "response": {"probe"}}},
			{"POST", "/admin/{nation}/privacy/requests/{id}/execute", url.Values{"confirm": {"yes"}}},
		}
		for _, rt := range routes {
			for _, target := range []struct {
				slug string
				id   int64
			}{{b.Slug, bErase.ID}, {a.Slug, bErase.ID}} {
				path := strings.NewReplacer("{nation}", target.slug, "{id}", strconv.FormatInt(target.id, 10)).Replace(rt.path)
				var res *servertest.Response
				if rt.method == "GET" {
					res = c.Get(path)
				} else {
					res = c.PostForm(path, rt.form)
				}
				if res.Status != http.StatusNotFound || res.Has("Zelda-secret") {
					t.Errorf("%s %s: status %d, want 404 without B's data", rt.method, path, res.Status)
				}
			}
		}
		// Nothing of B changed; and the probe is not vacuous: A's own request works.
		r, _ := s.App.Privacy.GetRequest(ctx, b.ID, bErase.ID)
		if r.Status != privacy.StatusOpen || r.Extended() {
			t.Errorf("B's request changed: %+v", r)
		}
		if _, err := people.NewStore(s.DB).Get(ctx, b.ID, bp); err != nil {
			t.Errorf("B's person erased: %v", err)
		}
		own := "/admin/nation-a/privacy/requests/" + strconv.FormatInt(aErase.ID, 10)
		if res := c.Get(own); res.Status != 200 || !res.Has("alma street") {
			t.Errorf("own request: %d", res.Status)
		}
		if res := c.Get(own + "/export.json"); res.Status != 200 || !res.Has("alma@example.org") {
			t.Errorf("own export: %d", res.Status)
		}
		if res := c.PostForm(own+"/extend", url.Values{"note": {"Told by letter: many requests"}}); res.Status != http.StatusSeeOther {
			t.Errorf("own extend: %d", res.Status)
		}
		if res := c.PostForm(own+"/execute", url.Values{"confirm": {"yes"}}); res.Status != http.StatusSeeOther {
			t.Errorf("own erase: %d", res.Status)
		}
		if _, err := people.NewStore(s.DB).Get(ctx, a.ID, ap); err == nil {
			t.Errorf("A's person was not erased")
		}
		q := c.Get("/admin/nation-a/privacy/requests")
		if q.Status != 200 || q.Has("alma street") {
			t.Errorf("queue: %d (contact must be blanked by the erasure)", q.Status)
		}
	})
}

func TestDeadlines(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("parti")
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		svc := privacy.NewService(privacy.Deps{DB: s.DB, Key: testKey, Now: func() time.Time { return now }})
		r := &privacy.Request{NationID: n.ID, Kind: "access", Channel: "email", ReceivedAt: now.AddDate(0, 0, -40)}
		if err := svc.CreateRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, _ := svc.GetRequest(ctx, n.ID, r.ID)
		if !got.DueAt.Equal(r.ReceivedAt.AddDate(0, 1, 0)) || !got.Overdue(now) {
			t.Errorf("due %v overdue %v", got.DueAt, got.Overdue(now))
		}
		if err := svc.ExtendRequest(ctx, n.ID, r.ID, "too late", 1); err == nil {
			t.Errorf("a passed deadline was extended")
		}
		r2 := &privacy.Request{NationID: n.ID, Kind: "erasure", Channel: "post", ReceivedAt: now.AddDate(0, 0, -5)}
		if err := svc.CreateRequest(ctx, r2); err != nil {
			t.Fatal(err)
		}
		if err := svc.ExtendRequest(ctx, n.ID, r2.ID, "", 1); err == nil {
			t.Errorf("extended without a note")
		}
		if err := svc.ExtendRequest(ctx, n.ID, r2.ID, "Complex request, told by letter", 1); err != nil {
			t.Fatal(err)
		}
		got, _ = svc.GetRequest(ctx, n.ID, r2.ID)
		if !got.DueAt.Equal(r2.ReceivedAt.AddDate(0, 3, 0)) || got.ExtensionNote == "" {
			t.Errorf("extended: %+v", got)
		}
		if err := svc.ExtendRequest(ctx, n.ID, r2.ID, "again", 1); err == nil {
			t.Errorf("extended twice")
		}
		if err := svc.CloseRequest(ctx, n.ID, r2.ID, privacy.StatusDone, "Erased on 12 March", 1); err != nil {
			t.Fatal(err)
		}
		got, _ = svc.GetRequest(ctx, n.ID, r2.ID)
		if got.Status != privacy.StatusDone || got.Response != "Erased on 12 March" || !got.RespondedAt.Equal(now) || got.Overdue(now.AddDate(1, 0, 0)) {
			t.Errorf("closed: %+v", got)
		}
	})
}
