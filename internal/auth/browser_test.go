package auth_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// A new administrator follows the set-up link, creates the first nation,
// signs out and in again, switches the control panel to French and sees the
// dashboard with real counts — as a person would, in Chromium.
func TestBrowserFirstRun(t *testing.T) {
	b := browsertest.Start(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			const email, password = "first@example.org", "a-long-enough-password"

			err := chromedp.Do(ctx,
				browsertest.Open(s.URL+"/setup/"+s.SetupToken()+"?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
				chromedp.SendKeys(chromedp.CSS(`#f-name`), "Ana Admin"),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), password),
				chromedp.SendKeys(chromedp.CSS(`#f-password2`), password),
				chromedp.SendKeys(chromedp.CSS(`#f-nation_name`), "Liège en Commun"),
				chromedp.SendKeys(chromedp.CSS(`#f-nation_slug`), "liege"),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`dl`)),
			)
			if err != nil {
				t.Fatalf("set-up form: %v", err)
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			if !strings.HasSuffix(loc, "/admin/liege/") {
				t.Fatalf("after set-up the browser is at %s, want the dashboard", loc)
			}
			h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main h1`)))
			if h1 != "Liège en Commun" {
				t.Errorf("dashboard heading = %q", h1)
			}

			// Sign out, then sign in again.
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`form[action="/admin/logout"] button`)),
				chromedp.WaitVisible(chromedp.CSS(`#f-password`)),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), password),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/liege/"]`)),
			)
			if err != nil {
				t.Fatalf("sign out and in: %v", err)
			}

			// Switch to French and open the dashboard.
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`nav.langs a[hreflang="fr"]`)),
				chromedp.WaitReady(chromedp.CSS(`html[lang="fr"]`)),
				chromedp.Click(chromedp.CSS(`main a[href="/admin/liege/"]`)),
				chromedp.WaitVisible(chromedp.CSS(`dl`)),
			)
			if err != nil {
				t.Fatalf("switch language and open dashboard: %v", err)
			}
			lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang"))
			if lang != "fr" {
				t.Errorf("dashboard lang = %q, want fr", lang)
			}
			counts, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main dl`)))
			if err != nil {
				t.Fatal(err)
			}
			wantPeople := s.App.Renderer.Bundle().T("fr", "admin.dashboard.people")
			if !strings.Contains(counts, wantPeople) || !strings.Contains(counts, "1") {
				t.Errorf("French dashboard counts = %q, want %q and one staff member", counts, wantPeople)
			}
			if errs := consoleErrors(); len(errs) != 0 {
				t.Errorf("console errors: %q", errs)
			}
		})
	}
}
