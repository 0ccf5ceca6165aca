package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/errs"
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

// CheckSetupToken reports whether a set-up token may still be used: it
// exists, is unused and unexpired, and no staff account exists yet. Anything
// else is not found, so that links cannot be probed.
func (s *Store) CheckSetupToken(ctx context.Context, token string) error {
	has, err := s.HasUsers(ctx)
	if err != nil {
		return err
	}
	if has {
		return errs.NotFound("this set-up link is no longer valid")
	}
	var n int
	err = s.db.QueryRowWriter(ctx, `SELECT COUNT(*) FROM setup_tokens WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`,
		HashToken(token), store.Millis(time.Now())).Scan(&n)
	if err != nil {
		return fmt.Errorf("auth: check setup token: %w", err)
	}
	if n == 0 {
		return errs.NotFound("this set-up link is no longer valid")
	}
	return nil
}

// ClaimSetupToken marks a valid set-up token used; of two concurrent claims
// only one succeeds, the other gets not found.
func (s *Store) ClaimSetupToken(ctx context.Context, token string) error {
	res, err := s.db.Exec(ctx, `UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`,
		store.Millis(time.Now()), HashToken(token), store.Millis(time.Now()))
	if err != nil {
		return fmt.Errorf("auth: claim setup token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errs.NotFound("this set-up link is no longer valid")
	}
	return nil
}

// ReleaseSetupToken makes a claimed token usable again, when the set-up it
// was claimed for failed part-way and was undone.
func (s *Store) ReleaseSetupToken(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `UPDATE setup_tokens SET used_at = 0 WHERE token_hash = ?`, HashToken(token))
	return err
}
