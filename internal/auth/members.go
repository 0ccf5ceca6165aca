package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// SetPassword replaces a user's password. It does not end their sessions:
// the caller decides which session survives (see DeleteUserSessions).
func (s *Store) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.hash(password)
	if err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?`,
		hash, store.Millis(time.Now()), userID)
	if err != nil {
		return fmt.Errorf("auth: set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.NotFound("staff account not found")
	}
	return nil
}

// DeleteUser removes a staff account with its memberships and sessions; it
// undoes an account whose set-up or invitation failed part-way.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM users WHERE id = ?`, userID); err != nil {
		return fmt.Errorf("auth: delete user: %w", err)
	}
	return nil
}

// Member is one staff member of a nation.
type Member struct {
	UserID int64
	Email  string
	Name   string
	Role   Role
}

// Members lists a nation's staff by e-mail.
func (s *Store) Members(ctx context.Context, nationID int64) ([]Member, error) {
	rows, err := s.db.Query(ctx, `SELECT u.id, u.email, u.name, m.role FROM memberships m
		JOIN users u ON u.id = m.user_id WHERE m.nation_id = ? ORDER BY u.email`, nationID)
	if err != nil {
		return nil, fmt.Errorf("auth: members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var role string
		if err := rows.Scan(&m.UserID, &m.Email, &m.Name, &role); err != nil {
			return nil, fmt.Errorf("auth: members: %w", err)
		}
		m.Role = Role(role)
		out = append(out, m)
	}
	return out, rows.Err()
}

// RolesOf returns a user's role in each nation they serve, by nation id.
func (s *Store) RolesOf(ctx context.Context, userID int64) (map[int64]Role, error) {
	rows, err := s.db.Query(ctx, `SELECT nation_id, role FROM memberships WHERE user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("auth: roles: %w", err)
	}
	defer rows.Close()
	out := map[int64]Role{}
	for rows.Next() {
		var id int64
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			return nil, fmt.Errorf("auth: roles: %w", err)
		}
		out[id] = Role(role)
	}
	return out, rows.Err()
}

// ErrLastAdmin refuses a change that would leave a nation without an
// administrator, and so without anyone able to manage its staff.
var ErrLastAdmin = errs.Conflict("a nation must keep at least one administrator")

// otherAdminExists is the SQL condition, given (nation_id, user_id), that
// the nation has an administrator besides that user.
const otherAdminExists = `EXISTS (SELECT 1 FROM memberships o WHERE o.nation_id = ? AND o.role = 'admin' AND o.user_id <> ?)`

// ChangeRole changes an existing member's role, refusing to demote the last
// administrator.
func (s *Store) ChangeRole(ctx context.Context, nationID, userID int64, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if _, err := s.RoleIn(ctx, nationID, userID); err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `UPDATE memberships SET role = ? WHERE nation_id = ? AND user_id = ?
		AND (? = 'admin' OR role <> 'admin' OR `+otherAdminExists+`)`,
		string(role), nationID, userID, string(role), nationID, userID)
	if err != nil {
		return fmt.Errorf("auth: change role: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrLastAdmin
	}
	return nil
}

// RemoveMember takes a member off a nation's staff, refusing to remove the
// last administrator.
func (s *Store) RemoveMember(ctx context.Context, nationID, userID int64) error {
	if _, err := s.RoleIn(ctx, nationID, userID); err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM memberships WHERE nation_id = ? AND user_id = ?
		AND (role <> 'admin' OR `+otherAdminExists+`)`, nationID, userID, nationID, userID)
	if err != nil {
		return fmt.Errorf("auth: remove member: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrLastAdmin
	}
	return nil
}
