package privacy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// restoreTables are the tables a backup restore rolls back in
// TestReplayAnonymises: the people and their identifiers, what counts rest
// on (signatures), and the suppression list (whose missing rows tell the
// replay that the database predates the journal's entries).
var restoreTables = []string{"people", "person_emails", "person_phones", "person_addresses", "signatures", "consents", "suppressions"}

// snapshot copies the nation's rows of the restore tables, as a backup
// would hold them.
func snapshot(t *testing.T, db *store.DB, nationID int64) map[string][][]any {
	t.Helper()
	ctx := context.Background()
	out := map[string][][]any{}
	for _, table := range restoreTables {
		cols := columns(t, db, table)
		rows, err := db.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` WHERE nation_id = ?`, nationID)
		if err != nil {
			t.Fatal(err)
		}
		out[table+"#cols"] = [][]any{{strings.Join(cols, ", ")}}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// columns lists a table's stored columns (not PostgreSQL's generated ones,
// which an INSERT may not name).
func columns(t *testing.T, db *store.DB, table string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT * FROM `+table+` WHERE 1 = 0`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := rows.Columns()
	rows.Close()
	if err != nil {
		t.Fatal(err)
	}
	if db.Engine != store.Postgres {
		return all
	}
	generated := map[string]bool{}
	rows, err = db.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = ? AND is_generated = 'ALWAYS'`, table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		generated[c] = true
	}
	rows.Close()
	var out []string
	for _, c := range all {
		if !generated[c] {
			out = append(out, c)
		}
	}
	return out
}

// restore puts a snapshot back in place of the nation's current rows.
func restore(t *testing.T, db *store.DB, nationID int64, snap map[string][][]any) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, table := range restoreTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE nation_id = ?`, nationID); err != nil {
				return err
			}
			cols := snap[table+"#cols"][0][0].(string)
			marks := strings.TrimSuffix(strings.Repeat("?, ", strings.Count(cols, ",")+1), ", ")
			for _, row := range snap[table] {
				if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+cols+`) VALUES (`+marks+`)`, row...); err != nil {
					return fmt.Errorf("restore %s: %w", table, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReplayAnonymises: after a restore from a backup taken before a
// retention rule anonymised one person and an erasure erased another, the
// journal replay anonymises the first again (present, nothing identifying,
// their signature still counted, audit action person.anonymise) and erases
// the second; a second replay changes nothing. A journal line of the old
// format (no action field) still erases.
func TestReplayAnonymises(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := setup(t, db)
		// The other person withdraws consent (so that the prospects rule
		// matches them) and signs the petition.
		if _, err := w.people.RecordConsent(ctx, w.n.ID, w.other, people.ConsentInput{Channel: "email", Granted: false, Basis: "consent"},
			people.Source{Kind: "staff", UserID: 1, At: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO signatures (nation_id, page_id, person_id, signed_at, first_name) VALUES (?, 1, ?, ?, 'Other')`,
			w.n.ID, w.other, store.Millis(time.Now())); err != nil {
			t.Fatal(err)
		}
		backup := snapshot(t, db, w.n.ID)

		later := privacy.NewService(privacy.Deps{DB: db, People: w.people, Key: testKey, JournalPath: privacy.JournalFile(w.dir),
			Now: func() time.Time { return time.Now().AddDate(2, 0, 0) }})
		if _, err := later.AddRule(ctx, w.n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 1, Action: privacy.ActionAnonymise}); err != nil {
			t.Fatal(err)
		}
		if run, err := later.ApplyRetention(ctx, w.n.ID); err != nil || run.Erased != 1 {
			t.Fatalf("retention run: %+v %v", run, err)
		}
		if _, err := w.svc.Erase(ctx, w.n.ID, w.person, 1); err != nil {
			t.Fatal(err)
		}
		journal, err := os.ReadFile(privacy.JournalFile(w.dir))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(journal), "\tanonymise\n") || !strings.Contains(string(journal), "\terase\n") {
			t.Fatalf("the journal does not record the actions:\n%s", journal)
		}

		signed := func() (all, anonymous int) {
			t.Helper()
			if err := db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN first_name = '' THEN 1 ELSE 0 END), 0)
				FROM signatures WHERE nation_id = ? AND page_id = 1`, w.n.ID).Scan(&all, &anonymous); err != nil {
				t.Fatal(err)
			}
			return all, anonymous
		}
		audits := func() int {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE nation_id = ? AND action = 'person.anonymise' AND object_id = ?`,
				w.n.ID, w.other).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		var people0 int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, w.n.ID).Scan(&people0); err != nil {
			t.Fatal(err)
		}

		// The restore brings both back as they were.
		restore(t, db, w.n.ID, backup)
		if o, err := w.people.Get(ctx, w.n.ID, w.other); err != nil || o.FirstName != "Other" {
			t.Fatalf("restored other person: %+v %v", o, err)
		}
		if p, err := w.people.Get(ctx, w.n.ID, w.person); err != nil || p.FirstName != "Zqxfirst" {
			t.Fatalf("restored person: %+v %v", p, err)
		}
		if all, anon := signed(); all != 2 || anon != 0 {
			t.Fatalf("restored signatures: %d, %d anonymous", all, anon)
		}

		rep, err := w.svc.ReplayJournal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Anonymised != 1 || rep.Erased != 1 || rep.Restored < 3 {
			t.Errorf("replay: %+v", rep)
		}
		check := func() {
			t.Helper()
			o, err := w.people.Get(ctx, w.n.ID, w.other)
			if err != nil {
				t.Fatalf("the anonymised person is gone: %v", err)
			}
			if o.FirstName != "" || o.LastName != "" || o.Email != "" || o.Mobile.E164 != "" || o.Home.City != "" || o.Home.Country != "BE" ||
				o.CreatedAt.UTC().YearDay() != 1 {
				t.Errorf("the anonymised person keeps data: %+v", o)
			}
			if _, err := w.people.Get(ctx, w.n.ID, w.person); !errors.Is(err, errs.ErrNotFound) {
				t.Errorf("the erased person: %v", err)
			}
			// Counts are those of before the restore: one signature
			// each, the anonymised one kept without name.
			if all, anon := signed(); all != 1 || anon != 1 {
				t.Errorf("signatures: %d, %d anonymous; want 1, 1", all, anon)
			}
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, w.n.ID).Scan(&n); err != nil || n != people0 {
				t.Errorf("people: %d, want %d as before the restore", n, people0)
			}
			for _, addr := range []string{"other@example.org", "zqxmail@zqxdomain.example"} {
				if _, err := w.svc.FindByEmail(ctx, w.n.ID, addr); err == nil {
					t.Errorf("%s finds someone", addr)
				}
			}
		}
		check()
		if got := audits(); got != 2 {
			t.Errorf("person.anonymise audit entries: %d, want 2 (retention, replay)", got)
		}

		// Replaying again changes nothing.
		rep, err = w.svc.ReplayJournal(ctx)
		if err != nil || rep.Anonymised != 0 || rep.Erased != 0 || rep.Restored != 0 || rep.Entries == 0 {
			t.Errorf("second replay: %+v %v", rep, err)
		}
		check()
		if got := audits(); got != 2 {
			t.Errorf("person.anonymise audit entries after a second replay: %d", got)
		}

		// A line of the format before actions were recorded erases.
		res, err := w.people.Upsert(ctx, w.n.ID, people.Record{FirstName: "Old", Emails: []string{"old@example.org"}},
			people.Source{Kind: "staff", UserID: 1}, people.UpsertOptions{})
		if err != nil || res.Outcome != people.Created {
			t.Fatalf("old-format person: %+v %v", res, err)
		}
		f, err := os.OpenFile(privacy.JournalFile(w.dir), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "%d\temail\t%s\t%d\n", w.n.ID, people.SuppressionHash(testKey, "old@example.org"), store.Millis(time.Now()))
		f.Close()
		rep, err = w.svc.ReplayJournal(ctx)
		if err != nil || rep.Erased != 1 || rep.Anonymised != 0 {
			t.Errorf("replay of an old-format line: %+v %v", rep, err)
		}
		if _, err := w.people.Get(ctx, w.n.ID, res.PersonID); err == nil {
			t.Errorf("the old-format line did not erase")
		}
	})
}
