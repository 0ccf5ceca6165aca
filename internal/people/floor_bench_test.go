package people

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// BenchmarkWriteFloor writes, for new people, only the rows a first import
// writes for each of them: the people row (with its indexes and its
// full-text entry), the e-mail, two taggings, the 'imported' timeline entry,
// the e-mail consent and the change-log entry. No file is read, nothing is
// normalised, looked up or matched, and the rows are made beforehand: it is
// the least an import of new people can cost with this schema, the floor
// under `muster bench import`. Batches are written as the importer writes
// them: one transaction of 5,000 people each, two at a time on PostgreSQL
// (Store.ConcurrentBatches).
//
// The "keys-only" variants drop, before writing, every index of those
// tables but their primary keys, and the full-text search: what the rows
// cost with nothing but the uniqueness the data needs.
//
// One iteration is one batch; -benchtime 200x writes a million people, the
// size of the import target (indexes grow, so the cost per person grows with
// them):
//
//	./test.sh -run '^$' -bench WriteFloor -benchtime 200x ./internal/people/
func BenchmarkWriteFloor(b *testing.B) {
	for _, e := range storetest.Engines(b) {
		for _, keysOnly := range []bool{false, true} {
			name := string(e)
			if keysOnly {
				name += "-keys-only"
			}
			b.Run(name, func(b *testing.B) { benchWriteFloor(b, e, keysOnly) })
		}
	}
}

func benchWriteFloor(b *testing.B, e store.Engine, keysOnly bool) {
	const size = 5000
	ctx := context.Background()
	db := storetest.Open(b, e)
	if keysOnly {
		dropAllButKeys(b, db)
	}
	nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "floor", Name: "Floor", Country: "BE"})
	if err != nil {
		b.Fatal(err)
	}
	writers := NewStore(db).ConcurrentBatches()
	batches := make([]*floorBatch, writers)
	for i := range batches {
		batches[i] = newFloorBatch(nat.ID, size)
	}
	var next atomic.Int64 // the next batch to write
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	b.ResetTimer()
	start := time.Now()
	for _, fb := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := next.Add(1) - 1
				if k >= int64(b.N) {
					return
				}
				fb.fill(k*size+1, k+1)
				if err := db.InTx(ctx, fb.write); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errc)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*size), "ns/person")
	b.ReportMetric(elapsed.Seconds()/float64(b.N*size)*1e6, "s/million-people")
}

// floorTables are the tables an import writes for a new person.
var floorTables = []string{"people", "person_emails", "taggings", "activities", "consents", "people_changes"}

// dropAllButKeys drops the secondary indexes of floorTables and the
// full-text search of people.
func dropAllButKeys(b *testing.B, db *store.DB) {
	ctx := context.Background()
	list := `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?, ?, ?, ?, ?)`
	search := `DROP TRIGGER people_fts_insert`
	if db.Engine == store.Postgres {
		list = `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN (?, ?, ?, ?, ?, ?)
			AND indexname NOT LIKE '%\_pkey'`
		search = `ALTER TABLE people DROP COLUMN search_tsv`
	}
	args := make([]any, len(floorTables))
	for i, t := range floorTables {
		args[i] = t
	}
	rows, err := db.Query(ctx, list, args...)
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			b.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	if len(names) < 5 {
		b.Fatalf("only %d secondary indexes found: %v", len(names), names)
	}
	b.Logf("dropping the search index and %d indexes: %v", len(names), names)
	for i := range names {
		names[i] = "DROP INDEX " + names[i]
	}
	for _, q := range append(names, search) {
		if _, err := db.Exec(ctx, q); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
}

// floorBatch holds one batch's rows, made once and renumbered for each batch
// (fill), so that making rows costs the benchmark next to nothing.
type floorBatch struct {
	ppl, emails, tags, acts, cons, changed [][]any
}

var floorPeopleCols = []string{"nation_id", "id", "first_name", "last_name", "email", "email_norm", "mobile", "mobile_e164",
	"birth_date", "gender", "home_line1", "home_city", "home_postcode", "home_country", "home_lat", "home_lng",
	"support_level_enc", "nationbuilder_id", "name_key", "created_at", "updated_at", "last_activity_at"}

func newFloorBatch(nationID int64, size int) *floorBatch {
	now := time.Now().UnixMilli()
	fb := &floorBatch{}
	for range size {
		fb.ppl = append(fb.ppl, []any{nationID, int64(0), "", "", "", "", "+32 470 00 00 00", "",
			"1980-01-01", "f", "Rue 1", "Gent", "", "BE", 50.5, 4.3, "", "", "", now, now, now})
		fb.emails = append(fb.emails, []any{nationID, "", int64(0), "", 1, now})
		fb.tags = append(fb.tags, []any{nationID, int64(0), int64(0), now}, []any{nationID, int64(0), int64(0), now})
		fb.acts = append(fb.acts, []any{nationID, int64(0), int64(0), "imported", "import", "floor.csv", 0, 0,
			"first_name,last_name,email,mobile,birth_date,gender,home,support_level,nationbuilder_id,tags", "", now})
		fb.cons = append(fb.cons, []any{nationID, int64(0), int64(0), "email", "granted", "consent", "", "import", "floor.csv", 0, 0, "", now})
		fb.changed = append(fb.changed, []any{nationID, int64(0), int64(0), now})
	}
	return fb
}

// fill numbers the batch's people from first on, with values derived from
// the id as `muster bench import` generates them (cmd/muster/bench.go), so
// that the indexes see the same order of keys; seq is the batch's
// change-log number.
func (fb *floorBatch) fill(first, seq int64) {
	for i, p := range fb.ppl {
		id := first + int64(i)
		s := strconv.FormatInt(id, 10)
		email := "person" + s + "@example.org"
		zip := strconv.FormatInt(1000+id*7919%9000, 10)
		name := "Fi" + strconv.FormatInt(id*31%3000, 10)
		last := "La" + strconv.FormatInt((id*17+id/3000)%8000, 10)
		p[1], p[2], p[3], p[4], p[5] = id, name, last, email, email
		p[7], p[12], p[16], p[17], p[18] = "+3247"+strconv.FormatInt(10000000+id, 10)[1:], zip, "sealed-"+strconv.FormatInt(id%5, 10), s, name+"|"+last+"|"+zip
		e := fb.emails[i]
		e[1], e[2], e[3] = email, id, email
		t1 := id % 20
		t2 := (t1 + 1 + (id/20)%19) % 20 // never t1
		fb.tags[2*i][1], fb.tags[2*i][2] = id, 1+t1
		fb.tags[2*i+1][1], fb.tags[2*i+1][2] = id, 1+t2
		fb.acts[i][1], fb.acts[i][2], fb.acts[i][6] = id, id, int(id)+1
		fb.cons[i][1], fb.cons[i][2], fb.cons[i][9] = id, id, int(id)+1
		fb.changed[i][1], fb.changed[i][2] = seq, id
	}
}

func (fb *floorBatch) write(tx *store.Tx) error {
	ctx := context.Background()
	if tx.Engine() == store.SQLite { // the importer's bulk page cache (upsertBatch)
		if _, err := tx.Exec(ctx, `PRAGMA cache_size = -65536`); err != nil {
			return err
		}
	}
	for _, w := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"people", floorPeopleCols, fb.ppl},
		{"person_emails", []string{"nation_id", "email_norm", "person_id", "email", "is_primary", "created_at"}, fb.emails},
		{"taggings", []string{"nation_id", "person_id", "tag_id", "created_at"}, fb.tags},
		{"activities", activityCols, fb.acts},
		{"consents", consentCols, fb.cons},
		{"people_changes", []string{"nation_id", "seq", "person_id", "at"}, fb.changed},
	} {
		if err := insertRows(ctx, tx, w.table, w.cols, w.rows, ""); err != nil {
			return err
		}
	}
	return nil
}
