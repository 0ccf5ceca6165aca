package segmentweb_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// An organizer opens Segments from the navigation, types a filter and sees
// the live count (and an error under the box while the filter is wrong),
// builds on it with the point-and-click builder, then submits and sees the
// matching people — in Chromium.
func TestBrowserLiveCountAndList(t *testing.T) {
	b := browsertest.Start(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			f := setup(t, s)
			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			err := chromedp.Do(ctx,
				browsertest.Open(s.URL+"/admin/login?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), "org@example.org"),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), servertest.Password),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/liege/"]`)),
				browsertest.Open(s.URL+"/admin/liege/"),
				chromedp.Click(chromedp.CSS(`nav.admin-nav a[href="/admin/liege/segments"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#q`)),
				chromedp.SendKeys(chromedp.CSS(`#q`), "tga:pensions"),
				chromedp.Poll[chromedp.Void](`document.getElementById("q-error").textContent.includes("unknown qualifier")`),
				chromedp.Evaluate[chromedp.Void](`document.getElementById("q").value = ""`),
				chromedp.SendKeys(chromedp.CSS(`#q`), "tag:pensions"),
				chromedp.Poll[chromedp.Void](`document.getElementById("q-count").textContent === "2 people match" && document.getElementById("q-error").textContent === ""`),
			)
			if err != nil {
				t.Fatalf("live count: %v", err)
			}
			// The builder appends "-support:<=2" and the count follows.
			err = chromedp.Do(ctx,
				chromedp.Evaluate[chromedp.Void](`document.getElementById("bq").value = "support"`),
				chromedp.Evaluate[chromedp.Void](`document.getElementById("bop").value = "<="`),
				chromedp.SendKeys(chromedp.CSS(`#bv`), "2"),
				chromedp.Click(chromedp.CSS(`#bneg`)),
				chromedp.Click(chromedp.CSS(`#builder button`)),
				chromedp.Poll[chromedp.Void](`document.getElementById("q").value === "tag:pensions -support:<=2" && document.getElementById("q-count").textContent === "1 people match"`),
			)
			if err != nil {
				v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("q").value`))
				t.Fatalf("builder: %v (box holds %q)", err, v)
			}
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`table#results`)),
			)
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`table#results tbody`)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rows, "Ann Alpha") || strings.Contains(rows, "Bob") || strings.Contains(rows, "Cat") {
				t.Errorf("results = %q, want Ann only", rows)
			}
			link := fmt.Sprintf(`table#results a[href="/admin/liege/people/%d"]`, f.ann)
			if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(link))); err != nil {
				t.Errorf("no link to Ann's profile: %v", err)
			}
			if errs := consoleErrors(); len(errs) != 0 {
				t.Errorf("console errors: %q", errs)
			}
		})
	}
}
