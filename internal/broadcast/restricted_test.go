package broadcast_test

import (
	"context"
	"testing"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestRestrictedNeverMessaged: people whose processing is restricted (GDPR
// Art. 18) are not in any audience, even an empty or negated filter, and
// are never sent to.
func TestRestrictedNeverMessaged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "art18", 5)
		ctx := context.Background()
		for _, email := range []string{"p1@art18.example.org", "p2@art18.example.org"} {
			if _, err := db.Exec(ctx, `UPDATE people SET restricted = 1 WHERE nation_id = ? AND email_norm = ?`, f.nation.ID, email); err != nil {
				t.Fatal(err)
			}
		}
		for _, filter := range []string{"", "-tag:nobody"} {
			est, err := f.svc.Estimate(ctx, f.nation.ID, filter, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if *est != (broadcast.Estimate{Audience: 3, Sendable: 3}) {
				t.Errorf("%q: estimate %+v", filter, est)
			}
		}
		f.sendAll(t, broadcast.Draft{Subject: "S", Body: "B", Filter: "-tag:nobody"})
		got := recipients(f)
		if got["p1@art18.example.org"] != 0 || got["p2@art18.example.org"] != 0 || len(got) != 3 {
			t.Errorf("sent to %v", got)
		}
	})
}

// TestRestrictedHasNoConsent: the one-to-one consent check used by
// automatic messages refuses a restricted person even with a current grant.
func TestRestrictedHasNoConsent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, "art18one", 3)
		ctx := context.Background()
		held := personID(t, db, f.nation.ID, "p1@art18one.example.org")
		free := personID(t, db, f.nation.ID, "p2@art18one.example.org")
		for _, id := range []int64{held, free} {
			if ok, err := f.svc.HasEmailConsent(ctx, f.nation.ID, id); err != nil || !ok {
				t.Fatalf("before restriction %d: %v %v", id, ok, err)
			}
		}
		if _, err := db.Exec(ctx, `UPDATE people SET restricted = 1 WHERE nation_id = ? AND id = ?`, f.nation.ID, held); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.svc.HasEmailConsent(ctx, f.nation.ID, held); err != nil || ok {
			t.Errorf("restricted person has consent: %v %v", ok, err)
		}
		if ok, err := f.svc.HasEmailConsent(ctx, f.nation.ID, free); err != nil || !ok {
			t.Errorf("other person lost consent: %v %v", ok, err)
		}
	})
}
