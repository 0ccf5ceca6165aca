package broadcastweb_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// An organizer composes a broadcast to a segment, watches the live count of
// who will receive it, previews it as one of them, sends it and watches the
// progress page reach 100 % while a job queue in the test delivers it — as
// a person would, in Chromium.
func TestBrowserComposeAndSend(t *testing.T) {
	sink := withMail(t)
	b := browsertest.Start(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			domain := "browser-" + string(engine) + ".example.org"
			n := s.CreateNation("parti")
			staff := "org-browser-" + string(engine) + "@example.org"
			s.CreateUser(staff, n, auth.RoleOrganizer)
			a := seed(t, s, n, domain)
			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			base := s.URL + "/admin/parti/broadcasts"

			err := chromedp.Do(ctx,
				browsertest.Open(s.URL+"/admin/login?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), staff),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), servertest.Password),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/parti/"]`)),
			)
			if err != nil {
				t.Fatalf("sign in: %v", err)
			}

			// Compose: typing the filter updates the estimate without saving.
			err = chromedp.Do(ctx,
				browsertest.Open(base+"/new"),
				chromedp.SendKeys(chromedp.CSS(`#f-filter`), "tag:news"),
				chromedp.WaitVisible(chromedp.CSS(`#est-left:not(:empty)`)),
			)
			if err != nil {
				t.Fatalf("live estimate: %v", err)
			}
			sendable, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#est-sendable`)))
			left, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#est-left`)))
			if sendable != "2 people will receive it" || left != "Left out: 1 without consent, 1 suppressed, 1 with a bad address" {
				t.Errorf("live estimate: %q / %q", sendable, left)
			}

			err = chromedp.Do(ctx,
				chromedp.SendKeys(chromedp.CSS(`#f-subject`), "News for {{first_name}}"),
				chromedp.SendKeys(chromedp.CSS(`#f-body`), `Hello {{first_name | default "ami·e"}}, here is the news.`),
				chromedp.Click(chromedp.CSS(`#save`)),
				chromedp.WaitVisible(chromedp.CSS(`#preview-link`)),
			)
			if err != nil {
				t.Fatalf("save the draft: %v", err)
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			m := idPath.FindStringSubmatch(loc)
			if m == nil {
				t.Fatalf("after saving the browser is at %s", loc)
			}
			id, _ := strconv.ParseInt(m[1], 10, 64)
			compose := loc

			// Preview as Ana, found by searching.
			anaLink := `#matches a[href$="/preview?person=` + strconv.FormatInt(a.ana, 10) + `"]`
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`#preview-link`)),
				chromedp.WaitVisible(chromedp.CSS(`#f-q`)),
				chromedp.SendKeys(chromedp.CSS(`#f-q`), "ana"),
				chromedp.Click(chromedp.CSS(`#person-search button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(anaLink)),
				chromedp.Click(chromedp.CSS(anaLink)),
				chromedp.WaitVisible(chromedp.CSS(`#preview-text`)),
			)
			if err != nil {
				t.Fatalf("preview as Ana: %v", err)
			}
			subject, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#preview-subject`)))
			text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#preview-text`)))
			if subject != "News for Ana" || !strings.Contains(text, "Hello Ana, here is the news.") {
				t.Errorf("preview as Ana: subject %q, text %q", subject, text)
			}
			if len(to(sink, domain)) != 0 {
				t.Fatalf("previewing sent mail to the audience")
			}

			// Send now, with a queue running in the test process.
			runQueue(t, s)
			err = chromedp.Do(ctx,
				browsertest.Open(compose),
				chromedp.WaitVisible(chromedp.CSS(`#send`)),
				chromedp.Click(chromedp.CSS(`#send`)),
				chromedp.WaitVisible(chromedp.CSS(`#percent`)),
			)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			// The page refreshes itself while the broadcast is live. The
			// last delivery is recorded a moment before the broadcast is
			// marked finished, so a refresh may show 100 % still sending:
			// wait for both.
			deadline := time.Now().Add(30 * time.Second)
			for {
				percent, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("percent") || {}).textContent || ""`))
				state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("state") || {}).textContent || ""`))
				if percent == "100 %" && state == "Finished" {
					break
				}
				if time.Now().After(deadline) {
					st, _ := s.App.Broadcasts.Get(context.Background(), n.ID, id)
					t.Fatalf("progress page shows %q; broadcast %+v", percent, st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			err = chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#sent`)))
			if err != nil {
				t.Fatal(err)
			}
			state, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#state`)))
			sent, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#sent`)))
			if state != "Finished" || sent != "2" {
				t.Errorf("progress page at 100 %%: state %q, sent %q", state, sent)
			}
			if bc, err := s.App.Broadcasts.Get(context.Background(), n.ID, id); err != nil || bc.State != broadcast.StateFinished {
				t.Errorf("broadcast after 100 %%: %+v %v", bc, err)
			}

			got := to(sink, domain)
			if len(got) != 2 || got["ana@"+domain] == nil || got["bob@"+domain] == nil {
				t.Fatalf("delivered to %v, want Ana and Bob only", keys(got))
			}
			if !strings.Contains(decoded(got["ana@"+domain]), "Hello Ana, here is the news.") {
				t.Errorf("Ana's message is not personalised")
			}
			if errs := consoleErrors(); len(errs) > 0 {
				t.Errorf("console errors: %v", errs)
			}
		})
	}
}
