package people

import (
	"context"
	"database/sql"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Duplicate is a proposed pair of people who may be one human.
type Duplicate struct {
	ID               int64
	PersonA, PersonB int64  // PersonA < PersonB
	Reason           string // same_name_postcode, same_email, same_phone
	Status           string // open, merged, dismissed
	CreatedAt        time.Time
}

// ListDuplicates lists proposed duplicates with the given status ("" means
// open), oldest first. Pairs where either person was merged away since are
// left out of the open queue.
func (s *Store) ListDuplicates(ctx context.Context, nationID int64, status string, page Page) ([]Duplicate, error) {
	if status == "" {
		status = "open"
	}
	var out []Duplicate
	err := s.each(ctx, `SELECT d.id, d.person_a, d.person_b, d.reason, d.status, d.created_at FROM duplicates d
		WHERE d.nation_id = ? AND d.status = ? AND (d.status <> 'open' OR (
			EXISTS (SELECT 1 FROM people a WHERE a.nation_id = d.nation_id AND a.id = d.person_a AND a.merged_into = 0) AND
			EXISTS (SELECT 1 FROM people b WHERE b.nation_id = d.nation_id AND b.id = d.person_b AND b.merged_into = 0)))
		ORDER BY d.id LIMIT ? OFFSET ?`, []any{nationID, status, page.limit(), max(page.Offset, 0)},
		func(r *sql.Rows) error {
			var d Duplicate
			var at int64
			err := r.Scan(&d.ID, &d.PersonA, &d.PersonB, &d.Reason, &d.Status, &at)
			d.CreatedAt = store.Time(at)
			out = append(out, d)
			return err
		})
	return out, wrap("list duplicates", err)
}

// DismissDuplicate marks a proposal as not a duplicate.
func (s *Store) DismissDuplicate(ctx context.Context, nationID, id int64) error {
	res, err := s.db.Exec(ctx, `UPDATE duplicates SET status = 'dismissed' WHERE nation_id = ? AND id = ? AND status = 'open'`, nationID, id)
	if err != nil {
		return wrap("dismiss duplicate", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound("no such open duplicate")
	}
	return nil
}

// DetectSamePhone proposes as duplicates the pairs of people of the nation
// who share a mobile (or landline) number but have different e-mails; it
// returns how many new proposals it made. Pairs already proposed (in any
// status) are not proposed again.
func (s *Store) DetectSamePhone(ctx context.Context, nationID int64) (int, error) {
	var pairs [][3]any
	for _, col := range []string{"mobile_e164", "phone_e164"} {
		err := s.each(ctx, `SELECT a.id, b.id FROM people a JOIN people b
			ON b.nation_id = a.nation_id AND b.`+col+` = a.`+col+` AND b.id > a.id
			WHERE a.nation_id = ? AND a.`+col+` <> '' AND a.merged_into = 0 AND b.merged_into = 0
			  AND a.email_norm <> b.email_norm
			  AND NOT EXISTS (SELECT 1 FROM duplicates d WHERE d.nation_id = a.nation_id AND d.person_a = a.id AND d.person_b = b.id)
			ORDER BY a.id, b.id LIMIT 10000`, []any{nationID}, func(r *sql.Rows) error {
			var a, b int64
			err := r.Scan(&a, &b)
			pairs = append(pairs, [3]any{a, b, "same_phone"})
			return err
		})
		if err != nil {
			return 0, wrap("detect same phone", err)
		}
	}
	if len(pairs) == 0 {
		return 0, nil
	}
	var before, after int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM duplicates WHERE nation_id = ?`, nationID).Scan(&before); err != nil {
			return err
		}
		if err := insertDuplicates(ctx, tx, nationID, pairs, s.now().UnixMilli()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COUNT(*) FROM duplicates WHERE nation_id = ?`, nationID).Scan(&after)
	})
	return after - before, wrap("detect same phone", err)
}
