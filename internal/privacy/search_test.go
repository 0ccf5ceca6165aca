package privacy_test

import (
	"context"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestErasedPersonLeavesSearch checks that erasure takes the person out of
// the people search index (people_fts / search_tsv), not only the table.
func TestErasedPersonLeavesSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := setup(t, db)
		for _, q := range []string{"zqxfirst", "zqxlast", "zqxmail@zqxdomain", "0470918273"} {
			if hits, err := w.people.Search(ctx, w.n.ID, q, people.Page{}); err != nil || len(hits) != 1 || hits[0].ID != w.person {
				t.Fatalf("before erasure, Search(%q) = %+v %v", q, hits, err)
			}
		}
		if _, err := w.svc.Erase(ctx, w.n.ID, w.person, 1); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"zqxfirst", "zqxlast", "zqxmail@zqxdomain", "0470918273"} {
			if hits, err := w.people.Search(ctx, w.n.ID, q, people.Page{}); err != nil || len(hits) != 0 {
				t.Errorf("after erasure, Search(%q) = %+v %v", q, hits, err)
			}
		}
		if db.Engine == store.SQLite {
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people_fts WHERE people_fts MATCH 'zqxfirst'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("people_fts still holds the erased name: %d %v", n, err)
			}
		}
		if hits, _ := w.people.Search(ctx, w.n.ID, "other person", people.Page{}); len(hits) != 1 {
			t.Errorf("the other person is no longer found: %+v", hits)
		}
	})
}
