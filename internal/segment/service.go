package segment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// RecordChange notes, inside a write transaction, that people of a nation
// changed, so that every process's index reloads them before its next
// count. See internal/changes (which the people store calls directly).
func RecordChange(ctx context.Context, tx *store.Tx, nationID int64, personIDs ...int64) error {
	return changes.Record(ctx, tx, nationID, personIDs...)
}

// Options configure a Service.
type Options struct {
	// Zone returns a nation's time zone (ages and dates are counted in it);
	// nil means UTC for every nation.
	Zone func(ctx context.Context, nationID int64) (*time.Location, error)
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
	// NoIndex makes every count go to SQL.
	NoIndex bool
}

// Service counts and lists people by filter, with the in-memory index as
// the fast path, and keeps saved segments.
type Service struct {
	db   *store.DB
	opts Options

	mu        sync.Mutex
	indexes   map[int64]*Index
	lastPrune map[int64]time.Time
}

// NewService returns a Service on db.
func NewService(db *store.DB, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{db: db, opts: opts, indexes: map[int64]*Index{}, lastPrune: map[int64]time.Time{}}
}

// Path chooses how a count is answered.
type Path int

// Paths: Auto uses the index when it covers the filter.
const (
	Auto Path = iota
	ViaSQL
	ViaIndex
)

// Count counts the nation's people matching the filter text. A filter that
// does not parse returns the parser's *SyntaxError (kind invalid).
func (s *Service) Count(ctx context.Context, nationID int64, text string) (int64, error) {
	return s.CountVia(ctx, nationID, text, Auto)
}

// CountVia counts through a chosen path (benchmarks and tests compare
// them). ViaIndex on a filter the index does not cover falls back to SQL.
func (s *Service) CountVia(ctx context.Context, nationID int64, text string, path Path) (int64, error) {
	e, env, err := s.prepare(ctx, nationID, text)
	if err != nil {
		return 0, err
	}
	if path != ViaSQL && !s.opts.NoIndex && Covers(e) {
		s.maybePrune(ctx, nationID)
		return s.Index(nationID).Count(ctx, e, env.Today, env.Loc)
	}
	where, args, err := Compile(e, env)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM people p WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("segment: count: %w", err)
	}
	return n, nil
}

// Index returns the nation's index (empty until first used).
func (s *Service) Index(nationID int64) *Index {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indexes[nationID]
	if ix == nil {
		ix = NewIndex(s.db, nationID)
		s.indexes[nationID] = ix
	}
	return ix
}

// maybePrune deletes the nation's change rows older than ChangeRetention,
// at most every few minutes. Failure only delays pruning.
func (s *Service) maybePrune(ctx context.Context, nationID int64) {
	now := s.opts.Now()
	s.mu.Lock()
	due := now.Sub(s.lastPrune[nationID]) > 5*time.Minute
	if due {
		s.lastPrune[nationID] = now
	}
	s.mu.Unlock()
	if due {
		_, _ = s.db.Exec(ctx, `DELETE FROM people_changes WHERE nation_id = ? AND at < ?`,
			nationID, time.Now().Add(-ChangeRetention).UnixMilli())
	}
}

// prepare parses the text, expands saved segments and fixes today's date.
func (s *Service) prepare(ctx context.Context, nationID int64, text string) (Expr, Env, error) {
	e, err := Parse(text)
	if err != nil {
		return nil, Env{}, err
	}
	if Uses(e, "segment") {
		saved, err := s.savedExprs(ctx, nationID)
		if err != nil {
			return nil, Env{}, err
		}
		if e, err = Expand(e, func(name string) (Expr, bool) { x, ok := saved[strings.ToLower(name)]; return x, ok }); err != nil {
			return nil, Env{}, err
		}
	}
	loc := time.UTC
	if s.opts.Zone != nil {
		if loc, err = s.opts.Zone(ctx, nationID); err != nil {
			return nil, Env{}, err
		}
	}
	env := Env{Engine: s.db.Engine, NationID: nationID, Today: s.opts.Now(), Loc: loc}
	if Uses(e, "support") || Uses(e, "tag") {
		if env.Key, err = ReadKey(ctx, s.db, nationID); err != nil {
			return nil, Env{}, err
		}
		env.Support = env.Key.Support()
	}
	return e, env, nil
}

// Person is one row of a segment's list: enough to show and link it.
type Person struct {
	ID        int64
	FirstName string
	LastName  string
	Email     string
	City      string
}

// List returns a page of the people matching the filter, by id.
func (s *Service) List(ctx context.Context, nationID int64, text string, limit, offset int) ([]Person, error) {
	if limit <= 0 || limit > 1000 {
		limit = 50
	}
	e, env, err := s.prepare(ctx, nationID, text)
	if err != nil {
		return nil, err
	}
	where, args, err := Compile(e, env)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.id, p.first_name, p.last_name, p.email, p.home_city FROM people p WHERE `+where+
		` ORDER BY p.id LIMIT ? OFFSET ?`, append(args, limit, max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("segment: list: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.ID, &p.FirstName, &p.LastName, &p.Email, &p.City); err != nil {
			return nil, fmt.Errorf("segment: list: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Saved is a saved segment: a named filter.
type Saved struct {
	ID          int64
	Name        string
	Filter      string
	Description string
	AuthorID    int64
	Created     time.Time
	Updated     time.Time
}

const savedCols = "id, name, filter, description, author_id, created_at, updated_at"

func scanSaved(sc interface{ Scan(...any) error }) (Saved, error) {
	var g Saved
	var c, u int64
	err := sc.Scan(&g.ID, &g.Name, &g.Filter, &g.Description, &g.AuthorID, &c, &u)
	g.Created, g.Updated = store.Time(c), store.Time(u)
	return g, err
}

// savedExprs parses every saved segment of the nation, by lower-case name.
func (s *Service) savedExprs(ctx context.Context, nationID int64) (map[string]Expr, error) {
	list, err := s.ListSaved(ctx, nationID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Expr, len(list))
	for _, g := range list {
		if e, err := Parse(g.Filter); err == nil {
			out[strings.ToLower(g.Name)] = e
		}
	}
	return out, nil
}

// validate checks a segment's name and filter, including that the filter's
// segment: references exist and do not loop back to it.
func (s *Service) validate(ctx context.Context, nationID int64, g *Saved) error {
	g.Name = strings.TrimSpace(g.Name)
	g.Description = strings.TrimSpace(g.Description)
	if g.Name == "" || utf8.RuneCountInString(g.Name) > 100 {
		return errs.InvalidField("name", "a segment needs a name of at most 100 characters")
	}
	e, err := Parse(g.Filter)
	if err != nil {
		return err
	}
	g.Filter = e.String()
	saved, err := s.savedExprs(ctx, nationID)
	if err != nil {
		return err
	}
	saved[strings.ToLower(g.Name)] = e
	_, err = Expand(e, func(name string) (Expr, bool) { x, ok := saved[strings.ToLower(name)]; return x, ok })
	return err
}

// CreateSaved saves a segment; the name is unique in the nation.
func (s *Service) CreateSaved(ctx context.Context, nationID int64, g Saved) (Saved, error) {
	if err := s.validate(ctx, nationID, &g); err != nil {
		return Saved{}, err
	}
	id, err := s.db.NextID(ctx, nationID, "segments")
	if err != nil {
		return Saved{}, err
	}
	now := s.opts.Now()
	g.ID, g.Created, g.Updated = id, now, now
	_, err = s.db.Exec(ctx, `INSERT INTO segments (nation_id, `+savedCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		nationID, g.ID, g.Name, g.Filter, g.Description, g.AuthorID, store.Millis(now), store.Millis(now))
	if store.IsUniqueViolation(err) {
		return Saved{}, errs.Conflict("a segment named %q already exists", g.Name)
	}
	if err != nil {
		return Saved{}, fmt.Errorf("segment: create: %w", err)
	}
	return g, nil
}

// UpdateSaved changes a saved segment's name, filter and description.
func (s *Service) UpdateSaved(ctx context.Context, nationID int64, g Saved) (Saved, error) {
	old, err := s.GetSaved(ctx, nationID, g.ID)
	if err != nil {
		return Saved{}, err
	}
	if err := s.validate(ctx, nationID, &g); err != nil {
		return Saved{}, err
	}
	g.AuthorID, g.Created, g.Updated = old.AuthorID, old.Created, s.opts.Now()
	_, err = s.db.Exec(ctx, `UPDATE segments SET name = ?, filter = ?, description = ?, updated_at = ? WHERE nation_id = ? AND id = ?`,
		g.Name, g.Filter, g.Description, store.Millis(g.Updated), nationID, g.ID)
	if store.IsUniqueViolation(err) {
		return Saved{}, errs.Conflict("a segment named %q already exists", g.Name)
	}
	if err != nil {
		return Saved{}, fmt.Errorf("segment: update: %w", err)
	}
	return g, nil
}

// DeleteSaved deletes a saved segment and its count history.
func (s *Service) DeleteSaved(ctx context.Context, nationID, id int64) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM segments WHERE nation_id = ? AND id = ?`, nationID, id)
		if err != nil {
			return fmt.Errorf("segment: delete: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.NotFound("no such segment")
		}
		_, err = tx.Exec(ctx, `DELETE FROM segment_counts WHERE nation_id = ? AND segment_id = ?`, nationID, id)
		return err
	})
}

// GetSaved returns a saved segment by id.
func (s *Service) GetSaved(ctx context.Context, nationID, id int64) (Saved, error) {
	g, err := scanSaved(s.db.QueryRow(ctx, `SELECT `+savedCols+` FROM segments WHERE nation_id = ? AND id = ?`, nationID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Saved{}, errs.NotFound("no such segment")
	}
	return g, err
}

// SavedByName returns a saved segment by name.
func (s *Service) SavedByName(ctx context.Context, nationID int64, name string) (Saved, error) {
	g, err := scanSaved(s.db.QueryRow(ctx, `SELECT `+savedCols+` FROM segments WHERE nation_id = ? AND name = ?`, nationID, strings.TrimSpace(name)))
	if errors.Is(err, sql.ErrNoRows) {
		return Saved{}, errs.NotFound("no such segment")
	}
	return g, err
}

// ListSaved lists the nation's saved segments by name.
func (s *Service) ListSaved(ctx context.Context, nationID int64) ([]Saved, error) {
	rows, err := s.db.Query(ctx, `SELECT `+savedCols+` FROM segments WHERE nation_id = ? ORDER BY name`, nationID)
	if err != nil {
		return nil, fmt.Errorf("segment: list saved: %w", err)
	}
	defer rows.Close()
	var out []Saved
	for rows.Next() {
		g, err := scanSaved(rows)
		if err != nil {
			return nil, fmt.Errorf("segment: list saved: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// CountPoint is one entry of a saved segment's count history.
type CountPoint struct {
	At    time.Time
	Count int64
}

// RecordCount counts a saved segment now and appends the figure to its
// history (a periodic job calls it; the chart reads CountHistory).
func (s *Service) RecordCount(ctx context.Context, nationID, id int64) (CountPoint, error) {
	g, err := s.GetSaved(ctx, nationID, id)
	if err != nil {
		return CountPoint{}, err
	}
	n, err := s.Count(ctx, nationID, g.Filter)
	if err != nil {
		return CountPoint{}, err
	}
	at := s.opts.Now()
	_, err = s.db.Exec(ctx, `INSERT INTO segment_counts (nation_id, segment_id, at, count) VALUES (?, ?, ?, ?)
		ON CONFLICT (nation_id, segment_id, at) DO UPDATE SET count = excluded.count`, nationID, id, store.Millis(at), n)
	if err != nil {
		return CountPoint{}, fmt.Errorf("segment: record count: %w", err)
	}
	return CountPoint{At: store.Time(store.Millis(at)), Count: n}, nil
}

// CountHistory returns a saved segment's counts since a time, oldest first.
func (s *Service) CountHistory(ctx context.Context, nationID, id int64, since time.Time) ([]CountPoint, error) {
	rows, err := s.db.Query(ctx, `SELECT at, count FROM segment_counts WHERE nation_id = ? AND segment_id = ? AND at >= ? ORDER BY at`,
		nationID, id, store.Millis(since))
	if err != nil {
		return nil, fmt.Errorf("segment: count history: %w", err)
	}
	defer rows.Close()
	var out []CountPoint
	for rows.Next() {
		var at, n int64
		if err := rows.Scan(&at, &n); err != nil {
			return nil, fmt.Errorf("segment: count history: %w", err)
		}
		out = append(out, CountPoint{At: store.Time(at), Count: n})
	}
	return out, rows.Err()
}
