package clone

import (
	"context"
	"fmt"

	"github.com/muster-org/muster/internal/store"
)

// ChildFigures are the aggregate figures of one child nation: counts only,
// never a row of its people.
type ChildFigures struct {
	ID         int64  `json:"id"`
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	People     int64  `json:"people"`
	Signatures int64  `json:"signatures"`
	Signups    int64  `json:"signups"` // form submissions (signup, volunteer, topics, basic forms)
	Staff      int64  `json:"staff"`
}

// Rollup is what a parent sees of its children.
type Rollup struct {
	Children []ChildFigures
	Total    ChildFigures
}

// metricQueries count one figure per child, grouped by nation: one query
// per metric whatever the number of children. Each reads only COUNT(*).
var metricQueries = []struct {
	name string
	sql  string
}{
	{"people", `SELECT nation_id, COUNT(*) FROM people WHERE nation_id IN (SELECT id FROM nations WHERE parent_id = ?) GROUP BY nation_id`},
	{"signatures", `SELECT nation_id, COUNT(*) FROM signatures WHERE nation_id IN (SELECT id FROM nations WHERE parent_id = ?) GROUP BY nation_id`},
	{"signups", `SELECT nation_id, COUNT(*) FROM activities WHERE nation_id IN (SELECT id FROM nations WHERE parent_id = ?) AND type = 'form_submitted' GROUP BY nation_id`},
	{"staff", `SELECT nation_id, COUNT(*) FROM memberships WHERE nation_id IN (SELECT id FROM nations WHERE parent_id = ?) GROUP BY nation_id`},
}

// RollupOf returns the figures of every child of a parent nation, by name.
func RollupOf(ctx context.Context, db *store.DB, parentID int64) (*Rollup, error) {
	rows, err := db.Query(ctx, `SELECT id, slug, name FROM nations WHERE parent_id = ? ORDER BY name, slug`, parentID)
	if err != nil {
		return nil, fmt.Errorf("clone: children: %w", err)
	}
	var out Rollup
	index := map[int64]int{}
	for rows.Next() {
		var c ChildFigures
		if err := rows.Scan(&c.ID, &c.Slug, &c.Name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("clone: children: %w", err)
		}
		index[c.ID] = len(out.Children)
		out.Children = append(out.Children, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clone: children: %w", err)
	}
	if len(out.Children) == 0 {
		return &out, nil
	}
	for _, m := range metricQueries {
		if err := countInto(ctx, db, m.sql, parentID, func(id, n int64) {
			i, ok := index[id]
			if !ok {
				return
			}
			c := &out.Children[i]
			switch m.name {
			case "people":
				c.People, out.Total.People = n, out.Total.People+n
			case "signatures":
				c.Signatures, out.Total.Signatures = n, out.Total.Signatures+n
			case "signups":
				c.Signups, out.Total.Signups = n, out.Total.Signups+n
			case "staff":
				c.Staff, out.Total.Staff = n, out.Total.Staff+n
			}
		}); err != nil {
			return nil, fmt.Errorf("clone: rollup %s: %w", m.name, err)
		}
	}
	return &out, nil
}

func countInto(ctx context.Context, db *store.DB, q string, parentID int64, set func(id, n int64)) error {
	rows, err := db.Query(ctx, q, parentID)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			return err
		}
		set(id, n)
	}
	return rows.Err()
}
