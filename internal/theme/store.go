package theme

import (
	"context"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// File is one theme file of a nation as the control panel shows it.
type File struct {
	Name      string
	Draft     string // saved, shown in the preview; "" = the default
	Published string // what visitors get; "" = the default
	UpdatedAt time.Time
}

// Pending reports whether the draft differs from what is published.
func (f File) Pending() bool { return f.Draft != f.Published }

// Store reads and writes theme files. Every method is scoped by nation id.
type Store struct{ db *store.DB }

// NewStore returns a Store on db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Files returns a nation's theme files by name.
func (s *Store) Files(ctx context.Context, nationID int64) ([]File, error) {
	rows, err := s.db.Query(ctx, `SELECT name, draft, published, updated_at FROM theme_files
		WHERE nation_id = ? ORDER BY name`, nationID)
	if err != nil {
		return nil, fmt.Errorf("theme: files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		var f File
		var at int64
		if err := rows.Scan(&f.Name, &f.Draft, &f.Published, &at); err != nil {
			return nil, fmt.Errorf("theme: files: %w", err)
		}
		f.UpdatedAt = store.Time(at)
		out = append(out, f)
	}
	return out, rows.Err()
}

// Published returns the nation's published overrides (name → source) and
// the time of the latest change, the stylesheet's version.
func (s *Store) Published(ctx context.Context, nationID int64) (map[string]string, int64, error) {
	files, err := s.Files(ctx, nationID)
	if err != nil {
		return nil, 0, err
	}
	out := map[string]string{}
	var version int64
	for _, f := range files {
		if f.Published != "" {
			out[f.Name] = f.Published
		}
		version = max(version, store.Millis(f.UpdatedAt))
	}
	return out, version, nil
}

// Drafts returns the nation's draft overrides (name → source).
func (s *Store) Drafts(ctx context.Context, nationID int64) (map[string]string, error) {
	files, err := s.Files(ctx, nationID)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		if f.Draft != "" {
			out[f.Name] = f.Draft
		}
	}
	return out, nil
}

// SaveDraft stores the draft of one file ("" reverts it to the default at
// the next publish). The caller has validated the set.
func (s *Store) SaveDraft(ctx context.Context, nationID int64, name, src string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO theme_files (nation_id, name, draft, published, updated_at)
		VALUES (?, ?, ?, '', ?)
		ON CONFLICT (nation_id, name) DO UPDATE SET draft = excluded.draft, updated_at = excluded.updated_at`,
		nationID, name, src, store.Millis(time.Now()))
	if err != nil {
		return fmt.Errorf("theme: save draft: %w", err)
	}
	return nil
}

// Publish makes the drafts what visitors get, and forgets files that are
// back to the default.
func (s *Store) Publish(ctx context.Context, nationID int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE theme_files SET published = draft, updated_at = ? WHERE nation_id = ?`,
			store.Millis(time.Now()), nationID); err != nil {
			return fmt.Errorf("theme: publish: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM theme_files WHERE nation_id = ? AND draft = '' AND published = ''`, nationID); err != nil {
			return fmt.Errorf("theme: publish: %w", err)
		}
		return nil
	})
}

// CopyTx copies a nation's theme files (drafts and published) to another
// nation inside tx, for cloning; files the target already has are kept.
func CopyTx(ctx context.Context, tx *store.Tx, fromID, toID int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO theme_files (nation_id, name, draft, published, updated_at)
		SELECT ?, name, draft, published, ? FROM theme_files WHERE nation_id = ?
		ON CONFLICT (nation_id, name) DO NOTHING`, toID, store.Millis(time.Now()), fromID)
	if err != nil {
		return fmt.Errorf("theme: copy: %w", err)
	}
	return nil
}
