package importer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// A multi-batch import of new people switches to the key filter after its
// first batch. Matching must stay exact: duplicates of people created by
// earlier batches, people who were in the nation before, and people another
// writer creates while the import runs (between its batches) are all found,
// whatever key matches them.
func TestImportKeyFilterMatchesEveryone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n := newNation(t, db, "filter")
		st := people.NewStore(db)
		// Before the import: someone known by e-mail, someone by NationBuilder id.
		for _, r := range []people.Record{
			{FirstName: "Old", Emails: []string{"old@example.org"}},
			{FirstName: "Nb", NationBuilderID: "9001"},
		} {
			if _, err := st.Upsert(ctx, n, r, people.Source{Kind: "staff"}, people.UpsertOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var b strings.Builder
		b.WriteString("nationbuilder_id,first_name,email,mobile_number\n")
		for i := range 40 { // 40 new people: batches of 8, all new at first
			fmt.Fprintf(&b, "%d,P%d,p%d@example.org,\n", 100+i, i, i)
		}
		b.WriteString(",Again,P3@EXAMPLE.org,\n")        // an earlier batch's person, by e-mail
		b.WriteString("105,Again,,\n")                   // by NationBuilder id
		b.WriteString(",Known,old@example.org,\n")       // in the nation before the import
		b.WriteString("9001,Known,,\n")                  // idem, by NationBuilder id
		b.WriteString(",Concurrent,late@example.org,\n") // created by another writer mid-import
		b.WriteString(",Phone,,+32 470 99 88 77\n")      // idem, by mobile
		path := writeFile(t, "people.csv", b.String())

		batches := 0
		progress := func(Progress) {
			batches++
			if batches == 3 { // after the filter was built
				for _, r := range []people.Record{
					{FirstName: "Late", Emails: []string{"late@example.org"}},
					{FirstName: "Mobile", Mobile: "+32470998877"},
				} {
					if _, err := st.Upsert(ctx, n, r, people.Source{Kind: "form"}, people.UpsertOptions{}); err != nil {
						t.Error(err)
					}
				}
			}
		}
		sum, err := Run(ctx, st, n, path, RunOptions{BatchSize: 8}, progress)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Created != 40 || sum.Merged != 2 || sum.Rejected != 0 || sum.Created+sum.Merged+sum.Updated+sum.Unchanged != 46 {
			t.Fatalf("summary %+v: want 40 created, 2 merged, 4 matched", sum)
		}
		if got := countPeople(t, db, n); got != 44 {
			t.Fatalf("%d people, want 44 (2 before, 40 imported, 2 concurrent)", got)
		}
		again, err := Run(ctx, st, n, path, RunOptions{BatchSize: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.Created != 0 {
			t.Fatalf("re-import created %d", again.Created)
		}
	})
}
