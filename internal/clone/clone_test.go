package clone_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/store"
)

// threeRows clones three candidates, the third with its own domain, plus a
// bad row (line 5) that must be reported while the rest proceeds.
const threeRows = "\xef\xbb\xbfslug,name,Candidate Name,email,domain,language,constituency\n" +
	"alice,Alice for Liège,Alice Martin,alice@example.org,,fr,Liège\n" +
	"bob,Bob for Gent,Bob Peeters,BOB@example.org,,nl,Gent\n" +
	"carol,Carol for Namur,Carol Dubois,carol@example.org,www.carol.example.org,,Namur\n" +
	"Not A Slug!,Bad,Nobody,nobody@example.org,,,\n"

// template makes the template nation "tpl" with an administrator, a
// published petition and a basic page whose texts hold the variables, a
// topic, a tag, and a signer (personal data that must never be copied).
func template(t *testing.T, s *servertest.Server) (*nation.Nation, *servertest.Client) {
	t.Helper()
	ctx := context.Background()
	tpl := s.CreateNation("tpl")
	s.CreateUser("lead@example.org", tpl, auth.RoleAdmin)
	petition := &pages.Page{NationID: tpl.ID, Slug: "petition", Type: pages.TypePetition, Status: pages.StatusPublished,
		Title: "{{candidate_name}} for {{constituency}}", Body: "Sign with **{{candidate_name}}** of {{nation_name}}.",
		Target: "Mayor of {{constituency}}", Goal: 100,
		Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}, {Name: "first_name"}},
			ThankYou: "Thanks from {{candidate_name}}!", Tags: []string{"petition-signer"}}}
	if err := s.App.Pages.Create(ctx, petition); err != nil {
		t.Fatal(err)
	}
	about := &pages.Page{NationID: tpl.ID, Slug: "about", Type: pages.TypeBasic, Status: pages.StatusPublished,
		Title: "About {{candidate_name}}", Body: "{{candidate_name}} stands in {{constituency}}."}
	if err := s.App.Pages.Create(ctx, about); err != nil {
		t.Fatal(err)
	}
	if err := s.App.Pages.CreateTopic(ctx, tpl.ID, &pages.Topic{Slug: "climate", Names: map[string]string{"en": "Climate"}}); err != nil {
		t.Fatal(err)
	}
	visitor := s.Client()
	res := visitor.PostForm("/tpl/petition", url.Values{"email": {"secret.signer@example.org"}, "first_name": {"Zebulon"}, "lang": {"en"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("sign the template's petition: %d %s", res.Status, res.Body)
	}
	admin := s.Client()
	admin.Login("lead@example.org", servertest.Password)
	return tpl, admin
}

func count(t *testing.T, db *store.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestCloneThreeNations(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, admin := template(t, s)

		res := admin.PostForm("/admin/tpl/clone/preview", url.Values{"csv": {threeRows}})
		if res.Status != http.StatusOK || !res.Has("alice") || !res.Has("Carol Dubois") || !res.Has("Line 5") {
			t.Fatalf("preview: %d %s", res.Status, res.Body)
		}
		if n := count(t, s.DB, `SELECT COUNT(*) FROM nations WHERE parent_id = ?`, tpl.ID); n != 0 {
			t.Fatalf("the preview made %d nations", n)
		}
		res = admin.PostForm("/admin/tpl/clone/run", url.Values{"csv": {threeRows}})
		if res.Status != http.StatusOK || strings.Count(res.Body, "/invite/") != 3 || !res.Has("Line 5") {
			t.Fatalf("run: %d %s", res.Status, res.Body)
		}

		want := map[string][2]string{"alice": {"Alice Martin", "Liège"}, "bob": {"Bob Peeters", "Gent"}, "carol": {"Carol Dubois", "Namur"}}
		visitor := s.Client()
		for slug, w := range want {
			n, err := s.App.Nations.BySlug(ctx, slug)
			if err != nil {
				t.Fatalf("%s: %v", slug, err)
			}
			if n.ParentID != tpl.ID {
				t.Errorf("%s: parent %d, want %d", slug, n.ParentID, tpl.ID)
			}
			page := visitor.Get("/" + slug + "/petition")
			if page.Status != http.StatusOK || !page.Has(w[0]+" for "+w[1]) || !page.Has("Mayor of "+w[1]) || page.Has("{{") {
				t.Errorf("%s petition: %d %s", slug, page.Status, page.Body)
			}
			for _, other := range want {
				if other != w && page.Has(other[0]) {
					t.Errorf("%s petition shows another candidate %q", slug, other[0])
				}
			}
			about := visitor.Get("/" + slug + "/about")
			if !about.Has("About " + w[0]) {
				t.Errorf("%s about: %d %s", slug, about.Status, about.Body)
			}
			home := visitor.Get("/" + slug + "/")
			if home.Status != http.StatusOK || !home.Has(n.Name) {
				t.Errorf("%s home: %d", slug, home.Status)
			}
			// Nothing personal was copied, the rest was.
			for _, q := range []string{`SELECT COUNT(*) FROM people WHERE nation_id = ?`, `SELECT COUNT(*) FROM signatures WHERE nation_id = ?`,
				`SELECT COUNT(*) FROM taggings WHERE nation_id = ?`, `SELECT COUNT(*) FROM consents WHERE nation_id = ?`,
				`SELECT COUNT(*) FROM activities WHERE nation_id = ?`, `SELECT COUNT(*) FROM memberships WHERE nation_id = ?`} {
				if c := count(t, s.DB, q, n.ID); c != 0 {
					t.Errorf("%s: %s = %d, want 0", slug, q, c)
				}
			}
			if c := count(t, s.DB, `SELECT COUNT(*) FROM topics WHERE nation_id = ? AND slug = 'climate'`, n.ID); c != 1 {
				t.Errorf("%s: topic not copied", slug)
			}
			if c := count(t, s.DB, `SELECT COUNT(*) FROM tags WHERE nation_id = ? AND name = 'petition-signer'`, n.ID); c != 1 {
				t.Errorf("%s: tag name not copied", slug)
			}
			invs, err := s.App.Auth.PendingInvitations(ctx, n.ID)
			if err != nil || len(invs) != 1 || invs[0].Role != auth.RoleAdmin || invs[0].Email != slug+"@example.org" {
				t.Errorf("%s invitations: %+v %v", slug, invs, err)
			}
		}
		if a, _ := s.App.Nations.BySlug(ctx, "alice"); a.DefaultLang != "fr" {
			t.Errorf("alice's language: %q", a.DefaultLang)
		}
		// The signer's thank-you text is the child's.
		res = visitor.PostForm("/bob/petition", url.Values{"email": {"gent@example.org"}, "lang": {"en"}})
		if thanks := visitor.Get(res.Location); !thanks.Has("Thanks from Bob Peeters!") {
			t.Errorf("bob thanks: %d %s", thanks.Status, thanks.Body)
		}

		// Re-running skips all three and still reports the bad row.
		res = admin.PostForm("/admin/tpl/clone/run", url.Values{"csv": {threeRows}})
		if res.Status != http.StatusOK || res.Has("/invite/") || !res.Has("0 nations created, 3 skipped, 1 rows rejected") {
			t.Fatalf("re-run: %d %s", res.Status, res.Body)
		}
		if n := count(t, s.DB, `SELECT COUNT(*) FROM nations WHERE parent_id = ?`, tpl.ID); n != 3 {
			t.Errorf("children after re-run: %d", n)
		}
		if n := count(t, s.DB, `SELECT COUNT(*) FROM invitations`); n != 3 {
			t.Errorf("invitations after re-run: %d", n)
		}
	})
}

func TestCloneRejectsRowsAndKeepsGoing(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, _ := template(t, s)
		other := s.CreateNation("other")
		if _, err := clone.NewDomains(s.DB).Add(ctx, other.ID, "taken.example.org"); err != nil {
			t.Fatal(err)
		}
		rows, bad, err := clone.ParseCSV(strings.NewReader("slug;name;candidate_name;email;domain\n" +
			"dan;Dan;Dan D;dan@example.org;taken.example.org\n" +
			"eve;Eve;Eve E;not-an-email;\n" +
			"fay;Fay;Fay F;fay@example.org;fay.example.org\n" +
			"fay;Fay again;Fay F;fay@example.org;\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) != 2 || bad[0].Line != 3 || !strings.Contains(bad[0].Reason, "e-mail") || bad[1].Line != 5 {
			t.Errorf("bad rows: %+v", bad)
		}
		rep, err := s.App.Cloner.Run(ctx, tpl.Slug, rows, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Created) != 1 || rep.Created[0].Slug != "fay" || len(rep.Rejected) != 1 || rep.Rejected[0].Line != 2 ||
			!strings.Contains(rep.Rejected[0].Reason, "already bound") {
			t.Fatalf("report: %+v", rep)
		}
		if _, err := s.App.Nations.BySlug(ctx, "dan"); err == nil {
			t.Error("the rejected row left its nation behind")
		}
		if _, err := s.App.Cloner.Run(ctx, "no-such-nation", rows, 0); err == nil {
			t.Error("cloning from a missing template worked")
		}
	})
}

func TestParseCSVHeader(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{"slug,name,email\n", `missing column "candidate_name"`},
		{"slug,name,candidate_name,email,shoe_size\n", `unknown column "shoe_size"`},
		{"slug,slug,name,candidate_name,email\n", "appears twice"},
		{"\xff\xfe", "UTF-8"},
	} {
		_, _, err := clone.ParseCSV(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCSV(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	rows, bad, err := clone.ParseCSV(strings.NewReader("Slug , NAME,candidate,E-mail\r\nab,N,C,a@b.org\r\n,,,\r\n"))
	if err != nil || len(bad) != 0 || len(rows) != 1 || rows[0].Line != 2 || rows[0].CandidateName != "C" {
		t.Errorf("rows %+v bad %+v err %v", rows, bad, err)
	}
}

func TestNormaliseHost(t *testing.T) {
	good := map[string]string{"WWW.Example.ORG.": "www.example.org", " a-b.example.be ": "a-b.example.be", "xn--bcher-kva.example": "xn--bcher-kva.example"}
	for in, want := range good {
		if got, err := clone.NormaliseHost(in); err != nil || got != want {
			t.Errorf("NormaliseHost(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "localhost", "127.0.0.1", "::1", "example.org:8080", "-a.example.org", "a..b", "*.example.org",
		"http://example.org", "exa mple.org", "bücher.example", "a.123", strings.Repeat("a", 64) + ".org"} {
		if got, err := clone.NormaliseHost(in); err == nil {
			t.Errorf("NormaliseHost(%q) = %q, want an error", in, got)
		}
	}
}
