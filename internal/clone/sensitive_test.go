package clone_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/servertest"
)

// TestCloneResealsSensitiveTags: a tag marked sensitive in the template
// (stored sealed under the template's key) is copied still marked and
// sealed under each child's own key: the child finds it by name, and its
// stored name and blind index differ from the template's.
func TestCloneResealsSensitiveTags(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, admin := template(t, s)
		if err := s.App.Segments.SetTagSensitive(ctx, tpl.ID, "Petition-Signer", true); err != nil {
			t.Fatal(err)
		}
		var tplName, tplKey string
		if err := s.DB.QueryRow(ctx, `SELECT name, key FROM tags WHERE nation_id = ?`, tpl.ID).Scan(&tplName, &tplKey); err != nil {
			t.Fatal(err)
		}
		if res := admin.PostForm("/admin/tpl/clone/run", url.Values{"csv": {threeRows}}); res.Status != http.StatusOK {
			t.Fatalf("run: %d %s", res.Status, res.Body)
		}
		for _, slug := range []string{"alice", "bob", "carol"} {
			n, err := s.App.Nations.BySlug(ctx, slug)
			if err != nil {
				t.Fatal(err)
			}
			var name, key string
			var sens int64
			if err := s.DB.QueryRow(ctx, `SELECT name, key, sensitive FROM tags WHERE nation_id = ?`, n.ID).Scan(&name, &key, &sens); err != nil {
				t.Fatalf("%s: %v", slug, err)
			}
			if sens != 1 || !crypt.IsSealed(name) || !crypt.IsBlind(key) || name == tplName || key == tplKey {
				t.Errorf("%s: tag stored as %q %q sensitive=%d", slug, name, key, sens)
			}
			k, err := crypt.ReadKeyOf(ctx, s.DB, n.ID)
			if err != nil {
				t.Fatal(err)
			}
			tag, err := crypt.FindTag(ctx, s.DB, k, n.ID, "petition-signer")
			if err != nil || tag.Name != "petition-signer" || !tag.Sensitive {
				t.Errorf("%s: find the copied tag: %+v %v", slug, tag, err)
			}
			sens2, err := s.App.Segments.SensitiveTags(ctx, n.ID)
			if err != nil || sens2["petition-signer"] != "petition-signer" {
				t.Errorf("%s: sensitive tags %v %v", slug, sens2, err)
			}
		}
	})
}
