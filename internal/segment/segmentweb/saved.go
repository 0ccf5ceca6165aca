package segmentweb

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/web"
)

// chartDays is how far back a saved segment's chart goes.
const chartDays = 90

// savedPage is the data of a saved segment's page.
type savedPage struct {
	Saved   segment.Saved
	Author  string
	Count   int64
	Error   string
	Chart   *chart
	History []segment.CountPoint
	IsAdmin bool
	Name    string // form values (refilled after an error)
	Filter  string
	Desc    string
}

func (h *Handlers) savedCreate(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	g, err := h.Segments.CreateSaved(r.Context(), s.Nation.ID, segment.Saved{
		Name: r.PostForm.Get("name"), Filter: r.PostForm.Get("q"), Description: r.PostForm.Get("description"), AuthorID: s.User.ID,
	})
	if err != nil {
		if k := errs.KindOf(err); k != errs.KindInvalid && k != errs.KindConflict {
			h.fail(w, r, err)
			return
		}
		field := errs.FieldOf(err)
		if field != "name" {
			field = "save"
		}
		h.renderIndex(w, r, s, http.StatusUnprocessableEntity, map[string]string{field: errs.Message(err)})
		return
	}
	// The chart starts on the day the segment is saved.
	if _, err := h.Segments.RecordCount(r.Context(), s.Nation.ID, g.ID); err != nil {
		h.Log.Warn("segmentweb: first count of a saved segment", "err", err)
	}
	http.Redirect(w, r, fmt.Sprintf("%s/saved/%d?done=saved", base(s), g.ID), http.StatusSeeOther)
}

func (h *Handlers) savedShow(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return
	}
	g, err := h.Segments.GetSaved(r.Context(), s.Nation.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.renderSaved(w, r, s, g, http.StatusOK, g.Name, g.Filter, g.Description, nil)
}

func (h *Handlers) renderSaved(w http.ResponseWriter, r *http.Request, s *auth.Staff, g segment.Saved, status int, name, filter, desc string, formErr map[string]string) {
	ctx := r.Context()
	v := s.View(h.Renderer, r)
	p := &savedPage{Saved: g, IsAdmin: s.Role == auth.RoleAdmin, Name: name, Filter: filter, Desc: desc}
	p.Author = h.staffNames(ctx, s.Nation.ID)[g.AuthorID]
	var err error
	if p.Count, err = h.Segments.Count(ctx, s.Nation.ID, g.Filter); err != nil {
		p.Error = errs.Message(err)
	}
	p.History, err = h.Segments.CountHistory(ctx, s.Nation.ID, g.ID, time.Now().AddDate(0, 0, -chartDays))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Chart = newChart(p.History)
	if r.URL.Query().Get("done") != "" {
		v.Flash = v.T("segments.saved.done")
	}
	v.Errors = formErr
	v.Data = p
	h.Renderer.RenderPrivate(w, r, status, "segments_saved", v)
}

func (h *Handlers) savedUpdate(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok || !web.ParseForm(w, r) {
		return
	}
	old, err := h.Segments.GetSaved(r.Context(), s.Nation.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name, filter, desc := r.PostForm.Get("name"), r.PostForm.Get("q"), r.PostForm.Get("description")
	_, err = h.Segments.UpdateSaved(r.Context(), s.Nation.ID, segment.Saved{ID: id, Name: name, Filter: filter, Description: desc})
	if err != nil {
		if k := errs.KindOf(err); k != errs.KindInvalid && k != errs.KindConflict {
			h.fail(w, r, err)
			return
		}
		field := errs.FieldOf(err)
		if field != "name" {
			field = "q"
		}
		h.renderSaved(w, r, s, old, http.StatusUnprocessableEntity, name, filter, desc, map[string]string{field: errs.Message(err)})
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/saved/%d?done=updated", base(s), id), http.StatusSeeOther)
}

func (h *Handlers) savedDelete(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return
	}
	if err := h.Segments.DeleteSaved(r.Context(), s.Nation.ID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, base(s)+"?"+url.Values{"deleted": {"1"}}.Encode(), http.StatusSeeOther)
}

// chart is a small line chart of a count over time, drawn as inline SVG by
// the template from these precomputed coordinates (no script, no library).
type chart struct {
	Width, Height int
	Points        string // polyline points "x,y x,y …"
	Dots          []dot
	Max, Min      int64
	From, To      time.Time
}

type dot struct {
	X, Y  string
	Count int64
	At    time.Time
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH = 600, 160
	chartPad       = 10
)

// newChart scales the history into the chart's box: time on x (oldest at
// the left), count on y (the axis runs from the lowest to the highest
// count, or 0..n when the count never changed). Nil for no history.
func newChart(hist []segment.CountPoint) *chart {
	if len(hist) == 0 {
		return nil
	}
	c := &chart{Width: chartW, Height: chartH, Min: hist[0].Count, Max: hist[0].Count, From: hist[0].At, To: hist[len(hist)-1].At}
	for _, p := range hist {
		c.Min, c.Max = min(c.Min, p.Count), max(c.Max, p.Count)
	}
	lo, hi := c.Min, c.Max
	if lo == hi {
		lo = 0
		if hi == 0 {
			hi = 1
		}
	}
	t0, span := c.From.UnixMilli(), c.To.UnixMilli()-c.From.UnixMilli()
	var pts []string
	for _, p := range hist {
		x := float64(chartW) / 2
		if span > 0 {
			x = chartPad + float64(p.At.UnixMilli()-t0)/float64(span)*float64(chartW-2*chartPad)
		}
		y := float64(chartH-chartPad) - float64(p.Count-lo)/float64(hi-lo)*float64(chartH-2*chartPad)
		xs, ys := strconv.FormatFloat(x, 'f', 1, 64), strconv.FormatFloat(y, 'f', 1, 64)
		pts = append(pts, xs+","+ys)
		c.Dots = append(c.Dots, dot{X: xs, Y: ys, Count: p.Count, At: p.At})
	}
	c.Points = strings.Join(pts, " ")
	return c
}
