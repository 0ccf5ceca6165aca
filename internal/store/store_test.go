package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func TestMigrationsArePaired(t *testing.T) {
	lite, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := store.Migrations(store.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
		if lite[i].Version != i+1 {
			t.Errorf("migration %s numbered %d, want %d (no gaps)", lite[i].Name, lite[i].Version, i+1)
		}
	}
}

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT ?", "SELECT $1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{`"odd?" = ? -- why?` + "\n AND ?", `"odd?" = $1 -- why?` + "\n AND $2"},
	}
	for _, tt := range tests {
		db := &store.DB{Engine: store.Postgres}
		if got := db.Rebind(tt.in); got != tt.want {
			t.Errorf("Rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		lite := &store.DB{Engine: store.SQLite}
		if got := lite.Rebind(tt.in); got != tt.in {
			t.Errorf("sqlite Rebind changed %q to %q", tt.in, got)
		}
	}
}

func TestMigrateTwiceAndNationKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n, err := db.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("second migrate applied %d migrations", n)
		}
		if err := db.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// Every table that has a nation_id column must lead its primary key with it.
func TestNationIDLeadsPrimaryKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var q string
		if db.Engine == store.SQLite {
			q = `SELECT m.name, p.name, p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p
			     WHERE m.type = 'table' AND p.pk > 0 ORDER BY m.name, p.pk`
		} else {
			q = `SELECT tc.table_name, kcu.column_name, kcu.ordinal_position
			     FROM information_schema.table_constraints tc
			     JOIN information_schema.key_column_usage kcu
			       ON tc.constraint_name = kcu.constraint_name AND tc.table_schema = kcu.table_schema
			     WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
			     ORDER BY tc.table_name, kcu.ordinal_position`
		}
		rows, err := db.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		first := map[string]string{}
		for rows.Next() {
			var table, col string
			var pos int
			if err := rows.Scan(&table, &col, &pos); err != nil {
				t.Fatal(err)
			}
			if pos == 1 {
				first[table] = col
			}
		}
		cols, err := db.Query(ctx, nationColumnsQuery(db.Engine))
		if err != nil {
			t.Fatal(err)
		}
		defer cols.Close()
		checked := 0
		for cols.Next() {
			var table string
			if err := cols.Scan(&table); err != nil {
				t.Fatal(err)
			}
			checked++
			if first[table] != "nation_id" {
				t.Errorf("table %s has nation_id but its primary key starts with %q", table, first[table])
			}
		}
		if checked == 0 {
			t.Fatal("no table with nation_id found")
		}
	})
}

func nationColumnsQuery(e store.Engine) string {
	if e == store.SQLite {
		// Virtual tables (FTS5 people_fts) have no primary key; their rowid
		// leads with the nation instead (see 0014_people_search.sql).
		return `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		        WHERE m.type = 'table' AND p.name = 'nation_id' AND m.sql NOT LIKE 'CREATE VIRTUAL TABLE%'`
	}
	return `SELECT table_name FROM information_schema.columns
	        WHERE table_schema = current_schema() AND column_name = 'nation_id'`
}

func TestNextIDUniqueUnderConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					id, err := db.NextID(ctx, 1, "things")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if seen[id] {
						t.Errorf("id %d handed out twice", id)
					}
					seen[id] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		// A transaction's id never collides with cached ones.
		err := db.InTx(ctx, func(tx *store.Tx) error {
			id, err := tx.NextID(ctx, 1, "things")
			if seen[id] {
				t.Errorf("tx id %d already handed out", id)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 400 {
			t.Fatalf("got %d ids, want 400", len(seen))
		}
	})
}

func TestUniqueViolationDetected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ins := `INSERT INTO nations (id, slug, name, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`
		if _, err := db.Exec(ctx, ins, 1, "a", "A"); err != nil {
			t.Fatal(err)
		}
		_, err := db.Exec(ctx, ins, 2, "a", "A again")
		if !store.IsUniqueViolation(err) {
			t.Fatalf("want a unique violation, got %v", err)
		}
	})
}
