package peopleweb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/browsertest"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/storetest"
)

// An organizer signs in, opens People from the navigation, searches for a
// person, opens the profile, adds a tag and sees it there — in Chromium.
func TestBrowserSearchOpenAndTag(t *testing.T) {
	b := browsertest.Start(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			s := servertest.New(t, engine)
			n := s.CreateNation("ghent")
			s.CreateUser("organizer@example.org", n, auth.RoleOrganizer)
			ps := people.NewStore(s.DB)
			var id int64
			for _, r := range []people.Record{
				{FirstName: "Lotte", LastName: "Vermeulen", Emails: []string{"lotte@example.org"}},
				{FirstName: "Pieter", LastName: "Janssens", Emails: []string{"pieter@example.org"}},
			} {
				res, err := ps.Upsert(context.Background(), n.ID, r, people.Source{Kind: "import", Ref: "seed.csv"}, people.UpsertOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if r.FirstName == "Lotte" {
					id = res.PersonID
				}
			}

			ctx := b.Tab(t)
			consoleErrors := browsertest.ConsoleErrors(ctx)
			err := chromedp.Do(ctx,
				browsertest.Open(s.URL+"/admin/login?lang=en"),
				chromedp.SendKeys(chromedp.CSS(`#f-email`), "organizer@example.org"),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), servertest.Password),
				chromedp.Click(chromedp.CSS(`main button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`a[href="/admin/ghent/"]`)),
				browsertest.Open(s.URL+"/admin/ghent/"),
				chromedp.Click(chromedp.CSS(`nav.admin-nav a[href="/admin/ghent/people"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#q`)),
				chromedp.SendKeys(chromedp.CSS(`#q`), "verm"),
				chromedp.Click(chromedp.CSS(`form[role=search] button`)),
				chromedp.WaitVisible(chromedp.CSS(`table#people[data-query="verm"]`)),
			)
			if err != nil {
				t.Fatalf("sign in and search: %v", err)
			}
			rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`table#people tbody`)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rows, "Lotte Vermeulen") || strings.Contains(rows, "Pieter") {
				t.Fatalf("search results = %q, want Lotte only", rows)
			}

			profile := fmt.Sprintf("/admin/ghent/people/%d", id)
			err = chromedp.Do(ctx,
				chromedp.Click(chromedp.CSS(`table#people a[href="`+profile+`"]`)),
				chromedp.WaitVisible(chromedp.CSS(`#f-tag`)),
				chromedp.SendKeys(chromedp.CSS(`#f-tag`), "Door-knocking volunteer"),
				chromedp.Click(chromedp.CSS(`form[action="`+profile+`/tags"] button`)),
				chromedp.WaitVisible(chromedp.CSS(`ul.tags`)),
			)
			if err != nil {
				t.Fatalf("open profile and tag: %v", err)
			}
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			if !strings.Contains(loc, profile) {
				t.Errorf("after tagging the browser is at %s", loc)
			}
			tags, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`ul.tags`)))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tags, "Door-knocking volunteer") {
				t.Errorf("profile tags = %q", tags)
			}
			if p, err := ps.Get(context.Background(), n.ID, id); err != nil || !slices.Contains(p.Tags, "Door-knocking volunteer") {
				t.Errorf("stored tags = %v (%v)", p.Tags, err)
			}
			if errs := consoleErrors(); len(errs) != 0 {
				t.Errorf("console errors: %q", errs)
			}
		})
	}
}
