package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// SetupTTL is how long the first-run set-up link stays valid.
const SetupTTL = 24 * time.Hour

// HasUsers reports whether any staff account exists.
func (s *Store) HasUsers(ctx context.Context) (bool, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM users LIMIT 1) AS x`).Scan(&n); err != nil {
		return false, fmt.Errorf("auth: count users: %w", err)
	}
	return n > 0, nil
}

// CreateSetupToken issues a one-time link token for creating the first
// administrator; earlier unused tokens are revoked so only the newest link
// printed works.
func (s *Store) CreateSetupToken(ctx context.Context) (string, error) {
	token, hash := NewToken()
	now := time.Now()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM setup_tokens WHERE used_at = 0`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?, ?, ?)`,
			hash, store.Millis(now), store.Millis(now.Add(SetupTTL)))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("auth: create setup token: %w", err)
	}
	return token, nil
}
