package site_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// A visitor opens a nation's home page, picks Français in the language
// switcher, reads French, and keeps French on the next visit.
func TestBrowserLanguageSwitch(t *testing.T) {
	b := browsertest.Start(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "namur", Name: "Namur Demain", DefaultLang: "en", Languages: []string{"en", "fr", "nl"}})
		ctx := b.Tab(t)
		consoleErrors := browsertest.ConsoleErrors(ctx)

		if err := chromedp.Do(ctx, browsertest.Open(a.URL+"/namur/?lang=en")); err != nil {
			t.Fatal(err)
		}
		if lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang")); lang != "en" {
			t.Fatalf("start page lang = %q, want en", lang)
		}
		if err := chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(`nav.langs a[hreflang="fr"]`)),
			chromedp.WaitReady(chromedp.CSS(`html[lang="fr"]`)),
		); err != nil {
			t.Fatalf("switch to French: %v", err)
		}
		lead, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".lead")))
		if err != nil {
			t.Fatal(err)
		}
		if want := a.bundle.T("fr", "public.home.welcome"); lead != want {
			t.Errorf("welcome after switching = %q, want %q", lead, want)
		}
		current, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`nav.langs a[aria-current]`)))
		if err != nil || current != "Français" {
			t.Errorf("current language in switcher = %q, %v", current, err)
		}

		// The choice is remembered: the bare address now opens in French.
		if err := chromedp.Do(ctx, browsertest.Open(a.URL+"/namur/")); err != nil {
			t.Fatal(err)
		}
		if lang, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.lang")); lang != "fr" {
			t.Errorf("next visit lang = %q, want fr (remembered)", lang)
		}
		if errs := consoleErrors(); len(errs) != 0 {
			t.Errorf("console errors (CSP violations, failed loads): %q", errs)
		}

		// A browser set to Dutch gets Dutch without choosing.
		dutch := b.Tab(t)
		if err := chromedp.Do(dutch, browsertest.AcceptLanguage("nl-BE,nl;q=0.9"), browsertest.Open(a.URL+"/namur/")); err != nil {
			t.Fatal(err)
		}
		if lang, _ := chromedp.Run(dutch, chromedp.Evaluate[string]("document.documentElement.lang")); lang != "nl" {
			t.Errorf("Dutch browser got lang %q, want nl", lang)
		}
	})
}

// TestScreenshots saves the public pages at phone and desktop widths into
// $MUSTER_SCREENSHOTS for a person to look at; it asserts nothing else.
func TestScreenshots(t *testing.T) {
	// Without MUSTER_SCREENSHOTS the pictures go to a temp directory: the
	// test still proves every page renders at both widths and the skip link
	// takes the first Tab.
	dir := os.Getenv("MUSTER_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := browsertest.Start(t)
	a := newApp(t, storetest.Open(t, store.SQLite))
	a.nation(t, nation.NewNation{Slug: "bxl", Name: "Bruxelles Ensemble", DefaultLang: "fr", Languages: []string{"fr", "nl", "en"}})
	shots := []struct {
		name          string
		path          string
		width, height int64
	}{
		{"home-390", "/bxl/", 390, 844},
		{"home-1280", "/bxl/", 1280, 800},
		{"home-nl-390", "/bxl/?lang=nl", 390, 844},
		{"404-390", "/bxl/nothing-here", 390, 844},
		{"404-nonation-1280", "/nowhere/?lang=en", 1280, 800},
	}
	for _, s := range shots {
		ctx := b.Tab(t)
		if err := chromedp.Do(ctx, browsertest.Viewport(s.width, s.height), browsertest.Open(a.URL+s.path)); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, s.name+".png")
		if err := browsertest.Screenshot(ctx, path); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() < 1000 {
			t.Errorf("screenshot %s missing or empty (%v)", path, err)
		}
		t.Logf("saved %s", path)
	}
	dark := b.Tab(t)
	if err := chromedp.Do(dark, browsertest.ColorScheme("dark"), browsertest.Viewport(390, 844),
		browsertest.Open(a.URL+"/bxl/nothing")); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.Screenshot(dark, filepath.Join(dir, "404-dark-390.png")); err != nil {
		t.Fatal(err)
	}
	// The skip link, focused by the keyboard.
	ctx := b.Tab(t)
	if err := chromedp.Do(ctx, browsertest.Viewport(1280, 400), browsertest.Open(a.URL+"/bxl/"),
		chromedp.KeyEvent("\t")); err != nil {
		t.Fatal(err)
	}
	focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.activeElement.className"))
	if !strings.Contains(focused, "skip") {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
	if err := browsertest.Screenshot(ctx, filepath.Join(dir, "focus-skip.png")); err != nil {
		t.Fatal(err)
	}
}
