package privacy_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/servertest"
)

// TestRegistersPages drives the retention, record, breach and volunteers
// pages as an administrator, and checks that nothing of another nation is
// reachable or counted, and that organizers and volunteers are kept out.
func TestRegistersPages(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		a, b := s.CreateNation("nation-a"), s.CreateNation("nation-b")
		admin := s.CreateUser("alice@example.org", a, auth.RoleAdmin)
		s.CreateUser("olga@example.org", a, auth.RoleOrganizer)
		vol := s.CreateUser("victor@example.org", a, auth.RoleVolunteer)
		bVol := s.CreateUser("bvol@example.org", b, auth.RoleVolunteer)
		alma := citizen(t, s, a, "alma@example.org", "Alma")
		citizen(t, s, b, "zelda-secret@example.org", "Zelda-secret")
		citizen(t, s, b, "yann-secret@example.org", "Yann-secret")
		c := s.Client()
		c.Login("alice@example.org", servertest.Password)

		// Retention: add a rule, see its dry run, apply, see the run.
		if res := c.PostForm("/admin/nation-a/privacy/retention", url.Values{"kind": {"prospects"}, "months": {"0"}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad months: %d", res.Status)
		}
		res := c.PostForm("/admin/nation-a/privacy/retention", url.Values{"kind": {"prospects"}, "months": {"12"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("add rule: %d", res.Status)
		}
		page := c.Get("/admin/nation-a/privacy/retention")
		if page.Status != 200 || !page.Has("12") || !page.Has(`id="rules"`) {
			t.Fatalf("retention page: %d", page.Status)
		}
		if res := c.PostForm("/admin/nation-a/privacy/retention/apply", nil); res.Status != http.StatusSeeOther {
			t.Fatalf("apply: %d", res.Status)
		}
		if page := c.Get("/admin/nation-a/privacy/retention"); !page.Has(`id="runs"`) {
			t.Error("no run shown after applying")
		}
		// A rule of nation B cannot be deleted through A, nor through B by
		// A's admin (B has more rules, so that its id names none of A's).
		var bRule *privacy.Rule
		for range 3 {
			r, err := s.App.Privacy.AddRule(ctx, b.ID, 0, privacy.Rule{Kind: privacy.RuleProspects, Months: 6})
			if err != nil {
				t.Fatal(err)
			}
			bRule = r
		}
		if aRules, _ := s.App.Privacy.Rules(ctx, a.ID); len(aRules) != 1 || aRules[0].ID == bRule.ID {
			t.Fatalf("fixture ids collide: %+v %+v", aRules, bRule)
		}
		id := strconv.FormatInt(bRule.ID, 10)
		for _, slug := range []string{"nation-a", "nation-b"} {
			if res := c.PostForm("/admin/"+slug+"/privacy/retention/"+id+"/delete", nil); res.Status != http.StatusNotFound {
				t.Errorf("%s: deleting B's rule: %d", slug, res.Status)
			}
		}
		if rules, _ := s.App.Privacy.Rules(ctx, b.ID); len(rules) != 3 {
			t.Errorf("B's rules: %+v", rules)
		}

		// The record: page, Markdown and JSON, counting only nation A.
		page = c.Get("/admin/nation-a/privacy/record")
		if page.Status != 200 || !page.Has("argon2id") || page.Has("Zelda") {
			t.Fatalf("record page: %d", page.Status)
		}
		md := c.Get("/admin/nation-a/privacy/record.md")
		if md.Status != 200 || !strings.Contains(md.Body, "# Record of processing activities") || !strings.Contains(md.Body, "all people: 1") ||
			!strings.Contains(md.Body, "without activity for 12 months") {
			t.Fatalf("record.md: %d %s", md.Status, md.Body)
		}
		var rec privacy.Record
		js := c.Get("/admin/nation-a/privacy/record.json")
		if err := json.Unmarshal([]byte(js.Body), &rec); err != nil || rec.Controller == "" {
			t.Fatalf("record.json: %v %s", err, js.Body)
		}
		if rec.PeopleCategories[0].Count != 1 {
			t.Errorf("people counted: %+v", rec.PeopleCategories)
		}

		// The breach draft: a staff member of B is not counted in A.
		if err := people.NewStore(s.DB).Audit(ctx, a.ID, admin.ID, "person.view", "person", alma); err != nil {
			t.Fatal(err)
		}
		page = c.Get("/admin/nation-a/privacy/breach?actor=" + strconv.FormatInt(admin.ID, 10))
		if page.Status != 200 || !page.Has(`name="nature"`) || !page.Has("staff member #"+strconv.FormatInt(admin.ID, 10)) {
			t.Fatalf("breach page: %d %s", page.Status, page.Body)
		}
		if page := c.Get("/admin/nation-a/privacy/breach?from=yesterday"); page.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad date: %d", page.Status)
		}
		txt := c.PostForm("/admin/nation-a/privacy/breach.txt", url.Values{"nature": {"Laptop stolen"}, "people": {"42"}, "contact": {"dpo@example.org"}})
		if txt.Status != 200 || !strings.Contains(txt.Body, "Laptop stolen") || !strings.Contains(txt.Body, "42") ||
			!strings.Contains(txt.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("breach.txt: %d %s", txt.Status, txt.Body)
		}

		// Volunteers: A's volunteer gets a scope; B's volunteer cannot be named.
		if res := c.PostForm("/admin/nation-a/privacy/volunteers", url.Values{"user": {strconv.FormatInt(vol.ID, 10)}, "filter": {"tag:tag-of-Alma"}, "export": {"yes"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("set scope: %d", res.Status)
		}
		sc, err := s.App.Privacy.VolunteerScope(ctx, a.ID, vol.ID)
		if err != nil || sc.Filter != "tag:tag-of-Alma" || !sc.Export || sc.Sensitive {
			t.Fatalf("scope: %+v %v", sc, err)
		}
		if res := c.PostForm("/admin/nation-a/privacy/volunteers", url.Values{"user": {strconv.FormatInt(vol.ID, 10)}, "filter": {"tag:("}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad filter: %d", res.Status)
		}
		if res := c.PostForm("/admin/nation-a/privacy/volunteers", url.Values{"user": {strconv.FormatInt(bVol.ID, 10)}, "filter": {"tag:x"}}); res.Status != http.StatusNotFound {
			t.Errorf("B's volunteer through A: %d", res.Status)
		}
		if sc, _ := s.App.Privacy.VolunteerScope(ctx, b.ID, bVol.ID); sc.Filter != "" {
			t.Errorf("B's volunteer got a scope: %+v", sc)
		}
		if page := c.Get("/admin/nation-a/privacy/volunteers"); page.Status != 200 || !page.Has("victor@example.org") || page.Has("bvol@example.org") {
			t.Errorf("volunteers page: %d", page.Status)
		}

		// Organizers and volunteers do not reach these pages.
		for _, who := range []string{"olga@example.org", "victor@example.org"} {
			o := s.Client()
			o.Login(who, servertest.Password)
			for _, p := range []string{"retention", "record", "record.md", "breach", "volunteers"} {
				if res := o.Get("/admin/nation-a/privacy/" + p); res.Status != http.StatusNotFound {
					t.Errorf("%s on %s: %d", who, p, res.Status)
				}
			}
		}
	})
}
