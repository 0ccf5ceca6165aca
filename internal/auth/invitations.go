package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// InvitationTTL is how long an invitation link stays valid.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation is a pending offer of a role in a nation to an e-mail address.
// Its link carries a token of which only the hash is stored.
type Invitation struct {
	NationID  int64
	TokenHash string
	Email     string
	Role      Role
	InvitedBy int64
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CreateInvitation records an invitation and returns the token for its link.
func (s *Store) CreateInvitation(ctx context.Context, nationID int64, email string, role Role, invitedBy int64) (string, error) {
	email, err := NormaliseEmail(email)
	if err != nil {
		return "", err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	token, hash := NewToken()
	now := time.Now()
	_, err = s.db.Exec(ctx, `INSERT INTO invitations (nation_id, token_hash, email, role, invited_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, nationID, hash, email, string(role), invitedBy,
		store.Millis(now), store.Millis(now.Add(InvitationTTL)))
	if err != nil {
		return "", fmt.Errorf("auth: create invitation: %w", err)
	}
	return token, nil
}

const invitationColumns = `nation_id, token_hash, email, role, invited_by, created_at, expires_at`

func scanInvitation(row interface{ Scan(...any) error }) (*Invitation, error) {
	var inv Invitation
	var role string
	var created, expires int64
	if err := row.Scan(&inv.NationID, &inv.TokenHash, &inv.Email, &role, &inv.InvitedBy, &created, &expires); err != nil {
		return nil, err
	}
	inv.Role, inv.CreatedAt, inv.ExpiresAt = Role(role), store.Time(created), store.Time(expires)
	return &inv, nil
}

// errInvitationGone is the one answer for unknown, used and expired links.
var errInvitationGone = errs.NotFound("this invitation link is invalid, expired or already used")

// InvitationByToken returns the pending, unexpired invitation of a link.
func (s *Store) InvitationByToken(ctx context.Context, token string) (*Invitation, error) {
	inv, err := scanInvitation(s.db.QueryRowWriter(ctx, `SELECT `+invitationColumns+` FROM invitations
		WHERE token_hash = ? AND accepted_at = 0 AND expires_at > ?`, HashToken(token), store.Millis(time.Now())))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errInvitationGone
	}
	if err != nil {
		return nil, fmt.Errorf("auth: invitation: %w", err)
	}
	return inv, nil
}

// PendingInvitations lists a nation's unaccepted, unexpired invitations.
func (s *Store) PendingInvitations(ctx context.Context, nationID int64) ([]Invitation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+invitationColumns+` FROM invitations
		WHERE nation_id = ? AND accepted_at = 0 AND expires_at > ? ORDER BY created_at`, nationID, store.Millis(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("auth: invitations: %w", err)
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		inv, err := scanInvitation(rows)
		if err != nil {
			return nil, fmt.Errorf("auth: invitations: %w", err)
		}
		out = append(out, *inv)
	}
	return out, rows.Err()
}

// RevokeInvitation deletes a nation's pending invitation by its token hash.
func (s *Store) RevokeInvitation(ctx context.Context, nationID int64, tokenHash string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM invitations WHERE nation_id = ? AND token_hash = ? AND accepted_at = 0`, nationID, tokenHash)
	if err != nil {
		return fmt.Errorf("auth: revoke invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errInvitationGone
	}
	return nil
}

// ClaimInvitation marks an invitation accepted; of two concurrent claims
// only one succeeds.
func (s *Store) ClaimInvitation(ctx context.Context, token string) error {
	now := store.Millis(time.Now())
	res, err := s.db.Exec(ctx, `UPDATE invitations SET accepted_at = ? WHERE token_hash = ? AND accepted_at = 0 AND expires_at > ?`,
		now, HashToken(token), now)
	if err != nil {
		return fmt.Errorf("auth: claim invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errInvitationGone
	}
	return nil
}

// ReleaseInvitation makes a claimed invitation usable again after the
// acceptance it was claimed for failed and was undone.
func (s *Store) ReleaseInvitation(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `UPDATE invitations SET accepted_at = 0 WHERE token_hash = ?`, HashToken(token))
	return err
}

// AcceptInvitation gives a user the invited role. A member who already holds
// a higher role keeps it: an invitation never demotes.
func (s *Store) AcceptInvitation(ctx context.Context, inv *Invitation, userID int64) error {
	current, err := s.RoleIn(ctx, inv.NationID, userID)
	if err == nil && current.AtLeast(inv.Role) {
		return nil
	}
	if err != nil && !errors.Is(err, errs.ErrNotFound) {
		return err
	}
	return s.SetMembership(ctx, inv.NationID, userID, inv.Role)
}
