package peopleweb

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// PageSize is how many people one page of the list shows.
const PageSize = 50

// sorts are the orders the list offers; the key is the ?sort= value.
var sorts = map[string]string{
	"name":     `LOWER(last_name), LOWER(first_name), id`,
	"created":  `created_at DESC, id DESC`,
	"activity": `last_activity_at DESC, id DESC`,
}

// listRow is one line of the people list.
type listRow struct {
	ID                        int64
	FirstName, LastName       string
	Email, Mobile, Phone      string
	Postcode, City            string
	CreatedAt, LastActivityAt time.Time
}

// listPeople finds people of the nation by the search rules of
// people.MatchCondition (the same as people.Store.Search), in any of the
// list's orders and with the created and last-activity times the list
// shows. It reads one row more than a page to know whether a next page
// exists.
func listPeople(ctx context.Context, db *store.DB, nationID int64, query, sort string, offset int) ([]listRow, bool, error) {
	return listPeopleIn(ctx, db, nationID, nil, query, sort, offset)
}

// listPeopleIn is listPeople within a volunteer's scope (nil: everyone).
func listPeopleIn(ctx context.Context, db *store.DB, nationID int64, sc *scope, query, sort string, offset int) ([]listRow, bool, error) {
	order, ok := sorts[sort]
	if !ok {
		order = sorts["name"]
	}
	where := []string{"nation_id = ?", "merged_into = 0"}
	args := []any{nationID}
	if sc != nil {
		where = append(where, sc.where)
		args = append(args, sc.args...)
	}
	if cond, cargs := people.MatchCondition(db.Engine, nationID, query); cond != "" {
		where = append(where, cond)
		args = append(args, cargs...)
	}
	args = append(args, PageSize+1, max(offset, 0))
	rows, err := db.Query(ctx, `SELECT id, first_name, last_name, email, mobile, phone, home_postcode, home_city, created_at, last_activity_at
		FROM people WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, false, fmt.Errorf("peopleweb: list people: %w", err)
	}
	defer rows.Close()
	var out []listRow
	for rows.Next() {
		var p listRow
		var created, last int64
		if err := rows.Scan(&p.ID, &p.FirstName, &p.LastName, &p.Email, &p.Mobile, &p.Phone, &p.Postcode, &p.City, &created, &last); err != nil {
			return nil, false, fmt.Errorf("peopleweb: list people: %w", err)
		}
		p.CreatedAt, p.LastActivityAt = store.Time(created), store.Time(last)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("peopleweb: list people: %w", err)
	}
	more := len(out) > PageSize
	if more {
		out = out[:PageSize]
	}
	return out, more, nil
}

// countPeople counts the nation's people (not merged away), for the empty
// state and the heading.
func countPeople(ctx context.Context, db *store.DB, nationID int64, sc *scope) (int64, error) {
	var n int64
	q, args := `SELECT COUNT(*) FROM people WHERE nation_id = ? AND merged_into = 0`, []any{nationID}
	if sc != nil {
		q += " AND " + sc.where
		args = append(args, sc.args...)
	}
	err := db.QueryRow(ctx, q, args...).Scan(&n)
	if err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("peopleweb: count people: %w", err)
	}
	return n, nil
}

type listPage struct {
	Query   string
	Sort    string
	Sorts   []sortLink
	Rows    []listRow
	Total   int64
	Page    int
	PrevURL string
	NextURL string
}

type sortLink struct {
	Label, URL string
	Current    bool
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	ctx := r.Context()
	q := r.URL.Query()
	query := strings.TrimSpace(q.Get("q"))
	if len(query) > 200 {
		query = query[:200]
	}
	sort := q.Get("sort")
	if _, ok := sorts[sort]; !ok {
		sort = "name"
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if page < 1 || page > 1_000_000 {
		page = 1
	}
	sc, err := h.scopeOf(r, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, more, err := listPeopleIn(ctx, h.DB, s.Nation.ID, sc, query, sort, (page-1)*PageSize)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	total, err := countPeople(ctx, h.DB, s.Nation.ID, sc)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	base := "/admin/" + s.Nation.Slug + "/people"
	link := func(sort string, page int) string {
		u := url.Values{}
		if query != "" {
			u.Set("q", query)
		}
		if sort != "name" {
			u.Set("sort", sort)
		}
		if page > 1 {
			u.Set("page", strconv.Itoa(page))
		}
		if len(u) == 0 {
			return base
		}
		return base + "?" + u.Encode()
	}
	data := listPage{Query: query, Sort: sort, Rows: rows, Total: total, Page: page}
	for _, k := range []string{"name", "created", "activity"} {
		data.Sorts = append(data.Sorts, sortLink{Label: v.T("people.sort." + k), URL: link(k, 1), Current: k == sort})
	}
	if page > 1 {
		data.PrevURL = link(sort, page-1)
	}
	if more {
		data.NextURL = link(sort, page+1)
	}
	v.Data = data
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "people_list", v)
}
