package servertest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/servertest"
)

// TestVolunteerExportScope: the segment list export is open to a volunteer
// only with the export grant (404 otherwise, as for any page they may not
// see), and then holds only the people of their scope, whatever the filter;
// selecting on opinion data (a sensitive tag, the support level) needs the
// sensitive-fields grant too (403).
func TestVolunteerExportScope(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("scoped")
		admin := s.CreateUser("admin@example.org", n, auth.RoleAdmin)
		st := people.NewStore(s.DB)
		for _, r := range []people.Record{
			{FirstName: "Ann", Emails: []string{"ann@example.org"}, Tags: []string{"north"}},
			{FirstName: "Bob", Emails: []string{"bob@example.org"}, Tags: []string{"north", "secret-opinion"}, SupportLevel: "1"},
			{FirstName: "Cid", Emails: []string{"cid@example.org"}, Tags: []string{"south", "secret-opinion"}},
		} {
			if res, err := st.Upsert(ctx, n.ID, r, people.Source{Kind: "staff"}, people.UpsertOptions{}); err != nil || res.Outcome != people.Created {
				t.Fatalf("person: %+v %v", res, err)
			}
		}
		if err := s.App.Segments.SetTagSensitive(ctx, n.ID, "secret-opinion", true); err != nil {
			t.Fatal(err)
		}
		clients := map[string]*servertest.Client{}
		for _, v := range []struct {
			name              string
			export, sensitive bool
		}{{"nogrant", false, true}, {"grant", true, false}, {"grantsens", true, true}} {
			u := s.CreateUser(v.name+"@example.org", n, auth.RoleVolunteer)
			if err := s.App.Privacy.SetScope(ctx, n.ID, admin.ID,
				privacy.Scope{UserID: u.ID, Filter: "tag:north", Export: v.export, Sensitive: v.sensitive}); err != nil {
				t.Fatal(err)
			}
			c := s.Client()
			c.Login(u.Email, servertest.Password)
			clients[v.name] = c
		}
		a := s.Client()
		a.Login(admin.Email, servertest.Password)
		clients["admin"] = a

		for _, tc := range []struct {
			who, q string
			status int
			in     []string // first names in the file
		}{
			{"nogrant", "", http.StatusNotFound, nil},
			{"nogrant", "tag:south", http.StatusNotFound, nil},
			{"grant", "", http.StatusOK, []string{"Ann", "Bob"}},
			{"grant", "tag:south", http.StatusOK, nil},
			{"grant", "-tag:north", http.StatusOK, nil},
			{"grant", "tag:secret-opinion", http.StatusForbidden, nil},
			{"grant", "support:1", http.StatusForbidden, nil},
			{"grantsens", "tag:SECRET-OPINION", http.StatusOK, []string{"Bob"}},
			{"grantsens", "support:1..2", http.StatusOK, []string{"Bob"}},
			{"admin", "", http.StatusOK, []string{"Ann", "Bob", "Cid"}},
			{"admin", "tag:secret-opinion", http.StatusOK, []string{"Bob", "Cid"}},
		} {
			res := clients[tc.who].PostForm("/admin/"+n.Slug+"/segments/export", url.Values{"q": {tc.q}})
			if res.Status != tc.status {
				t.Errorf("%s %q: status %d, want %d", tc.who, tc.q, res.Status, tc.status)
				continue
			}
			if tc.status != http.StatusOK {
				for _, name := range []string{"Ann", "Bob", "Cid"} {
					if res.Has(name + ",") {
						t.Errorf("%s %q: refused, yet the answer names %s", tc.who, tc.q, name)
					}
				}
				continue
			}
			lines := strings.Split(strings.TrimSpace(res.Body), "\n")
			var got []string
			for _, l := range lines[1:] {
				got = append(got, strings.Split(l, ",")[1])
			}
			if strings.Join(got, " ") != strings.Join(tc.in, " ") {
				t.Errorf("%s %q: file holds %q, want %q", tc.who, tc.q, got, tc.in)
			}
		}
	})
}
