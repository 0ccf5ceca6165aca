package segmentweb

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/web"
)

// maxRungRows is how many rung rows the ladder form posts at most.
const maxRungRows = 20

// ladderPage is the data of the ladder page.
type ladderPage struct {
	Rungs   []segment.Rung
	Rows    []segment.Rung // the rungs plus one blank row to add one
	Points  []pointRow
	IsAdmin bool
}

type pointRow struct {
	Type   string
	Label  string
	Points int64
}

func (h *Handlers) ladder(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderLadder(w, r, s, http.StatusOK, nil, nil)
}

func (h *Handlers) renderLadder(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, rows []segment.Rung, formErr map[string]string) {
	ctx := r.Context()
	rungs, err := h.Segments.Rungs(ctx, s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pts, err := h.Segments.Points(ctx, s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v := s.View(h.Renderer, r)
	p := &ladderPage{Rungs: rungs, IsAdmin: s.Role == auth.RoleAdmin, Rows: rows}
	if p.Rows == nil {
		p.Rows = append(append([]segment.Rung{}, rungs...), segment.Rung{})
	}
	for _, t := range segment.ActionTypes {
		p.Points = append(p.Points, pointRow{Type: t, Label: v.T("segments.action." + t), Points: pts[t]})
	}
	switch r.URL.Query().Get("done") {
	case "points":
		v.Flash = v.T("segments.ladder.points_saved")
	case "rungs":
		v.Flash = v.T("segments.ladder.rungs_saved")
	case "recomputed":
		v.Flash = v.T("segments.ladder.recomputed", r.URL.Query().Get("n"))
	}
	v.Errors = formErr
	v.Data = p
	h.Renderer.RenderPrivate(w, r, status, "ladder_index", v)
}

func (h *Handlers) ladderPoints(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	pts := map[string]int64{}
	for _, t := range segment.ActionTypes {
		raw := strings.TrimSpace(r.PostForm.Get("points_" + t))
		if raw == "" {
			continue
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 || n > segment.MaxPoints {
			v := s.View(h.Renderer, r)
			h.renderLadder(w, r, s, http.StatusUnprocessableEntity, nil, map[string]string{"points": v.T("segments.err.points", segment.MaxPoints)})
			return
		}
		pts[t] = n
	}
	if err := h.Segments.SetPoints(r.Context(), s.Nation.ID, pts); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/ladder?done=points", http.StatusSeeOther)
}

func (h *Handlers) ladderRungs(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	var rungs []segment.Rung
	for i := range maxRungRows {
		n := strconv.Itoa(i)
		rg := segment.Rung{
			Key: r.PostForm.Get("key_" + n), Name: r.PostForm.Get("name_" + n),
			Filter: r.PostForm.Get("filter_" + n), Manual: r.PostForm.Get("manual_"+n) == "yes",
		}
		if strings.TrimSpace(rg.Key) == "" && strings.TrimSpace(rg.Name) == "" && strings.TrimSpace(rg.Filter) == "" {
			continue
		}
		rungs = append(rungs, rg)
	}
	if err := h.Segments.SetRungs(r.Context(), s.Nation.ID, rungs); err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			h.fail(w, r, err)
			return
		}
		h.renderLadder(w, r, s, http.StatusUnprocessableEntity, append(rungs, segment.Rung{}), map[string]string{"rungs": errs.Message(err)})
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/ladder?done=rungs", http.StatusSeeOther)
}

func (h *Handlers) ladderRecompute(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	n, err := h.Segments.RecomputePoints(r.Context(), s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/%s/ladder?done=recomputed&n=%d", s.Nation.Slug, n), http.StatusSeeOther)
}

// readyPage is the data of the "ready to move up" view.
type readyPage struct {
	Rows    []segment.Ready
	Rungs   []segment.Rung
	Page    int
	PrevURL string
	NextURL string
}

func (h *Handlers) ladderReady(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	page := pageParam(r)
	rows, rungs, more, err := h.Segments.ReadyToMoveUp(r.Context(), s.Nation.ID, pageSize, (page-1)*pageSize)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := &readyPage{Rows: rows, Rungs: rungs, Page: page}
	if page > 1 {
		p.PrevURL = fmt.Sprintf("/admin/%s/ladder/ready?page=%d", s.Nation.Slug, page-1)
	}
	if more {
		p.NextURL = fmt.Sprintf("/admin/%s/ladder/ready?page=%d", s.Nation.Slug, page+1)
	}
	v := s.View(h.Renderer, r)
	v.Data = p
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "ladder_ready", v)
}

// personPage is the data of a person's ladder page.
type personPage struct {
	PersonID  int64
	Rung      segment.PersonRung
	Rungs     []segment.Rung
	SetBy     string
	ManualKey string
}

func (h *Handlers) ladderPerson(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return
	}
	pr, rungs, err := h.Segments.RungOf(r.Context(), s.Nation.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := &personPage{PersonID: id, Rung: pr, Rungs: rungs}
	if pr.Manual != nil {
		p.SetBy = h.staffNames(r.Context(), s.Nation.ID)[pr.Manual.SetBy]
		p.ManualKey = pr.Manual.Key
	}
	v := s.View(h.Renderer, r)
	if r.URL.Query().Get("done") != "" {
		v.Flash = v.T("segments.ladder.rung_set")
	}
	v.Data = p
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "ladder_person", v)
}

func (h *Handlers) ladderPersonSet(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok || !web.ParseForm(w, r) {
		return
	}
	if err := h.Segments.SetManualRung(r.Context(), s.Nation.ID, id, r.PostForm.Get("rung"), s.User.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/%s/ladder/people/%d?done=1", s.Nation.Slug, id), http.StatusSeeOther)
}
