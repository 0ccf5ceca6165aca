package pages

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/store"
)

// Submission row as the staff see it: who submitted a page's form, and when.
type SubmissionRow struct {
	PersonID  int64
	FirstName string
	LastName  string
	Email     string
	At        time.Time
}

// submissionsPerPage is the length of a page of the staff's submissions list.
const submissionsPerPage = 50

// Submissions returns the submissions of a page's form, newest first,
// skipping offset and returning at most limit (read from the timeline:
// 'signed' for a petition, else 'form_submitted', with the page's slug).
func (s *Store) Submissions(ctx context.Context, nationID int64, p *Page, offset, limit int) ([]SubmissionRow, error) {
	typ := "form_submitted"
	if p.Type == TypePetition {
		typ = "signed"
	}
	rows, err := s.db.Query(ctx, `SELECT a.person_id, p.first_name, p.last_name, p.email, a.at
		FROM activities a JOIN people p ON p.nation_id = a.nation_id AND p.id = a.person_id
		WHERE a.nation_id = ? AND a.type = ? AND a.source_kind = 'form' AND a.source_ref = ?
		ORDER BY a.at DESC, a.id DESC LIMIT ? OFFSET ?`, nationID, typ, p.Slug, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("pages: submissions: %w", err)
	}
	defer rows.Close()
	var out []SubmissionRow
	for rows.Next() {
		var r SubmissionRow
		var at int64
		if err := rows.Scan(&r.PersonID, &r.FirstName, &r.LastName, &r.Email, &at); err != nil {
			return nil, fmt.Errorf("pages: submissions: %w", err)
		}
		r.At = store.Time(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// submissions lists who submitted a form page, a page of 50 at a time
// (?p=N, from 1).
func (h *Handlers) submissions(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("p"))
	n = max(1, min(n, 100_000))
	rows, err := h.Store.Submissions(r.Context(), s.Nation.ID, p, (n-1)*submissionsPerPage, submissionsPerPage+1)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	more := len(rows) > submissionsPerPage
	if more {
		rows = rows[:submissionsPerPage]
	}
	v := h.view(r, s)
	v.Data = struct {
		Page       *Page
		Rows       []SubmissionRow
		Prev, Next int // page numbers; 0 when none
	}{p, rows, n - 1, map[bool]int{true: n + 1}[more]}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "pages_submissions", v)
}
