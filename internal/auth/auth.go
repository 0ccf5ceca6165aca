// Package auth owns staff accounts, their roles per nation, sessions, the
// sign-in throttle, invitations and the first-run set-up link, and the guard
// that every control-panel handler sits behind.
//
// Staff accounts are installation-wide (one person may serve several
// nations); what they may see is decided per nation by their membership.
// A staff member asking for a nation they do not belong to gets 404, not 403,
// so that nation slugs cannot be probed.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Role is a staff member's role in one nation.
type Role string

const (
	RoleAdmin     Role = "admin"     // everything in the nation
	RoleOrganizer Role = "organizer" // people, pages, messages; not staff or settings
	RoleVolunteer Role = "volunteer" // only what later features scope to them
)

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleAdmin, RoleOrganizer, RoleVolunteer:
		return Role(s), nil
	}
	return "", errs.InvalidField("role", "unknown role %q: use admin, organizer or volunteer", s)
}

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleOrganizer:
		return 2
	case RoleVolunteer:
		return 1
	}
	return 0
}

// AtLeast reports whether r includes everything min may do.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() && r.rank() > 0 }

// User is a staff account.
type User struct {
	ID                int64
	Email             string
	Name              string
	CreatedAt         time.Time
	PasswordChangedAt time.Time
	passwordHash      string
}

// Store reads and writes staff accounts, memberships and sessions.
type Store struct {
	db *store.DB
	// Hashing sets the argon2id cost of new password hashes; the zero value
	// means DefaultHashParams. Only test fixtures lower it.
	Hashing HashParams
}

// NewStore returns an auth store over db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// NormaliseEmail trims and lower-cases a staff e-mail and checks its syntax.
func NormaliseEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if !utf8.ValidString(e) || strings.ContainsFunc(e, unicode.IsControl) || len(e) > 254 {
		return "", errs.InvalidField("email", "that is not a valid e-mail address")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", errs.InvalidField("email", "%q is not a valid e-mail address", email)
	}
	return e, nil
}

// CreateUser creates a staff account with a password.
func (s *Store) CreateUser(ctx context.Context, email, name, password string) (*User, error) {
	email, err := NormaliseEmail(email)
	if err != nil {
		return nil, err
	}
	if err := ValidatePassword(password); err != nil {
		return nil, err
	}
	hash, err := s.hash(password)
	if err != nil {
		return nil, err
	}
	id, err := s.db.NextID(ctx, 0, "users")
	if err != nil {
		return nil, fmt.Errorf("auth: create user: %w", err)
	}
	now := store.Millis(time.Now())
	_, err = s.db.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id, email, strings.TrimSpace(name), hash, now, now)
	if store.IsUniqueViolation(err) {
		return nil, errs.Conflict("a staff account with that e-mail address already exists")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create user: %w", err)
	}
	return s.UserByID(ctx, id)
}

const userColumns = `id, email, name, password_hash, created_at, password_changed_at`

func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created, changed int64
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &u.passwordHash, &created, &changed); err != nil {
		return nil, err
	}
	u.CreatedAt, u.PasswordChangedAt = store.Time(created), store.Time(changed)
	return &u, nil
}

// UserByID returns a staff account.
func (s *Store) UserByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.QueryRowWriter(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("staff account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: user by id: %w", err)
	}
	return u, nil
}

// UserByEmail returns a staff account by (normalised) e-mail.
func (s *Store) UserByEmail(ctx context.Context, email string) (*User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("staff account not found")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: user by email: %w", err)
	}
	return u, nil
}

// SetMembership gives a user a role in a nation (or changes it).
func (s *Store) SetMembership(ctx context.Context, nationID, userID int64, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO memberships (nation_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (nation_id, user_id) DO UPDATE SET role = excluded.role`,
		nationID, userID, string(role), store.Millis(time.Now()))
	if err != nil {
		return fmt.Errorf("auth: set membership: %w", err)
	}
	return nil
}

// RoleIn returns a user's role in a nation, or a not-found error when the
// user is not staff there.
func (s *Store) RoleIn(ctx context.Context, nationID, userID int64) (Role, error) {
	var role string
	err := s.db.QueryRow(ctx, `SELECT role FROM memberships WHERE nation_id = ? AND user_id = ?`, nationID, userID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.NotFound("not found")
	}
	if err != nil {
		return "", fmt.Errorf("auth: role: %w", err)
	}
	return Role(role), nil
}

// NewToken returns a random URL-safe token and its SHA-256 hex hash; only
// the hash is stored, so a database leak yields no usable session or link.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// IsAdminAnywhere reports whether a user is an administrator of at least one
// nation (installation-level pages such as /metrics need it).
func (s *Store) IsAdminAnywhere(ctx context.Context, userID int64) (bool, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM memberships WHERE user_id = ? AND role = 'admin'`, userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("auth: admin check: %w", err)
	}
	return n > 0, nil
}

// PasswordHash exposes a user's stored hash to callers that verify a
// password they were given (the command line re-adding an existing account).
func (s *Store) PasswordHash(u *User) string { return u.passwordHash }

// hash hashes a password at the store's configured cost.
func (s *Store) hash(password string) (string, error) {
	if s.Hashing == (HashParams{}) {
		return HashPassword(password)
	}
	return s.Hashing.Hash(password)
}
