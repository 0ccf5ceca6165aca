package crypt

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// Tags marked sensitive (political opinion, docs/privacy.md "Encryption")
// keep no plaintext in their row: tags.name holds the name sealed with a
// random nonce (SealTag), and tags.key holds a blind index of the lower-cased
// name (TagBlind: a keyed HMAC, "b1." + base64). Every look-up by name
// computes both the plain key and its blind index and matches either, so
// tag:NAME, import tagging and staff tagging find the same row — and the
// same tag id, so taggings stay valid — whether the tag is sensitive or not.
// The blind index reveals equality only: that two nations' rows, or two
// backups of one row, name the same tag is hidden too, since each nation
// has its own key.
//
// Timeline entries that name a sensitive tag ("tags: a, b") are sealed as a
// whole (SealDetails) when they are written, and existing ones when the tag
// is marked.

const (
	tagField     = "tag"
	detailsField = "details"
	// blindPrefix starts every blind index (see Blind).
	blindPrefix = "b1."
)

// SealTag seals the name of a sensitive tag (random nonce; the associated
// data is the nation and field, so a name opens in any row of its nation).
func (k *NationKey) SealTag(name string) string {
	s, err := k.SealText(tagField, 0, name)
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+)
	}
	return s
}

// OpenTag returns a stored tag name in the clear: opened when it is sealed
// under this nation's key, as stored otherwise (a plaintext name — even one
// that happens to start like a sealed value). Use it where the sensitive
// flag is not at hand; OpenTagRow is stricter.
func (k *NationKey) OpenTag(stored string) string {
	if !IsSealed(stored) {
		return stored
	}
	if s, err := k.OpenText(tagField, 0, stored); err == nil {
		return s
	}
	return stored
}

// TagBlind returns the blind index stored in tags.key for a sensitive tag
// whose plain key (lower-cased name) is key.
func (k *NationKey) TagBlind(key string) string { return k.Blind(tagField, key) }

// TagKeys returns what tags.key may hold for a tag whose plain key is key:
// the key itself (a plain tag) and its blind index (a sensitive one).
func (k *NationKey) TagKeys(key string) []string { return []string{key, k.TagBlind(key)} }

// IsBlind reports whether a stored tags.key is a blind index.
func IsBlind(s string) bool { return strings.HasPrefix(s, blindPrefix) }

// TagColumns returns the values to store in tags.name and tags.key for a tag
// of plain name and key.
func (k *NationKey) TagColumns(name, key string, sensitive bool) (storedName, storedKey string) {
	if !sensitive {
		return name, key
	}
	return k.SealTag(name), k.TagBlind(key)
}

// OpenTagRow returns the plain name and key of a stored tag row. A sensitive
// row whose name does not open (it never should: a wrong master key is
// refused at start) reads as a marker, never as ciphertext.
func (k *NationKey) OpenTagRow(name, key string, sensitive bool) (plainName, plainKey string) {
	if !sensitive {
		return name, key
	}
	s, err := k.OpenText(tagField, 0, name)
	if err != nil {
		return "[sensitive tag: does not open under this nation's key]", key
	}
	return s, strings.ToLower(s)
}

// SealDetails seals the details of a timeline entry that names a sensitive
// tag.
func (k *NationKey) SealDetails(details string) string {
	s, err := k.SealText(detailsField, 0, details)
	if err != nil {
		panic(err)
	}
	return s
}

// OpenDetails returns the details of a timeline entry of type typ: opened
// when sealed (a note, or an entry naming a sensitive tag), as stored
// otherwise.
func (k *NationKey) OpenDetails(typ, stored string) string {
	if !IsSealed(stored) {
		return stored
	}
	if typ == "note" {
		return k.OpenNote(stored)
	}
	if s, err := k.OpenText(detailsField, 0, stored); err == nil {
		return s
	}
	return stored // plaintext that merely starts like a sealed value
}

// Tag is a tag row in the clear.
type Tag struct {
	ID        int64
	Name, Key string // plain name and lower-cased key
	Sensitive bool
}

// Querier is a store.DB or a store.Tx.
type Querier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// FindTag returns the nation's tag whose plain key is key, stored in the
// clear or sealed; sql.ErrNoRows when there is none.
func FindTag(ctx context.Context, q Querier, k *NationKey, nationID int64, key string) (Tag, error) {
	var t Tag
	var name, stored string
	var sens int64
	// Should a plain and a sealed row both exist (a tag created in the
	// clear by a process that raced the marking), the sensitive one wins.
	err := q.QueryRow(ctx, `SELECT id, name, key, sensitive FROM tags WHERE nation_id = ? AND key IN (?, ?)
		ORDER BY sensitive DESC, id LIMIT 1`, nationID, key, k.TagBlind(key)).Scan(&t.ID, &name, &stored, &sens)
	if err != nil {
		return Tag{}, err
	}
	t.Sensitive = sens != 0
	t.Name, t.Key = k.OpenTagRow(name, stored, t.Sensitive)
	return t, nil
}

// Tags returns every tag of a nation in the clear, in id order.
func Tags(ctx context.Context, q Querier, k *NationKey, nationID int64) ([]Tag, error) {
	rows, err := q.Query(ctx, `SELECT id, name, key, sensitive FROM tags WHERE nation_id = ? ORDER BY id`, nationID)
	if err != nil {
		return nil, fmt.Errorf("crypt: read tags: %w", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		var t Tag
		var name, key string
		var sens int64
		if err := rows.Scan(&t.ID, &name, &key, &sens); err != nil {
			return nil, fmt.Errorf("crypt: read tags: %w", err)
		}
		t.Sensitive = sens != 0
		t.Name, t.Key = k.OpenTagRow(name, key, t.Sensitive)
		out = append(out, t)
	}
	return out, rows.Err()
}

// MarkTag seals (sensitive) or opens (not) a tag row in place, inside tx:
// its id, and so its taggings, stay. Marking also seals the timeline entries
// of the nation that name the tag ("tags: …" written before it was marked);
// unmarking leaves them sealed (they still read in the clear).
func MarkTag(ctx context.Context, tx *store.Tx, k *NationKey, nationID int64, t Tag, sensitive bool) error {
	name, key := k.TagColumns(t.Name, t.Key, sensitive)
	if _, err := tx.Exec(ctx, `UPDATE tags SET name = ?, key = ?, sensitive = ? WHERE nation_id = ? AND id = ?`,
		name, key, store.Bool(sensitive), nationID, t.ID); err != nil {
		return fmt.Errorf("crypt: mark tag: %w", err)
	}
	if !sensitive {
		return nil
	}
	return sealTagDetails(ctx, tx, k, nationID, t.Key)
}

// sealTagDetails seals the plaintext timeline entries of a nation whose
// "tags: a, b" list names the tag of plain key key.
func sealTagDetails(ctx context.Context, tx *store.Tx, k *NationKey, nationID int64, key string) error {
	rows, err := tx.Query(ctx, `SELECT id, details FROM activities WHERE nation_id = ? AND details LIKE 'tags: %'`, nationID)
	if err != nil {
		return fmt.Errorf("crypt: find timeline entries naming the tag: %w", err)
	}
	type entry struct {
		id      int64
		details string
	}
	var hit []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.details); err != nil {
			rows.Close()
			return fmt.Errorf("crypt: find timeline entries naming the tag: %w", err)
		}
		if NamesTag(e.details, key) {
			hit = append(hit, e)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("crypt: find timeline entries naming the tag: %w", err)
	}
	for _, e := range hit {
		if _, err := tx.Exec(ctx, `UPDATE activities SET details = ? WHERE nation_id = ? AND id = ?`,
			k.SealDetails(e.details), nationID, e.id); err != nil {
			return fmt.Errorf("crypt: seal timeline entry: %w", err)
		}
	}
	return nil
}

// NamesTag reports whether timeline details of the form "tags: a, b" may
// name the tag of plain key key. It compares case-insensitively and as a
// substring (a tag name may itself hold ", "): sealing an entry that did
// not need it costs nothing, leaving one in the clear would.
func NamesTag(details, key string) bool {
	list, ok := strings.CutPrefix(details, "tags: ")
	return ok && key != "" && strings.Contains(strings.ToLower(list), key)
}

// Scrub removes what the engine keeps of rows just overwritten, so that the
// plaintext a marking replaced does not survive: SQLite (which runs with
// secure_delete) still holds the old pages in its WAL until a checkpoint;
// PostgreSQL keeps dead tuples until VACUUM (a dump never includes them).
// A checkpoint that stays busy is left to the next one.
func Scrub(ctx context.Context, db *store.DB, tables ...string) error {
	if db.Engine == store.SQLite {
		for range 20 {
			var busy, frames, done int
			if err := db.QueryRowWriter(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
				return fmt.Errorf("crypt: checkpoint: %w", err)
			}
			if busy == 0 {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
	for _, t := range tables {
		if _, err := db.Exec(ctx, `VACUUM `+t); err != nil {
			return fmt.Errorf("crypt: vacuum %s: %w", t, err)
		}
	}
	return nil
}
