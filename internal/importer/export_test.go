package importer

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestExportStreamsAsGet checks the one-query streaming export against the
// profile reads (people.Store.Get and CurrentConsents, the reference) over
// a few thousand varied people: every row must be the same, in id order,
// and another nation's people and merged-away people must not appear.
func TestExportStreamsAsGet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		other := newNation(t, db, "south")
		st := people.NewStore(db)
		const n = 3000
		var recs []people.Record
		for i := range n {
			r := people.Record{
				NationBuilderID: fmt.Sprint(1000 + i),
				FirstName:       fmt.Sprintf("First%d", i), LastName: []string{"Dupont", "Peeters", "Élise", ""}[i%4],
				Emails: []string{fmt.Sprintf("p%d@example.org", i)},
				Tags:   []string{[]string{"pensions", "Climate", "zèbre", "a, b"}[i%4]},
				Home:   people.Address{Line1: fmt.Sprintf("Rue %d", i), City: "Liège", Postcode: "4000", Country: "BE"},
			}
			if i%3 == 0 {
				r.Emails = append(r.Emails, fmt.Sprintf("z%d@example.org", i), fmt.Sprintf("a%d@example.org", i))
				r.Tags = append(r.Tags, "member", "Ärger")
				r.Mailing = people.Address{Line1: "PO Box 1", City: "Namur", Postcode: "5000", Country: "BE"}
			}
			if i%5 == 0 {
				r.Mobile = fmt.Sprintf("+32470%06d", i)
				r.Consents = []people.ConsentInput{{Channel: "email", Granted: i%10 == 0, Basis: "consent"}, {Channel: "sms", Granted: true, Basis: "consent"}}
				r.Work_ = people.Address{City: "Brussels", Country: "BE"}
				lat, lng := 50.6+float64(i)/1e5, 5.57
				r.Home.Lat, r.Home.Lng = &lat, &lng
				r.SupportLevel = "2"
				r.Gender = "f"
				r.BirthDate = "1980-05-17"
			}
			recs = append(recs, r)
		}
		for off := 0; off < n; off += 1000 {
			if _, err := st.UpsertBatch(ctx, nid, recs[off:off+1000], nil, people.UpsertOptions{Source: people.Source{Kind: "import", Ref: "t.csv"}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Upsert(ctx, other, people.Record{FirstName: "Elsewhere", Emails: []string{"else@example.org"}}, people.Source{Kind: "import"}, people.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
		// A merged-away person leaves the export.
		ids := liveIDs(t, db, nid)
		if _, err := st.Merge(ctx, nid, ids[0], ids[1], 0); err != nil {
			t.Fatal(err)
		}
		ids = liveIDs(t, db, nid)

		var want [][]string
		want = append(want, ExportColumns())
		for _, id := range ids {
			p, err := st.Get(ctx, nid, id)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := st.CurrentConsents(ctx, nid, id)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, exportRow(p, cs))
		}
		var buf bytes.Buffer
		count, err := Export(ctx, db, nid, &buf, ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		text := buf.String()
		got, err := csv.NewReader(strings.NewReader(text)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if count != len(ids) || len(got) != len(want) {
			t.Fatalf("exported %d people, %d rows; want %d", count, len(got)-1, len(ids))
		}
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("row %d:\n got  %q\n want %q", i, got[i], want[i])
			}
		}
		// Spot checks that the reference itself holds what was imported.
		if !strings.Contains(text, "Élise") || !strings.Contains(text, "member, pensions, Ärger") || strings.Contains(text, "Elsewhere") {
			t.Errorf("export content wrong")
		}

		// A condition narrows the export (as a compiled filter does).
		buf.Reset()
		count, err = Export(ctx, db, nid, &buf, ExportOptions{Format: "json",
			Where: "p.nation_id = ? AND p.merged_into = 0 AND p.mobile <> ''", Args: []any{nid}})
		if err != nil || count != n/5 {
			t.Errorf("filtered export: %d %v, want %d", count, err, n/5)
		}
	})
}

func liveIDs(t *testing.T, db *store.DB, nid int64) []int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id FROM people WHERE nation_id = ? AND merged_into = 0 ORDER BY id`, nid)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// TestExportLeavesOutRestricted: a person whose processing is restricted
// (GDPR Art. 18) is in no bulk export, with or without a condition (their
// own copy is `muster person export`, which does not come through here).
func TestExportLeavesOutRestricted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "art18")
		for i, email := range []string{"a@example.org", "b@example.org", "hidden@example.org"} {
			id, err := db.NextID(ctx, nid, "people")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `INSERT INTO people (nation_id, id, email, email_norm, restricted, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, 0, 0)`, nid, id, email, email, store.Bool(i == 2)); err != nil {
				t.Fatal(err)
			}
		}
		for _, opts := range []ExportOptions{{}, {Format: "json", Where: "p.nation_id = ? AND p.merged_into = 0", Args: []any{nid}}} {
			var buf bytes.Buffer
			count, err := Export(ctx, db, nid, &buf, opts)
			if err != nil {
				t.Fatal(err)
			}
			if count != 2 || strings.Contains(buf.String(), "hidden@example.org") || !strings.Contains(buf.String(), "b@example.org") {
				t.Errorf("export %+v: %d people:\n%s", opts, count, buf.String())
			}
		}
	})
}
