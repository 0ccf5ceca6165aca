package site_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// FuzzPublicRequest throws arbitrary language signals (?lang=, cookie,
// Accept-Language) and page names at the public site: every answer must be
// a themed page, 200 or 404, in one of the nation's own languages.
func FuzzPublicRequest(f *testing.F) {
	db := storetest.Open(f, store.SQLite)
	s, err := server.New(server.Deps{Config: &config.Config{DataDir: f.TempDir()}, DB: db, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	offered := []string{"fr", "nl"}
	if _, err := s.Nations.Create(context.Background(), nation.NewNation{Slug: "fz", Name: "Fuzz", DefaultLang: "fr", Languages: offered}); err != nil {
		f.Fatal(err)
	}
	f.Add("", "fr", "", "en-US,en;q=0.9")
	f.Add("nope", "en", "nl", "")
	f.Add("", "nl\x00", "fr;", "*;q=0, nl-BE;q=0.8")
	f.Fuzz(func(t *testing.T, page, lang, cookie, accept string) {
		target := "/fz/" + url.PathEscape(page) + "?lang=" + url.QueryEscape(lang)
		u, err := url.Parse(target)
		if err != nil {
			return // not a request a client can send
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = u
		req.RequestURI = target
		req.Header.Set("Accept-Language", accept)
		req.Header.Set("Cookie", i18n.LangCookie+"="+cookie)
		rec := httptest.NewRecorder()
		s.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound && rec.Code != http.StatusMovedPermanently {
			t.Fatalf("%s: status %d", target, rec.Code)
		}
		if rec.Code == http.StatusMovedPermanently {
			return
		}
		got := pageLang(rec.Body.String())
		if !slices.Contains(offered, got) {
			t.Fatalf("%s (cookie %q, accept %q): page language %q, not one the nation offers", target, cookie, accept, got)
		}
		if !strings.Contains(rec.Body.String(), `href="/static/public.css"`) {
			t.Fatalf("%s: answer is not themed", target)
		}
	})
}
