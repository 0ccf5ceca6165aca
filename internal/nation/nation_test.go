package nation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestDeleteEmptyClearsPersonTables: the tables that lost their foreign key
// to nations on PostgreSQL (migration 0017) are cleared by DeleteEmpty
// itself, and a nation with people is never deleted.
func TestDeleteEmptyClearsPersonTables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := nation.NewStore(db)
		empty, err := st.Create(ctx, nation.NewNation{Slug: "empty", Name: "Empty", Country: "BE"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := st.Create(ctx, nation.NewNation{Slug: "other", Name: "Other", Country: "BE"})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{empty.ID, other.ID} {
			if err := db.InTx(ctx, func(tx *store.Tx) error { return changes.Record(ctx, tx, n, 7) }); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.Exec(ctx, `INSERT INTO people (nation_id, id, created_at, updated_at) VALUES (?, 1, 0, 0)`, other.ID); err != nil {
			t.Fatal(err)
		}

		if err := st.DeleteEmpty(ctx, empty.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteEmpty(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ByID(ctx, empty.ID); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("empty nation after DeleteEmpty: err = %v, want not found", err)
		}
		if _, err := st.ByID(ctx, other.ID); err != nil {
			t.Errorf("nation with people was deleted: %v", err)
		}
		count := func(n int64) int {
			var c int
			if err := db.QueryRow(ctx, `SELECT count(*) FROM people_changes WHERE nation_id = ?`, n).Scan(&c); err != nil {
				t.Fatal(err)
			}
			return c
		}
		if c := count(empty.ID); c != 0 {
			t.Errorf("deleted nation keeps %d change-log rows", c)
		}
		if c := count(other.ID); c != 1 {
			t.Errorf("other nation's change log: %d rows, want 1", c)
		}
	})
}
