// Package browsertest runs headless Chromium for tests of pages a person
// uses, through chromedp. A test starts one browser (Start) and opens a tab
// per scenario (Browser.Tab); each tab has its own browser context, so
// cookies and storage never leak from one subtest to the next, while the
// costly browser process is shared.
//
// Without Chromium a test is skipped with a loud message on a developer's
// machine and fails under CI=true, so CI never silently drops browser tests.
// Debian's package is found at /usr/bin/chromium; MUSTER_CHROMIUM names
// another binary.
//
// When a test fails, each of its tabs saves a screenshot and logs its path:
// under `go test -artifacts` in the test's artifact directory, otherwise in
// $MUSTER_BROWSERTEST_DIR or a muster-browsertest directory in the system
// temp directory (t.TempDir would be deleted before anyone could look).
package browsertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Timeout bounds all the actions of one tab. Browser tests drive a local
// server; a page that needs longer is broken, and a hung test should fail
// with a screenshot rather than wait for go test's global timeout.
const Timeout = 30 * time.Second

// Browser is one running Chromium, closed when the test that started it ends.
type Browser struct {
	ctx context.Context // a chromedp context that has run, so children share its process
}

// ExecPath returns the Chromium binary to use, or "" when there is none.
func ExecPath() string {
	names := []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}
	if p := os.Getenv("MUSTER_CHROMIUM"); p != "" {
		names = []string{p} // exactly this one, or none
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start launches a headless Chromium for t with a fresh profile. It skips t
// (or fails it under CI=true) when no Chromium is installed.
func Start(t testing.TB) *Browser {
	t.Helper()
	path := ExecPath()
	if path == "" {
		msg := "browsertest: NO CHROMIUM FOUND (looked for /usr/bin/chromium, chromium, google-chrome; set MUSTER_CHROMIUM): " +
			"install Debian's 'chromium' package to run browser tests"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " — CI=true, so this is a failure, not a skip")
		}
		t.Log("################################################################")
		t.Skip(msg)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in containers and CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	// Registered after t.TempDir, so it runs first: the browser has exited
	// before its profile directory is removed.
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first Run starts the process; it must not carry a timeout, which
	// would end the whole browser, so the start is bounded separately.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("browsertest: start %s: %v", path, err)
		}
	case <-time.After(Timeout):
		t.Fatalf("browsertest: %s did not start within %s", path, Timeout)
	}
	return &Browser{ctx: ctx}
}

// New starts a browser for t and returns a tab in it: the simplest way for a
// test that needs only one.
func New(t testing.TB) context.Context {
	t.Helper()
	return Start(t).Tab(t)
}

// Tab opens a tab in a new browser context (its own cookies and storage) and
// returns a context, bounded by Timeout, to run chromedp actions in. The tab
// closes when t ends; if t failed, a screenshot of it is saved first.
func (b *Browser) Tab(t testing.TB) context.Context {
	t.Helper()
	tab, closeTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(tab); err != nil {
		closeTab()
		t.Fatalf("browsertest: open tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, Timeout)
	t.Cleanup(func() {
		cancel()
		if t.Failed() {
			screenshotOnFailure(t, tab)
		}
		closeTab()
	})
	return ctx
}

// Open navigates to url and waits until the document's body is ready.
func Open(url string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// Screenshot saves a PNG of the whole page to path.
func Screenshot(ctx context.Context, path string) error {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return fmt.Errorf("browsertest: screenshot: %w", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("browsertest: screenshot: %w", err)
	}
	return nil
}

// Viewport sets the tab's viewport width and height in CSS pixels; a width
// under 600 also emulates a phone (touch, mobile viewport meta honoured).
func Viewport(width, height int64) chromedp.Action[chromedp.Void] {
	if width < 600 {
		return chromedp.EmulateViewport(width, height, chromedp.EmulateMobile, chromedp.EmulateScale(2))
	}
	return chromedp.EmulateViewport(width, height)
}

// AcceptLanguage makes the tab send this Accept-Language header, as a
// browser set to that language would.
func AcceptLanguage(value string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return fmt.Errorf("browsertest: accept-language: %w", err)
		}
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": value},
		})
		if err != nil {
			return fmt.Errorf("browsertest: accept-language: %w", err)
		}
		return nil
	})
}

// ColorScheme emulates the visitor's preferred colour scheme, "light" or
// "dark", so that both halves of a theme can be checked.
func ColorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		if err != nil {
			return fmt.Errorf("browsertest: color scheme: %w", err)
		}
		return nil
	})
}

// ConsoleErrors collects the page's console errors, uncaught exceptions and
// browser-log errors (Content-Security-Policy violations and failed loads
// are among them) from the moment it is called. Call the returned func after
// the actions ran to stop collecting and read them.
func ConsoleErrors(ctx context.Context) func() []string {
	sub, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(sub)
	var out []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				if m.URL != "" {
					out = append(out, m.String()+" ("+m.URL+")")
				} else {
					out = append(out, m.String())
				}
			}
		}
	}()
	return func() []string {
		// Messages arrive asynchronously, so a page that just loaded may
		// still be reporting; on a local server a moment is plenty.
		time.Sleep(250 * time.Millisecond)
		cancel()
		<-done
		return out
	}
}

func screenshotOnFailure(t testing.TB, tab context.Context) {
	dir, err := failureDir(t)
	if err != nil {
		t.Logf("browsertest: no screenshot: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	path := filepath.Join(dir, fileName(t.Name())+".png")
	if err := Screenshot(ctx, path); err != nil {
		t.Logf("browsertest: no screenshot: %v", err)
		return
	}
	t.Logf("browsertest: screenshot of the failed page: %s", path)
}

func failureDir(t testing.TB) (string, error) {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		if a, ok := t.(interface{ ArtifactDir() string }); ok {
			return a.ArtifactDir(), nil
		}
	}
	dir := os.Getenv("MUSTER_BROWSERTEST_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "muster-browsertest")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(dir, fileName(t.Name())+"-")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileName(testName string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(testName, "_"), "_")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
