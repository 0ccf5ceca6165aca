package privacy

import (
	"context"
	"fmt"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// SetRestricted sets or lifts the restriction of processing (Art. 18) of a
// person: people.restricted = 1. What must honour it (see docs/privacy.md):
// broadcast audiences, exports and ad audiences, segment matches. The
// change is recorded in the people change log so that segment indexes see
// it, on the timeline, and in the audit log.
func (s *Service) SetRestricted(ctx context.Context, nationID, personID int64, restricted bool, src people.Source, actor int64) error {
	err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE people SET restricted = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND merged_into = 0`,
			store.Bool(restricted), store.Millis(s.d.Now()), nationID, personID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFound("no such person")
		}
		typ := "restriction_lifted"
		if restricted {
			typ = "restricted"
		}
		if src.At.IsZero() {
			src.At = s.d.Now()
		}
		if err := s.d.People.RecordActionTx(ctx, tx, nationID, personID, typ, src, "", 0); err != nil {
			return err
		}
		return changes.Record(ctx, tx, nationID, personID)
	})
	if err != nil {
		if errs.KindOf(err) == errs.KindNotFound {
			return err
		}
		return fmt.Errorf("privacy: restrict: %w", err)
	}
	action := "person.unrestrict"
	if restricted {
		action = "person.restrict"
	}
	return s.d.People.Audit(ctx, nationID, actor, action, "person", personID)
}
