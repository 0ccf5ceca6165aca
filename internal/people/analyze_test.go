package people_test

import (
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestRefreshStatistics: on PostgreSQL the planner has statistics of the
// look-up columns afterwards (the column list is checked by the server);
// on SQLite it is a no-op that leaves no sqlite_stat1 behind.
func TestRefreshStatistics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "stats", "BE")
		upsert(t, s, n, []people.Record{
			{NationBuilderID: "1", FirstName: "Ann", Emails: []string{"ann@example.org"}},
			{NationBuilderID: "2", FirstName: "Bob", Emails: []string{"bob@example.org"}},
		}, people.UpsertOptions{})
		if err := s.RefreshStatistics(ctx); err != nil {
			t.Fatal(err)
		}
		if db.Engine == store.Postgres {
			if c := count(t, db, `SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()
				AND tablename = 'people' AND attname = 'nationbuilder_id'`); c != 1 {
				t.Errorf("statistics of people.nationbuilder_id: %d rows, want 1", c)
			}
			return
		}
		if c := count(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'`); c != 0 {
			t.Errorf("SQLite got statistics tables")
		}
	})
}
