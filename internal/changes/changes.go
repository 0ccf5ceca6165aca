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
	"strings"
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
	if tx.Engine() == store.Postgres {
		// One statement whatever the number of people: an import batch
		// touches thousands.
		_, err := tx.Exec(ctx, `INSERT INTO people_changes (nation_id, seq, person_id, at)
			SELECT ?, ?, unnest(?::bigint[]), ?`, nationID, seq, ids, now)
		if err != nil {
			return fmt.Errorf("changes: record: %w", err)
		}
		return nil
	}
	// SQLite: statements of three sizes (200, 32 and 1 rows), each parsed
	// once per database (store.Tx.Cached), 4 parameters a row.
	for len(ids) > 0 {
		n := 1
		switch {
		case len(ids) >= 200:
			n = 200
		case len(ids) >= 32:
			n = 32
		}
		st, err := tx.Cached(ctx, "INSERT INTO people_changes (nation_id, seq, person_id, at) VALUES "+
			strings.TrimSuffix(strings.Repeat("(?,?,?,?),", n), ","))
		if err != nil {
			return fmt.Errorf("changes: record: %w", err)
		}
		args := make([]any, 0, n*4)
		for _, id := range ids[:n] {
			args = append(args, nationID, seq, id, now)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("changes: record: %w", err)
		}
		ids = ids[n:]
	}
	return nil
}
