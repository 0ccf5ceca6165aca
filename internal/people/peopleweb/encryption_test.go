package peopleweb_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// TestStaffEditsStoredSealed: a support level set and a note added by staff
// through the control panel are stored sealed (docs/privacy.md
// "Encryption") and read back in the clear.
func TestStaffEditsStoredSealed(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "sealed")
		ctx := context.Background()
		id := e.add(t, people.Record{FirstName: "Jan", LastName: "Peeters", Emails: []string{"jan@example.org"}}, people.Source{})
		path := fmt.Sprintf("%s/%d", e.base, id)
		f := editForm(e.get(t, id))
		f.Set("support_level", "4")
		want(t, e.c.PostForm(path+"/edit", f), 303, "edit")
		want(t, e.c.PostForm(path+"/notes", url.Values{"note": {"zqxnote wants lower taxes"}}), 303, "note")

		var plain, sealed, note string
		err := s.DB.QueryRow(ctx, `SELECT COALESCE(CAST(support_level AS TEXT), ''), COALESCE(support_level_enc, '') FROM people
			WHERE nation_id = ? AND id = ?`, e.n.ID, id).Scan(&plain, &sealed)
		if err != nil || plain != "" || !crypt.IsSealed(sealed) {
			t.Fatalf("stored support level: plain %q sealed %q %v", plain, sealed, err)
		}
		if err := s.DB.QueryRow(ctx, `SELECT details FROM activities WHERE nation_id = ? AND person_id = ? AND type = 'note'`,
			e.n.ID, id).Scan(&note); err != nil || !crypt.IsSealed(note) {
			t.Fatalf("stored note %q %v", note, err)
		}
		if p := e.get(t, id); p.SupportLevel != 4 {
			t.Errorf("support level reads %d, want 4", p.SupportLevel)
		}
		acts, _ := e.people.Timeline(ctx, e.n.ID, id, 10)
		if len(acts) == 0 || acts[0].Type != "note" || acts[0].Details != "zqxnote wants lower taxes" {
			t.Errorf("timeline: %+v", acts)
		}
	})
}
