package pages_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/servertest"
)

// A French visitor signs a petition: a first attempt with a bad e-mail and
// no first name shows the errors next to those fields; corrected, it leads
// to the thank-you page where the counter has risen, with no console
// errors (nothing blocked by the CSP, nothing loaded from elsewhere).
func TestBrowserSignPetitionInFrench(t *testing.T) {
	b := browsertest.Start(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := bilingual(t, s, "bxl")
		petition(t, s, n, "parc")
		ctx := b.Tab(t)
		consoleErrors := browsertest.ConsoleErrors(ctx)
		if err := chromedp.Do(ctx, browsertest.AcceptLanguage("fr-BE,fr;q=0.9"), browsertest.Open(s.URL+"/bxl/parc")); err != nil {
			t.Fatal(err)
		}
		before, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#signature-count`)))
		if err != nil || before != "0" {
			t.Fatalf("count before = %q (%v)", before, err)
		}
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.CSS(`#f-email`), "pas-une-adresse"),
			chromedp.Click(chromedp.CSS(`form.page-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`#f-email-error`)),
		); err != nil {
			t.Fatalf("submit with errors: %v", err)
		}
		emailErr, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#f-email-error`)))
		nameErr, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#f-first_name-error`)))
		if emailErr != "Indiquez une adresse e-mail valide, par exemple nom@exemple.be." || nameErr != "Ce champ est obligatoire." {
			t.Errorf("errors next to fields: e-mail %q, first name %q", emailErr, nameErr)
		}
		if err := chromedp.Do(ctx,
			chromedp.SetValue(chromedp.CSS(`#f-email`), "chloe@example.org"),
			chromedp.SendKeys(chromedp.CSS(`#f-first_name`), "Chloé"),
			chromedp.SendKeys(chromedp.CSS(`#f-city`), "Schaerbeek"),
			chromedp.Click(chromedp.CSS(`#f-consent-email`)),
			chromedp.Click(chromedp.CSS(`#f-show-publicly`)),
			chromedp.Click(chromedp.CSS(`form.page-form button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.thanks`)),
		); err != nil {
			t.Fatalf("sign: %v", err)
		}
		title, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
		after, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#signature-count`)))
		signers, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.signers ul`)))
		if title != "Merci !" || after != "1" || signers != "Chloé, Schaerbeek" {
			t.Errorf("thank-you page: title %q, count %q, signers %q", title, after, signers)
		}
		for _, e := range consoleErrors() {
			// The browser logs the form's own 422 answer; anything else
			// (a CSP violation, a failed load) is a fault.
			if !strings.Contains(e, "status of 422") {
				t.Errorf("console error: %q", e)
			}
		}
		if p := personByEmail(t, s, n, "chloe@example.org"); p.Language != "fr" || len(p.Tags) != 2 {
			t.Errorf("person: %+v", p)
		}
	})
}
