package servertest_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/servertest"
)

// volunteerRoutes are the only control-panel routes a volunteer may use:
// the dashboard and the people of their scope (docs/privacy.md,
// "Volunteers"). Opening another route to volunteers means adding it here
// in the same change, after checking it honours the scope and, for an
// export, the export grant.
var volunteerRoutes = map[string]bool{
	"GET /admin/{nation}/":                true,
	"GET /admin/{nation}/people":          true,
	"GET /admin/{nation}/people/{person}": true,
	// The segment list export checks the export grant and limits the rows
	// to the scope: TestVolunteerExportScope.
	"POST /admin/{nation}/segments/export": true,
}

// TestVolunteerReachesNoExport: the export rule (admins and organizers may
// export; a volunteer only with the export grant and within their scope)
// holds because no export path but the segment list export (which checks
// both: TestVolunteerExportScope) is open to volunteers. Even a
// volunteer granted exports and sensitive fields, whose scope covers the
// fixtures, gets 404 from every control-panel route but the people pages —
// the segment CSV export, the audience export, the import rejects file and
// a request's access export among them — while an administrator of the
// same nation gets each export, so the probe is not vacuous.
func TestVolunteerReachesNoExport(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("exports")
		admin := s.CreateUser("admin@example.org", n, auth.RoleAdmin)
		vol := s.CreateUser("vol@example.org", n, auth.RoleVolunteer)
		values := map[string]string{"nation": n.Slug, "user": strconv.FormatInt(vol.ID, 10)}
		for _, fx := range []map[string]string{
			peopleFixtures(t, s, n, "Vera"),
			pagesFixtures(t, s, n, "Vera"),
			segmentFixtures(t, s, n, "Vera"),
			importFixtures(t, s, n, "Vera"),
			broadcastFixtures(t, s, n, "Vera"),
		} {
			for k, v := range fx {
				values[k] = v
			}
		}
		if err := s.App.Privacy.SetScope(ctx, n.ID, admin.ID,
			privacy.Scope{UserID: vol.ID, Filter: "tag:probe-fixture", Sensitive: true, Export: true}); err != nil {
			t.Fatal(err)
		}
		person, _ := strconv.ParseInt(values["person"], 10, 64)
		req := &privacy.Request{NationID: n.ID, Kind: "access", Channel: "post", PersonID: person, Contact: "Vera@example.org"}
		if err := s.App.Privacy.CreateRequest(ctx, req); err != nil {
			t.Fatal(err)
		}
		staffExport := fmt.Sprintf("/admin/%s/privacy/requests/%d/export.json", n.Slug, req.ID)

		v := s.Client()
		v.Login(vol.Email, servertest.Password)
		// The scope works, so the 404s below are the role wall, not an
		// empty scope.
		if res := v.Get(servertest.Fill("/admin/{nation}/people/{person}", values)); res.Status != http.StatusOK || !res.Has("Vera") {
			t.Fatalf("volunteer profile in scope: %d", res.Status)
		}
		list := v.Get("/admin/" + n.Slug + "/people")
		for _, link := range []string{"/segments/export", "/segments/audience", "/rejects", "export.json", ".csv"} {
			if list.Has(link) {
				t.Errorf("volunteer people list links to %q", link)
			}
		}
		for _, rt := range servertest.NationRoutes() {
			if volunteerRoutes[rt.Method+" "+rt.Path] {
				continue
			}
			path := servertest.Fill(rt.Path, values)
			var res *servertest.Response
			if rt.Method == http.MethodGet {
				res = v.Get(path)
			} else {
				res = v.PostForm(path, servertest.FillForm(rt.Form, values))
			}
			if res.Status != http.StatusNotFound {
				t.Errorf("%s %s as a volunteer with the export grant: status %d, want 404", rt.Method, rt.Path, res.Status)
			}
		}
		if res := v.Get(staffExport); res.Status != http.StatusNotFound || res.Has("Vera") {
			t.Errorf("request export as a volunteer: %d", res.Status)
		}

		a := s.Client()
		a.Login(admin.Email, servertest.Password)
		exports := []struct{ method, path string }{
			{"POST", "/admin/{nation}/segments/export"},
			{"POST", "/admin/{nation}/segments/audience"},
			{"GET", "/admin/{nation}/people/import/{import}/rejects"},
		}
		for _, e := range exports {
			var form map[string][]string
			for _, rt := range servertest.NationRoutes() {
				if rt.Method == e.method && rt.Path == e.path {
					form = rt.Form
				}
			}
			path := servertest.Fill(e.path, values)
			var res *servertest.Response
			if e.method == http.MethodGet {
				res = a.Get(path)
			} else {
				res = a.PostForm(path, servertest.FillForm(form, values))
			}
			if res.Status != http.StatusOK {
				t.Errorf("%s %s as an administrator: status %d, want 200 (the volunteer probe would be vacuous)", e.method, e.path, res.Status)
			}
		}
		if res := a.Get(staffExport); res.Status != http.StatusOK || !res.Has("Vera") {
			t.Errorf("request export as an administrator: %d", res.Status)
		}
	})
}
