package auth

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// The sign-in throttle: after ThrottleLimit failed sign-ins within
// ThrottleWindow, for one account or from one client address, further
// attempts are refused until the oldest failures age out. Failures live in
// the database (login_failures) so that every node behind a load balancer
// counts the same attempts.
const (
	ThrottleLimit  = 10
	ThrottleWindow = 15 * time.Minute
)

// AccountKey is the throttle key of a staff e-mail. Keys are hashed so the
// table holds no e-mail address or IP in clear.
func AccountKey(email string) string {
	return "a:" + HashToken("account\x00"+strings.ToLower(strings.TrimSpace(email)))
}

// IPKey is the throttle key of a client address.
func IPKey(ip string) string { return "i:" + HashToken("ip\x00"+ip) }

// Throttled reports whether any of keys has reached ThrottleLimit failures
// within the window ending at now.
func (s *Store) Throttled(ctx context.Context, now time.Time, keys ...string) (bool, error) {
	since := store.Millis(now.Add(-ThrottleWindow))
	for _, k := range keys {
		var n int
		err := s.db.QueryRowWriter(ctx, `SELECT COUNT(*) FROM login_failures WHERE key = ? AND at > ?`, k, since).Scan(&n)
		if err != nil {
			return false, fmt.Errorf("auth: throttle check: %w", err)
		}
		if n >= ThrottleLimit {
			return true, nil
		}
	}
	return false, nil
}

// RecordFailure counts a failed sign-in against every key, and forgets
// failures that have aged out of the window so the table stays small.
func (s *Store) RecordFailure(ctx context.Context, now time.Time, keys ...string) error {
	at := store.Millis(now)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE at <= ?`, store.Millis(now.Add(-ThrottleWindow))); err != nil {
			return err
		}
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `INSERT INTO login_failures (key, at) VALUES (?, ?)`, k, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: record sign-in failure: %w", err)
	}
	return nil
}

// ClearFailures forgets the failures of a key (a successful sign-in clears
// its account's, not its address's).
func (s *Store) ClearFailures(ctx context.Context, key string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM login_failures WHERE key = ?`, key); err != nil {
		return fmt.Errorf("auth: clear sign-in failures: %w", err)
	}
	return nil
}
