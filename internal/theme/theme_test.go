package theme_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/web"
)

const themedLayout = `<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{template "title" .}}</title>
<link rel="stylesheet" href="/static/public.css">{{with .ThemeCSS}}<link rel="stylesheet" href="{{.}}">{{end}}</head>
<body class="themed"><p id="themed-banner">{{with .Nation}}Themed {{.Name}}{{end}}</p><main id="main">{{template "content" .}}</main></body></html>`

func TestThemeOverrides(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("camp")
		s.CreateUser("admin@example.org", n, auth.RoleAdmin)
		p := &pages.Page{NationID: n.ID, Slug: "join", Type: pages.TypeSignup, Status: pages.StatusPublished, Title: "Join us",
			Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}}}}
		if err := s.App.Pages.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		admin := s.Client()
		admin.Login("admin@example.org", servertest.Password)
		visitor := s.Client()

		// A template that does not parse is refused with its file and line.
		res := admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {"public/home.html"},
			"source": {"{{define \"title\"}}Home{{end}}\n{{define \"content\"}}\n<h1>{{.Nation.Name</h1>\n{{end}}"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("public/home.html line 3") {
			t.Errorf("broken template: %d %s", res.Status, res.Body)
		}
		// One that parses but fails when run is refused too, with its line.
		res = admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {"public/home.html"},
			"source": {"{{define \"title\"}}Home{{end}}\n{{define \"content\"}}\n\n<h1>{{.NoSuchField}}</h1>{{end}}"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("public/home.html line 4") || !res.Has("NoSuchField") {
			t.Errorf("template failing at run time: %d %s", res.Status, res.Body)
		}
		// So is a partial that is called but not defined.
		res = admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {"layouts/public.html"},
			"source": {"<html>{{template \"nowhere\" .}}</html>"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("nowhere") {
			t.Errorf("missing template: %d %s", res.Status, res.Body)
		}
		if res := admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {"../../secret.html"}, "source": {"x"}}); res.Status != http.StatusNotFound {
			t.Errorf("unknown file: %d", res.Status)
		}

		// A good layout and stylesheet are saved as a draft: visitors do not
		// see them until they are published; the preview does.
		for file, src := range map[string]string{"layouts/public.html": themedLayout, "theme.css": "body.themed { color: #123456 }"} {
			if res := admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {file}, "source": {src}}); res.Status != http.StatusSeeOther {
				t.Fatalf("save %s: %d %s", file, res.Status, res.Body)
			}
		}
		if res := visitor.Get("/camp/"); res.Has("themed-banner") {
			t.Error("a draft reached visitors")
		}
		if res := admin.Get("/admin/camp/theme/preview"); res.Status != http.StatusOK || !res.Has("Themed Nation camp") || !res.Has("/admin/camp/theme/preview.css") {
			t.Errorf("preview: %d %s", res.Status, res.Body)
		}
		if res := admin.Get("/admin/camp/theme/preview.css"); !res.Has("#123456") {
			t.Errorf("preview css: %s", res.Body)
		}
		if res := admin.Get("/admin/camp/theme"); !res.Has("unpublished changes") {
			t.Errorf("theme page: %s", res.Body)
		}
		if res := admin.PostForm("/admin/camp/theme/publish", nil); res.Status != http.StatusSeeOther {
			t.Fatalf("publish: %d", res.Status)
		}

		// Published: the home and a page use the layout, with their default
		// page templates (fallback), and the stylesheet is linked and served.
		home := visitor.Get("/camp/")
		if home.Status != http.StatusOK || !home.Has("Themed Nation camp") || !home.Has(`id="site-title"`) {
			t.Errorf("themed home: %d %s", home.Status, home.Body)
		}
		join := visitor.Get("/camp/join")
		if join.Status != http.StatusOK || !join.Has("Themed Nation camp") || !join.Has(`name="email"`) {
			t.Errorf("themed page: %d %s", join.Status, join.Body)
		}
		// The layout has no head block: the share tags are there anyway.
		if og := strings.Index(join.Body, `<meta property="og:title" content="Join us">`); og < 0 || og > strings.Index(join.Body, "</head>") {
			t.Errorf("themed page lacks its share tags in <head>: %s", join.Body)
		}
		if got := home.Header.Get("Content-Security-Policy"); got != web.ContentSecurityPolicy {
			t.Errorf("CSP changed: %q", got)
		}
		link := regexp.MustCompile(`href="(/static/theme/camp/style\.css\?v=[0-9a-z]+)"`).FindStringSubmatch(home.Body)
		if link == nil {
			t.Fatalf("no stylesheet link in %s", home.Body)
		}
		css := visitor.Get(strings.ReplaceAll(link[1], "&amp;", "&"))
		if css.Status != http.StatusOK || !strings.HasPrefix(css.Header.Get("Content-Type"), "text/css") || !css.Has("#123456") {
			t.Errorf("stylesheet: %d %q %s", css.Status, css.Header.Get("Content-Type"), css.Body)
		}
		if res := visitor.Get("/static/theme/nowhere/style.css"); res.Status != http.StatusNotFound {
			t.Errorf("stylesheet of a missing nation: %d", res.Status)
		}
		// Other nations keep the default theme.
		s.CreateNation("plain")
		if res := visitor.Get("/plain/"); res.Has("themed-banner") || res.Has("/static/theme/") {
			t.Error("another nation got the theme")
		}

		// Cloning copies the theme.
		rows, _, err := clone.ParseCSV(strings.NewReader("slug,name,candidate_name,email\nkid,Kid,Kid K,kid@example.org\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Cloner.Run(ctx, "camp", rows, 0); err != nil {
			t.Fatal(err)
		}
		if res := visitor.Get("/kid/"); !res.Has("Themed Kid") || !res.Has("/static/theme/kid/style.css") {
			t.Errorf("cloned theme: %s", res.Body)
		}

		// Back to the default.
		if res := admin.PostForm("/admin/camp/theme/edit", url.Values{"file": {"layouts/public.html"}, "action": {"reset"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("reset: %d", res.Status)
		}
		admin.PostForm("/admin/camp/theme/publish", nil)
		if res := visitor.Get("/camp/"); res.Has("themed-banner") || !res.Has("/static/theme/camp/style.css") {
			t.Errorf("after reset: %s", res.Body)
		}
	})
}
