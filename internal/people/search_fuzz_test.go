package people_test

import (
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// FuzzSearch runs arbitrary queries through the real engines: whatever the
// user types, the FTS5 MATCH and tsquery texts MatchCondition builds must
// be valid (an error would be a 500 in the control panel), the person
// whose first name is the query's first word must still be found, and the
// statement must bind every argument.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{"ana", "José muñ", `"ana"* OR`, "ana.lopez@ex", "0470 12 34 56", "x') OR 1=1 --", "NEAR(a b)", "a:* & !b", "日本語", "-", ""} {
		f.Add(s)
	}
	var stores []*people.Store
	var nations []int64
	for _, e := range storetest.Engines(f) {
		db := storetest.Open(f, e)
		s := people.NewStore(db)
		nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "be", Name: "be", Country: "BE"})
		if err != nil {
			f.Fatal(err)
		}
		n := nat.ID
		if _, err := s.UpsertBatch(ctx, n, []people.Record{{FirstName: "Ana", LastName: "Lopez", Emails: []string{"ana.lopez@example.org"}}},
			nil, people.UpsertOptions{Source: people.Source{Kind: "import", Ref: "fuzz"}}); err != nil {
			f.Fatal(err)
		}
		stores, nations = append(stores, s), append(nations, n)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for i, s := range stores {
			if _, err := s.Search(ctx, nations[i], q, people.Page{}); err != nil {
				t.Fatalf("Search(%q): %v", q, err)
			}
			if hits, err := s.Search(ctx, nations[i], "ana "+q+" ", people.Page{}); err != nil {
				t.Fatalf("Search(ana %q): %v", q, err)
			} else if strings.TrimSpace(q) == "" && len(hits) != 1 {
				t.Fatalf("Search(ana) = %d hits", len(hits))
			}
		}
		cond, args := people.MatchCondition(store.SQLite, 1, q)
		if strings.Count(cond, "?") != len(args) {
			t.Fatalf("%d placeholders, %d args", strings.Count(cond, "?"), len(args))
		}
	})
}
