package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// SessionCookie names the staff session cookie.
const SessionCookie = "muster_session"

// SessionTTL is how long a session lives without signing in again.
const SessionTTL = 7 * 24 * time.Hour

// CreateSession starts a session for a user and returns its token.
func (s *Store) CreateSession(ctx context.Context, userID int64) (string, error) {
	token, hash := NewToken()
	now := time.Now()
	_, err := s.db.Exec(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		hash, userID, store.Millis(now), store.Millis(now.Add(SessionTTL)))
	if err != nil {
		return "", fmt.Errorf("auth: create session: %w", err)
	}
	return token, nil
}

// SessionUser returns the user of a live session token.
func (s *Store) SessionUser(ctx context.Context, token string) (*User, error) {
	var userID int64
	err := s.db.QueryRow(ctx, `SELECT user_id FROM sessions WHERE token_hash = ? AND expires_at > ?`,
		HashToken(token), store.Millis(time.Now())).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("auth: session: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// DeleteSession ends one session (sign-out).
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, HashToken(token))
	return err
}

// DeleteUserSessions ends every session of a user (password change).
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	_, err := s.db.Exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return err
}

// Staff is the signed-in staff member acting in one nation.
type Staff struct {
	User   *User
	Nation *nation.Nation
	Role   Role
}

// Guard authenticates control-panel requests and authorises them per nation.
type Guard struct {
	Store   *Store
	Nations *nation.Store
	// SecureCookies sets Secure on the session cookie (behind TLS).
	SecureCookies bool
}

// SetSessionCookie writes the session cookie.
func (g *Guard) SetSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/",
		MaxAge: int(SessionTTL.Seconds()), HttpOnly: true, Secure: g.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// ClearSessionCookie removes the session cookie.
func (g *Guard) ClearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: g.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// CurrentUser returns the signed-in user of a request.
func (g *Guard) CurrentUser(r *http.Request) (*User, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, errs.ErrUnauthorized
	}
	return g.Store.SessionUser(r.Context(), c.Value)
}

// User wraps a handler that needs a signed-in staff member; others are sent
// to the sign-in page and brought back afterwards.
func (g *Guard) User(h func(w http.ResponseWriter, r *http.Request, u *User)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := g.CurrentUser(r)
		if err != nil {
			redirectToLogin(w, r)
			return
		}
		h(w, r, u)
	})
}

// Nation wraps a handler of /admin/{nation}/…: the staff member must belong
// to the nation with at least role min. Anyone else gets 404, whether or not
// the nation exists.
func (g *Guard) Nation(min Role, h func(w http.ResponseWriter, r *http.Request, s *Staff)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := g.CurrentUser(r)
		if err != nil {
			redirectToLogin(w, r)
			return
		}
		n, err := g.Nations.BySlug(r.Context(), r.PathValue("nation"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		role, err := g.Store.RoleIn(r.Context(), n.ID, u.ID)
		if err != nil || !role.AtLeast(min) {
			http.NotFound(w, r)
			return
		}
		h(w, r, &Staff{User: u, Nation: n, Role: role})
	})
}

func redirectToLogin(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Path
	if r.URL.RawQuery != "" {
		next += "?" + r.URL.RawQuery
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "sign-in required", http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(next), http.StatusSeeOther)
}

// View starts a control-panel view for the staff member in their nation.
func (s *Staff) View(rd *web.Renderer, r *http.Request) *web.View {
	return rd.AdminView(r,
		&web.ViewUser{ID: s.User.ID, Email: s.User.Email, Name: s.User.Name},
		&web.ViewNation{ID: s.Nation.ID, Slug: s.Nation.Slug, Name: s.Nation.Name},
		string(s.Role))
}
