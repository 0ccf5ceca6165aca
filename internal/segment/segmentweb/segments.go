package segmentweb

import (
	"encoding/json"
	"errors"
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

// pageSize is how many matching people the segments page lists at once.
const pageSize = 50

// helpRow is one line of the syntax help: a qualifier, an example and its
// meaning (a catalog key).
type helpRow struct {
	Name, Example, Meaning string
}

// help is the qualifier table of DESIGN §4, in its order.
var help = []helpRow{
	{"tag", `tag:"climate strike"`, "segments.q.tag"},
	{"age", "age:45..", "segments.q.age"},
	{"gender", "gender:f", "segments.q.gender"},
	{"support", "support:1..2", "segments.q.support"},
	{"near", "near:50.85,4.35,10km", "segments.q.near"},
	{"postcode", "postcode:40*", "segments.q.postcode"},
	{"city", "city:Liège", "segments.q.city"},
	{"country", "country:BE", "segments.q.country"},
	{"signed", "signed:pensions", "segments.q.signed"},
	{"rsvp", "rsvp:spring-gala", "segments.q.rsvp"},
	{"attended", "attended:*", "segments.q.attended"},
	{"donated", "donated:>=50", "segments.q.donated"},
	{"donations", "donations:>=3", "segments.q.donations"},
	{"actions", "actions:>=2", "segments.q.actions"},
	{"points", "points:>=10", "segments.q.points"},
	{"subscribed", "subscribed:climate", "segments.q.subscribed"},
	{"consent", "consent:email", "segments.q.consent"},
	{"has", "has:mobile", "segments.q.has"},
	{"created", "created:>=2026-01-01", "segments.q.created"},
	{"active", "active:>=2026-06-01", "segments.q.active"},
	{"segment", `segment:"over 45"`, "segments.q.segment"},
	{"field", "field.ward:north", "segments.q.field"},
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// savedRow is a saved segment with its current count.
type savedRow struct {
	segment.Saved
	Count int64
	Error string
}

// indexPage is the data of the segments page.
type indexPage struct {
	Query       string
	Searched    bool // a filter was submitted (possibly empty: everyone)
	Count       int64
	Error       string
	ErrorColumn int
	Rows        []segment.Person
	Page        int
	PrevURL     string
	NextURL     string
	Saved       []savedRow
	Help        []helpRow
	Qualifiers  []string
	Ops         []option
	IsAdmin     bool
	SaveName    string
	SaveDesc    string
}

func (h *Handlers) index(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderIndex(w, r, s, http.StatusOK, nil)
}

// renderIndex shows the segments page for ?q= (and ?page=), with the save
// form's errors if a save failed.
func (h *Handlers) renderIndex(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, saveErr map[string]string) {
	ctx := r.Context()
	v := s.View(h.Renderer, r)
	qv := r.URL.Query()
	if r.Method == http.MethodPost {
		qv = r.PostForm
	}
	p := &indexPage{
		Query: strings.TrimSpace(qv.Get("q")), Searched: qv.Has("q"), Page: pageParam(r),
		Help: help, Qualifiers: segment.Names(), Ops: ops(v), IsAdmin: s.Role == auth.RoleAdmin,
		SaveName: qv.Get("name"), SaveDesc: qv.Get("description"),
	}
	if p.Searched {
		n, err := h.Segments.Count(ctx, s.Nation.ID, p.Query)
		if err == nil {
			p.Count = n
			p.Rows, err = h.Segments.List(ctx, s.Nation.ID, p.Query, pageSize, (p.Page-1)*pageSize)
		}
		if err != nil {
			if !filterError(err, &p.Error, &p.ErrorColumn) {
				h.fail(w, r, err)
				return
			}
			if status == http.StatusOK {
				status = http.StatusUnprocessableEntity
			}
		}
		if p.Error == "" {
			link := func(page int) string {
				q := url.Values{"q": {p.Query}}
				if page > 1 {
					q.Set("page", strconv.Itoa(page))
				}
				return base(s) + "?" + q.Encode()
			}
			if p.Page > 1 {
				p.PrevURL = link(p.Page - 1)
			}
			if int64(p.Page*pageSize) < p.Count {
				p.NextURL = link(p.Page + 1)
			}
		}
	}
	saved, err := h.Segments.ListSaved(ctx, s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, g := range saved {
		row := savedRow{Saved: g}
		if row.Count, err = h.Segments.Count(ctx, s.Nation.ID, g.Filter); err != nil {
			row.Error = errs.Message(err)
		}
		p.Saved = append(p.Saved, row)
	}
	v.Errors = saveErr
	v.Data = p
	h.Renderer.RenderPrivate(w, r, status, "segments_index", v)
}

// filterError turns an invalid-filter error into the message (and column)
// shown under the box; it reports false for any other error.
func filterError(err error, msg *string, col *int) bool {
	var se *segment.SyntaxError
	if errors.As(err, &se) {
		*msg, *col = se.Error(), se.Col
		return true
	}
	if errs.KindOf(err) == errs.KindInvalid {
		*msg = errs.Message(err)
		return true
	}
	return false
}

// count answers the live count: {"count":N,"ms":M}, or {"error":…,
// "column":…} for a filter that does not parse. Both are 200: a filter
// half-typed is the normal state of the box, not a failed request (and
// browsers log every 4xx fetch as a console error).
func (h *Handlers) count(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	start := time.Now()
	n, err := h.Segments.Count(r.Context(), s.Nation.ID, r.URL.Query().Get("q"))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		var msg string
		var col int
		if !filterError(err, &msg, &col) {
			web.Error(w, r, h.Log, err)
			return
		}
		out := map[string]any{"error": msg}
		if col > 0 {
			out["column"] = col
		}
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]int64{"count": n, "ms": time.Since(start).Milliseconds()})
}

// ops are the builder's operators.
func ops(v *web.View) []option {
	return []option{
		{Value: "", Label: v.T("segments.builder.op_is")},
		{Value: ">=", Label: "≥"},
		{Value: "<=", Label: "≤"},
		{Value: ">", Label: ">"},
		{Value: "<", Label: "<"},
	}
}

// build is the point-and-click builder without JavaScript: it appends the
// term made of qualifier, operator and value to the filter and shows the
// segments page for the result (segments.js does the same in the page).
func (h *Handlers) build(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	q := r.URL.Query()
	text := strings.TrimSpace(q.Get("q"))
	if term := BuildTerm(q.Get("bq"), q.Get("bop"), q.Get("bv"), q.Get("bneg") != ""); term != "" {
		text = strings.TrimSpace(text + " " + term)
	}
	r.URL.RawQuery = url.Values{"q": {text}}.Encode()
	h.renderIndex(w, r, s, http.StatusOK, nil)
}

// BuildTerm writes one qualifier as filter text: NAME:VALUE, with the
// operator before the value (age:>=45), the value quoted when it holds
// spaces, parentheses or quotes, a leading - to negate, and field values
// given as FIELD:VALUE written field.FIELD:VALUE. An unknown qualifier or an
// empty value gives "". segments.js mirrors it.
func BuildTerm(qualifier, op, value string, negate bool) string {
	qualifier = strings.ToLower(strings.TrimSpace(qualifier))
	value = strings.TrimSpace(value)
	known := false
	for _, n := range segment.Names() {
		known = known || n == qualifier
	}
	if !known || value == "" {
		return ""
	}
	switch op {
	case "", ">=", "<=", ">", "<":
	default:
		op = ""
	}
	name := qualifier
	if qualifier == "field" {
		f, v, ok := strings.Cut(value, ":")
		if !ok || strings.TrimSpace(f) == "" || strings.TrimSpace(v) == "" {
			return ""
		}
		name, value = "field."+strings.TrimSpace(f), strings.TrimSpace(v)
	}
	if op == "" && strings.ContainsAny(value, " \t\"()") {
		value = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value) + `"`
	}
	term := name + ":" + op + value
	if negate {
		term = "-" + term
	}
	return term
}
