package privacy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// LinkTTL is how long an access link stays valid; SessionTTL how long the
// page it opens stays open.
const (
	LinkTTL    = time.Hour
	SessionTTL = time.Hour
)

// errLink is the one answer for every unusable link or session: unknown,
// used, expired or of another nation look the same.
var errLink = errs.NotFound("this link is not valid any more")

func newToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("privacy: token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, tokenHash(token), nil
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// IssueLink makes a single-use access link token for the person holding
// email, valid LinkTTL. ok is false (and no error) when the nation holds no
// one under the address: the caller must answer exactly as when it does.
func (s *Service) IssueLink(ctx context.Context, nationID int64, email string) (token string, ok bool, err error) {
	pid, err := s.FindByEmail(ctx, nationID, email)
	if errs.KindOf(err) == errs.KindNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	token, hash, err := newToken()
	if err != nil {
		return "", false, err
	}
	now := s.d.Now()
	// Expired rows of the nation are swept as new ones are made.
	if _, err := s.d.DB.Exec(ctx, `DELETE FROM privacy_links WHERE nation_id = ? AND expires_at < ?`, nationID, store.Millis(now)); err != nil {
		return "", false, fmt.Errorf("privacy: issue link: %w", err)
	}
	_, err = s.d.DB.Exec(ctx, `INSERT INTO privacy_links (nation_id, token_hash, kind, person_id, created_at, expires_at) VALUES (?, ?, 'link', ?, ?, ?)`,
		nationID, hash, pid, store.Millis(now), store.Millis(now.Add(LinkTTL)))
	if err != nil {
		return "", false, fmt.Errorf("privacy: issue link: %w", err)
	}
	return token, true, nil
}

// OpenLink spends a link token (once) and returns a session token for the
// "my data" pages, valid SessionTTL, with the person's id.
func (s *Service) OpenLink(ctx context.Context, nationID int64, token string) (session string, personID int64, err error) {
	if token == "" || len(token) > 100 {
		return "", 0, errLink
	}
	now := store.Millis(s.d.Now())
	err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE privacy_links SET used_at = ? WHERE nation_id = ? AND token_hash = ? AND kind = 'link'
			AND used_at = 0 AND expires_at > ? RETURNING person_id`, now, nationID, tokenHash(token), now).Scan(&personID)
		if errors.Is(err, sql.ErrNoRows) {
			return errLink
		}
		if err != nil {
			return err
		}
		var hash string
		if session, hash, err = newToken(); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO privacy_links (nation_id, token_hash, kind, person_id, created_at, expires_at) VALUES (?, ?, 'session', ?, ?, ?)`,
			nationID, hash, personID, now, now+SessionTTL.Milliseconds())
		return err
	})
	if err == errLink {
		return "", 0, err
	}
	if err != nil {
		return "", 0, fmt.Errorf("privacy: open link: %w", err)
	}
	return session, personID, nil
}

// Session returns the person a session token of the nation opens.
func (s *Service) Session(ctx context.Context, nationID int64, token string) (int64, error) {
	if token == "" || len(token) > 100 {
		return 0, errLink
	}
	var pid int64
	err := s.d.DB.QueryRowWriter(ctx, `SELECT person_id FROM privacy_links WHERE nation_id = ? AND token_hash = ? AND kind = 'session' AND expires_at > ?`,
		nationID, tokenHash(token), store.Millis(s.d.Now())).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errLink
	}
	if err != nil {
		return 0, fmt.Errorf("privacy: session: %w", err)
	}
	return pid, nil
}

// EndSession closes a session.
func (s *Service) EndSession(ctx context.Context, nationID int64, token string) error {
	_, err := s.d.DB.Exec(ctx, `DELETE FROM privacy_links WHERE nation_id = ? AND token_hash = ? AND kind = 'session'`, nationID, tokenHash(token))
	if err != nil {
		return fmt.Errorf("privacy: end session: %w", err)
	}
	return nil
}
