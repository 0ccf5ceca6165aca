package segment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// The engagement ladder: each action type earns points, and a nation's
// rungs (prospect → supporter → engaged → volunteer → organizer by default)
// are each defined by a filter in the filter language, so that a person's
// rung is computed from their data with the same semantics (and tests) as
// every segment. Staff may set a rung by hand; that overrides the computed
// one and goes on the person's timeline.

// DefaultPoints are the points each action type earns in a nation that has
// not configured its own.
var DefaultPoints = map[string]int64{
	"signed": 5, "form_submitted": 3, "rsvp": 3, "attended": 10,
	"donated": 10, "volunteered": 15, "canvassed": 15,
}

// Rung is one step of the ladder. A computed rung (Manual false) holds the
// people its Filter matches; the empty filter matches everyone. A manual
// rung is only ever reached by staff setting it; its Filter, if any, says
// who is ready to be invited to it (the "ready to move up" view).
type Rung struct {
	Key    string // stable code: prospect, supporter, …
	Name   string // shown to staff
	Filter string
	Manual bool
}

// DefaultRungs is the ladder of a nation that has not configured its own,
// bottom first. The language has no qualifier for "has volunteered" (an
// activity type), so volunteering shows as the volunteer tag, which the
// volunteer sign-up pages and shift records are expected to set.
var DefaultRungs = []Rung{
	{Key: "prospect", Name: "Prospect"},
	{Key: "supporter", Name: "Supporter", Filter: "actions:>=1"},
	{Key: "engaged", Name: "Engaged", Filter: "actions:>=2"},
	{Key: "volunteer", Name: "Volunteer", Filter: "tag:volunteer"},
	{Key: "organizer", Name: "Organizer", Filter: "tag:volunteer actions:>=3", Manual: true},
}

// ActivityRungSet is the timeline type of a rung set (or cleared) by hand.
const ActivityRungSet = "rung_set"

// Points returns the points per action type of a nation (defaults filled in).
func (s *Service) Points(ctx context.Context, nationID int64) (map[string]int64, error) {
	out := make(map[string]int64, len(DefaultPoints))
	for k, v := range DefaultPoints {
		out[k] = v
	}
	rows, err := s.db.Query(ctx, `SELECT action_type, points FROM ladder_points WHERE nation_id = ?`, nationID)
	if err != nil {
		return nil, fmt.Errorf("segment: points: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t string
		var p int64
		if err := rows.Scan(&t, &p); err != nil {
			return nil, fmt.Errorf("segment: points: %w", err)
		}
		out[t] = p
	}
	return out, rows.Err()
}

// PointsFor is what one action of a type earns in a nation: the number a
// domain passes to people.Store.RecordActionTx.
func (s *Service) PointsFor(ctx context.Context, nationID int64, actionType string) (int64, error) {
	pts, err := s.Points(ctx, nationID)
	if err != nil {
		return 0, err
	}
	return pts[actionType], nil
}

// MaxPoints bounds the points of one action.
const MaxPoints = 1000

// SetPoints stores a nation's points per action type. Only the types of
// ActionTypes are accepted.
func (s *Service) SetPoints(ctx context.Context, nationID int64, pts map[string]int64) error {
	for t, p := range pts {
		if !isActionType(t) {
			return errs.InvalidField("points", "unknown action type %q", t)
		}
		if p < 0 || p > MaxPoints {
			return errs.InvalidField("points."+t, "points must be between 0 and %d", MaxPoints)
		}
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for t, p := range pts {
			if _, err := tx.Exec(ctx, `INSERT INTO ladder_points (nation_id, action_type, points) VALUES (?, ?, ?)
				ON CONFLICT (nation_id, action_type) DO UPDATE SET points = excluded.points`, nationID, t, p); err != nil {
				return fmt.Errorf("segment: set points: %w", err)
			}
		}
		return nil
	})
}

func isActionType(t string) bool {
	for _, a := range ActionTypes {
		if a == t {
			return true
		}
	}
	return false
}

// RecomputePoints sets every person's engagement points to the sum, over
// their actions on the timeline, of the nation's points per action type
// (after the points were reconfigured), and notes the people whose score
// changed in the change log so that segment counts see it. It returns how
// many people changed.
func (s *Service) RecomputePoints(ctx context.Context, nationID int64) (int64, error) {
	pts, err := s.Points(ctx, nationID)
	if err != nil {
		return 0, err
	}
	var sum strings.Builder
	var args []any
	sum.WriteString(`(SELECT COALESCE(SUM(CASE a.type`)
	for _, t := range ActionTypes {
		sum.WriteString(` WHEN ? THEN ` + strconv.FormatInt(pts[t], 10))
		args = append(args, t)
	}
	sum.WriteString(` ELSE 0 END), 0) FROM activities a WHERE a.nation_id = people.nation_id AND a.person_id = people.id)`)
	var changed []int64
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		q := `SELECT id FROM people WHERE nation_id = ? AND merged_into = 0 AND points <> ` + sum.String()
		rows, err := tx.Query(ctx, q, append([]any{nationID}, args...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			changed = append(changed, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(changed) == 0 {
			return nil
		}
		upd := `UPDATE people SET points = ` + sum.String() + ` WHERE nation_id = ? AND merged_into = 0 AND points <> ` + sum.String()
		uargs := append(append(append([]any{}, args...), nationID), args...)
		if _, err := tx.Exec(ctx, upd, uargs...); err != nil {
			return err
		}
		return changes.Record(ctx, tx, nationID, changed...)
	})
	if err != nil {
		return 0, fmt.Errorf("segment: recompute points: %w", err)
	}
	return int64(len(changed)), nil
}

// Rungs returns a nation's ladder, bottom first (DefaultRungs if it has
// not configured one).
func (s *Service) Rungs(ctx context.Context, nationID int64) ([]Rung, error) {
	rows, err := s.db.Query(ctx, `SELECT key, name, filter, manual FROM ladder_rungs WHERE nation_id = ? ORDER BY position`, nationID)
	if err != nil {
		return nil, fmt.Errorf("segment: rungs: %w", err)
	}
	defer rows.Close()
	var out []Rung
	for rows.Next() {
		var r Rung
		var manual int
		if err := rows.Scan(&r.Key, &r.Name, &r.Filter, &manual); err != nil {
			return nil, fmt.Errorf("segment: rungs: %w", err)
		}
		r.Manual = manual != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segment: rungs: %w", err)
	}
	if len(out) == 0 {
		out = append(out, DefaultRungs...)
	}
	return out, nil
}

var rungKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// SetRungs replaces a nation's ladder. There must be at least two rungs
// with distinct keys; the bottom rung cannot be manual (everyone starts
// there); every filter must parse and its saved segments exist.
func (s *Service) SetRungs(ctx context.Context, nationID int64, rungs []Rung) error {
	if len(rungs) < 2 || len(rungs) > 20 {
		return errs.InvalidField("rungs", "a ladder has between 2 and 20 rungs")
	}
	seen := map[string]bool{}
	for i := range rungs {
		r := &rungs[i]
		r.Key = strings.ToLower(strings.TrimSpace(r.Key))
		r.Name = strings.TrimSpace(r.Name)
		if !rungKey.MatchString(r.Key) {
			return errs.InvalidField("rungs", "rung %d: a key is 1 to 40 lower-case letters, digits, - or _", i+1)
		}
		if seen[r.Key] {
			return errs.InvalidField("rungs", "rung %d: the key %q is used twice", i+1, r.Key)
		}
		seen[r.Key] = true
		if r.Name == "" || utf8.RuneCountInString(r.Name) > 60 {
			return errs.InvalidField("rungs", "rung %d: a name of 1 to 60 characters is needed", i+1)
		}
		if i == 0 && r.Manual {
			return errs.InvalidField("rungs", "the bottom rung cannot be manual: everyone starts there")
		}
		if _, _, err := s.prepare(ctx, nationID, r.Filter); err != nil {
			return fmt.Errorf("rung %q: %w", r.Key, err)
		}
		r.Filter = strings.TrimSpace(r.Filter)
	}
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM ladder_rungs WHERE nation_id = ?`, nationID); err != nil {
			return fmt.Errorf("segment: set rungs: %w", err)
		}
		for i, r := range rungs {
			if _, err := tx.Exec(ctx, `INSERT INTO ladder_rungs (nation_id, position, key, name, filter, manual) VALUES (?, ?, ?, ?, ?, ?)`,
				nationID, i, r.Key, r.Name, r.Filter, store.Bool(r.Manual)); err != nil {
				return fmt.Errorf("segment: set rungs: %w", err)
			}
		}
		return nil
	})
}

// ManualRung is a rung set by hand.
type ManualRung struct {
	Key   string
	SetBy int64
	SetAt time.Time
}

// PersonRung is where a person stands on the ladder.
type PersonRung struct {
	Computed int         // position of the highest computed rung whose filter matches
	Manual   *ManualRung // nil when none is set (or its rung no longer exists)
	Current  int         // the manual rung's position if set, else Computed
	Reason   string      // the rule that placed the person on Computed ("" for the bottom)
}

// RungOf computes a person's rung. The person must be a live person of the
// nation.
func (s *Service) RungOf(ctx context.Context, nationID, personID int64) (PersonRung, []Rung, error) {
	rungs, err := s.Rungs(ctx, nationID)
	if err != nil {
		return PersonRung{}, nil, err
	}
	if err := s.mustBeLive(ctx, nationID, personID); err != nil {
		return PersonRung{}, nil, err
	}
	var pr PersonRung
	for i := len(rungs) - 1; i > 0; i-- {
		if rungs[i].Manual {
			continue
		}
		reason, ok, err := s.matchRule(ctx, nationID, personID, rungs[i].Filter)
		if err != nil {
			return PersonRung{}, nil, err
		}
		if ok {
			pr.Computed, pr.Reason = i, reason
			break
		}
	}
	pr.Current = pr.Computed
	var m ManualRung
	var at int64
	err = s.db.QueryRow(ctx, `SELECT rung, set_by, set_at FROM person_rungs WHERE nation_id = ? AND person_id = ?`,
		nationID, personID).Scan(&m.Key, &m.SetBy, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return PersonRung{}, nil, fmt.Errorf("segment: rung of person: %w", err)
	default:
		m.SetAt = store.Time(at)
		if pos := rungPos(rungs, m.Key); pos >= 0 {
			pr.Manual, pr.Current = &m, pos
		}
	}
	return pr, rungs, nil
}

func rungPos(rungs []Rung, key string) int {
	for i, r := range rungs {
		if r.Key == key {
			return i
		}
	}
	return -1
}

func (s *Service) mustBeLive(ctx context.Context, nationID, personID int64) error {
	var one int
	err := s.db.QueryRow(ctx, `SELECT 1 FROM people WHERE nation_id = ? AND id = ? AND merged_into = 0`, nationID, personID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.NotFound("no such person")
	}
	if err != nil {
		return fmt.Errorf("segment: person: %w", err)
	}
	return nil
}

// matchRule reports whether one person matches a rung's filter and which
// rule did it: for a filter of alternatives (a OR b OR c), the first
// alternative the person matches; otherwise the whole filter.
func (s *Service) matchRule(ctx context.Context, nationID, personID int64, filter string) (string, bool, error) {
	e, err := Parse(filter)
	if err != nil {
		return "", false, err
	}
	terms := []Expr{e}
	if or, ok := e.(*Or); ok {
		terms = or.Terms
	}
	for _, t := range terms {
		ok, err := s.personMatches(ctx, nationID, personID, t.String())
		if err != nil {
			return "", false, err
		}
		if ok {
			return t.String(), true, nil
		}
	}
	return "", false, nil
}

func (s *Service) personMatches(ctx context.Context, nationID, personID int64, text string) (bool, error) {
	e, env, err := s.prepare(ctx, nationID, text)
	if err != nil {
		return false, err
	}
	where, args, err := Compile(e, env)
	if err != nil {
		return false, err
	}
	var n int64
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM people p WHERE `+where+` AND p.id = ?`, append(args, personID)...).Scan(&n); err != nil {
		return false, fmt.Errorf("segment: match person: %w", err)
	}
	return n > 0, nil
}

// SetManualRung sets (key) or clears ("") a person's rung by hand, and
// records it on the person's timeline with the staff member who did it.
func (s *Service) SetManualRung(ctx context.Context, nationID, personID int64, key string, actorUserID int64) error {
	rungs, err := s.Rungs(ctx, nationID)
	if err != nil {
		return err
	}
	details := "rung: automatic"
	if key != "" {
		pos := rungPos(rungs, key)
		if pos < 0 {
			return errs.InvalidField("rung", "no such rung")
		}
		details = "rung: " + rungs[pos].Name
	}
	now := store.Millis(s.opts.Now())
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM people WHERE nation_id = ? AND id = ? AND merged_into = 0`, nationID, personID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFound("no such person")
		}
		if err != nil {
			return fmt.Errorf("segment: set rung: %w", err)
		}
		if key == "" {
			_, err = tx.Exec(ctx, `DELETE FROM person_rungs WHERE nation_id = ? AND person_id = ?`, nationID, personID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO person_rungs (nation_id, person_id, rung, set_by, set_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (nation_id, person_id) DO UPDATE SET rung = excluded.rung, set_by = excluded.set_by, set_at = excluded.set_at`,
				nationID, personID, key, actorUserID, now)
		}
		if err != nil {
			return fmt.Errorf("segment: set rung: %w", err)
		}
		id, err := tx.NextID(ctx, nationID, "activities")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO activities (nation_id, id, person_id, type, source_kind, source_ref, source_line, source_user, fields, details, at)
			VALUES (?, ?, ?, ?, 'staff', '', 0, ?, '', ?, ?)`, nationID, id, personID, ActivityRungSet, actorUserID, details, now)
		if err != nil {
			return fmt.Errorf("segment: set rung: timeline: %w", err)
		}
		return nil
	})
}

// Ready is one person whose data qualifies them for the rung above their
// current one.
type Ready struct {
	Person
	Current int    // position of the current rung (manual or computed)
	Next    int    // position of the rung they qualify for
	Reason  string // the rule of the next rung that matched
}

// ReadyToMoveUp lists, by person id, the people whose data matches the
// filter of the rung directly above their current rung (their manual rung
// if staff set one, else their computed rung). As computed rungs are the
// highest that match, those are people set by hand below what their data
// says, and people ready to be invited to a manual rung (organizer). It
// returns up to limit people from offset, and whether there are more.
func (s *Service) ReadyToMoveUp(ctx context.Context, nationID int64, limit, offset int) ([]Ready, []Rung, bool, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rungs, err := s.Rungs(ctx, nationID)
	if err != nil {
		return nil, nil, false, err
	}
	// The current rung of each person, as one SQL expression: the manual
	// rung's position if set, else the highest computed rung that matches.
	var cur strings.Builder
	var curArgs []any
	cur.WriteString("COALESCE(CASE mr.rung")
	for i, rg := range rungs {
		cur.WriteString(" WHEN ? THEN " + strconv.Itoa(i))
		curArgs = append(curArgs, rg.Key)
	}
	cur.WriteString(" END, ")
	computed := 0
	for i := len(rungs) - 1; i > 0; i-- {
		if rungs[i].Manual {
			continue
		}
		w, a, err := s.compileText(ctx, nationID, rungs[i].Filter)
		if err != nil {
			return nil, nil, false, fmt.Errorf("rung %q: %w", rungs[i].Key, err)
		}
		if computed == 0 {
			cur.WriteString("CASE")
		}
		computed++
		cur.WriteString(" WHEN (" + w + ") THEN " + strconv.Itoa(i))
		curArgs = append(curArgs, a...)
	}
	if computed > 0 {
		cur.WriteString(" ELSE 0 END)")
	} else { // every rung above the bottom is manual: "CASE ELSE" is no SQL
		cur.WriteString("0)")
	}

	var parts []string
	var args []any
	for i := 1; i < len(rungs); i++ {
		if strings.TrimSpace(rungs[i].Filter) == "" {
			continue // a manual rung nobody is suggested for
		}
		w, a, err := s.compileText(ctx, nationID, rungs[i].Filter)
		if err != nil {
			return nil, nil, false, fmt.Errorf("rung %q: %w", rungs[i].Key, err)
		}
		parts = append(parts, `SELECT p.id, p.first_name, p.last_name, p.email, p.home_city, `+strconv.Itoa(i)+` AS next_pos
			FROM people p LEFT JOIN person_rungs mr ON mr.nation_id = p.nation_id AND mr.person_id = p.id
			WHERE (`+w+`) AND `+cur.String()+` = `+strconv.Itoa(i-1))
		args = append(append(args, a...), curArgs...)
	}
	if len(parts) == 0 {
		return nil, rungs, false, nil
	}
	q := `SELECT id, first_name, last_name, email, home_city, next_pos FROM (` + strings.Join(parts, " UNION ALL ") +
		`) u ORDER BY id LIMIT ? OFFSET ?`
	rows, err := s.db.Query(ctx, q, append(args, limit+1, max(offset, 0))...)
	if err != nil {
		return nil, nil, false, fmt.Errorf("segment: ready to move up: %w", err)
	}
	var out []Ready
	for rows.Next() {
		var r Ready
		if err := rows.Scan(&r.ID, &r.FirstName, &r.LastName, &r.Email, &r.City, &r.Next); err != nil {
			rows.Close()
			return nil, nil, false, fmt.Errorf("segment: ready to move up: %w", err)
		}
		r.Current = r.Next - 1
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, false, fmt.Errorf("segment: ready to move up: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	for i := range out {
		reason, _, err := s.matchRule(ctx, nationID, out[i].ID, rungs[out[i].Next].Filter)
		if err != nil {
			return nil, nil, false, err
		}
		out[i].Reason = reason
	}
	return out, rungs, more, nil
}

// compileText parses, expands and compiles a filter of the nation.
func (s *Service) compileText(ctx context.Context, nationID int64, text string) (string, []any, error) {
	e, env, err := s.prepare(ctx, nationID, text)
	if err != nil {
		return "", nil, err
	}
	return Compile(e, env)
}
