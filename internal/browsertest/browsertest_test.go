package browsertest_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
)

// The harness itself: one browser, a tab per subtest, cookies kept apart,
// console errors (here a CSP violation) caught, screenshots written.
func TestHarness(t *testing.T) {
	const csp = "default-src 'self'; style-src 'self'; script-src 'self'"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/inline":
			io.WriteString(w, `<!doctype html><html lang="en"><title>x</title><p style="color:red">inline</p>`)
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "c", Value: "1", Path: "/"})
			io.WriteString(w, `<!doctype html><html lang="en"><title>x</title><p id="p">set</p>`)
		default:
			c := "none"
			if ck, err := r.Cookie("c"); err == nil {
				c = ck.Value
			}
			io.WriteString(w, `<!doctype html><html lang="en"><title>clean</title><p id="p">cookie=`+c+`</p>`)
		}
	}))
	defer srv.Close()
	b := browsertest.Start(t)

	t.Run("clean page has no console errors", func(t *testing.T) {
		ctx := b.Tab(t)
		errs := browsertest.ConsoleErrors(ctx)
		if err := chromedp.Do(ctx, browsertest.Open(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got := errs(); len(got) != 0 {
			t.Errorf("console errors on a clean page: %q", got)
		}
		title, err := chromedp.Run(ctx, chromedp.Title())
		if err != nil || title != "clean" {
			t.Errorf("title = %q, %v", title, err)
		}
	})
	t.Run("CSP violation is reported", func(t *testing.T) {
		ctx := b.Tab(t)
		errs := browsertest.ConsoleErrors(ctx)
		if err := chromedp.Do(ctx, browsertest.Open(srv.URL+"/inline")); err != nil {
			t.Fatal(err)
		}
		got := errs()
		if len(got) == 0 || !strings.Contains(strings.Join(got, "\n"), "Content Security Policy") {
			t.Errorf("inline style under CSP: want a Content Security Policy error, got %q", got)
		}
	})
	t.Run("tabs do not share cookies", func(t *testing.T) {
		one, two := b.Tab(t), b.Tab(t)
		if err := chromedp.Do(one, browsertest.Open(srv.URL+"/set")); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(one, browsertest.Open(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got, _ := chromedp.Run(one, chromedp.Text(chromedp.CSS("#p"))); got != "cookie=1" {
			t.Errorf("same tab after set: %q, want cookie=1", got)
		}
		if err := chromedp.Do(two, browsertest.Open(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got, _ := chromedp.Run(two, chromedp.Text(chromedp.CSS("#p"))); got != "cookie=none" {
			t.Errorf("other tab: %q, want cookie=none", got)
		}
	})
	t.Run("screenshot", func(t *testing.T) {
		ctx := b.Tab(t)
		if err := chromedp.Do(ctx, browsertest.Viewport(390, 800), browsertest.Open(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "page.png")
		if err := browsertest.Screenshot(ctx, path); err != nil {
			t.Fatal(err)
		}
		png, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("screenshot is not a PNG (%d bytes, %v)", len(png), err)
		}
	})
}
