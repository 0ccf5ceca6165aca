package people

import (
	"context"

	"github.com/muster-org/muster/internal/store"
)

// RecordActionTx records, inside the caller's transaction, that a person
// acted through another domain (a petition signature, a form): an activity
// on the timeline with the action's source (its ref, such as a page slug,
// is what the engagement ladder counts), points added to the person's
// engagement score, and the person's last activity time. The caller's
// transaction also holds the domain's own rows (the signature), so either
// all of it is written or none.
func (s *Store) RecordActionTx(ctx context.Context, tx *store.Tx, nationID, personID int64, typ string, src Source, details string, points int) error {
	at := millisOr(src.At, s.now())
	if _, err := addActivity(ctx, tx, nationID, personID, typ, src, "", details, at); err != nil {
		return wrap("record action", err)
	}
	_, err := tx.Exec(ctx, `UPDATE people SET points = points + ?,
		last_activity_at = CASE WHEN last_activity_at < ? THEN ? ELSE last_activity_at END
		WHERE nation_id = ? AND id = ?`, points, at, at, nationID, personID)
	return wrap("record action", err)
}
