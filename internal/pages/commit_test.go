package pages

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// committerFixture is a nation with a published petition and the Forms
// that take its signatures.
func committerFixture(t *testing.T, db *store.DB) (*Forms, *nation.Nation, *Page) {
	t.Helper()
	ctx := context.Background()
	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "commit", Name: "Commit", Country: "BE"})
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(db)
	p := &Page{NationID: n.ID, Type: TypePetition, Slug: "trees", Title: "Trees", Status: StatusPublished,
		Settings: Settings{Fields: []Field{{Name: "first_name"}, {Name: "email", Required: true}}, Tags: []string{"trees"}, Points: 2,
			Consents: []ConsentQuestion{{Channel: "email", Wording: map[string]string{"en": "E-mail me."}}}}}
	if err := st.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	return &Forms{Pages: st, People: people.NewStore(db)}, n, p
}

func signature(i int) Submission {
	return Submission{Values: map[string]string{"first_name": "Ann", "email": fmt.Sprintf("signer%d@example.org", i)}, Lang: "en",
		Consents: []people.ConsentInput{{Channel: "email", Granted: true, Basis: "consent", Wording: "E-mail me."}}}
}

func countRows(t *testing.T, db *store.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent submissions are grouped into batches, and every one that
// was answered is stored: person, signature, consent and timeline.
func TestCommitterConcurrentSubmissionsDurable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, n, p := committerFixture(t, db)
		const total = 60
		results := make([]Result, total)
		errs := make([]error, total)
		var wg sync.WaitGroup
		for i := range total {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = f.Submit(context.Background(), n.ID, p, signature(i%50)) // 10 sign twice
			}()
		}
		wg.Wait()
		ids := map[int64]bool{}
		newSigs := 0
		for i := range total {
			if errs[i] != nil {
				t.Fatalf("submission %d: %v", i, errs[i])
			}
			ids[results[i].PersonID] = true
			if results[i].NewSignature {
				newSigs++
			}
		}
		if len(ids) != 50 || newSigs != 50 {
			t.Fatalf("%d people and %d new signatures reported, want 50 and 50", len(ids), newSigs)
		}
		for _, c := range []struct {
			q    string
			args []any
		}{
			{`SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = ?`, []any{n.ID, p.ID}},
			{`SELECT COUNT(*) FROM people WHERE nation_id = ?`, []any{n.ID}},
			{`SELECT COUNT(*) FROM people WHERE nation_id = ? AND points = 2`, []any{n.ID}},
			{`SELECT COUNT(*) FROM activities WHERE nation_id = ? AND type = 'signed'`, []any{n.ID}},
			{`SELECT COUNT(*) FROM consents WHERE nation_id = ? AND channel = 'email' AND status = 'granted'`, []any{n.ID}},
		} {
			if got := countRows(t, db, c.q, c.args...); got != 50 {
				t.Errorf("%s: %d, want 50", c.q, got)
			}
		}
		if c, err := f.Pages.SignatureCount(context.Background(), n.ID, p.ID); err != nil || c != 50 {
			t.Errorf("signature count %d (%v), want 50", c, err)
		}
	})
}

// A submission that fails in the database fails alone: the batch it was
// in is written again one by one and the others are stored.
func TestCommitterFailureLosesNoOther(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, n, p := committerFixture(t, db)
		c := &committer{forms: f, workers: 1}
		var batch []*pending
		for i := range 8 {
			nid := n.ID
			if i == 3 {
				nid = n.ID + 1_000_000 // no such nation: its people rows break a foreign key
			}
			sub := signature(i)
			batch = append(batch, &pending{ctx: context.Background(), nationID: nid, page: p, sub: sub,
				rec: people.Record{FirstName: "Ann", Emails: []string{sub.Values["email"]}, Consents: sub.Consents},
				src: people.Source{Kind: "form", Ref: p.Slug}})
		}
		c.commit(batch)
		for i, pd := range batch {
			failed := i == 3
			if (pd.err != nil) != failed {
				t.Errorf("submission %d: error %v, want failure %v", i, pd.err, failed)
			}
			if !failed && (!pd.res.NewSignature || pd.res.PersonID == 0) {
				t.Errorf("submission %d: %+v, want a new signature", i, pd.res)
			}
		}
		if got := countRows(t, db, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = ?`, n.ID, p.ID); got != 7 {
			t.Errorf("%d signatures stored, want 7", got)
		}
		if got := countRows(t, db, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, n.ID); got != 7 {
			t.Errorf("%d people stored, want 7", got)
		}
	})
}
