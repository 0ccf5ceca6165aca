package clone_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/servertest"
)

// The parent's roll-up shows each child's counts and nothing of the
// children's people: not their names, e-mails or towns.
func TestRollupAggregatesOnly(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, admin := template(t, s)
		rows, _, err := clone.ParseCSV(strings.NewReader(threeRows))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Cloner.Run(ctx, tpl.Slug, rows, 0); err != nil {
			t.Fatal(err)
		}
		alice, _ := s.App.Nations.BySlug(ctx, "alice")
		s.CreateUser("alice@example.org", alice, auth.RoleAdmin)
		visitor := s.Client()
		for _, email := range []string{"quentin.private@example.org", "rosalind.private@example.org"} {
			if res := visitor.PostForm("/alice/petition", url.Values{"email": {email}, "first_name": {"Privatename"}, "lang": {"en"}}); res.Status != http.StatusSeeOther {
				t.Fatalf("sign: %d", res.Status)
			}
		}
		ru, err := clone.RollupOf(ctx, s.DB, tpl.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ru.Children) != 3 {
			t.Fatalf("children: %+v", ru.Children)
		}
		for _, c := range ru.Children {
			want := clone.ChildFigures{ID: c.ID, Slug: c.Slug, Name: c.Name}
			if c.Slug == "alice" {
				want.People, want.Signatures, want.Staff = 2, 2, 1
			}
			if c != want {
				t.Errorf("figures of %s: %+v, want %+v", c.Slug, c, want)
			}
		}
		if ru.Total.People != 2 || ru.Total.Signatures != 2 || ru.Total.Staff != 1 {
			t.Errorf("total: %+v", ru.Total)
		}
		res := admin.Get("/admin/tpl/children")
		if res.Status != http.StatusOK || !res.Has("Alice for Liège") || !res.Has("Carol for Namur") {
			t.Fatalf("children page: %d %s", res.Status, res.Body)
		}
		for _, secret := range []string{"quentin", "rosalind", "Privatename", "private@example.org", "alice@example.org"} {
			if strings.Contains(strings.ToLower(res.Body), strings.ToLower(secret)) {
				t.Errorf("the roll-up shows a child's personal data: %q", secret)
			}
		}
		// A child's staff see no roll-up of their parent's siblings.
		child := s.Client()
		child.Login("alice@example.org", servertest.Password)
		if res := child.Get("/admin/tpl/children"); res.Status != http.StatusNotFound {
			t.Errorf("a child's admin reads the parent's roll-up: %d", res.Status)
		}
	})
}

// A nation bound to a host serves its home and pages at / on that host,
// and only there; installation routes keep working on it.
func TestCustomDomain(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, admin := template(t, s)
		rows, _, _ := clone.ParseCSV(strings.NewReader(threeRows))
		if _, err := s.App.Cloner.Run(ctx, tpl.Slug, rows, 0); err != nil {
			t.Fatal(err)
		}
		if res := admin.PostForm("/admin/tpl/domains", url.Values{"host": {"Vote.Template.Example.ORG"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("add domain: %d %s", res.Status, res.Body)
		}
		if res := admin.Get("/admin/tpl/domains"); !res.Has("vote.template.example.org") {
			t.Errorf("domains page: %s", res.Body)
		}
		if res := admin.PostForm("/admin/tpl/domains", url.Values{"host": {"www.carol.example.org"}}); res.Status != http.StatusConflict {
			t.Errorf("a host bound to another nation: %d", res.Status)
		}
		if res := admin.PostForm("/admin/tpl/domains", url.Values{"host": {"not a host"}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("a bad host: %d", res.Status)
		}
		c := s.Client()
		get := func(host, path string) *servertest.Response {
			req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = host
			return c.Do(req)
		}
		// carol's domain came from the CSV file.
		if res := get("www.carol.example.org", "/"); res.Status != http.StatusOK || !res.Has("Carol for Namur") {
			t.Errorf("carol home on her host: %d %s", res.Status, res.Body)
		}
		if res := get("WWW.CAROL.EXAMPLE.ORG:8080", "/petition"); res.Status != http.StatusOK || !res.Has("Carol Dubois for Namur") {
			t.Errorf("carol petition on her host: %d", res.Status)
		}
		if res := get("www.carol.example.org", "/carol/about"); res.Status != http.StatusOK || !res.Has("About Carol Dubois") {
			t.Errorf("slug-prefixed link on her host: %d", res.Status)
		}
		if res := get("www.carol.example.org", "/static/public.css"); res.Status != http.StatusOK {
			t.Errorf("static on her host: %d", res.Status)
		}
		if res := get("www.carol.example.org", "/admin/login"); res.Status != http.StatusOK {
			t.Errorf("admin on her host: %d", res.Status)
		}
		if res := get("vote.template.example.org", "/petition"); !res.Has("{{candidate_name}} for {{constituency}}") {
			t.Errorf("template on its host: %d %s", res.Status, res.Body)
		}
		// Any other host: the installation's own routes.
		if res := get("other.example.org", "/"); res.Status != http.StatusSeeOther || res.Location != "/admin/" {
			t.Errorf("/ on another host: %d %q", res.Status, res.Location)
		}
		if res := get("other.example.org", "/petition"); res.Status == http.StatusOK || res.Has("Sign with") {
			t.Errorf("/petition on another host: %d", res.Status)
		}
		// Removing the binding takes effect at once.
		if res := admin.PostForm("/admin/tpl/domains/remove", url.Values{"host": {"vote.template.example.org"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("remove: %d", res.Status)
		}
		if res := get("vote.template.example.org", "/petition"); res.Status == http.StatusOK || res.Has("Sign with") {
			t.Errorf("after removal: %d", res.Status)
		}
	})
}
