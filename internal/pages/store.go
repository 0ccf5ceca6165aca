package pages

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Store reads and writes pages, topics, subscriptions and signatures. Every
// method is scoped by nation id.
type Store struct {
	db  *store.DB
	now func() time.Time

	// counts caches petition signature counts for countTTL, so that a
	// petition page under load costs one COUNT per page per interval per
	// process, and no signature writes a shared counter row.
	mu     sync.Mutex
	counts map[[2]int64]cachedCount

	cache publicCache
}

type cachedCount struct {
	n  int64
	at time.Time
}

const countTTL = 2 * time.Second

// NewStore returns a Store on db.
func NewStore(db *store.DB) *Store {
	return &Store{db: db, now: time.Now, counts: map[[2]int64]cachedCount{}}
}

const pageCols = `id, nation_id, slug, type, title, body, lang, translations, share_image, status, target, goal, supports_party, settings, created_at, updated_at, published_at`

func scanPage(row interface{ Scan(...any) error }) (*Page, error) {
	var p Page
	var translations, settings string
	var supports int
	var created, updated, published int64
	if err := row.Scan(&p.ID, &p.NationID, &p.Slug, &p.Type, &p.Title, &p.Body, &p.Lang, &translations, &p.ShareImage, &p.Status,
		&p.Target, &p.Goal, &supports, &settings, &created, &updated, &published); err != nil {
		return nil, err
	}
	p.SupportsParty = supports != 0
	if err := json.Unmarshal([]byte(settings), &p.Settings); err != nil {
		return nil, fmt.Errorf("pages: settings of page %d: %w", p.ID, err)
	}
	if translations != "" && translations != "[]" {
		if err := json.Unmarshal([]byte(translations), &p.Translations); err != nil {
			return nil, fmt.Errorf("pages: translations of page %d: %w", p.ID, err)
		}
	}
	p.CreatedAt, p.UpdatedAt = store.Time(created), store.Time(updated)
	if published != 0 {
		p.PublishedAt = store.Time(published)
	}
	return &p, nil
}

func errSlugTaken() error { return errs.InvalidField("slug", "a page with this slug already exists") }

// MarshalTranslations is the stored form of a page's translations (also
// used by internal/clone, which copies pages row by row).
func MarshalTranslations(ts []Translation) (string, error) {
	if len(ts) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ts)
	return string(b), err
}

// Create stores a new page (already validated) and sets its id.
func (s *Store) Create(ctx context.Context, p *Page) error {
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return fmt.Errorf("pages: create: %w", err)
	}
	translations, err := MarshalTranslations(p.Translations)
	if err != nil {
		return fmt.Errorf("pages: create: %w", err)
	}
	now := s.now()
	p.CreatedAt, p.UpdatedAt = now, now
	var published int64
	if p.Published() {
		p.PublishedAt = now
		published = store.Millis(now)
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := tx.NextID(ctx, p.NationID, "pages")
		if err != nil {
			return err
		}
		p.ID = id
		_, err = tx.Exec(ctx, `INSERT INTO pages (`+pageCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			p.ID, p.NationID, p.Slug, p.Type, p.Title, p.Body, p.Lang, translations, p.ShareImage, p.Status,
			p.Target, p.Goal, store.Bool(p.SupportsParty), string(settings), store.Millis(now), store.Millis(now), published)
		return err
	})
	if store.IsUniqueViolation(err) {
		return errSlugTaken()
	}
	if err != nil {
		return fmt.Errorf("pages: create: %w", err)
	}
	s.invalidatePages(p.NationID)
	return nil
}

// Update saves a page's content, translations and settings (not its
// status).
func (s *Store) Update(ctx context.Context, p *Page) error {
	defer s.invalidatePages(p.NationID)
	settings, err := json.Marshal(p.Settings)
	if err != nil {
		return fmt.Errorf("pages: update: %w", err)
	}
	translations, err := MarshalTranslations(p.Translations)
	if err != nil {
		return fmt.Errorf("pages: update: %w", err)
	}
	p.UpdatedAt = s.now()
	res, err := s.db.Exec(ctx, `UPDATE pages SET slug = ?, type = ?, title = ?, body = ?, lang = ?, translations = ?, share_image = ?,
		target = ?, goal = ?, supports_party = ?, settings = ?, updated_at = ? WHERE nation_id = ? AND id = ?`,
		p.Slug, p.Type, p.Title, p.Body, p.Lang, translations, p.ShareImage, p.Target, p.Goal,
		store.Bool(p.SupportsParty), string(settings), store.Millis(p.UpdatedAt), p.NationID, p.ID)
	if store.IsUniqueViolation(err) {
		return errSlugTaken()
	}
	if err != nil {
		return fmt.Errorf("pages: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.NotFound("page not found")
	}
	return nil
}

// SetStatus publishes or unpublishes a page.
func (s *Store) SetStatus(ctx context.Context, nationID, id int64, status string) error {
	defer s.invalidatePages(nationID)
	if status != StatusDraft && status != StatusPublished {
		return errs.InvalidField("status", "unknown status %q", status)
	}
	now := store.Millis(s.now())
	res, err := s.db.Exec(ctx, `UPDATE pages SET status = ?, updated_at = ?,
		published_at = CASE WHEN ? = 'published' AND status <> 'published' THEN ? ELSE published_at END
		WHERE nation_id = ? AND id = ?`, status, now, status, now, nationID, id)
	if err != nil {
		return fmt.Errorf("pages: set status: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.NotFound("page not found")
	}
	return nil
}

// Delete removes a page and its signatures (the signers' timelines keep
// the activity).
func (s *Store) Delete(ctx context.Context, nationID, id int64) error {
	defer s.invalidatePages(nationID)
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM pages WHERE nation_id = ? AND id = ?`, nationID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.NotFound("page not found")
		}
		_, err = tx.Exec(ctx, `DELETE FROM signatures WHERE nation_id = ? AND page_id = ?`, nationID, id)
		return err
	})
	if err != nil && errs.KindOf(err) == errs.KindInternal {
		return fmt.Errorf("pages: delete: %w", err)
	}
	return err
}

// ByID returns a page of the nation.
func (s *Store) ByID(ctx context.Context, nationID, id int64) (*Page, error) {
	return s.one(ctx, `SELECT `+pageCols+` FROM pages WHERE nation_id = ? AND id = ?`, nationID, id)
}

// BySlug returns a page of the nation by its slug.
func (s *Store) BySlug(ctx context.Context, nationID int64, slug string) (*Page, error) {
	return s.one(ctx, `SELECT `+pageCols+` FROM pages WHERE nation_id = ? AND slug = ?`, nationID, slug)
}

func (s *Store) one(ctx context.Context, q string, args ...any) (*Page, error) {
	p, err := scanPage(s.db.QueryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("page not found")
	}
	if err != nil {
		return nil, fmt.Errorf("pages: get: %w", err)
	}
	return p, nil
}

// List returns the nation's pages, newest first; publishedOnly keeps the
// published ones.
func (s *Store) List(ctx context.Context, nationID int64, publishedOnly bool) ([]*Page, error) {
	q := `SELECT ` + pageCols + ` FROM pages WHERE nation_id = ?`
	if publishedOnly {
		q += ` AND status = 'published'`
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at DESC, id DESC`, nationID)
	if err != nil {
		return nil, fmt.Errorf("pages: list: %w", err)
	}
	defer rows.Close()
	var out []*Page
	for rows.Next() {
		p, err := scanPage(rows)
		if err != nil {
			return nil, fmt.Errorf("pages: list: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// SignatureCount returns the number of signatures of a petition, at most
// countTTL old (fresh after a signature made through this process).
func (s *Store) SignatureCount(ctx context.Context, nationID, pageID int64) (int64, error) {
	key := [2]int64{nationID, pageID}
	s.mu.Lock()
	c, ok := s.counts[key]
	s.mu.Unlock()
	if ok && s.now().Sub(c.at) < countTTL {
		return c.n, nil
	}
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = ?`, nationID, pageID).Scan(&n); err != nil {
		return 0, fmt.Errorf("pages: count signatures: %w", err)
	}
	s.mu.Lock()
	if len(s.counts) > 10_000 {
		clear(s.counts)
	}
	s.counts[key] = cachedCount{n, s.now()}
	s.mu.Unlock()
	return n, nil
}

// bumpCount adds a signature made by this process to the cached count.
func (s *Store) bumpCount(nationID, pageID int64) {
	key := [2]int64{nationID, pageID}
	s.mu.Lock()
	if c, ok := s.counts[key]; ok {
		c.n++
		s.counts[key] = c
	}
	s.mu.Unlock()
}

// Signer is one signature as the public list or the staff see it.
type Signer struct {
	FirstName string
	City      string
	Comment   string
	Public    bool
	Lang      string
	At        time.Time
}

// RecentSigners returns a petition's latest signatures; publicOnly keeps
// those whose signers asked to be listed (the public list).
func (s *Store) RecentSigners(ctx context.Context, nationID, pageID int64, publicOnly bool, limit int) ([]Signer, error) {
	q := `SELECT first_name, city, comment, show_publicly, lang, signed_at FROM signatures WHERE nation_id = ? AND page_id = ?`
	if publicOnly {
		q += ` AND show_publicly = 1`
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY signed_at DESC, person_id DESC LIMIT ?`, nationID, pageID, limit)
	if err != nil {
		return nil, fmt.Errorf("pages: signers: %w", err)
	}
	defer rows.Close()
	var out []Signer
	for rows.Next() {
		var sg Signer
		var pub int
		var at int64
		if err := rows.Scan(&sg.FirstName, &sg.City, &sg.Comment, &pub, &sg.Lang, &at); err != nil {
			return nil, fmt.Errorf("pages: signers: %w", err)
		}
		sg.Public, sg.At = pub != 0, store.Time(at)
		out = append(out, sg)
	}
	return out, rows.Err()
}

// Signed reports whether a person signed a petition.
func (s *Store) Signed(ctx context.Context, nationID, pageID, personID int64) (bool, error) {
	var n int
	err := s.db.QueryRowWriter(ctx, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = ? AND person_id = ?`,
		nationID, pageID, personID).Scan(&n)
	return n > 0, err
}
