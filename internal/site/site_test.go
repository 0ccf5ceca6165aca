package site_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
	"github.com/muster-org/muster/internal/web"
)

// app is the real Muster application on a test database, served on loopback.
type app struct {
	URL     string
	Nations *nation.Store
	bundle  *i18n.Bundle
}

func newApp(t *testing.T, db *store.DB) *app {
	t.Helper()
	s, err := server.New(server.Deps{
		Config: &config.Config{DataDir: t.TempDir()},
		DB:     db,
		Log:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler)
	t.Cleanup(srv.Close)
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &app{URL: srv.URL, Nations: s.Nations, bundle: b}
}

func (a *app) nation(t *testing.T, n nation.NewNation) *nation.Nation {
	t.Helper()
	got, err := a.Nations.Create(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// text is how a catalog entry appears in a page: HTML-escaped.
func (a *app) text(lang, key string) string { return html.EscapeString(a.bundle.T(lang, key)) }

type response struct {
	Status int
	Header http.Header
	Body   string
}

// request is a GET with optional Accept-Language and language cookie.
type request struct {
	Path, Accept, Cookie string
}

func (a *app) get(t *testing.T, rq request) response {
	t.Helper()
	req, err := http.NewRequest("GET", a.URL+rq.Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rq.Accept != "" {
		req.Header.Set("Accept-Language", rq.Accept)
	}
	if rq.Cookie != "" {
		req.AddCookie(&http.Cookie{Name: i18n.LangCookie, Value: rq.Cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: string(body)}
}

var htmlLang = regexp.MustCompile(`<html lang="([^"]*)">`)

func pageLang(body string) string {
	m := htmlLang.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// checkThemed asserts what every public page shares: the theme's stylesheet,
// landmarks, skip link, the security and caching headers, and nothing that
// the CSP would block or that would reach another origin.
func checkThemed(t *testing.T, r response) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Errorf("CSP header = %q", r.Header.Get("Content-Security-Policy"))
	}
	if v := r.Header.Get("Vary"); v != "Accept-Language, Cookie" {
		t.Errorf("Vary = %q, want Accept-Language, Cookie", v)
	}
	for _, want := range []string{
		`<link rel="stylesheet" href="/static/public.css">`,
		`<a class="skip" href="#main">`, `<main id="main"`, `<header class="site-header">`, `<footer class="site-footer">`,
		`<meta name="viewport"`,
	} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	for _, banned := range []string{"style=", "<style", "<script", "http://", "https://", "//fonts", " on"} {
		if banned == " on" {
			if regexp.MustCompile(`\son[a-z]+=`).MatchString(r.Body) {
				t.Errorf("page has an inline event handler")
			}
			continue
		}
		if strings.Contains(r.Body, banned) {
			t.Errorf("page contains %q (inline code or an external reference)", banned)
		}
	}
}

func TestHomePageLanguages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "bxl", Name: "Bruxelles Ensemble", DefaultLang: "nl"})

		tests := []struct {
			name string
			rq   request
			want string
		}{
			{"query fr", request{Path: "/bxl/?lang=fr"}, "fr"},
			{"query en", request{Path: "/bxl/?lang=en"}, "en"},
			{"query nl beats header and cookie", request{Path: "/bxl/?lang=nl", Accept: "fr", Cookie: "en"}, "nl"},
			{"accept-language fr-BE", request{Path: "/bxl/", Accept: "fr-BE,fr;q=0.9,en;q=0.5"}, "fr"},
			{"accept-language en", request{Path: "/bxl/", Accept: "en-GB"}, "en"},
			{"cookie beats header", request{Path: "/bxl/", Accept: "en", Cookie: "fr"}, "fr"},
			{"nothing: nation default", request{Path: "/bxl/"}, "nl"},
			{"unsupported header: nation default", request{Path: "/bxl/", Accept: "de-DE"}, "nl"},
			{"unknown ?lang ignored", request{Path: "/bxl/?lang=xx", Accept: "en"}, "en"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := a.get(t, tt.rq)
				if r.Status != http.StatusOK {
					t.Fatalf("status %d", r.Status)
				}
				checkThemed(t, r)
				if got := pageLang(r.Body); got != tt.want {
					t.Errorf("<html lang> = %q, want %q", got, tt.want)
				}
				for _, key := range []string{"public.home.welcome", "common.skip_to_content", "common.powered_by"} {
					if !strings.Contains(r.Body, a.text(tt.want, key)) {
						t.Errorf("page lacks %s in %s: %q", key, tt.want, a.bundle.T(tt.want, key))
					}
				}
				for _, other := range i18n.Languages {
					if other != tt.want && strings.Contains(r.Body, a.text(other, "public.home.welcome")) {
						t.Errorf("page in %s also holds the %s welcome text", tt.want, other)
					}
				}
				if !strings.Contains(r.Body, "<h1 id=\"site-title\">Bruxelles Ensemble</h1>") {
					t.Error("page lacks the nation name as its heading")
				}
				if !strings.Contains(r.Body, "<title>"+a.text(tt.want, "public.home.title")+" · Bruxelles Ensemble</title>") {
					t.Error("page title is not the translated Home plus the nation name")
				}
			})
		}
	})
}

var switcherLink = regexp.MustCompile(`<a href="([^"]*)" hreflang="([a-z]+)" lang="[a-z]+"( aria-current="true")?>([^<]*)</a>`)

func TestLanguageSwitcher(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "gent", Name: "Gent Samen", DefaultLang: "nl", Languages: []string{"nl", "fr", "en"}})

		r := a.get(t, request{Path: "/gent/?lang=fr"})
		links := switcherLink.FindAllStringSubmatch(r.Body, -1)
		type link struct{ href, current, name string }
		got := map[string]link{}
		for _, m := range links {
			got[m[2]] = link{html.UnescapeString(m[1]), m[3], m[4]}
		}
		if len(got) != 3 {
			t.Fatalf("switcher has %d languages, want 3: %q", len(got), links)
		}
		for _, l := range []string{"nl", "fr", "en"} {
			if got[l].href != "/gent/?lang="+l {
				t.Errorf("%s link = %q", l, got[l].href)
			}
			if got[l].name != html.EscapeString(i18n.Names[l]) {
				t.Errorf("%s link text = %q", l, got[l].name)
			}
			if (got[l].current != "") != (l == "fr") {
				t.Errorf("%s aria-current = %q on a French page", l, got[l].current)
			}
		}
		if !strings.Contains(r.Body, `<nav class="langs" aria-label="Langue">`) {
			t.Error("switcher is not a labelled nav in the page language")
		}
		// ?lang= is remembered, so the next page without it keeps French.
		var cookie string
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if c.Name == i18n.LangCookie {
				cookie = c.Value
			}
		}
		if cookie != "fr" {
			t.Fatalf("?lang=fr set cookie %q, want fr", cookie)
		}
		if got := pageLang(a.get(t, request{Path: "/gent/", Cookie: cookie, Accept: "nl"}).Body); got != "fr" {
			t.Errorf("with the remembered choice the page is %q, want fr", got)
		}
		// Without ?lang= no cookie is set: negotiation alone is not a choice.
		if sc := a.get(t, request{Path: "/gent/", Accept: "en"}).Header.Get("Set-Cookie"); sc != "" {
			t.Errorf("a page without ?lang= set a cookie: %q", sc)
		}
	})
}

// A nation that offers only French and Dutch never shows English, whatever
// the visitor asks for.
func TestNationWithoutEnglishNeverRendersEnglish(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "wallonie", Name: "Wallonie Ensemble", DefaultLang: "fr", Languages: []string{"fr", "nl"}})
		for _, rq := range []request{
			{Path: "/wallonie/"},
			{Path: "/wallonie/?lang=en"},
			{Path: "/wallonie/", Accept: "en-US,en;q=0.9"},
			{Path: "/wallonie/", Cookie: "en"},
			{Path: "/wallonie/?lang=en", Accept: "en", Cookie: "en"},
			{Path: "/wallonie/no-such-page", Accept: "en"},
		} {
			r := a.get(t, rq)
			if got := pageLang(r.Body); got != "fr" {
				t.Errorf("%+v: <html lang> = %q, want fr", rq, got)
			}
			for _, key := range []string{"public.home.welcome", "common.skip_to_content", "common.powered_by", "error.not_found"} {
				if strings.Contains(r.Body, a.text("en", key)) {
					t.Errorf("%+v: page shows English %s", rq, key)
				}
			}
			if strings.Contains(r.Body, ">English<") || strings.Contains(r.Body, `hreflang="en"`) {
				t.Errorf("%+v: switcher offers English", rq)
			}
		}
		r := a.get(t, request{Path: "/wallonie/", Accept: "nl"})
		if got := pageLang(r.Body); got != "nl" {
			t.Errorf("Dutch visitor got %q", got)
		}
	})
}

func TestNotFoundIsThemedAndTranslated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "antwerpen", Name: "Antwerpen Vooruit", DefaultLang: "nl", Languages: []string{"nl", "en"}})

		tests := []struct {
			name     string
			rq       request
			lang     string
			inNation bool
		}{
			{"unknown nation, French browser", request{Path: "/nowhere/", Accept: "fr-BE"}, "fr", false},
			{"unknown nation, Dutch by query", request{Path: "/nowhere/?lang=nl", Accept: "fr"}, "nl", false},
			{"unknown nation, nothing asked", request{Path: "/nowhere/"}, "en", false},
			{"unknown nation, page below it", request{Path: "/nowhere/petition", Accept: "nl"}, "nl", false},
			{"unknown page of a nation", request{Path: "/antwerpen/missing"}, "nl", true},
			{"unknown page, language the nation lacks", request{Path: "/antwerpen/missing", Accept: "fr"}, "nl", true},
			{"unknown page, English visitor", request{Path: "/antwerpen/missing", Accept: "en"}, "en", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := a.get(t, tt.rq)
				if r.Status != http.StatusNotFound {
					t.Fatalf("status %d, want 404", r.Status)
				}
				checkThemed(t, r)
				if got := pageLang(r.Body); got != tt.lang {
					t.Errorf("<html lang> = %q, want %q", got, tt.lang)
				}
				for _, key := range []string{"error.not_found", "public.error.not_found_text"} {
					if !strings.Contains(r.Body, a.text(tt.lang, key)) {
						t.Errorf("404 lacks %s in %s", key, tt.lang)
					}
				}
				if strings.Contains(r.Body, "no nation") {
					t.Error("404 leaks the internal English error message")
				}
				home := `<a class="button" href="/antwerpen/">` + a.text(tt.lang, "public.error.home_link") + `</a>`
				if strings.Contains(r.Body, home) != tt.inNation {
					t.Errorf("home link present = %v, want %v", !tt.inNation, tt.inNation)
				}
				if tt.inNation && !strings.Contains(r.Body, `<a class="brand" href="/antwerpen/">Antwerpen Vooruit</a>`) {
					t.Error("404 of a nation lacks the nation's header")
				}
				if r.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
				}
			})
		}
	})
}

func TestHomeRoutesAndAssets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "liege", Name: "Liège <Demain> & Co", DefaultLang: "fr"})

		r := a.get(t, request{Path: "/liege"})
		if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "/liege/" {
			t.Errorf("/liege: %d to %q, want 301 to /liege/", r.Status, r.Header.Get("Location"))
		}
		r = a.get(t, request{Path: "/liege/"})
		if !strings.Contains(r.Body, "Liège &lt;Demain&gt; &amp; Co") || strings.Contains(r.Body, "<Demain>") {
			t.Error("nation name is not escaped")
		}
		// No pages yet: the page list section is absent, not faked.
		if strings.Contains(r.Body, a.text("fr", "public.home.pages")) || strings.Contains(r.Body, `class="cards"`) {
			t.Error("home of a nation without pages shows a page list")
		}
		css := a.get(t, request{Path: "/static/public.css"})
		if css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("public.css: %d %q", css.Status, css.Header.Get("Content-Type"))
		}
		for _, banned := range []string{"@import", "url(", "http:", "https:", "@font-face"} {
			if strings.Contains(css.Body, banned) {
				t.Errorf("public.css contains %q: the theme must not load anything else", banned)
			}
		}
		for _, want := range []string{":focus-visible", ".skip:focus", "@media"} {
			if !strings.Contains(css.Body, want) {
				t.Errorf("public.css lacks %s", want)
			}
		}
	})
}

// A failure inside (here: the database is gone) is a themed, translated 500
// that says nothing of the cause.
func TestInternalErrorIsThemed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newApp(t, db)
		a.nation(t, nation.NewNation{Slug: "mons", Name: "Mons", DefaultLang: "fr"})
		db.Close()
		r := a.get(t, request{Path: "/mons/", Accept: "nl"})
		if r.Status != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500", r.Status)
		}
		checkThemed(t, r)
		if got := pageLang(r.Body); got != "nl" {
			t.Errorf("<html lang> = %q, want nl (negotiated among all languages)", got)
		}
		if !strings.Contains(r.Body, a.text("nl", "error.generic")) || !strings.Contains(r.Body, a.text("nl", "public.error.generic_text")) {
			t.Error("500 page lacks the translated generic message")
		}
		if strings.Contains(strings.ToLower(r.Body), "sql") || strings.Contains(r.Body, "closed") {
			t.Error("500 page leaks the cause")
		}
	})
}
