package privacy_test

import (
	"context"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestAnonymiseLeavesNoTrace: the retention action "anonymise" erases like
// Erase — no planted marker left in the database, files or logs, the
// identifiers on the suppression list — but keeps the person row with its
// country and creation year only, and the petition signature without name,
// so that the petition's count is unchanged. An anonymised person is not
// matched again by an anonymising rule.
func TestAnonymiseLeavesNoTrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := setup(t, db)
		w.sendBroadcast(t)
		w.assertPlanted(t)
		signatures := func() int {
			t.Helper()
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = 1`, w.n.ID).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if signatures() != 1 {
			t.Fatalf("petition count before: %d", signatures())
		}
		orig, err := w.people.Get(ctx, w.n.ID, w.person)
		if err != nil || orig.Home.Country == "" {
			t.Fatalf("person before: %+v %v", orig, err)
		}

		rep, err := w.svc.Anonymise(ctx, w.n.ID, w.person, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Found || rep.People != 1 || rep.Suppressed < 3 || rep.Files < 2 || rep.Jobs != 2 {
			t.Errorf("anonymisation report: %+v", rep)
		}
		w.assertNoTrace(t)

		// Counts hold: the person row and the signature remain.
		if got := signatures(); got != 1 {
			t.Errorf("petition count after: %d, want 1", got)
		}
		p, err := w.people.Get(ctx, w.n.ID, w.person)
		if err != nil {
			t.Fatalf("anonymised person row: %v", err)
		}
		if p.FirstName != "" || p.LastName != "" || p.Email != "" || p.Mobile.E164 != "" || p.Home.City != "" ||
			p.Home.Postcode != "" || p.Home.Line1 != "" || len(p.Tags) != 0 || p.BirthDate != "" || p.NationBuilderID != "" {
			t.Errorf("anonymised person keeps data: %+v", p)
		}
		if p.Home.Country != orig.Home.Country {
			t.Errorf("country: %q, want %q", p.Home.Country, orig.Home.Country)
		}
		if p.CreatedAt.UTC().Year() != orig.CreatedAt.UTC().Year() || p.CreatedAt.UTC().YearDay() != 1 {
			t.Errorf("created %v, want 1 January of %d", p.CreatedAt, orig.CreatedAt.UTC().Year())
		}
		// No identifier finds them.
		for _, q := range []string{"zqxmail@zqxdomain.example", "zqxfirst", "zqxlast", "zqxmail", "+32470918273", "32470918273"} {
			found, err := w.people.Search(ctx, w.n.ID, q, people.Page{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 0 {
				t.Errorf("search %q finds %+v", q, found)
			}
		}
		if _, err := w.svc.FindByEmail(ctx, w.n.ID, "zqxmail@zqxdomain.example"); err == nil {
			t.Errorf("the address still finds the anonymised person")
		}
		if ok, _ := broadcast.IsSuppressed(ctx, db, testKey, w.n.ID, "zqxmail@zqxdomain.example"); !ok {
			t.Errorf("the anonymised address is not suppressed")
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE nation_id = ? AND action = 'person.anonymise' AND object_id = ?`,
			w.n.ID, w.person).Scan(&n); err != nil || n != 1 {
			t.Errorf("audit entries: %d", n)
		}
		// The other person is untouched.
		if o, err := w.people.Get(ctx, w.n.ID, w.other); err != nil || o.FirstName != "Other" || len(o.Tags) != 1 {
			t.Errorf("other person: %+v %v", o, err)
		}

		// Rules: an anonymising rule does not match the anonymised person
		// again; an erasing rule would (they have no basis and are old).
		later := privacy.NewService(privacy.Deps{DB: db, People: w.people, Key: testKey,
			Now: func() time.Time { return time.Now().AddDate(2, 0, 0) }})
		if _, err := later.AddRule(ctx, w.n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 1, Action: "forget"}); err == nil {
			t.Error("unknown action accepted")
		}
		anon, err := later.AddRule(ctx, w.n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 1, Action: privacy.ActionAnonymise})
		if err != nil {
			t.Fatal(err)
		}
		erase, err := later.AddRule(ctx, w.n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 1})
		if err != nil {
			t.Fatal(err)
		}
		rules, err := later.Rules(ctx, w.n.ID)
		if err != nil || len(rules) != 2 || rules[0].Action != privacy.ActionAnonymise || rules[1].Action != privacy.ActionErase {
			t.Fatalf("rules: %+v %v", rules, err)
		}
		prev, err := later.PreviewRetention(ctx, w.n.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range prev {
			want := map[int64]int{anon.ID: 0, erase.ID: 1}[o.RuleID]
			if o.Matched != want || (o.RuleID == anon.ID && o.Action != privacy.ActionAnonymise) {
				t.Errorf("rule %d (%s): matched %d, want %d", o.RuleID, o.Action, o.Matched, want)
			}
		}
	})
}

// TestRetentionAnonymises: a run of an anonymising rule anonymises the
// people it matches (their signatures still count) and records it.
func TestRetentionAnonymises(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := setup(t, db)
		// The other person withdraws consent: no basis left.
		if _, err := w.people.RecordConsent(ctx, w.n.ID, w.other, people.ConsentInput{Channel: "email", Granted: false, Basis: "consent"},
			people.Source{Kind: "staff", UserID: 1, At: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO signatures (nation_id, page_id, person_id, signed_at, first_name) VALUES (?, 1, ?, ?, 'Other')`,
			w.n.ID, w.other, store.Millis(time.Now())); err != nil {
			t.Fatal(err)
		}
		later := privacy.NewService(privacy.Deps{DB: db, People: w.people, Key: testKey,
			Now: func() time.Time { return time.Now().AddDate(2, 0, 0) }})
		if _, err := later.AddRule(ctx, w.n.ID, 1, privacy.Rule{Kind: privacy.RuleProspects, Months: 1, Action: privacy.ActionAnonymise}); err != nil {
			t.Fatal(err)
		}
		run, err := later.ApplyRetention(ctx, w.n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Erased != 1 || len(run.Rules) != 1 || run.Rules[0].Action != privacy.ActionAnonymise {
			t.Errorf("run: %+v", run)
		}
		o, err := w.people.Get(ctx, w.n.ID, w.other)
		if err != nil || o.FirstName != "" || o.Email != "" {
			t.Errorf("other person after the run: %+v %v", o, err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = 1 AND first_name = ''`, w.n.ID).Scan(&n); err != nil || n != 1 {
			t.Errorf("anonymised signature: %d %v", n, err)
		}
		if p, err := w.people.Get(ctx, w.n.ID, w.person); err != nil || p.FirstName != "Zqxfirst" {
			t.Errorf("the person with consent: %+v %v", p, err)
		}
		// A second run finds nobody new.
		run, err = later.ApplyRetention(ctx, w.n.ID)
		if err != nil || run.Erased != 0 {
			t.Errorf("second run: %+v %v", run, err)
		}
	})
}
