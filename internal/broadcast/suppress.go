package broadcast

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/store"
)

// EmailHash is the suppression hash of an address: HMAC-SHA256 with the
// installation key over the normalised (trimmed, lower-cased) address, in
// hex. A keyed hash, not a plain one, so that a leaked suppression list
// cannot be checked against a list of addresses. The privacy feature's
// erasure uses it too.
func EmailHash(key []byte, email string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(m.Sum(nil))
}

// Suppression reasons.
const (
	ReasonHardBounce = "hard_bounce"
	ReasonSoftBounce = "soft_bounce" // too many soft bounces
	ReasonErased     = "erased"
	ReasonManual     = "manual"
)

// Suppress adds an address to the nation's suppression list (idempotent).
func Suppress(ctx context.Context, db *store.DB, key []byte, nationID int64, email, reason string, at int64) error {
	_, err := db.Exec(ctx, `INSERT INTO suppressions (nation_id, kind, hash, reason, created_at) VALUES (?, 'email', ?, ?, ?)
		ON CONFLICT (nation_id, kind, hash) DO NOTHING`, nationID, EmailHash(key, email), reason, at)
	if err != nil {
		return fmt.Errorf("broadcast: suppress: %w", err)
	}
	return nil
}

// IsSuppressed reports whether an address is on the nation's list.
func IsSuppressed(ctx context.Context, db *store.DB, key []byte, nationID int64, email string) (bool, error) {
	var n int
	err := db.QueryRowWriter(ctx, `SELECT COUNT(*) FROM suppressions WHERE nation_id = ? AND kind = 'email' AND hash = ?`,
		nationID, EmailHash(key, email)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("broadcast: suppression: %w", err)
	}
	return n > 0, nil
}

// loadSuppressed reads the nation's suppressed e-mail hashes (a set of
// hashes is small even for a large nation).
func loadSuppressed(ctx context.Context, db *store.DB, nationID int64) (map[string]bool, error) {
	rows, err := db.Query(ctx, `SELECT hash FROM suppressions WHERE nation_id = ? AND kind = 'email'`, nationID)
	if err != nil {
		return nil, fmt.Errorf("broadcast: suppressions: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("broadcast: suppressions: %w", err)
		}
		out[h] = true
	}
	return out, rows.Err()
}
