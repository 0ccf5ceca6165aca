package segment

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestSignedSubscribed: signed: and subscribed: read what the pages
// feature records, scoped by nation, on both paths; signatures and
// subscriptions written as pages.Forms.Submit writes them (with the
// change-log entry in the same transaction) reach an index built before
// them; deleting a page or a topic (which records no change for its
// people) takes effect at once.
func TestSignedSubscribed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "sig")
		other := newNation(t, db, "sig-other")
		ps := pages.NewStore(db)
		a, b := newService(t, db), newService(t, db)
		check := func(filter string, want int64) {
			t.Helper()
			for _, svc := range []*Service{a, b} {
				if got := countBoth(t, svc, nid, filter); got != want {
					t.Errorf("%q: got %d, want %d", filter, got, want)
				}
			}
		}
		newPage := func(nation int64, slug string) *pages.Page {
			t.Helper()
			p := &pages.Page{NationID: nation, Slug: slug, Type: pages.TypePetition, Title: slug, Status: "published"}
			if err := ps.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		newTopic := func(nation int64, slug string) *pages.Topic {
			t.Helper()
			tp := &pages.Topic{Slug: slug}
			if err := ps.CreateTopic(ctx, nation, tp); err != nil {
				t.Fatal(err)
			}
			return tp
		}
		// The other nation's pages come first so that ids differ between
		// nations with the same slug, and collide across different slugs.
		otherPark := newPage(other, "park")
		otherNews := newTopic(other, "news")
		park, air := newPage(nid, "park"), newPage(nid, "air")
		news, local := newTopic(nid, "news"), newTopic(nid, "local")
		_ = local

		check("signed:*", 0) // builds both indexes
		check("subscribed:*", 0)
		ann := insertPerson(t, db, nid, nil)
		bob := insertPerson(t, db, nid, nil)
		stranger := insertPerson(t, db, other, nil)
		// submit writes as pages.Forms.Submit does.
		submit := func(nation int64, p *pages.Page, person int64, topics ...*pages.Topic) {
			t.Helper()
			err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO signatures (nation_id, page_id, person_id, signed_at) VALUES (?, ?, ?, 0)
					ON CONFLICT (nation_id, page_id, person_id) DO NOTHING`, nation, p.ID, person); err != nil {
					return err
				}
				for _, tp := range topics {
					if _, err := tx.Exec(ctx, `INSERT INTO topic_subscriptions (nation_id, topic_id, person_id, status, at)
						VALUES (?, ?, ?, 'subscribed', 0) ON CONFLICT (nation_id, topic_id, person_id) DO NOTHING`, nation, tp.ID, person); err != nil {
						return err
					}
				}
				return changes.Record(ctx, tx, nation, person)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		submit(nid, park, ann, news)
		submit(nid, air, bob)
		submit(nid, air, ann) // Ann signs both
		submit(other, otherPark, stranger, otherNews)
		// Rows of another nation under Ann's id (ids are per nation) must
		// not count for her.
		submit(other, otherPark, ann, otherNews)
		check("signed:park", 1)
		check("signed:air", 2)
		check("signed:*", 2)
		check("signed:nope", 0)
		check("-signed:park", 1)
		check("subscribed:news", 1)
		check("subscribed:local", 0)
		check("subscribed:*", 1)
		check("-subscribed:*", 1)

		// Unsubscribing (as the preferences page does) reaches the index.
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE topic_subscriptions SET status = 'unsubscribed' WHERE nation_id = ? AND person_id = ?`, nid, ann); err != nil {
				return err
			}
			return changes.Record(ctx, tx, nid, ann)
		}); err != nil {
			t.Fatal(err)
		}
		check("subscribed:news", 0)
		check("subscribed:*", 0)

		// Deleting a page or topic records no change per person.
		if err := ps.Delete(ctx, nid, air.ID); err != nil {
			t.Fatal(err)
		}
		check("signed:air", 0)
		check("signed:*", 1)
		air2 := newPage(nid, "air") // same slug, new page: nobody has signed it
		check("signed:air", 0)
		submit(nid, air2, bob)
		check("signed:air", 1)
		check("signed:* -signed:park", 1)
		if err := ps.DeleteTopic(ctx, nid, news.ID); err != nil {
			t.Fatal(err)
		}
		check("subscribed:news", 0)
	})
}

// TestRestrictedNeverMatches: a restricted person (GDPR Art. 18) is never
// counted, listed or exported, whatever the filter, and a restriction set
// or lifted after the index was built is seen by it.
func TestRestrictedNeverMatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "restrict")
		svc := newService(t, db)
		insertPerson(t, db, nid, map[string]any{"email_norm": "a@example.org", "gender": "f"})
		insertPerson(t, db, nid, map[string]any{"email_norm": "b@example.org", "gender": "m"})
		hidden := insertPerson(t, db, nid, map[string]any{"email_norm": "r@example.org", "gender": "f", "restricted": 1})
		filters := map[string]int64{
			"": 2, "gender:f": 1, "-gender:f": 1, "-tag:x": 2, "NOT (gender:f OR gender:m)": 0,
			"gender:f OR -gender:f": 2, "has:email": 2, "-(has:email)": 0, "donated:0": 2,
		}
		for f, want := range filters {
			if got := countBoth(t, svc, nid, f); got != want {
				t.Errorf("%q: got %d, want %d", f, got, want)
			}
		}
		list, err := svc.List(ctx, nid, "-tag:x", 100, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.ID == hidden {
				t.Errorf("List holds the restricted person")
			}
		}
		if len(list) != 2 {
			t.Errorf("List: %d people, want 2", len(list))
		}
		var buf bytes.Buffer
		n, err := svc.ExportList(ctx, nid, "", &buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || strings.Contains(buf.String(), "r@example.org") {
			t.Errorf("ExportList wrote %d people (want 2):\n%s", n, buf.String())
		}
		ids, err := svc.MatchingIDs(ctx, nid, "gender:f")
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] == hidden {
			t.Errorf("MatchingIDs: %v", ids)
		}

		// The ladder suggests no restricted person.
		if err := svc.SetRungs(ctx, nid, []Rung{{Key: "a", Name: "A"}, {Key: "b", Name: "B", Filter: "gender:f", Manual: true}}); err != nil {
			t.Fatal(err)
		}
		ready, _, _, err := svc.ReadyToMoveUp(ctx, nid, 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ready) != 1 || ready[0].ID == hidden {
			t.Errorf("ready to move up: %+v", ready)
		}

		// Lifting and setting the restriction after the index is built.
		setRestricted := func(id int64, r int) {
			t.Helper()
			if err := db.InTx(ctx, func(tx *store.Tx) error {
				if _, err := tx.Exec(ctx, `UPDATE people SET restricted = ? WHERE nation_id = ? AND id = ?`, r, nid, id); err != nil {
					return err
				}
				return changes.Record(ctx, tx, nid, id)
			}); err != nil {
				t.Fatal(err)
			}
		}
		setRestricted(hidden, 0)
		if got := countBoth(t, svc, nid, "gender:f"); got != 2 {
			t.Errorf("after lifting: gender:f %d, want 2", got)
		}
		setRestricted(hidden, 1)
		for f, want := range filters {
			if got := countBoth(t, svc, nid, f); got != want {
				t.Errorf("restricted again, %q: got %d, want %d", f, got, want)
			}
		}
	})
}

// TestEvalRestricted: the reference evaluator matches no restricted person,
// even through NOT.
func TestEvalRestricted(t *testing.T) {
	f := &Facts{Restricted: true}
	for _, text := range []string{"", "-tag:x", "NOT (gender:f)", "donated:0"} {
		if Eval(MustParse(text), f, testToday, nil) {
			t.Errorf("%q matches a restricted person", text)
		}
		if !Eval(MustParse(text), &Facts{}, testToday, nil) {
			t.Errorf("%q does not match an unrestricted person", text)
		}
	}
}
