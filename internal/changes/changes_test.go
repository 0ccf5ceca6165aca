package changes_test

import (
	"context"
	"testing"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestRecordManyPeople: a change of more people than one statement holds
// (200 + 32 + 1 on SQLite, one array on PostgreSQL) records each person
// once, under one sequence number, in the nation's log only.
func TestRecordManyPeople(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ns := nation.NewStore(db)
		a, err := ns.Create(ctx, nation.NewNation{Slug: "north", Name: "North", Country: "BE"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ns.Create(ctx, nation.NewNation{Slug: "south", Name: "South", Country: "BE"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for i := int64(1); i <= 233; i++ {
			ids = append(ids, i, i) // each twice: recorded once
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { return changes.Record(ctx, tx, a.ID, ids...) }); err != nil {
			t.Fatal(err)
		}
		var rows, people, seqs int
		var low, high int64
		err = db.QueryRow(ctx, `SELECT count(*), count(DISTINCT person_id), count(DISTINCT seq), min(person_id), max(person_id)
			FROM people_changes WHERE nation_id = ?`, a.ID).Scan(&rows, &people, &seqs, &low, &high)
		if err != nil {
			t.Fatal(err)
		}
		if rows != 233 || people != 233 || seqs != 1 || low != 1 || high != 233 {
			t.Errorf("recorded %d rows, %d people, %d sequence numbers, ids %d–%d; want 233, 233, 1, 1–233", rows, people, seqs, low, high)
		}
		var other int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM people_changes WHERE nation_id = ?`, b.ID).Scan(&other); err != nil {
			t.Fatal(err)
		}
		if other != 0 {
			t.Errorf("other nation has %d change rows", other)
		}
	})
}
