package peopleweb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// who is the short description of a person in the queue.
type who struct {
	ID                    int64
	Name, Email, Postcode string
	Missing               bool
}

type dupRow struct {
	ID     int64
	A, B   who
	Reason string
	At     time.Time
}

type recentMerge struct {
	ID              int64
	Survivor, Other who
	Actor           string
	At              time.Time
	Undone          bool
	CanUndo         bool
}

type duplicatesPage struct {
	Open   []dupRow
	Merges []recentMerge
	Notice string
	Error  string
}

// whoOf reads the names of a few people of the nation at once.
func whoOf(ctx context.Context, db *store.DB, nationID int64, ids []int64) (map[int64]who, error) {
	out := map[int64]who{}
	if len(ids) == 0 {
		return out, nil
	}
	args := []any{nationID}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := db.Query(ctx, `SELECT id, prefix, first_name, middle_name, last_name, email, home_postcode FROM people
		WHERE nation_id = ? AND id IN (`+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("peopleweb: read names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p people.Person
		if err := rows.Scan(&p.ID, &p.Prefix, &p.FirstName, &p.MiddleName, &p.LastName, &p.Email, &p.Home.Postcode); err != nil {
			return nil, fmt.Errorf("peopleweb: read names: %w", err)
		}
		out[p.ID] = who{ID: p.ID, Name: displayName(&p), Email: p.Email, Postcode: p.Home.Postcode}
	}
	return out, rows.Err()
}

func pick(m map[int64]who, id int64) who {
	if w, ok := m[id]; ok {
		return w
	}
	return who{ID: id, Name: "#" + strconv.FormatInt(id, 10), Missing: true}
}

// recentMerges lists the nation's merges of the undo window, newest first.
// people.Store lists merges per person only; the queue shows them all.
func recentMerges(ctx context.Context, db *store.DB, nationID int64) ([]people.MergeRecord, error) {
	since := time.Now().Add(-people.UndoWindow).UnixMilli()
	rows, err := db.Query(ctx, `SELECT id, survivor_id, other_id, actor_id, at, undone_at FROM merges
		WHERE nation_id = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT 100`, nationID, since)
	if err != nil {
		return nil, fmt.Errorf("peopleweb: recent merges: %w", err)
	}
	defer rows.Close()
	var out []people.MergeRecord
	for rows.Next() {
		var m people.MergeRecord
		var at, un int64
		if err := rows.Scan(&m.ID, &m.SurvivorID, &m.OtherID, &m.ActorID, &at, &un); err != nil {
			return nil, fmt.Errorf("peopleweb: recent merges: %w", err)
		}
		m.At, m.UndoneAt = store.Time(at), store.Time(un)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (h *Handlers) duplicates(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderDuplicates(w, r, s, http.StatusOK, "")
}

func (h *Handlers) renderDuplicates(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, errMsg string) {
	ctx := r.Context()
	n := s.Nation.ID
	dups, err := h.People.ListDuplicates(ctx, n, "open", people.Page{Limit: 100})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	merges, err := recentMerges(ctx, h.DB, n)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var ids []int64
	for _, d := range dups {
		ids = append(ids, d.PersonA, d.PersonB)
	}
	for _, m := range merges {
		ids = append(ids, m.SurvivorID, m.OtherID)
	}
	names, err := whoOf(ctx, h.DB, n, ids)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	staff, _, err := h.staffNames(r, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	has := func(k string) bool { return h.Renderer.Bundle().Has(v.Lang, k) }
	d := duplicatesPage{Error: errMsg}
	for _, x := range dups {
		d.Open = append(d.Open, dupRow{ID: x.ID, A: pick(names, x.PersonA), B: pick(names, x.PersonB),
			Reason: label(v, has, "people.reason.", x.Reason), At: x.CreatedAt})
	}
	for _, m := range merges {
		d.Merges = append(d.Merges, recentMerge{ID: m.ID, Survivor: pick(names, m.SurvivorID), Other: pick(names, m.OtherID),
			Actor: staff[m.ActorID], At: m.At, Undone: !m.UndoneAt.IsZero(),
			CanUndo: m.UndoneAt.IsZero() && time.Since(m.At) < people.UndoWindow})
	}
	switch done := r.URL.Query().Get("done"); {
	case done == "detected":
		found, _ := strconv.Atoi(r.URL.Query().Get("n"))
		d.Notice = v.T("people.done.detected", max(found, 0))
	case done != "" && has("people.done."+done):
		d.Notice = v.T("people.done." + done)
	}
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "people_duplicates", v)
}

// detect proposes pairs sharing a phone number but not an e-mail.
func (h *Handlers) detect(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	found, err := h.People.DetectSamePhone(r.Context(), s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/%s/people/duplicates?done=detected&n=%d", s.Nation.Slug, found), http.StatusSeeOther)
}

// duplicate reads one proposal of the nation; another nation's is 404.
func (h *Handlers) duplicate(w http.ResponseWriter, r *http.Request, s *auth.Staff) (people.Duplicate, bool) {
	var d people.Duplicate
	id, ok := web.PathID(w, r, "dup")
	if !ok {
		return d, false
	}
	var at int64
	err := h.DB.QueryRow(r.Context(), `SELECT id, person_a, person_b, reason, status, created_at FROM duplicates WHERE nation_id = ? AND id = ?`,
		s.Nation.ID, id).Scan(&d.ID, &d.PersonA, &d.PersonB, &d.Reason, &d.Status, &at)
	if errors.Is(err, sql.ErrNoRows) {
		http.NotFound(w, r)
		return d, false
	}
	if err != nil {
		h.fail(w, r, fmt.Errorf("peopleweb: read duplicate: %w", err))
		return d, false
	}
	d.CreatedAt = store.Time(at)
	return d, true
}

// previewRow is one field of the merge preview: both values and the one
// that survives.
type previewRow struct {
	Field, Keep, Other, Result string
	FromOther                  bool
}

type previewPage struct {
	Dup         people.Duplicate
	Reason      string
	Keep, Other *people.Person
	KeepName    string
	OtherName   string
	Rows        []previewRow
	Open        bool
	SwapURL     string
}

// mergePreview shows what a merge of the pair keeps: the survivor's values,
// with its blanks filled from the other (people.Store.Merge's rule); tags,
// e-mails and further phones are united.
func (h *Handlers) mergePreview(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	d, ok := h.duplicate(w, r, s)
	if !ok {
		return
	}
	keepID, otherID := d.PersonA, d.PersonB
	if k, _ := strconv.ParseInt(r.URL.Query().Get("keep"), 10, 64); k == d.PersonB {
		keepID, otherID = d.PersonB, d.PersonA
	}
	ctx := r.Context()
	keep, err := h.People.Get(ctx, s.Nation.ID, keepID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	other, err := h.People.Get(ctx, s.Nation.ID, otherID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	has := func(k string) bool { return h.Renderer.Bundle().Has(v.Lang, k) }
	pp := previewPage{Dup: d, Reason: label(v, has, "people.reason.", d.Reason), Keep: keep, Other: other,
		KeepName: displayName(keep), OtherName: displayName(other),
		Open:    d.Status == "open" && keep.MergedInto == 0 && other.MergedInto == 0,
		SwapURL: fmt.Sprintf("/admin/%s/people/duplicates/%d/merge?keep=%d", s.Nation.Slug, d.ID, otherID)}
	fill := func(key, a, b string) {
		row := previewRow{Field: v.T("people.field." + key), Keep: a, Other: b, Result: a}
		if a == "" && b != "" {
			row.Result, row.FromOther = b, true
		}
		pp.Rows = append(pp.Rows, row)
	}
	unite := func(key string, a, b []string) {
		seen := map[string]bool{}
		var all []string
		for _, x := range append(append([]string(nil), a...), b...) {
			if k := strings.ToLower(x); !seen[k] {
				seen[k] = true
				all = append(all, x)
			}
		}
		pp.Rows = append(pp.Rows, previewRow{Field: v.T("people.field." + key), Keep: strings.Join(a, ", "), Other: strings.Join(b, ", "),
			Result: strings.Join(all, ", "), FromOther: len(all) > len(a)})
	}
	fill("prefix", keep.Prefix, other.Prefix)
	fill("first_name", keep.FirstName, other.FirstName)
	fill("middle_name", keep.MiddleName, other.MiddleName)
	fill("last_name", keep.LastName, other.LastName)
	unite("emails", emailList(keep), emailList(other))
	phones := func(p *people.Person) []string {
		var out []string
		for _, ph := range append([]people.Phone{p.Phone, p.Mobile, p.WorkPhone}, p.OtherPhones...) {
			if ph.Raw != "" {
				out = append(out, ph.Raw)
			}
		}
		return out
	}
	unite("phones", phones(keep), phones(other))
	fill("birth_date", keep.BirthDate, other.BirthDate)
	fill("gender", label(v, has, "people.gender.", keep.Gender), label(v, has, "people.gender.", other.Gender))
	fill("language", languageName(keep.Language), languageName(other.Language))
	fill("home_address", addressLine(keep.Home), addressLine(other.Home))
	support := func(p *people.Person) string {
		if p.SupportLevel == 0 {
			return ""
		}
		return v.T("people.support." + strconv.Itoa(p.SupportLevel))
	}
	fill("support_level", support(keep), support(other))
	fill("relationship", label(v, has, "people.relationship.", keep.Relationship), label(v, has, "people.relationship.", other.Relationship))
	unite("tags", keep.Tags, other.Tags)
	v.Data = pp
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "people_merge", v)
}

func emailList(p *people.Person) []string {
	var out []string
	for _, e := range p.Emails {
		out = append(out, e.Address)
	}
	return out
}

func addressLine(a people.Address) string {
	var parts []string
	for _, s := range []string{a.Line1, a.Line2, strings.TrimSpace(a.Postcode + " " + a.City), a.Region, a.Country} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// mergeSubmit merges the pair, keeping the person named by "keep" (one of
// the pair); the store records the merge in the audit log.
func (h *Handlers) mergeSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	d, ok := h.duplicate(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	keep, _ := strconv.ParseInt(r.PostForm.Get("keep"), 10, 64)
	var other int64
	switch keep {
	case d.PersonA:
		other = d.PersonB
	case d.PersonB:
		other = d.PersonA
	default:
		http.Error(w, "keep must be one of the pair", http.StatusUnprocessableEntity)
		return
	}
	if d.Status != "open" {
		v := s.View(h.Renderer, r)
		h.renderDuplicates(w, r, s, http.StatusConflict, v.T("people.err.not_open"))
		return
	}
	if _, err := h.People.Merge(r.Context(), s.Nation.ID, keep, other, s.User.ID); err != nil {
		if errs.KindOf(err) == errs.KindConflict || errs.KindOf(err) == errs.KindInvalid {
			v := s.View(h.Renderer, r)
			h.renderDuplicates(w, r, s, http.StatusConflict, v.T("people.err.merge"))
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.profileURL(s, keep)+"?done=merged", http.StatusSeeOther)
}

func (h *Handlers) dismiss(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	d, ok := h.duplicate(w, r, s)
	if !ok {
		return
	}
	if err := h.People.DismissDuplicate(r.Context(), s.Nation.ID, d.ID); err != nil {
		if errs.KindOf(err) == errs.KindNotFound { // no longer open
			v := s.View(h.Renderer, r)
			h.renderDuplicates(w, r, s, http.StatusConflict, v.T("people.err.not_open"))
			return
		}
		h.fail(w, r, err)
		return
	}
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "duplicate.dismiss", "duplicate", d.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/people/duplicates?done=dismissed", http.StatusSeeOther)
}

// undo reverses a merge of the last 30 days; the store audits it.
func (h *Handlers) undo(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "merge")
	if !ok {
		return
	}
	err := h.People.UndoMerge(r.Context(), s.Nation.ID, id, s.User.ID)
	switch {
	case err == nil:
	case errs.KindOf(err) == errs.KindConflict:
		v := s.View(h.Renderer, r)
		h.renderDuplicates(w, r, s, http.StatusConflict, v.T("people.err.undo"))
		return
	default:
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/people/duplicates?done=undone", http.StatusSeeOther)
}
