// Package nation owns nations: the walls that every other table is scoped
// by. A nation is one party, section, candidate or campaign with its own
// people, staff, site and settings; a parent nation may have children.
package nation

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Nation is one organising unit.
type Nation struct {
	ID          int64
	Slug        string
	Name        string
	ParentID    int64 // 0 when top-level
	DefaultLang string
	Languages   []string // offered on the public site, default first or included
	Country     string   // ISO 3166-1 alpha-2, default country for phone numbers
	TimeZone    string
	CreatedAt   time.Time
}

// SupportedLanguages are the languages Muster ships catalogs for.
var SupportedLanguages = []string{"en", "fr", "nl"}

// Reserved are slugs the router needs at the top level; they are refused as
// nation slugs so that /{nation}/ never shadows them.
var Reserved = []string{
	"admin", "api", "static", "healthz", "readyz", "metrics", "setup", "login", "logout",
	"debug", "assets", "favicon.ico", "robots.txt", "well-known", "invite", "unsubscribe",
	"webhooks", "auth", "account", "my-data", "www",
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$`)

// ValidateSlug checks a nation slug: lowercase letters, digits and hyphens,
// 2–63 characters, not starting or ending with a hyphen, not reserved.
func ValidateSlug(slug string) error {
	if !slugPattern.MatchString(slug) {
		return errs.InvalidField("slug", "invalid slug %q: use 2–63 lowercase letters, digits or hyphens, not starting or ending with a hyphen", slug)
	}
	if slices.Contains(Reserved, slug) {
		return errs.InvalidField("slug", "slug %q is reserved", slug)
	}
	return nil
}

// NewNation holds what is needed to create a nation.
type NewNation struct {
	Slug        string
	Name        string
	ParentSlug  string
	DefaultLang string   // "" means en
	Languages   []string // nil means all supported
	Country     string
	TimeZone    string
}

func (n *NewNation) normalise() error {
	n.Slug = strings.TrimSpace(n.Slug)
	n.Name = strings.TrimSpace(n.Name)
	if err := ValidateSlug(n.Slug); err != nil {
		return err
	}
	if n.Name == "" {
		return errs.InvalidField("name", "a nation needs a name")
	}
	if len(n.Name) > 200 {
		return errs.InvalidField("name", "the name is longer than 200 characters")
	}
	if n.DefaultLang == "" {
		n.DefaultLang = "en"
	}
	if !slices.Contains(SupportedLanguages, n.DefaultLang) {
		return errs.InvalidField("default_lang", "language %q is not supported (use en, fr or nl)", n.DefaultLang)
	}
	if len(n.Languages) == 0 {
		n.Languages = slices.Clone(SupportedLanguages)
	}
	for _, l := range n.Languages {
		if !slices.Contains(SupportedLanguages, l) {
			return errs.InvalidField("languages", "language %q is not supported (use en, fr or nl)", l)
		}
	}
	if !slices.Contains(n.Languages, n.DefaultLang) {
		n.Languages = append([]string{n.DefaultLang}, n.Languages...)
	}
	n.Country = strings.ToUpper(strings.TrimSpace(n.Country))
	if n.Country != "" && len(n.Country) != 2 {
		return errs.InvalidField("country", "country must be a two-letter ISO code such as BE")
	}
	if n.TimeZone == "" {
		n.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(n.TimeZone); err != nil {
		return errs.InvalidField("timezone", "unknown time zone %q", n.TimeZone)
	}
	return nil
}

// Validate checks n as Create would, without writing, so that a caller
// creating several things at once can refuse bad input before any is made.
func (n NewNation) Validate() error { return n.normalise() }

// Store reads and writes nations.
type Store struct{ db *store.DB }

// NewStore returns a nation store over db.
func NewStore(db *store.DB) *Store { return &Store{db: db} }

// Create validates and inserts a nation.
func (s *Store) Create(ctx context.Context, n NewNation) (*Nation, error) {
	if err := n.normalise(); err != nil {
		return nil, err
	}
	var parentID sql.NullInt64
	if n.ParentSlug != "" {
		p, err := s.BySlug(ctx, n.ParentSlug)
		if err != nil {
			if errors.Is(err, errs.ErrNotFound) {
				return nil, errs.InvalidField("parent", "parent nation %q does not exist", n.ParentSlug)
			}
			return nil, err
		}
		parentID = sql.NullInt64{Int64: p.ID, Valid: true}
	}
	id, err := s.db.NextID(ctx, 0, "nations")
	if err != nil {
		return nil, fmt.Errorf("nation: create: %w", err)
	}
	now := time.Now()
	_, err = s.db.Exec(ctx, `INSERT INTO nations
		(id, slug, name, parent_id, default_lang, languages, country, timezone, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, n.Slug, n.Name, parentID, n.DefaultLang, strings.Join(n.Languages, ","), n.Country, n.TimeZone,
		store.Millis(now), store.Millis(now))
	if store.IsUniqueViolation(err) {
		return nil, errs.Conflict("a nation with slug %q already exists", n.Slug)
	}
	if err != nil {
		return nil, fmt.Errorf("nation: create: %w", err)
	}
	return s.ByID(ctx, id)
}

// DeleteEmpty removes a nation that holds no people and no staff: it undoes
// a nation whose creation was part of a larger step that failed.
//
// On PostgreSQL the tables that take a row per person have no foreign key to
// nations (migration 0017: the per-row check cost half an import's writes),
// so nothing cascades to them: the rows an empty nation can still hold there
// (its change log) are deleted here, in the same transaction.
func (s *Store) DeleteEmpty(ctx context.Context, id int64) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM nations WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM people WHERE nation_id = ?)
			AND NOT EXISTS (SELECT 1 FROM memberships WHERE nation_id = ?)`, id, id, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		for _, table := range personTables {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE nation_id = ?`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nation: delete empty: %w", err)
	}
	return nil
}

// personTables are the tables without a foreign key to nations on
// PostgreSQL (migration 0017_bulk_write_costs.sql).
var personTables = []string{"people", "person_emails", "person_phones", "person_addresses", "taggings",
	"custom_values", "activities", "consents", "people_changes", "signatures", "deliveries", "person_rungs"}

const nationColumns = `id, slug, name, parent_id, default_lang, languages, country, timezone, created_at`

func scanNation(row interface{ Scan(...any) error }) (*Nation, error) {
	var n Nation
	var parent sql.NullInt64
	var langs string
	var created int64
	if err := row.Scan(&n.ID, &n.Slug, &n.Name, &parent, &n.DefaultLang, &langs, &n.Country, &n.TimeZone, &created); err != nil {
		return nil, err
	}
	n.ParentID = parent.Int64
	n.Languages = strings.Split(langs, ",")
	n.CreatedAt = store.Time(created)
	return &n, nil
}

// ByID returns the nation with id.
func (s *Store) ByID(ctx context.Context, id int64) (*Nation, error) {
	n, err := scanNation(s.db.QueryRowWriter(ctx, `SELECT `+nationColumns+` FROM nations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("nation not found")
	}
	if err != nil {
		return nil, fmt.Errorf("nation: by id: %w", err)
	}
	return n, nil
}

// BySlug returns the nation with slug.
func (s *Store) BySlug(ctx context.Context, slug string) (*Nation, error) {
	n, err := scanNation(s.db.QueryRow(ctx, `SELECT `+nationColumns+` FROM nations WHERE slug = ?`, slug))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("no nation %q", slug)
	}
	if err != nil {
		return nil, fmt.Errorf("nation: by slug: %w", err)
	}
	return n, nil
}

// List returns every nation, by slug. Only installation-level tools (the
// command line) call it; staff see ListForUser.
func (s *Store) List(ctx context.Context) ([]*Nation, error) {
	return s.list(ctx, `SELECT `+nationColumns+` FROM nations ORDER BY slug`)
}

// ListForUser returns the nations a staff member belongs to, by name.
func (s *Store) ListForUser(ctx context.Context, userID int64) ([]*Nation, error) {
	return s.list(ctx, `SELECT `+nationColumns+` FROM nations
		WHERE id IN (SELECT nation_id FROM memberships WHERE user_id = ?) ORDER BY name, slug`, userID)
}

func (s *Store) list(ctx context.Context, q string, args ...any) ([]*Nation, error) {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("nation: list: %w", err)
	}
	defer rows.Close()
	var out []*Nation
	for rows.Next() {
		n, err := scanNation(rows)
		if err != nil {
			return nil, fmt.Errorf("nation: list: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Counts are the dashboard figures of a nation.
type Counts struct {
	People int64
	Staff  int64
}

// CountsOf returns the dashboard figures of a nation.
func (s *Store) CountsOf(ctx context.Context, nationID int64) (Counts, error) {
	var c Counts
	err := s.db.QueryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM people WHERE nation_id = ?),
		(SELECT COUNT(*) FROM memberships WHERE nation_id = ?)`, nationID, nationID).Scan(&c.People, &c.Staff)
	if err != nil {
		return c, fmt.Errorf("nation: counts: %w", err)
	}
	return c, nil
}
