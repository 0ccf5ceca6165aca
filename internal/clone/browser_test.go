package clone_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/servertest"
)

// A template cloned into 3 nations serves 3 distinct sites: each child's
// home shows its own name and links to its petition, which names its own
// candidate and constituency.
func TestBrowserCloneServesThreeSites(t *testing.T) {
	b := browsertest.Start(t)
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		tpl, _ := template(t, s)
		rows, _, err := clone.ParseCSV(strings.NewReader(threeRows))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Cloner.Run(context.Background(), tpl.Slug, rows, 0); err != nil {
			t.Fatal(err)
		}
		sites := []struct{ slug, name, candidate, constituency string }{
			{"alice", "Alice for Liège", "Alice Martin", "Liège"},
			{"bob", "Bob for Gent", "Bob Peeters", "Gent"},
			{"carol", "Carol for Namur", "Carol Dubois", "Namur"},
		}
		for _, site := range sites {
			ctx := b.Tab(t)
			if err := chromedp.Do(ctx, browsertest.Open(s.URL+"/"+site.slug+"/")); err != nil {
				t.Fatalf("%s: %v", site.slug, err)
			}
			siteTitle, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#site-title`)))
			if err != nil {
				t.Fatalf("%s home: %v", site.slug, err)
			}
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`a[href="/`+site.slug+`/petition"]`)),
				chromedp.WaitVisible(chromedp.CSS(`article.page h1`)),
			); err != nil {
				t.Fatalf("%s: open the petition: %v", site.slug, err)
			}
			heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`article.page h1`)))
			if err != nil {
				t.Fatalf("%s petition: %v", site.slug, err)
			}
			if siteTitle != site.name {
				t.Errorf("%s home: title %q, want %q", site.slug, siteTitle, site.name)
			}
			if want := site.candidate + " for " + site.constituency; heading != want {
				t.Errorf("%s petition: heading %q, want %q", site.slug, heading, want)
			}
		}
	})
}
