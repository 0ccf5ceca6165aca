package theme_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/theme"
	"github.com/muster-org/muster/internal/web"
	assets "github.com/muster-org/muster/web"
)

// A theme's layout may leave out the "head" block the default layout
// offers pages: the share tags (Open Graph, description) a page defines
// are rendered in the <head> all the same, exactly once.
func TestShareTagsSurviveAnyLayout(t *testing.T) {
	d, err := theme.LoadDefaults(assets.FS)
	if err != nil {
		t.Fatal(err)
	}
	const og = `<meta property="og:title" content="Sauvons le parc &lt;b&gt;">`
	for _, tc := range []struct {
		name, layout string
		before       string // the tags must come before this, when set
	}{
		{"no head block", `<!doctype html><html lang="{{.Lang}}"><head><title>{{template "title" .}}</title></head><body>{{template "content" .}}</body></html>`, "</head>"},
		{"upper-case HEAD", `<HTML><HEAD><TITLE>x</TITLE></HEAD ><BODY>{{template "content" .}}</BODY></HTML>`, "</HEAD >"},
		{"no head element", `<!DOCTYPE html><html><title>{{template "title" .}}</title>{{template "content" .}}</html>`, "<title>"},
		{"bare fragment", `{{template "content" .}}`, `<article`},
		{"head block without the tags", `<html><head>{{block "head" .}}{{end}}</head><body>{{template "content" .}}</body></html>`, "</head>"},
		{"tags through a partial", `{{define "mine"}}{{block "share_meta" .}}{{end}}{{end}}<html><head>{{template "mine" .}}</head><body>{{template "content" .}}</body></html>`, "</head>"},
		{"</head> inside an action", `<html><head>{{if false}}{{"</head>"}}{{end}}</head><body>{{template "content" .}}</body></html>`, ""},
		{"the default layout", d.Source("layouts/public.html"), "</head>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := d.Compile(map[string]string{"layouts/public.html": tc.layout})
			if err != nil {
				t.Fatal(err)
			}
			p := &pages.Page{Slug: "parc", Type: pages.TypeBasic, Title: "Sauvons le parc <b>"}
			v := &web.View{Lang: "fr", Path: "/x/parc", Query: url.Values{}, Data: map[string]any{
				"Page": p, "Description": "Le parc doit rester.", "PageURL": "https://example.org/x/parc"}}
			var buf bytes.Buffer
			if err := set.Pages["public/page_show"].Execute(&buf, v); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if n := strings.Count(out, og); n != 1 {
				t.Fatalf("og:title appears %d times, want 1:\n%s", n, out)
			}
			for _, want := range []string{`<meta property="og:url" content="https://example.org/x/parc">`, `<meta name="description" content="Le parc doit rester.">`} {
				if !strings.Contains(out, want) {
					t.Errorf("lacks %s", want)
				}
			}
			if tc.before != "" && strings.Index(out, og) > strings.Index(out, tc.before) {
				t.Errorf("share tags come after %s:\n%s", tc.before, out)
			}
			// Pages without share tags render without them, and without error.
			buf.Reset()
			v.Data = map[string]any{"Status": http.StatusNotFound, "Title": "Not found", "Message": "Gone"}
			if err := set.Pages["public/error"].Execute(&buf, v); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(buf.String(), "og:") {
				t.Errorf("error page has share tags")
			}
		})
	}
}
