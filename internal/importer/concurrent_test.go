package importer

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestConcurrentBatchesKeepPeopleWhole: a file whose every person comes
// back two rows later (so across every batch boundary), plus a chain of
// rows linked only through one another (nationbuilder id → e-mail →
// mobile), imported in batches of 401. On PostgreSQL two batches are written
// at once and records sharing a key with the running batch are held back;
// the outcome must be exactly the sequential one on both engines.
func TestConcurrentBatchesKeepPeopleWhole(t *testing.T) {
	var b strings.Builder
	b.WriteString("nationbuilder_id,first_name,last_name,email,mobile_number,tag_list,primary_zip\n")
	const persons = 3000
	// The second row of a person (B) comes after the first row (A) of the
	// next one, so that every batch boundary splits some person's rows:
	// A0, A1, B0, A2, B1, …  B repeats, by turns, the e-mail (which a
	// unique index protects anyway), the nationbuilder id or the mobile
	// (which nothing but the importer keeps apart).
	second := func(k int) {
		switch k % 3 {
		case 0:
			fmt.Fprintf(&b, ",First%d,Last%d, P%d@Example.ORG ,,b,%d\n", k, k, k, 1000+k)
		case 1:
			fmt.Fprintf(&b, "%d,First%d,Last%d,,,b,%d\n", k+1, k, k, 1000+k)
		case 2:
			fmt.Fprintf(&b, ",First%d,Last%d,,0470 %02d %02d %02d,b,%d\n", k, k, k/10000, k/100%100, k%100, 1000+k)
		}
	}
	for k := range persons {
		fmt.Fprintf(&b, "%d,First%d,Last%d,p%d@example.org,+32 470 %02d %02d %02d,a,%d\n", k+1, k, k, k, k/10000, k/100%100, k%100, 1000+k)
		if k > 0 {
			second(k - 1)
		}
	}
	second(persons - 1)
	// The chain: each row matches the person only through the row before.
	b.WriteString("c1,Chain,Link,,,c1,\n")
	b.WriteString("c1,Chain,Link,chain@example.org,,c2,\n")
	b.WriteString(",Chain,Link,CHAIN@example.org,+32 471 11 22 33,c3,\n")
	b.WriteString("c2,Chain,Link,,0471 11 22 33,c4,\n")
	b.WriteString(",Chain,Link,chain@EXAMPLE.org,,c5,\n")
	// Same name and postcode as person 29, another e-mail: a proposal.
	b.WriteString(",First29,Last29,other29@example.org,,d,1029\n")

	// Every batch stays open a while before it commits, so that the next
	// one, started meanwhile, reads before it.
	testHookInBatch = func() { time.Sleep(40 * time.Millisecond) }
	defer func() { testHookInBatch = nil }()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := people.NewStore(db)
		nid := newNation(t, db, "north")
		path := writeFile(t, "people.csv", b.String())
		sum, err := Run(ctx, st, nid, path, RunOptions{BatchSize: 401}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows := 2*persons + 6
		if sum.Rows != rows || sum.Created != persons+2 || sum.Merged != persons+4 || sum.Updated != 0 || sum.Rejected != 0 {
			t.Fatalf("summary %+v, want %d rows, %d created, %d merged", sum, rows, persons+2, persons+4)
		}
		if sum.Duplicates != 1 {
			t.Errorf("duplicates proposed = %d, want 1 (same name and postcode)", sum.Duplicates)
		}
		if got := countPeople(t, db, nid); got != int64(persons+2) {
			t.Errorf("people = %d, want %d", got, persons+2)
		}
		if db.Engine == store.Postgres && sum.HeldBack == 0 {
			t.Errorf("no record was held back: the batches did not overlap")
		}
		if db.Engine == store.SQLite && sum.HeldBack != 0 {
			t.Errorf("SQLite held back %d records: its batches run one at a time", sum.HeldBack)
		}
		// Every person has both rows' tags, the chain person all five.
		var twoTags, chainTags int
		err = db.QueryRow(ctx, `SELECT count(*) FROM (SELECT person_id FROM taggings WHERE nation_id = ?
			GROUP BY person_id HAVING count(*) = 2) x`, nid).Scan(&twoTags)
		if err != nil {
			t.Fatal(err)
		}
		if twoTags != persons {
			t.Errorf("%d people with tags a and b, want %d", twoTags, persons)
		}
		err = db.QueryRow(ctx, `SELECT count(*) FROM taggings t JOIN people p ON p.nation_id = t.nation_id AND p.id = t.person_id
			WHERE t.nation_id = ? AND p.nationbuilder_id = 'c1'`, nid).Scan(&chainTags)
		if err != nil {
			t.Fatal(err)
		}
		if chainTags != 5 {
			t.Errorf("chain person has %d tags, want 5", chainTags)
		}

		again, err := Run(ctx, st, nid, path, RunOptions{BatchSize: 401}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.Created != 0 || again.Updated != 0 || again.Unchanged != rows {
			t.Errorf("re-import: %+v", again)
		}
	})
}

// TestRejectsStayInFileOrder: records held back for a later batch (their
// person is being written by the batch in flight) are written after the
// records that follow them in the file; their dropped fields must still be
// listed in file order in the rejects file, among the other batches' rejects.
func TestRejectsStayInFileOrder(t *testing.T) {
	var b strings.Builder
	b.WriteString("first_name,last_name,email,born_at,tag_list\n")
	const persons = 600
	wantLines := 0
	// Person k's second row comes after person k+1's first, with a date
	// that cannot be read; every tenth person is followed by a row with no
	// identity at all.
	row := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	for k := range persons {
		row("First%d,Last%d,p%d@example.org,1980-01-01,a\n", k, k, k)
		if k > 0 {
			row("First%d,Last%d,P%d@example.org,31/31/1980,b\n", k-1, k-1, k-1)
			wantLines++
		}
		if k%10 == 0 {
			row(",,,1980-01-01,lonely\n")
			wantLines++
		}
	}
	testHookInBatch = func() { time.Sleep(20 * time.Millisecond) }
	defer func() { testHookInBatch = nil }()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		path := writeFile(t, "people.csv", b.String())
		rejects := path + ".rejects.csv"
		sum, err := Run(ctx, people.NewStore(db), nid, path, RunOptions{BatchSize: 37, RejectsPath: rejects}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.FieldErrors != persons-1 || sum.Rejected != persons/10 {
			t.Fatalf("summary %+v, want %d dropped fields and %d rejected rows", sum, persons-1, persons/10)
		}
		if db.Engine == store.Postgres && sum.HeldBack == 0 {
			t.Errorf("no record was held back: the batches did not overlap")
		}
		lines := rejectLines(t, rejects)
		if len(lines) != wantLines {
			t.Fatalf("%d rejects listed, want %d", len(lines), wantLines)
		}
		for i := 1; i < len(lines); i++ {
			if lines[i] <= lines[i-1] {
				t.Fatalf("rejects out of file order: line %d listed after line %d (entry %d)", lines[i], lines[i-1], i)
			}
		}
	})
}

// rejectLines reads the line column of a rejects file.
func rejectLines(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(recs[0], "line")
	var lines []int
	for _, r := range recs[1:] {
		n, err := strconv.Atoi(r[col])
		if err != nil {
			t.Fatalf("line %q: %v", r[col], err)
		}
		lines = append(lines, n)
	}
	return lines
}
