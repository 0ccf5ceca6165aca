package importer

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func newNation(t *testing.T, db *store.DB, slug string) int64 {
	t.Helper()
	n, err := nation.NewStore(db).Create(context.Background(), nation.NewNation{Slug: slug, Name: slug, Country: "BE"})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func countPeople(t *testing.T, db *store.DB, nationID int64) int64 {
	t.Helper()
	c, err := nation.NewStore(db).CountsOf(context.Background(), nationID)
	if err != nil {
		t.Fatal(err)
	}
	return c.People
}

// The file has 7 data rows: 4 distinct people, 2 duplicates of them (one
// in a later batch), and 1 row with no identity.
const peopleCSV = `nationbuilder_id,first_name,last_name,email,mobile_number,tag_list,email_opt_in,born_at
,Anne,Dupont,anne@example.org,,"a, b",true,1980-05-17
,Bart,Peeters,bart@example.org,0470 12 34 56,b,false,
,Chloé,Martin,chloe@example.org,,,,
, ANNE ,Dupont, Anne@Example.org ,,c,,
,,,,,,,
,Dirk,Janssens,dirk@example.org,,,,not-a-date
,,,,,d,,
,Bart,Peeters,BART@example.org,,e,,
`

func TestRunImportAndReimport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := people.NewStore(db)
		nid := newNation(t, db, "north")
		path := writeFile(t, "people.csv", peopleCSV)
		var progress []Progress
		sum, err := Run(ctx, st, nid, path, RunOptions{BatchSize: 3, Options: Options{Tags: []string{"imported"}}},
			func(p Progress) { progress = append(progress, p) })
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != 7 || sum.Created != 4 || sum.Merged != 2 || sum.Rejected != 1 || sum.Updated != 0 || sum.Unchanged != 0 {
			t.Fatalf("first pass: %+v", sum)
		}
		if sum.Format != FormatNationBuilder || len(progress) != 3 || progress[2].Rows != 7 {
			t.Errorf("format %s, progress %+v", sum.Format, progress)
		}
		if got := countPeople(t, db, nid); got != 4 {
			t.Errorf("people = %d", got)
		}
		if sum.FieldErrors != 1 {
			t.Errorf("field errors = %d", sum.FieldErrors)
		}
		// The rejects file lists the row without identity (line 8) and the
		// bad date (line 7) with the file's own columns.
		if sum.RejectsFile != strings.TrimSuffix(path, ".csv")+".rejects.csv" {
			t.Fatalf("rejects file = %q", sum.RejectsFile)
		}
		f, err := os.Open(sum.RejectsFile)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || !slices.Equal(recs[0][len(recs[0])-2:], []string{"line", "reason"}) {
			t.Fatalf("rejects = %q", recs)
		}
		lines := []string{recs[1][len(recs[1])-2], recs[2][len(recs[2])-2]}
		slices.Sort(lines)
		if !slices.Equal(lines, []string{"7", "8"}) {
			t.Errorf("reject lines = %v (%q)", lines, recs)
		}
		for _, r := range recs[1:] {
			if r[len(r)-2] == "7" && (r[1] != "Dirk" || !strings.Contains(r[len(r)-1], "field dropped")) {
				t.Errorf("date reject = %q", r)
			}
			if r[len(r)-2] == "8" && (r[5] != "d" || !strings.Contains(r[len(r)-1], "row rejected")) {
				t.Errorf("identity reject = %q", r)
			}
		}

		// Tags are unioned across the duplicate rows; the consent is in the ledger.
		found, err := st.Search(ctx, nid, "anne@example.org", people.Page{})
		if err != nil || len(found) != 1 {
			t.Fatalf("search anne: %v %v", found, err)
		}
		anne, err := st.Get(ctx, nid, found[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(anne.Tags, []string{"a", "b", "c", "imported"}) {
			t.Errorf("anne tags = %q", anne.Tags)
		}
		cs, err := st.CurrentConsents(ctx, nid, anne.ID)
		if err != nil || !cs["email"].Granted() || cs["email"].Source.Kind != "import" {
			t.Errorf("anne consents = %+v %v", cs, err)
		}

		// Re-import: nobody new, nothing changed.
		again, err := Run(ctx, st, nid, path, RunOptions{BatchSize: 3, Options: Options{Tags: []string{"imported"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.Rows != 7 || again.Created != 0 || again.Updated != 0 || again.Merged != 0 || again.Unchanged != 6 || again.Rejected != 1 {
			t.Errorf("re-import: %+v", again)
		}
		if got := countPeople(t, db, nid); got != 4 {
			t.Errorf("people after re-import = %d", got)
		}
	})
}

func TestRunDryRunWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "dry")
		path := writeFile(t, "people.csv", peopleCSV)
		sum, err := Run(ctx, people.NewStore(db), nid, path, RunOptions{DryRun: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Created != 4 || sum.Merged != 2 || sum.Rejected != 1 || !sum.DryRun {
			t.Errorf("dry run: %+v", sum)
		}
		if got := countPeople(t, db, nid); got != 0 {
			t.Errorf("dry run wrote %d people", got)
		}
	})
}

// A refused file writes nothing and makes no rejects file.
func TestRunRefusedFile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		nid := newNation(t, db, "refused")
		path := writeFile(t, "junk.csv", "colour,size\nred,L\n")
		_, err := Run(context.Background(), people.NewStore(db), nid, path, RunOptions{}, nil)
		if err == nil || !strings.Contains(err.Error(), "no usable header") {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(strings.TrimSuffix(path, ".csv") + ".rejects.csv"); !os.IsNotExist(err) {
			t.Errorf("rejects file exists: %v", err)
		}
	})
}

// A cancelled import keeps its committed batches, and running it again
// completes it without creating anyone twice.
func TestRunResumesAfterCancel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := people.NewStore(db)
		nid := newNation(t, db, "resume")
		var b strings.Builder
		b.WriteString("first_name,last_name,email\n")
		for i := range 50 {
			b.WriteString("P,Q,p" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.org\n")
		}
		path := writeFile(t, "people.csv", b.String())
		ctx, cancel := context.WithCancel(context.Background())
		sum, err := Run(ctx, st, nid, path, RunOptions{BatchSize: 10}, func(p Progress) {
			if p.Rows >= 20 {
				cancel()
			}
		})
		// The batches committed by then stay: two, or three on PostgreSQL
		// when the next batch was already being written alongside.
		first := sum.Created
		if err == nil || first < 20 || first > 30 || first%10 != 0 {
			t.Fatalf("cancelled run: %+v %v", sum, err)
		}
		if got := countPeople(t, db, nid); got != int64(first) {
			t.Fatalf("people after cancel = %d, summary says %d created", got, first)
		}
		sum, err = Run(context.Background(), st, nid, path, RunOptions{BatchSize: 10}, nil)
		if err != nil || sum.Created != 50-first || sum.Unchanged != first {
			t.Fatalf("resumed run: %+v %v", sum, err)
		}
		if got := countPeople(t, db, nid); got != 50 {
			t.Errorf("people after resume = %d", got)
		}
	})
}

// Rows the reader refuses (here: bad CSV quoting) are read ahead of the
// batch being written, yet they are counted, and listed in the rejects file
// in file order, between the rejects of the batches around them.
func TestRunReaderRefusalsAcrossBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := people.NewStore(db)
		nid := newNation(t, db, "refusals")
		path := writeFile(t, "people.csv", "nationbuilder_id,first_name,last_name,email,born_at\n"+
			",Anne,A,anne@example.org,\n"+ // line 2
			",Bart,B\"x,bart@example.org,\n"+ // line 3: bare quote
			",Chloé,C,chloe@example.org,not-a-date\n"+ // line 4: field dropped
			",,,,\n"+ // line 5: blank, skipped
			",Dirk,D,dirk@example.org,\n"+ // line 6
			",Eva,E\"y,eva@example.org,\n"+ // line 7: bare quote
			",Fien,F,fien@example.org,\n") // line 8
		sum, err := Run(context.Background(), st, nid, path, RunOptions{BatchSize: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != 6 || sum.Created != 4 || sum.Rejected != 2 || sum.FieldErrors != 1 {
			t.Fatalf("summary = %+v", sum)
		}
		f, err := os.Open(sum.RejectsFile)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range recs[1:] {
			lines = append(lines, r[len(r)-2])
		}
		if !slices.Equal(lines, []string{"3", "4", "7"}) {
			t.Fatalf("rejects lines = %q", lines)
		}
		if got := countPeople(t, db, nid); got != 4 {
			t.Errorf("people = %d", got)
		}
	})
}
