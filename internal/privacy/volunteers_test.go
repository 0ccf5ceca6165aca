package privacy_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/servertest"
)

// TestVolunteerScope: a volunteer sees only the people of the scope an
// administrator assigned, never their support level, sensitive tags or
// notes unless granted, and cannot edit.
func TestVolunteerScope(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := s.CreateNation("turf")
		st := people.NewStore(s.DB)
		add := func(first, email string, tags []string, support, note string) int64 {
			t.Helper()
			res, err := st.Upsert(ctx, n.ID, people.Record{FirstName: first, LastName: "Scoped", Emails: []string{email}, Tags: tags,
				SupportLevel: support, Note: note}, people.Source{Kind: "staff", UserID: 1}, people.UpsertOptions{})
			if err != nil || res.PersonID == 0 {
				t.Fatalf("add %s: %+v %v", first, res, err)
			}
			return res.PersonID
		}
		inside := add("Insider", "in@example.org", []string{"ward-7", "secret-opinion"}, "1", "zqxprivatenote")
		outside := add("Outsider", "out@example.org", []string{"ward-9"}, "", "")
		if _, err := s.DB.Exec(ctx, `UPDATE tags SET sensitive = 1 WHERE nation_id = ? AND key = 'secret-opinion'`, n.ID); err != nil {
			t.Fatal(err)
		}
		vol := s.CreateUser("vol@example.org", n, auth.RoleVolunteer)
		c := s.Client()
		c.Login(vol.Email, servertest.Password)
		base := "/admin/turf/people"

		// No scope yet: nobody.
		if res := c.Get(base); res.Status != 200 || res.Has("Insider") || res.Has("Outsider") {
			t.Fatalf("no scope: %d", res.Status)
		}
		if err := s.App.Privacy.SetScope(ctx, n.ID, 1, privacy.Scope{UserID: vol.ID, Filter: "tag:ward-7"}); err != nil {
			t.Fatal(err)
		}
		list := c.Get(base)
		if list.Status != 200 || !list.Has("Insider") || list.Has("Outsider") || list.Has(base+"/new") {
			t.Fatalf("scoped list: %d", list.Status)
		}
		if res := c.Get(base + "?q=outsider"); res.Has("Outsider") {
			t.Error("search escapes the scope")
		}
		if res := c.Get(fmt.Sprintf("%s/%d", base, outside)); res.Status != http.StatusNotFound || res.Has("Outsider") {
			t.Errorf("profile outside the scope: %d", res.Status)
		}
		prof := c.Get(fmt.Sprintf("%s/%d", base, inside))
		if prof.Status != 200 || !prof.Has("Insider") || !prof.Has("ward-7") {
			t.Fatalf("profile inside the scope: %d", prof.Status)
		}
		for _, secret := range []string{"secret-opinion", "zqxprivatenote", "/edit", "/notes", `action="` + base} {
			if prof.Has(secret) {
				t.Errorf("volunteer profile shows %q", secret)
			}
		}
		if res := c.Get(fmt.Sprintf("%s/%d/edit", base, inside)); res.Status != http.StatusNotFound {
			t.Errorf("volunteer edit: %d", res.Status)
		}

		// Granted sensitive fields: the tag and the note appear.
		if err := s.App.Privacy.SetScope(ctx, n.ID, 1, privacy.Scope{UserID: vol.ID, Filter: "tag:ward-7", Sensitive: true}); err != nil {
			t.Fatal(err)
		}
		prof = c.Get(fmt.Sprintf("%s/%d", base, inside))
		if !prof.Has("secret-opinion") || !prof.Has("zqxprivatenote") {
			t.Errorf("granted volunteer does not see sensitive fields")
		}
		// An organizer sees everyone, as before.
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		o := s.Client()
		o.Login("org@example.org", servertest.Password)
		if res := o.Get(base); !res.Has("Insider") || !res.Has("Outsider") {
			t.Errorf("organizer list: %d", res.Status)
		}
	})
}
