package privacy_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestRetention applies an import-expiry rule and then a prospects rule to
// generated people, and checks that exactly the people without another
// basis are erased (with their suppression hashes), others untouched, and
// that every run is recorded with its counts.
func TestRetention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "ret", Name: "Ret"})
		if err != nil {
			t.Fatal(err)
		}
		other, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "other", Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		st := people.NewStore(db).WithSuppression(testKey)
		start := time.Now()
		now := start.Add(48 * time.Hour)
		svc := privacy.NewService(privacy.Deps{DB: db, People: st, Key: testKey, Now: func() time.Time { return now }})

		// The imported list (its activity source is "<id>.csv").
		if _, err := db.Exec(ctx, `INSERT INTO imports (nation_id, id, file_name, status, created_at, updated_at) VALUES (?, 5, 'electoral.csv', 'done', ?, ?)`,
			n.ID, store.Millis(start), store.Millis(start)); err != nil {
			t.Fatal(err)
		}
		fromList := people.Source{Kind: "import", Ref: "5.csv", At: start}
		staff := people.Source{Kind: "staff", UserID: 1, At: start}
		add := func(nationID int64, email string, rec people.Record, src people.Source) int64 {
			t.Helper()
			rec.Emails = []string{email}
			rec.FirstName = "Gen"
			res, err := st.Upsert(ctx, nationID, rec, src, people.UpsertOptions{})
			if err != nil || res.PersonID == 0 {
				t.Fatalf("add %s: %+v %v", email, res, err)
			}
			return res.PersonID
		}
		ids := map[string]int64{}
		gen := []struct {
			name string
			rec  people.Record
			src  people.Source
		}{
			{"list-only", people.Record{}, fromList},
			{"list-member", people.Record{Membership: people.Membership{Status: "active"}}, fromList},
			{"list-and-staff", people.Record{}, fromList},
			{"prospect", people.Record{}, staff},
			{"member", people.Record{Membership: people.Membership{Status: "active"}}, staff},
			{"relation", people.Record{Relationship: "regular_contact"}, staff},
			{"consent", people.Record{}, staff},
			{"withdrawn", people.Record{}, staff},
			{"active", people.Record{}, staff},
			{"restricted", people.Record{}, fromList},
		}
		for _, g := range gen {
			ids[g.name] = add(n.ID, g.name+"@example.org", g.rec, g.src)
		}
		elsewhere := add(other.ID, "list-only@example.org", people.Record{}, fromList)
		// A second touch from staff gives list-and-staff another source.
		add(n.ID, "list-and-staff@example.org", people.Record{LastName: "Touched"}, staff)
		grant := people.ConsentInput{Channel: "email", Granted: true, Basis: "consent"}
		if _, err := st.RecordConsent(ctx, n.ID, ids["consent"], grant, staff); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordConsent(ctx, n.ID, ids["withdrawn"], grant, staff); err != nil {
			t.Fatal(err)
		}
		withdraw := grant
		withdraw.Granted = false
		if _, err := st.RecordConsent(ctx, n.ID, ids["withdrawn"], withdraw, people.Source{Kind: "staff", UserID: 1, At: start.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE people SET restricted = 1 WHERE nation_id = ? AND id = ?`, n.ID, ids["restricted"]); err != nil {
			t.Fatal(err)
		}
		// "active" acted eleven months after the rest.
		later := store.Millis(start.AddDate(0, 11, 0))
		if _, err := db.Exec(ctx, `UPDATE activities SET at = ? WHERE nation_id = ? AND person_id = ?`, later, n.ID, ids["active"]); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `UPDATE people SET last_activity_at = ? WHERE nation_id = ? AND id = ?`, later, n.ID, ids["active"]); err != nil {
			t.Fatal(err)
		}

		// An unknown import, a bad date and a bad month count are refused.
		for _, bad := range []privacy.Rule{
			{Kind: privacy.RuleImport, ImportID: 99, ExpiresOn: "2020-01-01"},
			{Kind: privacy.RuleImport, ImportID: 5, ExpiresOn: "soon"},
			{Kind: privacy.RuleProspects, Months: 0},
			{Kind: "everyone", Months: 3},
		} {
			if _, err := svc.AddRule(ctx, n.ID, 1, bad); err == nil {
				t.Errorf("rule %+v accepted", bad)
			}
		}
		// The other nation cannot name this nation's import.
		if _, err := svc.AddRule(ctx, other.ID, 1, privacy.Rule{Kind: privacy.RuleImport, ImportID: 5, ExpiresOn: "2020-01-01"}); err == nil {
			t.Error("another nation's import accepted")
		}

		// Phase 1: the list expired yesterday (by the service's clock).
		expiry := start.Format("2006-01-02")
		if _, err := svc.AddRule(ctx, n.ID, 1, privacy.Rule{Kind: privacy.RuleImport, ImportID: 5, ExpiresOn: expiry}); err != nil {
			t.Fatal(err)
		}
		preview, err := svc.PreviewRetention(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(preview) != 1 || preview[0].Matched != 1 || preview[0].Erased != 0 {
			t.Fatalf("preview: %+v", preview)
		}
		if got := remaining(t, db, n.ID); len(got) != len(gen) {
			t.Fatalf("the preview erased someone: %d left", len(got))
		}
		run, err := svc.ApplyRetention(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Erased != 1 || run.Rules[0].Erased != 1 {
			t.Fatalf("run 1: %+v", run)
		}
		want := without(ids, "list-only")
		if got := remaining(t, db, n.ID); !slices.Equal(got, want) {
			t.Fatalf("after the list rule: %v, want %v", got, want)
		}
		if got := remaining(t, db, other.ID); !slices.Equal(got, []int64{elsewhere}) {
			t.Fatalf("the other nation was touched: %v", got)
		}
		assertSuppressed(t, db, n.ID, "list-only@example.org")

		// Phase 2: thirteen months later, prospects idle for a year go.
		now = start.AddDate(0, 13, 0)
		if _, err := svc.AddRule(ctx, n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 12}); err != nil {
			t.Fatal(err)
		}
		if err := svc.ApplyAllRetention(ctx); err != nil {
			t.Fatal(err)
		}
		want = without(ids, "list-only", "list-and-staff", "prospect", "withdrawn")
		if got := remaining(t, db, n.ID); !slices.Equal(got, want) {
			t.Fatalf("after the prospects rule: %v, want %v", got, want)
		}
		for _, e := range []string{"list-and-staff", "prospect", "withdrawn"} {
			assertSuppressed(t, db, n.ID, e+"@example.org")
		}
		if got := remaining(t, db, other.ID); !slices.Equal(got, []int64{elsewhere}) {
			t.Fatalf("the other nation was touched: %v", got)
		}

		runs, err := svc.RetentionRuns(ctx, n.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 2 || runs[0].Erased != 3 || runs[1].Erased != 1 || len(runs[0].Rules) != 2 ||
			runs[0].Rules[0].Erased != 0 || runs[0].Rules[1].Erased != 3 || runs[0].Rules[1].Kind != privacy.RuleProspects {
			t.Fatalf("runs: %+v", runs)
		}
		if others, _ := svc.RetentionRuns(ctx, other.ID, 10); len(others) != 0 {
			t.Fatalf("the other nation has runs: %+v", others)
		}
	})
}

func without(ids map[string]int64, names ...string) []int64 {
	var out []int64
	for name, id := range ids {
		if !slices.Contains(names, name) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func remaining(t *testing.T, db *store.DB, nationID int64) []int64 {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT id FROM people WHERE nation_id = ? ORDER BY id`, nationID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func assertSuppressed(t *testing.T, db *store.DB, nationID int64, email string) {
	t.Helper()
	var n int
	err := db.QueryRow(context.Background(), `SELECT COUNT(*) FROM suppressions WHERE nation_id = ? AND kind = 'email' AND hash = ? AND reason = 'erased'`,
		nationID, broadcast.EmailHash(testKey, email)).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%s: %d suppression rows", email, n)
	}
}
