package segmentweb_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// TestSensitiveTagThroughTheControlPanel: once "Pensions" is marked
// sensitive (its row sealed), every staff path that names it still finds
// the same tag — the segment tag job, staff tagging and untagging on the
// profile, counts, the segment's CSV export — the pages show the name in the clear,
// and neither the tags table nor the timeline holds it in the clear.
func TestSensitiveTagThroughTheControlPanel(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		ctx := context.Background()
		var tagID int64
		if err := s.DB.QueryRow(ctx, `SELECT id FROM tags WHERE nation_id = ? AND key = 'pensions'`, f.n.ID).Scan(&tagID); err != nil {
			t.Fatal(err)
		}
		if res := f.admin.PostForm(f.path("/segments/sensitive"), url.Values{"tag": {"PENSIONS"}, "sensitive": {"yes"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("mark sensitive: %d", res.Status)
		}
		plain := func(when string) {
			t.Helper()
			var n int64
			if err := s.DB.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM tags WHERE nation_id = ? AND (LOWER(name) LIKE '%pensions%' OR key LIKE '%pensions%'))
				+ (SELECT COUNT(*) FROM activities WHERE nation_id = ? AND LOWER(details) LIKE '%pensions%')`, f.n.ID, f.n.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s: %d rows hold the sensitive tag's name in the clear", when, n)
			}
			var tags int64
			if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM tags WHERE nation_id = ?`, f.n.ID).Scan(&tags); err != nil || tags != 1 {
				t.Errorf("%s: %d tags (%v): a plaintext duplicate of the sensitive tag was created", when, tags, err)
			}
		}
		plain("marked")
		count := func(when string, want string) {
			t.Helper()
			res := f.org.Get(f.path("/segments/count?q=" + url.QueryEscape("tag:PENSIONS")))
			if res.Status != 200 || !strings.Contains(res.Body, `"count":`+want) {
				t.Errorf("%s: count: %d %s, want %s", when, res.Status, res.Body, want)
			}
		}
		count("marked", "2")
		if res := f.admin.Get(f.path("/segments/register")); !res.Has("Pensions") {
			t.Errorf("register page does not list the sensitive tag by name")
		}

		// The tag job adds the sensitive tag to Cat, finding the sealed row.
		res := f.org.PostForm(f.path("/segments/tag"), url.Values{"q": {"-tag:pensions"}, "tag": {"pensions"}, "op": {"add"}})
		m := regexp.MustCompile(`/segments/jobs/(\d+)$`).FindStringSubmatch(res.Location)
		if res.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("tag job: %d %s", res.Status, res.Location)
		}
		jobID, _ := strconv.ParseInt(m[1], 10, 64)
		runJobs(t, s, jobID)
		plain("tag job")
		count("tag job", "3")

		// Staff untag and tag again on the profile.
		cat := f.path(fmt.Sprintf("/people/%d", f.cat))
		if res := f.org.PostForm(cat+"/tags/remove", url.Values{"tag": {"PENSIONS"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("untag: %d", res.Status)
		}
		count("untagged", "2")
		if res := f.org.PostForm(cat+"/tags", url.Values{"tag": {"Pensions"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("tag: %d", res.Status)
		}
		plain("staff tagged")
		count("staff tagged", "3")
		var tagged int64
		if err := s.DB.QueryRow(ctx, `SELECT tag_id FROM taggings WHERE nation_id = ? AND person_id = ?`, f.n.ID, f.cat).Scan(&tagged); err != nil || tagged != tagID {
			t.Errorf("Cat's tagging points at %d (%v), want the original tag %d", tagged, err, tagID)
		}
		if res := f.org.Get(cat); res.Status != 200 || !res.Has("Pensions") || res.Has("e1.") {
			t.Errorf("profile: %d, does not show the tag name in the clear", res.Status)
		}
		acts, err := people.NewStore(s.DB).Timeline(ctx, f.n.ID, f.cat, 0)
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, a := range acts {
			details = append(details, a.Type+": "+a.Details)
		}
		if got := strings.Join(details, " | "); !strings.Contains(got, "tagged: tags: Pensions") || !strings.Contains(got, "untagged: tags: Pensions") ||
			!strings.Contains(got, "tagged: tags: pensions") || strings.Contains(got, "e1.") {
			t.Errorf("timeline: %s", got)
		}
		res = f.org.PostForm(f.path("/segments/export"), url.Values{"q": {"tag:pensions"}})
		if res.Status != 200 || strings.Count(res.Body, "@") != 3 { // the segment export has no tag column
			t.Errorf("export: %d\n%s", res.Status, res.Body)
		}

		// Unmarking stores it in the clear again; the sealed timeline stays
		// readable.
		if res := f.admin.PostForm(f.path("/segments/sensitive"), url.Values{"tag": {"pensions"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("unmark: %d", res.Status)
		}
		var name, key string
		if err := s.DB.QueryRow(ctx, `SELECT name, key FROM tags WHERE nation_id = ? AND id = ?`, f.n.ID, tagID).Scan(&name, &key); err != nil ||
			name != "Pensions" || key != "pensions" || crypt.IsSealed(name) {
			t.Errorf("unmarked: %q %q %v", name, key, err)
		}
		count("unmarked", "3")
	})
}
