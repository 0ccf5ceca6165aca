// Package changes is the people change log: every write transaction that
// changes what a person looks like to the filter language (fields, tags,
// consents, merges, deletion) records the person's id here, so that the
// in-memory segment index of every process sharing the database can catch
// up before it answers (see internal/segment). It is its own tiny package so
// that the people store and the segment index can both use it without one
// importing the other.
package changes

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// Counter is the id_sequences name of the change sequence.
const Counter = "people_changes"

// Record notes, inside the writing transaction tx, that the given people of
// a nation changed. The sequence number is allocated in the transaction
// (Tx.NextID), which holds the counter row until commit, so sequence order
// is commit order on PostgreSQL; SQLite has a single writer anyway. A
// rolled-back transaction leaves no change row. Duplicate ids are recorded
// once; no ids is a no-op.
func Record(ctx context.Context, tx *store.Tx, nationID int64, personIDs ...int64) error {
	if len(personIDs) == 0 {
		return nil
	}
	seq, err := tx.NextID(ctx, nationID, Counter)
	if err != nil {
		return fmt.Errorf("changes: record: %w", err)
	}
	return RecordAt(ctx, tx, nationID, seq, personIDs...)
}

// RecordAt is Record under a sequence number the caller took earlier in
// the same transaction (tx.NextID(nationID, Counter)), for a writer that
// must know its number before it writes (people.KeyFilter).
func RecordAt(ctx context.Context, tx *store.Tx, nationID, seq int64, personIDs ...int64) error {
	if len(personIDs) == 0 {
		return nil
	}
	ids := slices.Clone(personIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	now := time.Now().UnixMilli()
	const chunk = 200 // 4 parameters a row, well under both engines' limits
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		q := make([]byte, 0, 64+n*14)
		q = append(q, "INSERT INTO people_changes (nation_id, seq, person_id, at) VALUES "...)
		args := make([]any, 0, n*4)
		for i, id := range ids[:n] {
			if i > 0 {
				q = append(q, ',')
			}
			q = append(q, "(?,?,?,?)"...)
			args = append(args, nationID, seq, id, now)
		}
		if _, err := tx.Exec(ctx, string(q), args...); err != nil {
			return fmt.Errorf("changes: record: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}
