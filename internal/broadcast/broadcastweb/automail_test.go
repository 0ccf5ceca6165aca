package broadcastweb_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/automail"
	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/store"
)

var confirmLink = regexp.MustCompile(`/u/([0-9]+\.[0-9]+\.[A-Za-z0-9_-]+)/confirm`)

// TestAutomaticMessages: a petition with an auto-response, double opt-in
// and a two-message welcome series. The signature gets the thank-you once;
// e-mail consent stays pending until the link is clicked, the click grants
// it with the click's address, the link cannot be reused; the welcome
// series is scheduled as jobs at its days and stops after an unsubscribe.
func TestAutomaticMessages(t *testing.T) {
	sink := withMail(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		domain := "auto-" + string(s.Engine) + ".example.org"
		n := s.CreateNation("parti")
		staff := "org-" + string(s.Engine) + "@example.org"
		s.CreateUser(staff, n, auth.RoleOrganizer)
		p := &pages.Page{NationID: n.ID, Type: pages.TypePetition, Slug: "pensions", Title: "Save pensions", Status: pages.StatusPublished,
			Settings: pages.DefaultSettings(pages.TypePetition, n.Languages, func(l, k string, _ ...any) string { return "Yes, e-mail me" })}
		p.Settings.AutoResponse = pages.AutoResponse{Enabled: true, Subject: "Thank you {{first_name | default \"ami·e\"}}",
			Body: "Thank you {{first_name | default \"ami·e\"}} for signing."}
		if ps := p.Validate(n.Languages); len(ps) > 0 {
			t.Fatal(ps)
		}
		if err := s.App.Pages.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		c := s.Client()
		c.Login(staff, servertest.Password)
		apath := "/admin/parti/automail/" + strconv.FormatInt(p.ID, 10)
		if res := c.Get(apath); res.Status != 200 {
			t.Fatalf("automail form: %d", res.Status)
		}
		res := c.PostForm(apath, url.Values{"double_opt_in": {"yes"}, "days_0": {"0"}, "subject_0": {"Welcome"}, "body_0": {"Hi\n{{ nope }}"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("line 2") {
			t.Fatalf("broken welcome template: %d, want 422 naming line 2", res.Status)
		}
		res = c.PostForm(apath, url.Values{"double_opt_in": {"yes"},
			"days_0": {"0"}, "subject_0": {"Welcome {{first_name}}"}, "body_0": {"First welcome."},
			"days_1": {"3"}, "subject_1": {"Second"}, "body_1": {"Second welcome."}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("save automail: %d %s", res.Status, res.Body)
		}

		// The signature.
		pub := s.Client()
		pub.IP = "198.51.100.7"
		sign := func() {
			res := pub.PostForm("/parti/pensions", url.Values{"first_name": {"Zoe"}, "email": {"zoe@" + domain}, "consent_email": {"yes"}})
			if res.Status != http.StatusSeeOther {
				t.Fatalf("sign: %d", res.Status)
			}
		}
		sign()
		ps := people.NewStore(s.DB)
		found, err := ps.Search(ctx, n.ID, "zoe@"+domain, people.Page{Limit: 1})
		if err != nil || len(found) != 1 {
			t.Fatalf("signer: %v %v", found, err)
		}
		zoe := found[0].ID
		consented := func() bool {
			ok, err := s.App.Broadcasts.HasEmailConsent(ctx, n.ID, zoe)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if consented() {
			t.Fatalf("double opt-in: consent granted before the click")
		}
		sends := func() map[string]automail.Send {
			xs, err := s.App.Automail.Sends(ctx, n.ID, zoe)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]automail.Send{}
			for _, x := range xs {
				out[x.Kind+strconv.Itoa(x.Step)] = x
			}
			return out
		}
		if got := sends(); len(got) != 2 || got["auto_response0"].State != "queued" || got["confirm0"].State != "queued" {
			t.Fatalf("after signing: %+v", got)
		}
		runQueue(t, s)
		waitFor(t, func() bool { x := sends(); return x["auto_response0"].State == "sent" && x["confirm0"].State == "sent" })
		mails := to(sink, domain)
		body := decoded(mails["zoe@"+domain])
		if len(mails) != 1 {
			t.Fatalf("mails: %v", keys(mails))
		}
		var thanks, confirm string
		for _, m := range sink.Messages() {
			if m.To[0] != "zoe@"+domain {
				continue
			}
			d := decoded(m.Data)
			switch {
			case strings.Contains(d, "Thank you Zoe for signing."):
				thanks = d
			case confirmLink.MatchString(d):
				confirm = d
			}
		}
		if thanks == "" || confirm == "" || !strings.Contains(thanks, "List-Unsubscribe") {
			t.Fatalf("auto-response or confirmation missing; last:\n%s", body)
		}
		// Signing again sends no second thank-you.
		sign()
		if got := sends(); got["auto_response1"].ID != 0 || len(got) != 3 {
			t.Errorf("second signature: %+v", got)
		}

		// The click: GET shows a button and changes nothing; POST confirms.
		tok := confirmLink.FindStringSubmatch(confirm)[1]
		if res := pub.Get("/u/" + tok + "/confirm"); res.Status != 200 || !res.Has(`action="/u/`+tok+`/confirm"`) || consented() {
			t.Fatalf("confirm page: %d consent %v", res.Status, consented())
		}
		if res := pub.PostForm("/u/"+tok+"/confirm", nil); res.Status != 200 || !res.Has(`id="confirmed"`) {
			t.Fatalf("confirm: %d", res.Status)
		}
		if !consented() {
			t.Fatalf("the click did not grant consent")
		}
		hist, _ := ps.ConsentHistory(ctx, n.ID, zoe)
		last := hist[len(hist)-1]
		if last.Source.Kind != "double_opt_in" || last.Source.IP != "198.51.100.7" || last.Source.Ref != "pensions" || last.WordingHash == "" {
			t.Errorf("ledger entry: %+v", last)
		}
		if res := pub.PostForm("/u/"+tok+"/confirm", nil); res.Status != http.StatusConflict || !res.Has(`id="used"`) {
			t.Errorf("token reuse: %d, want 409", res.Status)
		}
		if res := pub.PostForm("/u/"+tok[:len(tok)-2]+"xx/confirm", nil); res.Status != http.StatusNotFound {
			t.Errorf("forged token: %d, want 404", res.Status)
		}

		// Welcome series: jobs at day 0 and day 3; the first goes out.
		got := sends()
		w0, w1 := got["welcome0"], got["welcome1"]
		if w0.ID == 0 || w1.ID == 0 || w1.DueAt.Sub(w0.DueAt) < 71*time.Hour || w1.DueAt.Sub(w0.DueAt) > 73*time.Hour {
			t.Fatalf("welcome not scheduled at its days: %+v", got)
		}
		js, err := s.App.Jobs.List(ctx, n.ID, jobs.Filter{Kind: automail.JobKind})
		if err != nil {
			t.Fatal(err)
		}
		later := 0
		for _, j := range js {
			if j.RunAt.After(time.Now().Add(70 * time.Hour)) {
				later++
			}
		}
		if later != 1 {
			t.Errorf("%d jobs due in three days, want 1", later)
		}
		waitFor(t, func() bool { return sends()["welcome0"].State == "sent" })

		// Unsubscribe (RFC 8058 one-click), then day 3 comes: skipped.
		unsub := regexp.MustCompile(`List-Unsubscribe: <[^>]*/u/([^>]+)>`).FindStringSubmatch(thanks)
		if unsub == nil {
			t.Fatal("no List-Unsubscribe URL")
		}
		if res := pub.PostForm("/u/"+unsub[1], url.Values{"List-Unsubscribe": {"One-Click"}}); res.Status != 200 {
			t.Fatalf("one-click: %d", res.Status)
		}
		if err := s.App.Automail.SendNow(ctx, n.ID, w1.ID); err != nil {
			t.Fatal(err)
		}
		if x := sends()["welcome1"]; x.State != "skipped" || x.Note != "consent" {
			t.Errorf("welcome after unsubscribe: %+v", x)
		}
		for _, m := range sink.Messages() {
			if m.To[0] == "zoe@"+domain && strings.Contains(decoded(m.Data), "Second welcome.") {
				t.Errorf("second welcome sent after unsubscribe")
			}
		}
	})
}

// TestAutoResponseGating: the thank-you is transactional (sent without
// marketing consent) but never to a suppressed address.
func TestAutoResponseGating(t *testing.T) {
	sink := withMail(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		domain := "gate-" + string(s.Engine) + ".example.org"
		n := s.CreateNation("parti")
		p := &pages.Page{NationID: n.ID, Type: pages.TypePetition, Slug: "trees", Title: "Trees", Status: pages.StatusPublished,
			Settings: pages.DefaultSettings(pages.TypePetition, n.Languages, func(l, k string, _ ...any) string { return "Yes" })}
		p.Settings.AutoResponse = pages.AutoResponse{Enabled: true, Subject: "Thanks", Body: "Thanks for signing."}
		p.Validate(n.Languages)
		if err := s.App.Pages.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		pub := s.Client()
		for _, who := range []string{"plain", "gone", "held"} {
			if res := pub.PostForm("/parti/trees", url.Values{"first_name": {who}, "email": {who + "@" + domain}}); res.Status != http.StatusSeeOther {
				t.Fatalf("sign: %d", res.Status)
			}
		}
		// Hard-bounced between the signature and the message's turn.
		key, _ := hexKey()
		if err := broadcast.Suppress(ctx, s.DB, key, n.ID, "gone@"+domain, broadcast.ReasonHardBounce, store.Millis(time.Now())); err != nil {
			t.Fatal(err)
		}
		// Processing restricted (GDPR Art. 18) before the message's turn.
		if _, err := s.DB.Exec(ctx, `UPDATE people SET restricted = 1 WHERE nation_id = ? AND email_norm = ?`, n.ID, "held@"+domain); err != nil {
			t.Fatal(err)
		}
		runQueue(t, s)
		ps := people.NewStore(s.DB)
		state := func(email string) automail.Send {
			found, _ := ps.Search(ctx, n.ID, email, people.Page{Limit: 1})
			if len(found) != 1 {
				t.Fatalf("no %s", email)
			}
			xs, _ := s.App.Automail.Sends(ctx, n.ID, found[0].ID)
			if len(xs) != 1 {
				t.Fatalf("%s: %+v", email, xs)
			}
			return xs[0]
		}
		waitFor(t, func() bool {
			return state("plain@"+domain).State != "queued" && state("gone@"+domain).State != "queued" &&
				state("held@"+domain).State != "queued"
		})
		if x := state("held@" + domain); x.State != "skipped" || x.Note != "restricted" {
			t.Errorf("auto-response to a restricted person: %+v", x)
		}
		if x := state("plain@" + domain); x.State != "sent" {
			t.Errorf("auto-response without marketing consent: %+v, want sent", x)
		}
		if x := state("gone@" + domain); x.State != "skipped" || x.Note != "suppressed" {
			t.Errorf("auto-response to a suppressed address: %+v", x)
		}
		if got := to(sink, domain); len(got) != 1 || got["plain@"+domain] == nil {
			t.Errorf("delivered to %v", keys(got))
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
