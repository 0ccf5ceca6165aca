package auth

import (
	"context"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func TestThrottleWindow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := NewStore(db)
		acct, ip := AccountKey("Ada@Example.org "), IPKey("192.0.2.1")
		if AccountKey("ada@example.org") != acct {
			t.Errorf("account key depends on case or spaces")
		}
		t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i := range ThrottleLimit {
			if blocked, err := s.Throttled(ctx, t0, acct, ip); err != nil || blocked {
				t.Fatalf("blocked after %d failures (%v)", i, err)
			}
			if err := s.RecordFailure(ctx, t0.Add(time.Duration(i)*time.Minute), acct, ip); err != nil {
				t.Fatal(err)
			}
		}
		check := func(at time.Time, keys []string, want bool) {
			t.Helper()
			got, err := s.Throttled(ctx, at, keys...)
			if err != nil || got != want {
				t.Errorf("Throttled at %s = %v (%v), want %v", at.Format(time.TimeOnly), got, err, want)
			}
		}
		check(t0.Add(10*time.Minute), []string{acct}, true)
		check(t0.Add(10*time.Minute), []string{IPKey("192.0.2.2"), ip}, true)
		check(t0.Add(10*time.Minute), []string{AccountKey("bea@example.org"), IPKey("192.0.2.2")}, false)
		// The first failure ages out 15 minutes after it happened.
		check(t0.Add(ThrottleWindow), []string{acct}, false)

		if err := s.ClearFailures(ctx, acct); err != nil {
			t.Fatal(err)
		}
		check(t0.Add(10*time.Minute), []string{acct}, false)
		check(t0.Add(10*time.Minute), []string{ip}, true)

		// Recording prunes rows older than the window.
		if err := s.RecordFailure(ctx, t0.Add(time.Hour), IPKey("192.0.2.9")); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM login_failures`).Scan(&n); err != nil || n != 1 {
			t.Errorf("rows after pruning = %d (%v), want 1", n, err)
		}
	})
}
