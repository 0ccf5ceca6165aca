package store

import (
	"context"
	"fmt"
	"time"
)

// idBlockSize is how many ids a process reserves at once. Gaps after a
// restart are harmless; one write per block instead of per row keeps hot
// inserts (petition signatures) off a single counter row.
const idBlockSize = 64

type idKey struct {
	nation int64
	name   string
}

type idBlock struct{ next, end int64 }

// NextID returns a fresh id for rows of kind name in a nation (use nation 0
// for installation-wide tables). Ids are unique per (nation, name) across
// every process sharing the database.
func (db *DB) NextID(ctx context.Context, nationID int64, name string) (int64, error) {
	ids, err := db.NextIDs(ctx, nationID, name, 1)
	if err != nil {
		return 0, err
	}
	return ids, nil
}

// NextIDs reserves n consecutive ids and returns the first. Large n (bulk
// import) bypasses the cache and reserves exactly n.
func (db *DB) NextIDs(ctx context.Context, nationID int64, name string, n int64) (int64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("store: next ids: n must be positive")
	}
	key := idKey{nationID, name}
	db.idMu.Lock()
	defer db.idMu.Unlock()
	if b := db.idCache[key]; b != nil && b.end-b.next >= n {
		first := b.next
		b.next += n
		return first, nil
	}
	reserve := n
	if n < idBlockSize {
		reserve = idBlockSize
	}
	first, err := db.reserveIDs(ctx, nationID, name, reserve)
	if err != nil {
		return 0, err
	}
	if reserve > n {
		db.idCache[key] = &idBlock{next: first + n, end: first + reserve}
	}
	return first, nil
}

// reserveIDs bumps the counter row atomically on the writer. The upsert
// works on both engines; RETURNING gives the new high-water mark.
func (db *DB) reserveIDs(ctx context.Context, nationID int64, name string, n int64) (int64, error) {
	var last int64
	err := retryBusy(ctx, func() error {
		return db.w.QueryRowContext(ctx, db.Rebind(`
			INSERT INTO id_sequences (nation_id, name, last_id) VALUES (?, ?, ?)
			ON CONFLICT (nation_id, name) DO UPDATE SET last_id = id_sequences.last_id + excluded.last_id
			RETURNING last_id`), nationID, name, n).Scan(&last)
	})
	if err != nil {
		return 0, fmt.Errorf("store: reserve ids for %s: %w", name, err)
	}
	return last - n + 1, nil
}

func nowMillis() int64 { return time.Now().UnixMilli() }

// NextID reserves one id inside the transaction, without the process cache:
// a cached block reserved by a transaction that later rolls back would hand
// out ids that another process may also receive. Hot paths call DB.NextID
// before opening their transaction instead.
func (tx *Tx) NextID(ctx context.Context, nationID int64, name string) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, `
		INSERT INTO id_sequences (nation_id, name, last_id) VALUES (?, ?, 1)
		ON CONFLICT (nation_id, name) DO UPDATE SET last_id = id_sequences.last_id + 1
		RETURNING last_id`, nationID, name).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("store: next id for %s: %w", name, err)
	}
	return last, nil
}
