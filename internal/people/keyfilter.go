package people

import (
	"context"
	"database/sql"
	"hash/maphash"
	"math/bits"
	"sync/atomic"

	"github.com/muster-org/muster/internal/store"
)

// A KeyFilter answers "may a person of this nation have this key?" (an
// external id, an e-mail, a phone) without the database, so that a bulk
// import asks the database only about keys that may exist. On a first
// import nearly every key is new, and the look-ups a batch otherwise makes
// (one index probe per key and rule) are a quarter of its time.
//
// It is a Bloom filter: no false negatives, a few false positives (which
// only cost the query the filter would have saved). It is built by one
// scan of the nation's keys, and kept whole through the people change log:
// every batch first adds the keys of the people others changed since
// (changes.Record), then the keys of its own records. Sequence numbers are
// handed out in commit order (PostgreSQL holds the counter row until
// commit; SQLite has one writer), so catching up to the batch's own number
// misses no committed person (see upsertBatch for when each engine does it).
//
// A KeyFilter belongs to one import run (UpsertOptions.Keys). It is safe
// for concurrent use, for the two batches an import writes at once on
// PostgreSQL: bits are set and read atomically, and the sequence seen only
// moves forward (whichever batch commits the higher number wins).
type KeyFilter struct {
	nationID int64
	seed     maphash.Seed
	bits     []uint64
	mask     uint64       // len(bits)*64 - 1
	seq      atomic.Int64 // change sequence seen up to (inclusive)
}

// advance records that every change up to seq is in the filter.
func (f *KeyFilter) advance(seq int64) {
	for {
		cur := f.seq.Load()
		if seq <= cur || f.seq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// keyHashes is the number of bit positions per key: seven gives about
// 0.2 % false positives at 5 million keys in the smallest filter.
const keyHashes = 7

// NewKeyFilter scans the nation's keys into a filter sized for them plus
// room for a few million more (the import's own).
func (s *Store) NewKeyFilter(ctx context.Context, nationID int64) (*KeyFilter, error) {
	f := &KeyFilter{nationID: nationID, seed: maphash.MakeSeed()}
	// The sequence first: changes committed during the scan are caught up
	// by the first batch.
	var seq int64
	if err := s.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM people_changes WHERE nation_id = ?`, nationID).Scan(&seq); err != nil {
		return nil, wrap("key filter", err)
	}
	f.seq.Store(seq)
	var existing int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, nationID).Scan(&existing); err != nil {
		return nil, wrap("key filter", err)
	}
	// 16 bits per expected key, existing people counted at four keys,
	// plus 4 million keys of room; a power of two for masking.
	want := uint64(16 * (4*existing + 4_000_000))
	size := uint64(1) << bits.Len64(want-1)
	f.bits = make([]uint64, size/64)
	f.mask = size - 1

	for _, q := range []string{
		`SELECT nationbuilder_id FROM people WHERE nation_id = ? AND nationbuilder_id <> ''`,
		`SELECT civicrm_id FROM people WHERE nation_id = ? AND civicrm_id <> ''`,
		`SELECT external_id FROM people WHERE nation_id = ? AND external_id <> ''`,
		`SELECT mobile_e164 FROM people WHERE nation_id = ? AND mobile_e164 <> ''`,
		`SELECT phone_e164 FROM people WHERE nation_id = ? AND phone_e164 <> ''`,
		`SELECT email_norm FROM person_emails WHERE nation_id = ?`,
		`SELECT e164 FROM person_phones WHERE nation_id = ? AND e164 <> ''`,
	} {
		if err := f.scan(ctx, s.db, q, nationID); err != nil {
			return nil, wrap("key filter", err)
		}
	}
	return f, nil
}

// scan adds the keys the one-column query q returns.
func (f *KeyFilter) scan(ctx context.Context, db querier, q string, args ...any) error {
	var v sql.NullString
	return eachRow(ctx, db, q, args, func(rows *sql.Rows) error {
		err := rows.Scan(&v)
		f.add(v.String)
		return err
	})
}

// add puts a key in the filter. Keys of every kind share one filter: an
// e-mail never equals a phone number, and a false positive is harmless.
func (f *KeyFilter) add(key string) {
	if key == "" {
		return
	}
	h1, h2 := f.hashes(key)
	for i := uint64(0); i < keyHashes; i++ {
		b := (h1 + i*h2) & f.mask
		atomic.OrUint64(&f.bits[b/64], 1<<(b%64))
	}
}

// mayHave reports whether key may be a key of someone in the nation.
func (f *KeyFilter) mayHave(key string) bool {
	h1, h2 := f.hashes(key)
	for i := uint64(0); i < keyHashes; i++ {
		b := (h1 + i*h2) & f.mask
		if atomic.LoadUint64(&f.bits[b/64])&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// hashes derives the filter's bit positions by double hashing.
func (f *KeyFilter) hashes(key string) (uint64, uint64) {
	h := maphash.String(f.seed, key)
	return h, bits.RotateLeft64(h, 32) | 1
}

// catchUp adds, inside tx, the keys of the people changed under sequence
// numbers after from and before upTo, and returns the highest number it saw
// (from when none). The caller moves f.seq on once the transaction commits
// (a rolled-back transaction gives its number back on SQLite).
func (f *KeyFilter) catchUp(ctx context.Context, tx *store.Tx, from, upTo int64) (int64, error) {
	seen := from
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(seq), ?) FROM people_changes WHERE nation_id = ? AND seq > ? AND seq < ?`,
		from, f.nationID, from, upTo).Scan(&seen); err != nil || seen == from {
		return from, err
	}
	changed := `(SELECT person_id FROM people_changes WHERE nation_id = ? AND seq > ? AND seq <= ?)`
	args := []any{f.nationID, f.nationID, from, seen}
	var k [5]string
	err := eachRow(ctx, tx, `SELECT nationbuilder_id, civicrm_id, external_id, mobile_e164, phone_e164
		FROM people WHERE nation_id = ? AND id IN `+changed, args, func(rows *sql.Rows) error {
		if err := rows.Scan(&k[0], &k[1], &k[2], &k[3], &k[4]); err != nil {
			return err
		}
		for _, v := range k {
			f.add(v)
		}
		return nil
	})
	if err != nil {
		return from, err
	}
	for _, q := range []string{
		`SELECT email_norm FROM person_emails WHERE nation_id = ? AND person_id IN ` + changed,
		`SELECT e164 FROM person_phones WHERE nation_id = ? AND person_id IN ` + changed,
	} {
		if err := f.scan(ctx, tx, q, args...); err != nil {
			return from, err
		}
	}
	return seen, nil
}

// addRecords adds the keys of a batch's records (a superset of what the
// batch wrote: rejected and rolled-back records only cost a query later).
func (f *KeyFilter) addRecords(preps []prepared) {
	for i := range preps {
		p := &preps[i]
		f.add(p.v[cNBID])
		f.add(p.v[cCiviID])
		f.add(p.v[cExtID])
		f.add(p.v[cMobileE164])
		f.add(p.v[cPhoneE164])
		for _, e := range p.emails {
			f.add(e.norm)
		}
	}
}

// list returns the values of s the filter may hold, all of them without
// a filter.
func (f *KeyFilter) list(s set) []string {
	if f == nil {
		return s.list()
	}
	out := make([]string, 0, 8)
	for v := range s {
		if f.mayHave(v) {
			out = append(out, v)
		}
	}
	return out
}
