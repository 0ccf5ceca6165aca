package privacy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/web"
)

// RegisterHandlers serve the administrators' privacy pages beyond the
// requests queue: retention rules and their runs, the Art. 30 record, the
// audit presets and the breach-report draft, and volunteers' scopes.
type RegisterHandlers struct {
	*Handlers
	Setup Setup
}

// NewRegisterHandlers returns the pages, sharing h's service and renderer.
func NewRegisterHandlers(h *Handlers, setup Setup) *RegisterHandlers {
	return &RegisterHandlers{Handlers: h, Setup: setup}
}

// Register adds the routes; every one is in servertest.NationRoutes.
func (h *RegisterHandlers) Register(mux *http.ServeMux) {
	admin := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleAdmin, fn)
	}
	mux.Handle("GET /admin/{nation}/privacy/retention", admin(h.retention))
	mux.Handle("POST /admin/{nation}/privacy/retention", admin(h.retentionAdd))
	mux.Handle("POST /admin/{nation}/privacy/retention/{id}/delete", admin(h.retentionDelete))
	mux.Handle("POST /admin/{nation}/privacy/retention/apply", admin(h.retentionApply))
	mux.Handle("GET /admin/{nation}/privacy/record", admin(h.record))
	mux.Handle("GET /admin/{nation}/privacy/record.md", admin(h.record))
	mux.Handle("GET /admin/{nation}/privacy/record.json", admin(h.record))
	mux.Handle("GET /admin/{nation}/privacy/breach", admin(h.breach))
	mux.Handle("POST /admin/{nation}/privacy/breach.txt", admin(h.breachText))
	mux.Handle("GET /admin/{nation}/privacy/volunteers", admin(h.volunteers))
	mux.Handle("POST /admin/{nation}/privacy/volunteers", admin(h.volunteerSet))
}

// registersData is what the admin/privacy_retention, _record, _breach and
// _volunteers templates receive.
type registersData struct {
	Rules    []Rule
	Preview  []RuleOutcome
	Runs     []RetentionRun
	Imports  []ImportRef
	Record   *Record
	Breach   *Breach
	Staff    []StaffRef
	Scopes   []Scope
	Actor    int64
	From, To string
	Segments []SegmentRef
	Applied  *RetentionRun
	Now      time.Time
}

func (h *RegisterHandlers) renderRetention(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, v *web.View) {
	ctx := r.Context()
	d := &registersData{Now: h.Service.d.Now()}
	var err error
	if d.Rules, err = h.Service.Rules(ctx, s.Nation.ID); err == nil {
		if d.Preview, err = h.Service.PreviewRetention(ctx, s.Nation.ID); err == nil {
			if d.Runs, err = h.Service.RetentionRuns(ctx, s.Nation.ID, 20); err == nil {
				d.Imports, err = h.Service.Imports(ctx, s.Nation.ID)
			}
		}
	}
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v.Data = d
	h.adminRender(w, r, status, "privacy_retention", v)
}

func (h *RegisterHandlers) retention(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	v := h.adminView(r, s)
	if done := r.URL.Query().Get("done"); done == "added" || done == "deleted" || done == "applied" {
		v.Flash = v.T("privacy.retention.done." + done)
	}
	h.renderRetention(w, r, s, http.StatusOK, v)
}

func (h *RegisterHandlers) retentionAdd(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	f := r.PostForm
	rule := Rule{Kind: f.Get("kind"), ExpiresOn: strings.TrimSpace(f.Get("expires_on")), Action: f.Get("action")}
	rule.Months, _ = strconv.Atoi(strings.TrimSpace(f.Get("months")))
	rule.ImportID, _ = strconv.ParseInt(f.Get("import"), 10, 64)
	added, err := h.Service.AddRule(r.Context(), s.Nation.ID, s.User.ID, rule)
	if err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		v := h.adminView(r, s)
		v.Form = f
		v.Errors = map[string]string{errs.FieldOf(err): errs.Message(err)}
		h.renderRetention(w, r, s, http.StatusUnprocessableEntity, v)
		return
	}
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "retention.rule.add", "retention_rule", added.ID)
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/retention?done=added", http.StatusSeeOther)
}

func (h *RegisterHandlers) retentionDelete(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return
	}
	if err := h.Service.DeleteRule(r.Context(), s.Nation.ID, id); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "retention.rule.delete", "retention_rule", id)
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/retention?done=deleted", http.StatusSeeOther)
}

// retentionApply runs the rules now, as the daily job would.
func (h *RegisterHandlers) retentionApply(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	run, err := h.Service.ApplyRetention(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	if run != nil {
		_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "retention.apply", "retention_run", run.ID)
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/retention?done=applied", http.StatusSeeOther)
}

// record shows the Art. 30 record, or downloads it (.md, .json).
func (h *RegisterHandlers) record(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	rec, err := h.Service.ProcessingRecord(r.Context(), s.Nation.ID, s.Nation.Name, h.Setup)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case strings.HasSuffix(r.URL.Path, ".md"):
		w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="record-of-processing-`+s.Nation.Slug+`.md"`)
		_, _ = w.Write([]byte(rec.Markdown()))
	case strings.HasSuffix(r.URL.Path, ".json"):
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="record-of-processing-`+s.Nation.Slug+`.json"`)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rec)
	default:
		v := h.adminView(r, s)
		staff, err := h.Service.Staff(r.Context(), s.Nation.ID)
		if err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
		v.Data = &registersData{Record: rec, Staff: staff}
		h.adminRender(w, r, http.StatusOK, "privacy_record", v)
	}
}

// window reads actor, from and to (days, both included, UTC) from the
// query; the default window is the last 30 days.
func (h *RegisterHandlers) window(r *http.Request) (actor int64, from, to time.Time, fromS, toS string, err error) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		q = r.PostForm
	}
	actor, _ = strconv.ParseInt(q.Get("actor"), 10, 64)
	now := h.Service.d.Now().UTC()
	fromS, toS = strings.TrimSpace(q.Get("from")), strings.TrimSpace(q.Get("to"))
	if fromS == "" {
		fromS = now.AddDate(0, 0, -30).Format("2006-01-02")
	}
	if toS == "" {
		toS = now.Format("2006-01-02")
	}
	if from, err = time.Parse("2006-01-02", fromS); err != nil {
		return 0, from, to, fromS, toS, errs.InvalidField("from", "Give dates as YYYY-MM-DD.")
	}
	if to, err = time.Parse("2006-01-02", toS); err != nil {
		return 0, from, to, fromS, toS, errs.InvalidField("to", "Give dates as YYYY-MM-DD.")
	}
	return actor, from, to.AddDate(0, 0, 1), fromS, toS, nil
}

// breach shows the Art. 33(3) draft for a staff member and window (or the
// whole nation), pre-filled from the audit log and editable.
func (h *RegisterHandlers) breach(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	v := h.adminView(r, s)
	status := http.StatusOK
	actor, from, to, fromS, toS, err := h.window(r)
	if err != nil {
		v.Errors = map[string]string{errs.FieldOf(err): errs.Message(err)}
		status = http.StatusUnprocessableEntity
		from, to = time.Unix(0, 0), time.Unix(0, 0)
	}
	staff, err := h.Service.Staff(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	known := actor == 0
	for _, m := range staff {
		known = known || m.UserID == actor
	}
	if !known {
		actor = 0 // not staff of this nation: nothing of another nation is counted
	}
	b, err := h.Service.BreachDraft(r.Context(), s.Nation.ID, actor, from, to)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	b.Contact = s.User.Email
	v.Data = &registersData{Breach: b, Staff: staff, Actor: actor, From: fromS, To: toS}
	h.adminRender(w, r, status, "privacy_breach", v)
}

// breachText downloads the edited draft as plain text.
func (h *RegisterHandlers) breachText(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	f := r.PostForm
	b := &Breach{Nature: f.Get("nature"), Categories: f.Get("categories"), Contact: f.Get("contact"),
		Consequences: f.Get("consequences"), Measures: f.Get("measures")}
	b.People, _ = strconv.ParseInt(strings.TrimSpace(f.Get("people")), 10, 64)
	b.Records, _ = strconv.ParseInt(strings.TrimSpace(f.Get("records")), 10, 64)
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "privacy.breach_draft", "nation", s.Nation.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="breach-notification-draft.txt"`)
	_, _ = w.Write([]byte(b.Text(s.Nation.Name)))
}

func (h *RegisterHandlers) volunteers(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	v := h.adminView(r, s)
	if r.URL.Query().Get("done") == "saved" {
		v.Flash = v.T("privacy.volunteers.saved")
	}
	h.renderVolunteers(w, r, s, http.StatusOK, v)
}

func (h *RegisterHandlers) renderVolunteers(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, v *web.View) {
	scopes, err := h.Service.Scopes(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	segs, err := h.Service.SavedSegments(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v.Data = &registersData{Scopes: scopes, Segments: segs}
	h.adminRender(w, r, status, "privacy_volunteers", v)
}

// volunteerSet assigns a scope (a saved segment or filter text) and grants
// to one volunteer of the nation.
func (h *RegisterHandlers) volunteerSet(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	f := r.PostForm
	user, _ := strconv.ParseInt(f.Get("user"), 10, 64)
	sc := Scope{UserID: user, Filter: strings.TrimSpace(f.Get("filter")), Sensitive: f.Get("sensitive") == "yes", Export: f.Get("export") == "yes"}
	if seg, _ := strconv.ParseInt(f.Get("segment"), 10, 64); seg != 0 {
		filter, err := h.Service.SegmentFilter(r.Context(), s.Nation.ID, seg)
		if err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
		sc.Filter = filter
	}
	if err := h.Service.SetScope(r.Context(), s.Nation.ID, s.User.ID, sc); err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		v := h.adminView(r, s)
		v.Form = f
		v.Errors = map[string]string{"filter": errs.Message(err)}
		h.renderVolunteers(w, r, s, http.StatusUnprocessableEntity, v)
		return
	}
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "volunteer.scope", "user", user)
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/volunteers?done=saved", http.StatusSeeOther)
}
