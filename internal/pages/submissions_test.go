package pages_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/servertest"
)

// Staff list who submitted a signup form, 50 a page, newest first; the
// public page carries its Open Graph tags.
func TestSubmissionsListAndOpenGraph(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := bilingual(t, s, "bxl")
		p := &pages.Page{NationID: n.ID, Type: pages.TypeSignup, Slug: "news", Title: "Nos <nouvelles>", Status: pages.StatusPublished,
			Body: "## Restez informés\n\nChaque **semaine**, les nouvelles.", ShareImage: "/static/share.png",
			Settings: pages.Settings{Fields: []pages.Field{{Name: "first_name"}, {Name: "email", Required: true}}}}
		if ps := p.Validate(n.Languages); len(ps) > 0 {
			t.Fatalf("%+v", ps)
		}
		if err := s.App.Pages.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		visitor := s.Client()
		visitor.IP = "203.0.113.9"
		page := visitor.Get("/bxl/news?lang=fr")
		for _, want := range []string{`<meta property="og:title" content="Nos &lt;nouvelles&gt;">`,
			`<meta property="og:description" content="Restez informés Chaque semaine, les nouvelles.">`,
			`<meta property="og:image" content="` + s.URL + `/static/share.png">`, `<meta property="og:url" content="` + s.URL + `/bxl/news">`,
			`<link rel="stylesheet" href="/static/pages.css">`} {
			if !page.Has(want) {
				t.Errorf("page lacks %s", want)
			}
		}
		for i := range 52 {
			visitor.IP = fmt.Sprintf("203.0.113.%d", 10+i) // under the per-address limit
			res := visitor.PostForm("/bxl/news", url.Values{"first_name": {fmt.Sprintf("Sub%02d", i)}, "email": {fmt.Sprintf("sub%d@example.org", i)}})
			if res.Status != 303 {
				t.Fatalf("submission %d: %d", i, res.Status)
			}
		}
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		c := s.Client()
		c.Lang = "en"
		c.Login("org@example.org", servertest.Password)
		base := "/admin/bxl/pages/" + strconv.FormatInt(p.ID, 10)
		if edit := c.Get(base + "/edit"); !edit.Has(`href="` + base + `/submissions"`) {
			t.Error("edit page lacks the link to the submissions")
		}
		first := c.Get(base + "/submissions")
		if first.Status != 200 || !first.Has("sub51@example.org") || first.Has("sub1@example.org<") || !first.Has(`href="?p=2"`) {
			t.Fatalf("first page: %d", first.Status)
		}
		second := c.Get(base + "/submissions?p=2")
		if second.Status != 200 || !second.Has("sub0@example.org") || !second.Has("sub1@example.org") || second.Has("sub51@example.org") || second.Has(`href="?p=3"`) {
			t.Fatalf("second page: %d", second.Status)
		}
		if res := c.Get("/admin/bxl/pages/999999/submissions"); res.Status != 404 {
			t.Errorf("unknown page: %d", res.Status)
		}
	})
}
