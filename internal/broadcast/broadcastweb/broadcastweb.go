// Package broadcastweb serves the control panel's e-mail pages: the list of
// broadcasts, the compose flow (audience with a live count of who will
// receive it and who is left out and why, content with personalisation,
// preview as a chosen person, test send to the signed-in staff member,
// send now or at a time in the nation's time zone), pause, resume, cancel
// and the progress page; and the settings of a page's automatic messages
// (internal/automail: double opt-in and welcome series; the auto-response
// is on the page's own form). The rules live in internal/broadcast.
package broadcastweb

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/automail"
	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the pages need.
type Deps struct {
	Broadcasts *broadcast.Service
	Automail   *automail.Service
	Pages      *pages.Store
	People     *people.Store
	Guard      *auth.Guard
	Renderer   *web.Renderer
	Log        *slog.Logger
}

// Handlers serves the e-mail pages.
type Handlers struct{ Deps }

// NewHandlers returns the handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{d} }

// PreviewCSP is the policy of the rendered message: nothing runs, nothing
// is fetched but images, and only our own control panel may frame it.
const PreviewCSP = "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"

// Register adds the routes; every one is in servertest.NationRoutes.
// Organizers and administrators compose and send.
func (h *Handlers) Register(mux *http.ServeMux) {
	org := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleOrganizer, fn)
	}
	mux.Handle("GET /admin/{nation}/broadcasts", org(h.list))
	mux.Handle("GET /admin/{nation}/broadcasts/new", org(h.newForm))
	mux.Handle("POST /admin/{nation}/broadcasts/new", org(h.create))
	mux.Handle("GET /admin/{nation}/broadcasts/estimate", org(h.estimate))
	mux.Handle("GET /admin/{nation}/broadcasts/{id}", org(h.show))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}", org(h.save))
	mux.Handle("GET /admin/{nation}/broadcasts/{id}/preview", org(h.preview))
	mux.Handle("GET /admin/{nation}/broadcasts/{id}/preview.html", org(h.previewHTML))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}/test", org(h.testSend))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}/send", org(h.send))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}/pause", org(h.pause))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}/resume", org(h.resume))
	mux.Handle("POST /admin/{nation}/broadcasts/{id}/cancel", org(h.cancel))
	mux.Handle("GET /admin/{nation}/broadcasts/{id}/progress", org(h.progress))
	mux.Handle("GET /admin/{nation}/automail/{page}", org(h.automailForm))
	mux.Handle("POST /admin/{nation}/automail/{page}", org(h.automailSave))
}

func base(s *auth.Staff) string { return "/admin/" + s.Nation.Slug + "/broadcasts" }

// listRow is one broadcast on the list.
type listRow struct {
	*broadcast.Broadcast
	P       *broadcast.Progress
	Percent int
}

func percent(p *broadcast.Progress) int {
	if p == nil || p.Recipients == 0 {
		if p != nil && p.State == broadcast.StateFinished {
			return 100
		}
		return 0
	}
	return int((p.Recipients - p.Queued) * 100 / p.Recipients)
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	bs, err := h.Broadcasts.List(r.Context(), s.Nation.ID, 100)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	var rows []listRow
	for _, b := range bs {
		row := listRow{Broadcast: b}
		if b.State != broadcast.StateDraft {
			if p, err := h.Broadcasts.Progress(r.Context(), s.Nation.ID, b.ID); err == nil {
				row.P, row.Percent = p, percent(p)
			}
		}
		rows = append(rows, row)
	}
	var pgs []*pages.Page
	if h.Pages != nil {
		all, err := h.Pages.List(r.Context(), s.Nation.ID, false)
		if err == nil {
			for _, p := range all {
				if p.HasForm() {
					pgs = append(pgs, p)
				}
			}
		}
	}
	v := s.View(h.Renderer, r)
	v.Data = map[string]any{"Rows": rows, "Pages": pgs}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "broadcast_list", v)
}

// composeData is the compose page.
type composeData struct {
	B        *broadcast.Broadcast // nil for a new one
	Draft    broadcast.Draft
	Estimate *broadcast.Estimate
	Error    string // the audience or content error, with its line
	Action   string
	TZ       string
	Topics   []pages.Topic
	Sent     string // flash after a test send
}

func draftFromForm(f url.Values) broadcast.Draft {
	return broadcast.Draft{Subject: f.Get("subject"), Preheader: f.Get("preheader"), Body: f.Get("body"),
		Format: f.Get("format"), Filter: f.Get("filter"), Topic: f.Get("topic"), Basis: f.Get("basis"), Purpose: f.Get("purpose")}
}

func draftOf(b *broadcast.Broadcast) broadcast.Draft {
	return broadcast.Draft{Subject: b.Subject, Preheader: b.Preheader, Body: b.Body, Format: b.Format,
		Filter: b.Filter, Topic: b.Topic, Basis: b.Basis, Purpose: b.Purpose}
}

func (h *Handlers) renderCompose(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, d *composeData) {
	ctx := r.Context()
	d.TZ = s.Nation.TimeZone
	if d.TZ == "" {
		d.TZ = "UTC"
	}
	if h.Pages != nil {
		d.Topics, _ = h.Pages.Topics(ctx, s.Nation.ID)
	}
	if d.Estimate == nil && d.Error == "" && (d.Draft.Filter != "" || d.Draft.Topic != "") {
		e, err := h.Broadcasts.Estimate(ctx, s.Nation.ID, d.Draft.Filter, d.Draft.Topic, d.Draft.Basis)
		if err == nil {
			d.Estimate = e
		} else if errs.KindOf(err) != errs.KindInternal {
			d.Error = errs.Message(err)
		}
	}
	v := s.View(h.Renderer, r)
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "broadcast_compose", v)
}

func (h *Handlers) newForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	// ?filter= comes from the segments page's "message this segment".
	d := broadcast.Draft{Format: "md", Basis: broadcast.BasisConsent, Filter: r.URL.Query().Get("filter")}
	h.renderCompose(w, r, s, http.StatusOK, &composeData{Action: base(s) + "/new", Draft: d})
}

func (h *Handlers) create(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	d := draftFromForm(r.PostForm)
	b, err := h.Broadcasts.Create(r.Context(), s.Nation.ID, s.User.ID, d)
	if err != nil {
		h.composeFailed(w, r, s, &composeData{Action: base(s) + "/new", Draft: d}, err)
		return
	}
	http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10), http.StatusSeeOther)
}

// composeFailed shows the form again with the safe reason (a broken
// template names its line), or fails the request for an internal error.
func (h *Handlers) composeFailed(w http.ResponseWriter, r *http.Request, s *auth.Staff, d *composeData, err error) {
	switch errs.KindOf(err) {
	case errs.KindInvalid:
		d.Error = errs.Message(err)
		h.renderCompose(w, r, s, http.StatusUnprocessableEntity, d)
	case errs.KindConflict:
		d.Error = errs.Message(err)
		h.renderCompose(w, r, s, http.StatusConflict, d)
	default:
		web.Error(w, r, h.Log, err)
	}
}

func (h *Handlers) load(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*broadcast.Broadcast, bool) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return nil, false
	}
	b, err := h.Broadcasts.Get(r.Context(), s.Nation.ID, id)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return nil, false
	}
	return b, true
}

func (h *Handlers) show(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok {
		return
	}
	if b.State != broadcast.StateDraft {
		http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10)+"/progress", http.StatusSeeOther)
		return
	}
	d := &composeData{B: b, Draft: draftOf(b), Action: base(s) + "/" + strconv.FormatInt(b.ID, 10)}
	if r.URL.Query().Get("tested") != "" {
		d.Sent = s.User.Email
	}
	h.renderCompose(w, r, s, http.StatusOK, d)
}

func (h *Handlers) save(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	d := draftFromForm(r.PostForm)
	ctx := r.Context()
	_, err := h.Broadcasts.SetAudience(ctx, s.Nation.ID, b.ID, d.Filter, d.Topic, d.Basis, d.Purpose)
	if err == nil {
		_, err = h.Broadcasts.SetContent(ctx, s.Nation.ID, b.ID, d.Subject, d.Preheader, d.Body, d.Format)
	}
	if err != nil {
		h.composeFailed(w, r, s, &composeData{B: b, Draft: d, Action: base(s) + "/" + strconv.FormatInt(b.ID, 10)}, err)
		return
	}
	http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10), http.StatusSeeOther)
}

// estimate answers the compose page's live count as JSON.
func (h *Handlers) estimate(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	q := r.URL.Query()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	e, err := h.Broadcasts.Estimate(r.Context(), s.Nation.ID, q.Get("filter"), q.Get("topic"), q.Get("basis"))
	if err != nil {
		if errs.KindOf(err) == errs.KindInternal {
			web.Error(w, r, h.Log, err)
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": errs.Message(err)})
		return
	}
	_ = json.NewEncoder(w).Encode(e)
}

// previewData is the preview page.
type previewData struct {
	B        *broadcast.Broadcast
	Person   *people.Person
	Query    string
	Matches  []people.PersonSummary
	Rendered *broadcast.Rendered
	FrameURL string
	Error    string
}

func (h *Handlers) personParam(r *http.Request) int64 {
	id, _ := strconv.ParseInt(r.URL.Query().Get("person"), 10, 64)
	return id
}

func (h *Handlers) preview(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok {
		return
	}
	ctx := r.Context()
	d := &previewData{B: b, Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	if d.Query != "" {
		d.Matches, _ = h.People.Search(ctx, s.Nation.ID, d.Query, people.Page{Limit: 10})
	}
	pid := h.personParam(r)
	if pid != 0 {
		p, err := h.People.Get(ctx, s.Nation.ID, pid)
		if err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
		d.Person = p
	}
	rd, err := h.Broadcasts.Preview(ctx, s.Nation.ID, b.ID, pid)
	if err != nil {
		if errs.KindOf(err) == errs.KindInternal {
			web.Error(w, r, h.Log, err)
			return
		}
		d.Error = errs.Message(err)
	}
	d.Rendered = rd
	d.FrameURL = base(s) + "/" + strconv.FormatInt(b.ID, 10) + "/preview.html?person=" + strconv.FormatInt(pid, 10)
	v := s.View(h.Renderer, r)
	v.Data = d
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "broadcast_preview", v)
}

// previewHTML is the message's HTML alone, for the preview's sandboxed
// frame: its own strict policy replaces the control panel's.
func (h *Handlers) previewHTML(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok {
		return
	}
	rd, err := h.Broadcasts.Preview(r.Context(), s.Nation.ID, b.ID, h.personParam(r))
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", PreviewCSP)
	hd.Set("X-Frame-Options", "SAMEORIGIN")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(rd.HTML))
}

func (h *Handlers) testSend(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	pid, _ := strconv.ParseInt(r.PostForm.Get("person"), 10, 64)
	if err := h.Broadcasts.TestSend(r.Context(), s.Nation.ID, b.ID, pid, s.User.Email); err != nil {
		if errs.KindOf(err) == errs.KindInternal {
			h.Log.Warn("broadcastweb: test send", "err", err)
			err = errs.Invalid("the test message could not be sent; try again")
		}
		h.composeFailed(w, r, s, &composeData{B: b, Draft: draftOf(b), Action: base(s) + "/" + strconv.FormatInt(b.ID, 10)}, err)
		return
	}
	http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10)+"?tested=1", http.StatusSeeOther)
}

// ParseLocal reads a date-time field (2026-05-01T18:00) in the nation's
// time zone.
func ParseLocal(v, tz string) (time.Time, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		loc = time.UTC
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(v), loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errs.InvalidField("at", "the date and time must look like 2026-05-01T18:00")
}

func (h *Handlers) send(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	var at time.Time
	if r.PostForm.Get("when") == "at" {
		var err error
		if at, err = ParseLocal(r.PostForm.Get("at"), s.Nation.TimeZone); err != nil {
			h.composeFailed(w, r, s, &composeData{B: b, Draft: draftOf(b), Action: base(s) + "/" + strconv.FormatInt(b.ID, 10)}, err)
			return
		}
	}
	if _, err := h.Broadcasts.Send(r.Context(), s.Nation.ID, b.ID, at); err != nil {
		h.composeFailed(w, r, s, &composeData{B: b, Draft: draftOf(b), Action: base(s) + "/" + strconv.FormatInt(b.ID, 10)}, err)
		return
	}
	http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10)+"/progress", http.StatusSeeOther)
}

func (h *Handlers) pause(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.act(w, r, s, h.Broadcasts.Pause)
}

func (h *Handlers) resume(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.act(w, r, s, h.Broadcasts.Resume)
}

func (h *Handlers) cancel(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.act(w, r, s, h.Broadcasts.Cancel)
}

func (h *Handlers) act(w http.ResponseWriter, r *http.Request, s *auth.Staff, fn func(ctx context.Context, nationID, id int64) (*broadcast.Broadcast, error)) {
	b, ok := h.load(w, r, s)
	if !ok {
		return
	}
	if _, err := fn(r.Context(), s.Nation.ID, b.ID); err != nil {
		if errs.KindOf(err) == errs.KindConflict {
			http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10)+"/progress?conflict=1", http.StatusSeeOther)
			return
		}
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, base(s)+"/"+strconv.FormatInt(b.ID, 10)+"/progress", http.StatusSeeOther)
}

// progressData is the progress page.
type progressData struct {
	B        *broadcast.Broadcast
	P        *broadcast.Progress
	Percent  int
	Rate     string
	Live     bool // still moving: the page refreshes itself
	Conflict bool
	CanPause bool
	CanRes   bool
	CanCan   bool
	Held     bool
}

func (h *Handlers) progress(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	b, ok := h.load(w, r, s)
	if !ok {
		return
	}
	p, err := h.Broadcasts.Progress(r.Context(), s.Nation.ID, b.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	d := &progressData{B: b, P: p, Percent: percent(p), Rate: strconv.FormatFloat(p.Rate, 'f', 1, 64),
		Conflict: r.URL.Query().Get("conflict") != ""}
	d.Held = p.JobState == "held"
	switch b.State {
	case broadcast.StateSending, broadcast.StateScheduled:
		d.Live, d.CanPause, d.CanCan, d.CanRes = !d.Held, true, true, d.Held
	case broadcast.StatePaused:
		d.CanRes, d.CanCan = true, true
	case broadcast.StateDraft:
		d.CanCan = true
	}
	if d.Live {
		// A plain refresh: works without script, under the strict CSP.
		w.Header().Set("Refresh", "3")
	}
	v := s.View(h.Renderer, r)
	v.Data = d
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "broadcast_progress", v)
}

// automailData is the automatic messages form of a page.
type automailData struct {
	Page     *pages.Page
	Settings automail.Settings
	Steps    []automail.WelcomeMessage // the series plus blank rows to add
	Error    string
	Saved    bool
}

func (h *Handlers) loadPage(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*pages.Page, bool) {
	id, ok := web.PathID(w, r, "page")
	if !ok {
		return nil, false
	}
	p, err := h.Pages.ByID(r.Context(), s.Nation.ID, id)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return nil, false
	}
	return p, true
}

func (h *Handlers) renderAutomail(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, d *automailData) {
	d.Steps = append([]automail.WelcomeMessage(nil), d.Settings.Welcome...)
	for len(d.Steps) < len(d.Settings.Welcome)+2 && len(d.Steps) < automail.MaxWelcome {
		d.Steps = append(d.Steps, automail.WelcomeMessage{})
	}
	v := s.View(h.Renderer, r)
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "broadcast_automail", v)
}

func (h *Handlers) automailForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadPage(w, r, s)
	if !ok {
		return
	}
	st, err := h.Automail.Settings(r.Context(), s.Nation.ID, p.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.renderAutomail(w, r, s, http.StatusOK, &automailData{Page: p, Settings: st, Saved: r.URL.Query().Get("saved") != ""})
}

func (h *Handlers) automailSave(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadPage(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	f := r.PostForm
	st := automail.Settings{DoubleOptIn: f.Get("double_opt_in") == "yes",
		ConfirmSubject: f.Get("confirm_subject"), ConfirmBody: f.Get("confirm_body")}
	for i := range automail.MaxWelcome {
		k := strconv.Itoa(i)
		subj, body := strings.TrimSpace(f.Get("subject_"+k)), f.Get("body_"+k)
		if subj == "" && strings.TrimSpace(body) == "" {
			continue
		}
		days, _ := strconv.Atoi(strings.TrimSpace(f.Get("days_" + k)))
		st.Welcome = append(st.Welcome, automail.WelcomeMessage{DelayDays: days, Subject: subj, Body: body})
	}
	if err := h.Automail.SaveSettings(r.Context(), s.Nation.ID, p.ID, st); err != nil {
		var e *errs.Error
		if !errors.As(err, &e) || e.Kind != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		msg := e.Message
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
		h.renderAutomail(w, r, s, http.StatusUnprocessableEntity, &automailData{Page: p, Settings: st, Error: msg})
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/automail/"+strconv.FormatInt(p.ID, 10)+"?saved=1", http.StatusSeeOther)
}
