package importweb_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// An organizer uploads a small NationBuilder export from the people list,
// checks the mapping, sees the preview, imports, reads the summary and
// finds the people in the list — in Chromium, with no script of ours: the
// progress pages refresh themselves.
func TestBrowserImport(t *testing.T) {
	b := browsertest.Start(t)
	file := filepath.Join(t.TempDir(), "nationbuilder-export.csv")
	if err := os.WriteFile(file, []byte(nbFile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			n := s.CreateNation("ghent")
			s.CreateUser("organizer@example.org", n, auth.RoleOrganizer)
			worker(t, s)

			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				if err := chromedp.Do(ctx, actions...); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
			text := func(sel string) string {
				t.Helper()
				v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return v
			}
			step("sign in and upload",
				browsertest.Open(s.URL+"/admin/login?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), "organizer@example.org"),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), servertest.Password),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/ghent/"]`)),
				browsertest.Open(s.URL+"/admin/ghent/people"),
				chromedp.Click(chromedp.CSS(`#import-link`)),
				chromedp.WaitVisible(chromedp.CSS(`#f-file`)),
				chromedp.SetUploadFiles(chromedp.CSS(`#f-file`), []string{file}),
				chromedp.Click(chromedp.CSS(`#upload button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#columns`)),
			)
			detected := text(`#detected-format`)
			step("mapping",
				// Portable is unknown to the format: map it to the mobile number.
				chromedp.SetValue(chromedp.CSS(`#col-5`), "mobile"),
				chromedp.SendKeys(chromedp.CSS(`#f-tags`), "fair-2026"),
				chromedp.Click(chromedp.CSS(`#mapping button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#preview-counts`)),
			)
			preview := text(`#preview-counts`)
			step("import", chromedp.Click(chromedp.CSS(`#run-import`)), chromedp.WaitVisible(chromedp.CSS(`#summary-counts`)),
				chromedp.WaitVisible(chromedp.CSS(`#rejects-download`)))
			summary := text(`#summary`)
			step("people list", browsertest.Open(s.URL+"/admin/ghent/people"), chromedp.WaitVisible(chromedp.CSS(`table#people`)))
			list := text(`table#people tbody`)
			if detected != "NationBuilder export" {
				t.Errorf("detected format %q", detected)
			}
			for _, want := range []string{"Rows read\n5", "New people\n3", "Rows rejected\n1"} {
				if !strings.Contains(preview, want) {
					t.Errorf("preview %q lacks %q", preview, want)
				}
				if !strings.Contains(summary, want) {
					t.Errorf("summary %q lacks %q", summary, want)
				}
			}
			for _, who := range []string{"Anne Dupont", "Bart Peeters", "Chloé Martin", "+32 470 12 34 56"} {
				if !strings.Contains(list, who) {
					t.Errorf("people list lacks %q: %q", who, list)
				}
			}
			if errs := consoleErrors(); len(errs) > 0 {
				t.Errorf("console errors: %v", errs)
			}
		})
	}
}
