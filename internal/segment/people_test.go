package segment

import (
	"context"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestPeopleStoreWritesReachIndex: writes through the people store (batch
// upsert, consent, merge, undo) are in the change log, so an index built
// before them counts them, in this process and in another.
func TestPeopleStoreWritesReachIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "ppl")
		ps := people.NewStore(db)
		a, b := newService(t, db), newService(t, db)
		check := func(filter string, want int64) {
			t.Helper()
			for _, svc := range []*Service{a, b} {
				if got := countBoth(t, svc, nid, filter); got != want {
					t.Errorf("%q: got %d, want %d", filter, got, want)
				}
			}
		}
		check("tag:pensions", 0) // builds both indexes
		src := people.Source{Kind: "staff"}
		res, err := ps.UpsertBatch(ctx, nid, []people.Record{
			{FirstName: "Ann", Emails: []string{"ann@example.org"}, Tags: []string{"Pensions"}, BirthDate: "1970-01-01"},
			{FirstName: "Bob", Emails: []string{"bob@example.org"}, Tags: []string{"pensions", "member"}},
		}, []people.Source{src, src}, people.UpsertOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check("tag:pensions", 2)
		check("tag:pensions -tag:member age:50..", 1)
		if _, err := ps.RecordConsent(ctx, nid, res[0].PersonID, people.ConsentInput{Channel: "email", Granted: true, Basis: "consent"}, src); err != nil {
			t.Fatal(err)
		}
		check("consent:email", 1)
		mergeID, err := ps.Merge(ctx, nid, res[0].PersonID, res[1].PersonID, 0)
		if err != nil {
			t.Fatal(err)
		}
		check("tag:pensions", 1)
		check("tag:member consent:email", 1)
		if err := ps.UndoMerge(ctx, nid, mergeID, 0); err != nil {
			t.Fatal(err)
		}
		check("tag:pensions", 2)
		check("tag:member consent:email", 0)
	})
}
