package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
)

// Scope is what a volunteer may see (GDPR Art. 5(1)(c), 25, 32): the people
// matching Filter (segment filter language; empty means nobody), sensitive
// fields (support level, sensitive tags, notes) only when Sensitive, and
// exports only when Export.
type Scope struct {
	UserID    int64
	Name      string // the volunteer's name or e-mail, for the admin page
	Filter    string
	Sensitive bool
	Export    bool
}

// StaffRef names a staff member of the nation.
type StaffRef struct {
	UserID int64
	Name   string
	Role   string
}

// ImportRef names a control-panel import.
type ImportRef struct {
	ID       int64
	FileName string
}

// SegmentRef names a saved segment.
type SegmentRef struct {
	ID   int64
	Name string
}

// Staff lists the nation's staff members.
func (s *Service) Staff(ctx context.Context, nationID int64) ([]StaffRef, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT m.user_id, CASE WHEN u.name <> '' THEN u.name ELSE u.email END, m.role
		FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.nation_id = ? ORDER BY m.user_id`, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: staff: %w", err)
	}
	defer rows.Close()
	var out []StaffRef
	for rows.Next() {
		var m StaffRef
		if err := rows.Scan(&m.UserID, &m.Name, &m.Role); err != nil {
			return nil, fmt.Errorf("privacy: staff: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Imports lists the nation's control-panel imports, newest first.
func (s *Service) Imports(ctx context.Context, nationID int64) ([]ImportRef, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT id, file_name FROM imports WHERE nation_id = ? ORDER BY id DESC LIMIT 200`, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: imports: %w", err)
	}
	defer rows.Close()
	var out []ImportRef
	for rows.Next() {
		var i ImportRef
		if err := rows.Scan(&i.ID, &i.FileName); err != nil {
			return nil, fmt.Errorf("privacy: imports: %w", err)
		}
		out = append(out, i)
	}
	return out, rows.Err()
}

// SavedSegments lists the nation's saved segments by name.
func (s *Service) SavedSegments(ctx context.Context, nationID int64) ([]SegmentRef, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT id, name FROM segments WHERE nation_id = ? ORDER BY name, id`, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: segments: %w", err)
	}
	defer rows.Close()
	var out []SegmentRef
	for rows.Next() {
		var g SegmentRef
		if err := rows.Scan(&g.ID, &g.Name); err != nil {
			return nil, fmt.Errorf("privacy: segments: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// SegmentFilter returns the filter of a saved segment of the nation.
func (s *Service) SegmentFilter(ctx context.Context, nationID, id int64) (string, error) {
	var f string
	err := s.d.DB.QueryRow(ctx, `SELECT filter FROM segments WHERE nation_id = ? AND id = ?`, nationID, id).Scan(&f)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.NotFound("no such segment")
	}
	if err != nil {
		return "", fmt.Errorf("privacy: segment filter: %w", err)
	}
	return f, nil
}

// Scopes lists every volunteer of the nation with their scope (an empty
// one when none was assigned).
func (s *Service) Scopes(ctx context.Context, nationID int64) ([]Scope, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT m.user_id, CASE WHEN u.name <> '' THEN u.name ELSE u.email END,
			COALESCE(v.filter, ''), COALESCE(v.sensitive, 0), COALESCE(v.can_export, 0)
		FROM memberships m JOIN users u ON u.id = m.user_id
		LEFT JOIN volunteer_scopes v ON v.nation_id = m.nation_id AND v.user_id = m.user_id
		WHERE m.nation_id = ? AND m.role = 'volunteer' ORDER BY m.user_id`, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: scopes: %w", err)
	}
	defer rows.Close()
	var out []Scope
	for rows.Next() {
		var sc Scope
		var sens, exp int
		if err := rows.Scan(&sc.UserID, &sc.Name, &sc.Filter, &sens, &exp); err != nil {
			return nil, fmt.Errorf("privacy: scopes: %w", err)
		}
		sc.Sensitive, sc.Export = sens != 0, exp != 0
		out = append(out, sc)
	}
	return out, rows.Err()
}

// VolunteerScope returns the scope of one staff member of the nation (an
// empty scope, which shows nobody, when none was assigned).
func (s *Service) VolunteerScope(ctx context.Context, nationID, userID int64) (Scope, error) {
	sc := Scope{UserID: userID}
	var sens, exp int
	err := s.d.DB.QueryRowWriter(ctx, `SELECT filter, sensitive, can_export FROM volunteer_scopes WHERE nation_id = ? AND user_id = ?`,
		nationID, userID).Scan(&sc.Filter, &sens, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, nil
	}
	if err != nil {
		return sc, fmt.Errorf("privacy: volunteer scope: %w", err)
	}
	sc.Sensitive, sc.Export = sens != 0, exp != 0
	return sc, nil
}

// SetScope assigns a scope to a volunteer of the nation. The filter must
// parse; a user who is not a volunteer of the nation is not found.
func (s *Service) SetScope(ctx context.Context, nationID, actor int64, sc Scope) error {
	var role string
	err := s.d.DB.QueryRow(ctx, `SELECT role FROM memberships WHERE nation_id = ? AND user_id = ?`, nationID, sc.UserID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && role != "volunteer") {
		return errs.NotFound("no such volunteer")
	}
	if err != nil {
		return fmt.Errorf("privacy: set scope: %w", err)
	}
	if sc.Filter != "" {
		if _, err := segment.Parse(sc.Filter); err != nil {
			return errs.InvalidField("filter", "The filter is not valid: %s", errs.Message(err))
		}
	}
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	_, err = s.d.DB.Exec(ctx, `INSERT INTO volunteer_scopes (nation_id, user_id, filter, sensitive, can_export, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (nation_id, user_id) DO UPDATE SET filter = excluded.filter, sensitive = excluded.sensitive,
			can_export = excluded.can_export, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		nationID, sc.UserID, sc.Filter, b(sc.Sensitive), b(sc.Export), actor, store.Millis(s.d.Now()))
	if err != nil {
		return fmt.Errorf("privacy: set scope: %w", err)
	}
	return nil
}

// PeopleScope returns what a staff member who is a volunteer may see: a
// condition on people p (with its arguments) selecting the people of their
// scope — none when no filter was assigned — and whether sensitive fields
// and exports are granted. The people pages apply it (peopleweb.Scoper).
func (s *Service) PeopleScope(ctx context.Context, nationID, userID int64) (where string, args []any, sensitive, export bool, err error) {
	sc, err := s.VolunteerScope(ctx, nationID, userID)
	if err != nil {
		return "", nil, false, false, err
	}
	if sc.Filter == "" {
		return "1 = 0", nil, sc.Sensitive, sc.Export, nil
	}
	e, err := segment.Parse(sc.Filter)
	if err != nil {
		// A filter that no longer parses (the language changed) shows nobody.
		return "1 = 0", nil, sc.Sensitive, sc.Export, nil
	}
	env := segment.Env{Engine: s.d.DB.Engine, NationID: nationID, Today: s.d.Now()}
	if segment.Uses(e, "segment") {
		saved := map[string]segment.Expr{}
		rows, err := s.d.DB.Query(ctx, `SELECT name, filter FROM segments WHERE nation_id = ?`, nationID)
		if err != nil {
			return "", nil, false, false, fmt.Errorf("privacy: scope segments: %w", err)
		}
		for rows.Next() {
			var name, f string
			if err := rows.Scan(&name, &f); err != nil {
				rows.Close()
				return "", nil, false, false, fmt.Errorf("privacy: scope segments: %w", err)
			}
			if x, err := segment.Parse(f); err == nil {
				saved[strings.ToLower(name)] = x
			}
		}
		rows.Close()
		env.Segments = func(name string) (segment.Expr, bool) { x, ok := saved[strings.ToLower(name)]; return x, ok }
	}
	if segment.Uses(e, "support") || segment.Uses(e, "tag") {
		if env.Key, err = segment.ReadKey(ctx, s.d.DB, nationID); err != nil {
			return "", nil, false, false, err
		}
	}
	where, args, err = segment.Compile(e, env)
	if err != nil {
		return "1 = 0", nil, sc.Sensitive, sc.Export, nil
	}
	return where, args, sc.Sensitive, sc.Export, nil
}
