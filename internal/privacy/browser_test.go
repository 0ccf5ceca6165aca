package privacy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// A citizen asks for the my-data link, opens it from the e-mail the
// in-process SMTP server received, downloads their data and erases it — as
// a person would, in Chromium.
func TestBrowserMyDataDownloadAndErase(t *testing.T) {
	sink := mailServer(t)
	b := browsertest.Start(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			n := s.CreateNation("parti")
			pid := citizen(t, s, n, "cleo@example.org", "Cleo")
			citizen(t, s, n, "dora@example.org", "Dora")
			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			before := sink.Count()

			err := chromedp.Do(ctx,
				browsertest.Open(s.URL+"/parti/my-data?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), "cleo@example.org"),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				// Wait for the answer page itself: the old page's body is
				// "ready" at once, and navigating on would abort the POST.
				chromedp.WaitVisible(chromedp.CSS(`#sent`)),
			)
			if err != nil {
				t.Fatalf("request the link: %v", err)
			}
			s.App.PrivacyWeb.WaitSends()
			token := linkFrom(t, sink, before)

			err = chromedp.Do(ctx,
				browsertest.Open(s.URL+"/parti/my-data/access?t="+token),
				chromedp.Click(chromedp.CSS(`#open`)),
				chromedp.WaitVisible(chromedp.CSS(`#download-json`)),
			)
			if err != nil {
				t.Fatalf("open the link: %v", err)
			}
			page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
			if !strings.Contains(page, "Cleo") || strings.Contains(page, "Dora") {
				t.Fatalf("my-data page: %q", page)
			}

			// Download what the JSON button points at, with the page's session.
			body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
				const x = new XMLHttpRequest();
				x.open("GET", document.getElementById("download-json").href, false);
				x.send();
				return x.status + "\n" + x.getResponseHeader("Content-Disposition") + "\n" + x.responseText;
			})()`))
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			status, rest, _ := strings.Cut(body, "\n")
			disposition, doc, _ := strings.Cut(rest, "\n")
			var exp map[string]any
			if status != "200" || !strings.Contains(disposition, "attachment") || json.Unmarshal([]byte(doc), &exp) != nil ||
				!strings.Contains(doc, "cleo@example.org") || strings.Contains(doc, "dora@example.org") {
				t.Fatalf("download: %s %s %.200s", status, disposition, doc)
			}

			// Erase, after confirming.
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`#erase`)),
				chromedp.WaitVisible(chromedp.CSS(`#confirm`)),
				chromedp.Click(chromedp.CSS(`#confirm`)),
				chromedp.Click(chromedp.CSS(`#erase-now`)),
				chromedp.WaitVisible(chromedp.CSS(`#erased`)),
			)
			if err != nil {
				t.Fatalf("erase: %v", err)
			}
			ctxb := context.Background()
			if _, err := s.App.Privacy.FindByEmail(ctxb, n.ID, "cleo@example.org"); errs.KindOf(err) != errs.KindNotFound {
				t.Errorf("after erasure, the person is found: %v", err)
			}
			if _, err := s.App.Privacy.Restricted(ctxb, n.ID, pid); errs.KindOf(err) != errs.KindNotFound {
				t.Errorf("the person's row survives: %v", err)
			}
			if _, err := s.App.Privacy.FindByEmail(ctxb, n.ID, "dora@example.org"); err != nil {
				t.Errorf("another person was erased: %v", err)
			}
			if errs := consoleErrors(); len(errs) > 0 {
				t.Errorf("console errors: %v", errs)
			}
			// The session is gone: the page answers 410 and shows nothing.
			err = chromedp.Do(ctx, browsertest.Open(s.URL+"/parti/my-data/view"))
			if err != nil {
				t.Fatal(err)
			}
			if page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`))); strings.Contains(page, "Cleo") {
				t.Errorf("after erasure the view still shows the person")
			}
		})
	}
}
