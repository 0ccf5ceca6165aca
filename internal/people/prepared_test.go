package people_test

import (
	"slices"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// A batch normalised ahead (PrepareBatch, as the importer's reader does
// while the previous batch writes) writes exactly what UpsertBatch would;
// writing it does not alter it (a retried transaction starts again from
// the same values), and options that changed since it was prepared win.
func TestUpsertPrepared(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n1 := newNation(t, db, "prep-one", "BE")
		n2 := newNation(t, db, "prep-two", "BE")
		recs := []people.Record{
			{FirstName: "Anne", LastName: "Dupont", Emails: []string{"anne@example.org"}, Mobile: "0470 12 34 56", SupportLevel: "2"},
			{FirstName: "Bart", Emails: []string{" ANNE@example.org "}}, // the same person: conflicting name kept
		}
		opt := people.UpsertOptions{Source: people.Source{Kind: "import", Ref: "x.csv"}, Tags: []string{"early"}}
		prep, err := s.PrepareBatch(ctx, n1, recs, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, nid := range []int64{n1, n2} {
			res, err := s.UpsertPrepared(ctx, nid, prep, nil, opt)
			if err != nil {
				t.Fatal(err)
			}
			sameOutcomes(t, res, people.Created, people.Unchanged)
			p, err := s.Get(ctx, nid, res[0].PersonID)
			if err != nil {
				t.Fatal(err)
			}
			if p.SupportLevel != 2 || p.Mobile.E164 != "+32470123456" || !slices.Equal(p.Tags, []string{"early"}) {
				t.Fatalf("nation %d: person = support %d, mobile %q, tags %q", nid, p.SupportLevel, p.Mobile.E164, p.Tags)
			}
		}
		// Written again: nothing new.
		res, err := s.UpsertPrepared(ctx, n1, prep, nil, opt)
		if err != nil {
			t.Fatal(err)
		}
		sameOutcomes(t, res, people.Unchanged, people.Unchanged)
		// Other extra tags than when prepared: the records are normalised again.
		later := opt
		later.Tags = []string{"late"}
		res, err = s.UpsertPrepared(ctx, n1, prep, nil, later)
		if err != nil {
			t.Fatal(err)
		}
		sameOutcomes(t, res, people.Updated, people.Unchanged)
		p, err := s.Get(ctx, n1, res[0].PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Tags, []string{"early", "late"}) {
			t.Fatalf("tags = %q", p.Tags)
		}
	})
}
