package people_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

var ctx = context.Background()

func newNation(t *testing.T, db *store.DB, slug, country string) int64 {
	t.Helper()
	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: slug, Name: slug, Country: country})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func count(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func upsert(t *testing.T, s *people.Store, nationID int64, recs []people.Record, opt people.UpsertOptions) []people.RowResult {
	t.Helper()
	if opt.Source == (people.Source{}) {
		opt.Source = people.Source{Kind: "import", Ref: "test.csv"}
	}
	res, err := s.UpsertBatch(ctx, nationID, recs, nil, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	return res
}

func outcomes(res []people.RowResult) []people.Outcome {
	out := make([]people.Outcome, len(res))
	for i, r := range res {
		out[i] = r.Outcome
	}
	return out
}

func sameOutcomes(t *testing.T, res []people.RowResult, want ...people.Outcome) {
	t.Helper()
	got := outcomes(res)
	if len(got) != len(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("outcomes %v, want %v (row %d: %+v)", got, want, i, res[i])
		}
	}
}

func f64(f float64) *float64 { return &f }

func sample() []people.Record {
	return []people.Record{
		{NationBuilderID: "1", FirstName: " Jan ", LastName: "Peeters", Emails: []string{"Jan.Peeters@Example.be"},
			Mobile: "0470 12 34 56", BirthDate: "23/04/1980", Gender: "M", SupportLevel: "2", Tags: []string{"Climate", "volunteer"},
			Home:     people.Address{Line1: "Rue Haute 1", City: "Bruxelles", Postcode: "1000", Country: "be", Lat: f64(50.84), Lng: f64(4.35)},
			Mailing:  people.Address{Line1: "PO Box 7", City: "Gent", Postcode: "9000"},
			Consents: []people.ConsentInput{{Channel: "email", Granted: true, Wording: "Yes, e-mail me"}}},
		{FirstName: "Marie", LastName: "Dubois", Emails: []string{"marie@example.org", "m.dubois@work.example"}, Phone: "02 345 67 89",
			Tags: []string{"climate"}, Note: "Met at the fair"},
		{ExternalID: "X-9", FirstName: "Piet", Consents: []people.ConsentInput{{Channel: "sms", Granted: false}}},
		{Emails: []string{"JAN.PEETERS@example.be"}, LastName: "Peeters", Tags: []string{"donor"}}, // same person as row 1
		{Gender: "f", Tags: []string{"x"}}, // no identity
	}
}

func TestUpsertCreateMatchAndIdempotence(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		res := upsert(t, s, n, sample(), people.UpsertOptions{Tags: []string{"import-2026"}})
		sameOutcomes(t, res, people.Created, people.Created, people.Created, people.Updated, people.Rejected)
		if res[3].PersonID != res[0].PersonID || res[3].MatchedBy != "batch:email" {
			t.Fatalf("row 4 should update row 1's person by e-mail: %+v", res[3])
		}
		if res[4].Err == nil || errs.KindOf(res[4].Err) != errs.KindInvalid {
			t.Fatalf("row 5 rejection: %v", res[4].Err)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, n); got != 3 {
			t.Fatalf("%d people, want 3", got)
		}
		p, err := s.Get(ctx, n, res[0].PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if p.FirstName != "Jan" || p.Email != "Jan.Peeters@Example.be" || p.Mobile.E164 != "+32470123456" ||
			p.BirthDate != "1980-04-23" || p.Gender != "m" || p.SupportLevel != 2 || p.Home.Country != "BE" ||
			p.Home.Lat == nil || *p.Home.Lat != 50.84 || p.Addresses["mailing"].City != "Gent" {
			t.Fatalf("person 1 = %+v", p)
		}
		if want := []string{"Climate", "donor", "import-2026", "volunteer"}; !equalStrings(p.Tags, want) {
			t.Fatalf("tags %v, want %v", p.Tags, want)
		}
		m, err := s.Get(ctx, n, res[1].PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Emails) != 2 || !m.Emails[0].Primary || m.Emails[0].Address != "marie@example.org" || m.Phone.E164 != "+3223456789" {
			t.Fatalf("person 2 = %+v", m)
		}
		cur, err := s.CurrentConsents(ctx, n, res[0].PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := cur["email"]; !ok || !c.Granted() || c.WordingHash != people.WordingHash("Yes, e-mail me") || c.Source.Ref != "test.csv" {
			t.Fatalf("current consents %+v", cur)
		}
		if w, err := s.ConsentWording(ctx, n, cur["email"].WordingHash); err != nil || w != "Yes, e-mail me" {
			t.Fatalf("wording %q %v", w, err)
		}
		// A withdrawal with no previous grant changes no state: no entry.
		if got := count(t, db, `SELECT COUNT(*) FROM consents WHERE nation_id = ?`, n); got != 1 {
			t.Fatalf("%d consents, want 1", got)
		}
		prov, err := s.Provenance(ctx, n, res[0].PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if prov["first_name"].Source.Ref != "test.csv" || prov["home_address"].Source.Kind != "import" {
			t.Fatalf("provenance %+v", prov)
		}

		acts := count(t, db, `SELECT COUNT(*) FROM activities WHERE nation_id = ?`, n)
		var updated int64
		db.QueryRow(ctx, `SELECT MAX(updated_at) FROM people WHERE nation_id = ?`, n).Scan(&updated)
		time.Sleep(5 * time.Millisecond)

		// Re-applying changes nothing at all.
		again := upsert(t, s, n, sample(), people.UpsertOptions{Tags: []string{"import-2026"}})
		sameOutcomes(t, again, people.Unchanged, people.Unchanged, people.Unchanged, people.Unchanged, people.Rejected)
		if again[0].MatchedBy != "nationbuilder_id" || again[1].MatchedBy != "email" || again[2].MatchedBy != "external_id" {
			t.Fatalf("match rules %q %q %q", again[0].MatchedBy, again[1].MatchedBy, again[2].MatchedBy)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM activities WHERE nation_id = ?`, n); got != acts {
			t.Fatalf("re-import added activities: %d → %d", acts, got)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM consents WHERE nation_id = ?`, n); got != 1 {
			t.Fatalf("re-import added consents: %d", got)
		}
		var updated2 int64
		db.QueryRow(ctx, `SELECT MAX(updated_at) FROM people WHERE nation_id = ?`, n).Scan(&updated2)
		if updated2 != updated {
			t.Fatal("re-import bumped updated_at")
		}
	})
}

func TestMatchingOrderFillOverwriteAndRejects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		base := upsert(t, s, n, []people.Record{
			{NationBuilderID: "10", FirstName: "A", Emails: []string{"a@x.be"}},
			{FirstName: "B", Emails: []string{"b@x.be"}, Mobile: "+32 470 00 00 01"},
			{FirstName: "C", Phone: "+32 2 222 22 22"},
		}, people.UpsertOptions{})
		a, b, c := base[0].PersonID, base[1].PersonID, base[2].PersonID

		res := upsert(t, s, n, []people.Record{
			// external id wins over e-mail; b's e-mail is proposed as duplicate.
			{NationBuilderID: "10", Emails: []string{"b@x.be"}, LastName: "Alpha"},
			// e-mail match, case-insensitively; conflicting first name kept.
			{Emails: []string{"B@X.BE"}, FirstName: "Bee", LastName: "Beta"},
			// mobile in national form matches the E.164 of b.
			{Mobile: "0470 00 00 01", Language: "NL"},
			// landline match; malformed fields dropped, rest stands.
			{Phone: "02 222 22 22", Emails: []string{"not-an-email"}, BirthDate: "31/02/1990", SupportLevel: "9", Gender: "banana"},
		}, people.UpsertOptions{})
		sameOutcomes(t, res, people.Updated, people.Updated, people.Updated, people.Unchanged)
		if res[0].PersonID != a || res[0].MatchedBy != "nationbuilder_id" || res[0].DuplicateOf != b {
			t.Fatalf("row 1 %+v", res[0])
		}
		if res[1].PersonID != b || res[2].PersonID != b || res[2].MatchedBy != "phone" || res[3].PersonID != c {
			t.Fatalf("rows %+v", res)
		}
		if len(res[3].FieldErrors) != 4 {
			t.Fatalf("field errors %v", res[3].FieldErrors)
		}
		fieldsAt := map[string]bool{}
		for _, e := range res[3].FieldErrors {
			fieldsAt[errs.FieldOf(e)] = true
		}
		for _, f := range []string{"email", "birth_date", "support_level", "gender"} {
			if !fieldsAt[f] {
				t.Errorf("no field error for %s: %v", f, res[3].FieldErrors)
			}
		}
		pb, _ := s.Get(ctx, n, b)
		if pb.FirstName != "B" || pb.LastName != "Beta" || pb.Language != "nl" {
			t.Fatalf("b = %+v", pb)
		}
		dups, err := s.ListDuplicates(ctx, n, "", people.Page{})
		if err != nil || len(dups) != 1 || dups[0].Reason != "same_email" {
			t.Fatalf("duplicates %+v %v", dups, err)
		}

		// Overwrite replaces conflicting values.
		res = upsert(t, s, n, []people.Record{{Emails: []string{"b@x.be"}, FirstName: "Bee"}}, people.UpsertOptions{Overwrite: true})
		sameOutcomes(t, res, people.Updated)
		pb, _ = s.Get(ctx, n, b)
		if pb.FirstName != "Bee" {
			t.Fatalf("overwrite: %q", pb.FirstName)
		}
		tl, _ := s.Timeline(ctx, n, b, 0)
		if len(tl) == 0 || tl[0].Type != "updated" || !equalStrings(tl[0].Fields, []string{"first_name"}) {
			t.Fatalf("timeline %+v", tl)
		}

		// Dry run: outcomes computed, nothing written.
		before := count(t, db, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, n)
		res = upsert(t, s, n, []people.Record{{FirstName: "New"}, {Emails: []string{"a@x.be"}, Tags: []string{"t"}}}, people.UpsertOptions{DryRun: true})
		sameOutcomes(t, res, people.Created, people.Updated)
		if count(t, db, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, n) != before || count(t, db, `SELECT COUNT(*) FROM taggings WHERE nation_id = ?`, n) != 0 {
			t.Fatal("dry run wrote")
		}
	})
}

func TestNameAndPostcodeOnlyProposes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		rec := people.Record{FirstName: "Jan", LastName: "Janssens", Home: people.Address{Postcode: "2000"}}
		r1 := upsert(t, s, n, []people.Record{rec}, people.UpsertOptions{})
		rec.FirstName = "JAN"
		r2 := upsert(t, s, n, []people.Record{rec}, people.UpsertOptions{})
		sameOutcomes(t, r2, people.Created)
		if r2[0].DuplicateOf != r1[0].PersonID {
			t.Fatalf("no duplicate proposed: %+v", r2[0])
		}
		dups, _ := s.ListDuplicates(ctx, n, "open", people.Page{})
		if len(dups) != 1 || dups[0].Reason != "same_name_postcode" {
			t.Fatalf("duplicates %+v", dups)
		}
		if err := s.DismissDuplicate(ctx, n, dups[0].ID); err != nil {
			t.Fatal(err)
		}
		if d, _ := s.ListDuplicates(ctx, n, "open", people.Page{}); len(d) != 0 {
			t.Fatalf("still open: %+v", d)
		}
	})
}

func TestNoCountryAcceptsOnlyInternationalPhones(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "intl", "")
		res := upsert(t, s, n, []people.Record{{Mobile: "0470123456"}, {Mobile: "+32470123456"}}, people.UpsertOptions{})
		sameOutcomes(t, res, people.Rejected, people.Created)
	})
}

func TestConsentLedgerDerivation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		rec := func(granted bool) people.Record {
			return people.Record{Emails: []string{"c@x.be"}, Consents: []people.ConsentInput{{Channel: "email", Granted: granted}}}
		}
		for i, g := range []bool{true, true, false, false, true} {
			src := people.Source{Kind: "import", Ref: "f.csv", Line: i + 2, At: t0.Add(time.Duration(i) * time.Hour)}
			if _, err := s.UpsertBatch(ctx, n, []people.Record{rec(g)}, []people.Source{src}, people.UpsertOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var id int64
		db.QueryRow(ctx, `SELECT id FROM people WHERE nation_id = ?`, n).Scan(&id)
		hist, err := s.ConsentHistory(ctx, n, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 || hist[0].Status != "granted" || hist[1].Status != "withdrawn" || hist[2].Status != "granted" || hist[1].Source.Line != 4 {
			t.Fatalf("history %+v", hist)
		}
		if _, err := s.RecordConsent(ctx, n, id, people.ConsentInput{Channel: "email", Granted: false, Basis: "consent"},
			people.Source{Kind: "form", IP: "192.0.2.1", At: t0.Add(10 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		cur, _ := s.CurrentConsents(ctx, n, id)
		if cur["email"].Granted() || cur["email"].Source.IP != "192.0.2.1" {
			t.Fatalf("current %+v", cur)
		}
		if _, err := s.RecordConsent(ctx, n, id, people.ConsentInput{Channel: "fax", Granted: true}, people.Source{}); errs.KindOf(err) != errs.KindInvalid {
			t.Fatalf("bad channel: %v", err)
		}
	})
}

func TestMergeAndUndo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		if _, err := s.DefineCustomField(ctx, n, "Shirt", "choice", []string{"S", "M", "L"}); err != nil {
			t.Fatal(err)
		}
		res := upsert(t, s, n, []people.Record{
			{FirstName: "Sam", Emails: []string{"sam@x.be"}, Mobile: "0470 11 11 11", Tags: []string{"a"}},
			{FirstName: "Samuel", LastName: "Smet", Emails: []string{"sam@work.be"}, Mobile: "0470 22 22 22", Tags: []string{"a", "b"},
				Custom:   map[string]string{"shirt": "m"},
				Consents: []people.ConsentInput{{Channel: "sms", Granted: true}}},
		}, people.UpsertOptions{})
		sv, ot := res[0].PersonID, res[1].PersonID
		if len(res[1].FieldErrors) != 0 {
			t.Fatal(res[1].FieldErrors)
		}
		mid, err := s.Merge(ctx, n, sv, ot, 42)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := s.Get(ctx, n, sv)
		if p.FirstName != "Sam" || p.LastName != "Smet" || len(p.Emails) != 2 || p.Email != "sam@x.be" ||
			!equalStrings(p.Tags, []string{"a", "b"}) || p.Custom["Shirt"] != "M" || len(p.OtherPhones) != 1 || p.OtherPhones[0].E164 != "+32470222222" {
			t.Fatalf("survivor %+v", p)
		}
		if cur, _ := s.CurrentConsents(ctx, n, sv); !cur["sms"].Granted() {
			t.Fatalf("consent did not follow: %+v", cur)
		}
		o, _ := s.Get(ctx, n, ot)
		if o.MergedInto != sv {
			t.Fatalf("other merged_into %d", o.MergedInto)
		}
		// The merged-away person is matched through the survivor now.
		r := upsert(t, s, n, []people.Record{{Emails: []string{"sam@work.be"}}}, people.UpsertOptions{})
		if r[0].PersonID != sv {
			t.Fatalf("match after merge %+v", r[0])
		}
		if hits, _ := s.Search(ctx, n, "samuel", people.Page{}); len(hits) != 0 {
			t.Fatalf("merged person found: %+v", hits)
		}
		audit, _ := s.AuditByObject(ctx, n, "person", sv, 0)
		if len(audit) != 1 || audit[0].Action != "person.merge" || audit[0].ActorID != 42 {
			t.Fatalf("audit %+v", audit)
		}

		if err := s.UndoMerge(ctx, n, mid, 42); err != nil {
			t.Fatal(err)
		}
		p, _ = s.Get(ctx, n, sv)
		o, _ = s.Get(ctx, n, ot)
		if p.LastName != "" || len(p.Emails) != 1 || !equalStrings(p.Tags, []string{"a"}) || len(p.Custom) != 0 || len(p.OtherPhones) != 0 {
			t.Fatalf("survivor after undo %+v", p)
		}
		if o.MergedInto != 0 || o.Email != "sam@work.be" || len(o.Emails) != 1 || !o.Emails[0].Primary || !equalStrings(o.Tags, []string{"a", "b"}) || o.Custom["Shirt"] != "M" {
			t.Fatalf("other after undo %+v", o)
		}
		if cur, _ := s.CurrentConsents(ctx, n, ot); !cur["sms"].Granted() {
			t.Fatalf("consent did not come back: %+v", cur)
		}
		if err := s.UndoMerge(ctx, n, mid, 42); errs.KindOf(err) != errs.KindConflict {
			t.Fatalf("second undo: %v", err)
		}
		if _, err := s.Merge(ctx, n, sv, sv, 1); err == nil {
			t.Fatal("self-merge accepted")
		}
	})
}

func TestSamePhoneDetection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		a := upsert(t, s, n, []people.Record{{Emails: []string{"one@x.be"}}}, people.UpsertOptions{})
		b := upsert(t, s, n, []people.Record{{Emails: []string{"two@x.be"}}}, people.UpsertOptions{})
		// Give both the same mobile via staff edits (matching would have joined them).
		for _, id := range []int64{a[0].PersonID, b[0].PersonID} {
			db.Exec(ctx, `UPDATE people SET mobile = '0470', mobile_e164 = '+32470999999' WHERE nation_id = ? AND id = ?`, n, id)
		}
		got, err := s.DetectSamePhone(ctx, n)
		if err != nil || got != 1 {
			t.Fatalf("DetectSamePhone = %d, %v", got, err)
		}
		if again, _ := s.DetectSamePhone(ctx, n); again != 0 {
			t.Fatalf("proposed twice: %d", again)
		}
	})
}

func TestAuditQueries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		from := time.Now().Add(-time.Minute)
		for _, e := range []struct {
			actor int64
			act   string
			id    int64
		}{{1, "person.view", 10}, {1, "person.update", 11}, {2, "person.view", 10}, {2, "people.export", 0}} {
			if err := s.Audit(ctx, n, e.actor, e.act, "person", e.id); err != nil {
				t.Fatal(err)
			}
		}
		to := time.Now().Add(time.Minute)
		byActor, _ := s.AuditByActor(ctx, n, 1, from, to, 0)
		if len(byActor) != 2 {
			t.Fatalf("by actor %+v", byActor)
		}
		if none, _ := s.AuditByActor(ctx, n, 1, to, to.Add(time.Hour), 0); len(none) != 0 {
			t.Fatalf("out of range %+v", none)
		}
		byPerson, _ := s.AuditByObject(ctx, n, "person", 10, 0)
		if len(byPerson) != 2 || byPerson[0].ActorID != 2 {
			t.Fatalf("by person %+v", byPerson)
		}
		other := newNation(t, db, "nl", "NL")
		if x, _ := s.AuditByTime(ctx, other, from, to, 0); len(x) != 0 {
			t.Fatalf("other nation sees audit: %+v", x)
		}
	})
}

func TestNationIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		a := newNation(t, db, "aa", "BE")
		b := newNation(t, db, "bb", "BE")
		ann := people.Record{NationBuilderID: "1", FirstName: "Ann", Emails: []string{"ann@x.be"}, Mobile: "0470 33 33 33", Tags: []string{"t"},
			Consents: []people.ConsentInput{{Channel: "email", Granted: true}}}
		ra := upsert(t, s, a, []people.Record{{FirstName: "Filler1"}, {FirstName: "Filler2"}, ann}, people.UpsertOptions{})
		aID := ra[2].PersonID
		// The same identifiers in nation b match no one of nation a.
		rb := upsert(t, s, b, []people.Record{ann}, people.UpsertOptions{})
		sameOutcomes(t, rb, people.Created)
		if rb[0].PersonID == aID {
			t.Fatalf("test needs distinct ids, got %d twice", aID)
		}
		if _, err := s.Get(ctx, b, aID); errs.KindOf(err) != errs.KindNotFound {
			t.Fatalf("cross-nation get: %v", err)
		}
		if hits, _ := s.Search(ctx, b, "ann", people.Page{}); len(hits) != 1 || hits[0].ID != rb[0].PersonID {
			t.Fatalf("search in b %+v", hits)
		}
		if _, err := s.Merge(ctx, b, rb[0].PersonID, aID, 1); errs.KindOf(err) != errs.KindNotFound {
			t.Fatalf("merge across nations: %v", err)
		}
		if cur, _ := s.CurrentConsents(ctx, b, aID); len(cur) != 0 {
			t.Fatalf("consents leak %+v", cur)
		}
		if tl, _ := s.Timeline(ctx, b, aID, 0); len(tl) != 0 {
			t.Fatalf("timeline leak %+v", tl)
		}
		if got := count(t, db, `SELECT COUNT(*) FROM tags WHERE nation_id = ?`, b); got != 1 {
			t.Fatalf("nation b has %d tags", got)
		}
	})
}

func TestSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		upsert(t, s, n, []people.Record{
			{FirstName: "Jan", LastName: "Peeters", Emails: []string{"jp@x.be"}, Mobile: "0470 12 34 56"},
			{FirstName: "Janine", LastName: "Dupont"},
			{FirstName: "Piet", LastName: "Jansen", Emails: []string{"50%_off@x.be"}},
		}, people.UpsertOptions{})
		for q, want := range map[string]int{"jan": 3, "jan peeters": 1, "0470123456": 1, "jp@x": 1, "dupont": 1, "50%": 1, "_": 0, "zzz": 0} {
			hits, err := s.Search(ctx, n, q, people.Page{})
			if err != nil || len(hits) != want {
				t.Errorf("Search(%q) = %d hits %v, want %d", q, len(hits), err, want)
			}
		}
		if page, _ := s.Search(ctx, n, "", people.Page{Limit: 2, Offset: 2}); len(page) != 1 {
			t.Errorf("page = %d", len(page))
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A grant repeated under the same wording adds nothing; a grant under new
// wording is new evidence and gets its own ledger entry, the status staying
// granted; a withdrawal then records as usual.
func TestConsentRegrantWithNewWording(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := people.NewStore(db)
		n := newNation(t, db, "wording", "BE")
		rec := func(wording string, granted bool) []people.Record {
			return []people.Record{{FirstName: "Ann", Emails: []string{"ann@example.org"},
				Consents: []people.ConsentInput{{Channel: "email", Granted: granted, Basis: "consent", Wording: wording}}}}
		}
		steps := []struct {
			wording string
			granted bool
			entries int
		}{
			{"Keep me informed by e-mail", true, 1},
			{"Keep me informed by e-mail", true, 1},
			{"Tenez-moi informé par e-mail", true, 2},
			{"Tenez-moi informé par e-mail", true, 2},
			{"", false, 3},
			{"", false, 3},
		}
		var id int64
		for i, st := range steps {
			res := upsert(t, s, n, rec(st.wording, st.granted), people.UpsertOptions{Source: people.Source{Kind: "form", Ref: "petition"}})
			id = res[0].PersonID
			if got := count(t, db, `SELECT COUNT(*) FROM consents WHERE nation_id = ? AND person_id = ?`, n, id); got != st.entries {
				t.Fatalf("step %d: %d ledger entries, want %d", i, got, st.entries)
			}
		}
		var wh string
		if err := db.QueryRow(ctx, `SELECT wording_hash FROM consents WHERE nation_id = ? AND person_id = ? AND status = 'granted' ORDER BY id DESC LIMIT 1`, n, id).Scan(&wh); err != nil {
			t.Fatal(err)
		}
		if wh != people.WordingHash("Tenez-moi informé par e-mail") {
			t.Fatalf("latest grant references %s, want the French wording", wh)
		}
	})
}

// A batch matching a dense run of people reads them as a range (eachID);
// the people in the gaps, not in the batch, must neither be loaded nor
// changed, and their tags and consents must not leak into the batch's.
func TestDenseMatchesSkipOthersInRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "dense", "BE")
		var first []people.Record
		for i := range 200 { // a, b, a, b, …: consecutive ids alternate
			first = append(first,
				people.Record{FirstName: "A", Emails: []string{fmt.Sprintf("a%d@example.org", i)}},
				people.Record{FirstName: "B", Emails: []string{fmt.Sprintf("b%d@example.org", i)}, Tags: []string{"b-only"},
					Consents: []people.ConsentInput{{Channel: "sms", Granted: true, Basis: "consent", Wording: "Texts"}}})
		}
		upsert(t, s, n, first, people.UpsertOptions{})
		var again []people.Record
		for i := range 200 {
			again = append(again, people.Record{FirstName: "A", Emails: []string{fmt.Sprintf("a%d@example.org", i)}, Tags: []string{"a-again"}})
		}
		res := upsert(t, s, n, again, people.UpsertOptions{})
		for i, r := range res {
			if r.Outcome != people.Updated || r.MatchedBy != "email" {
				t.Fatalf("row %d: %+v, want updated by e-mail", i, r)
			}
		}
		checks := []struct {
			q    string
			want int
		}{
			{`SELECT COUNT(*) FROM people WHERE nation_id = ?`, 400},
			{`SELECT COUNT(*) FROM taggings tg JOIN tags t ON t.nation_id = tg.nation_id AND t.id = tg.tag_id
				JOIN people p ON p.nation_id = tg.nation_id AND p.id = tg.person_id WHERE tg.nation_id = ? AND t.key = 'a-again' AND p.first_name = 'A'`, 200},
			{`SELECT COUNT(*) FROM taggings tg JOIN tags t ON t.nation_id = tg.nation_id AND t.id = tg.tag_id
				JOIN people p ON p.nation_id = tg.nation_id AND p.id = tg.person_id WHERE tg.nation_id = ? AND p.first_name = 'B'`, 200},
			{`SELECT COUNT(*) FROM consents c JOIN people p ON p.nation_id = c.nation_id AND p.id = c.person_id WHERE c.nation_id = ? AND p.first_name = 'A'`, 0},
			{`SELECT COUNT(*) FROM activities a JOIN people p ON p.nation_id = a.nation_id AND p.id = a.person_id WHERE a.nation_id = ? AND p.first_name = 'B'`, 200},
		}
		for _, c := range checks {
			if got := count(t, db, c.q, n); got != c.want {
				t.Errorf("%s: %d, want %d", c.q, got, c.want)
			}
		}
	})
}
