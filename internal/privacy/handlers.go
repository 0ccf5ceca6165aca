package privacy

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/ratelimit"
	"github.com/muster-org/muster/internal/web"
)

// HandlerDeps are what the HTTP handlers need.
type HandlerDeps struct {
	Service    *Service
	Mailer     *Mailer
	Nations    *nation.Store
	Guard      *auth.Guard
	Site       PublicSite
	Renderer   *web.Renderer
	Log        *slog.Logger
	BaseURL    string // public URL for the links in mail
	TrustProxy bool
}

// Handlers serves the public "my data" pages and the staff requests queue.
type Handlers struct {
	HandlerDeps
	perIP      *ratelimit.Limiter
	perAddress *ratelimit.Limiter
	sendSlots  chan struct{}
	sending    sync.WaitGroup
}

// NewHandlers returns the handlers. Link requests are limited to 20 an
// hour per client address and 3 an hour per e-mail address.
func NewHandlers(d HandlerDeps) *Handlers {
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	return &Handlers{HandlerDeps: d, perIP: ratelimit.New(20, time.Hour, 20), perAddress: ratelimit.New(3, time.Hour, 3), sendSlots: make(chan struct{}, 8)}
}

// Register adds the routes. The public ones sit under /{nation}/my-data/
// with a literal last segment, so that they overlap none of the
// /{nation}/{page}/thanks, /static/{file} and /admin/{nation}/{$} patterns
// (a bare /{nation}/my-data would: RedirectBare sends that address to
// /{nation}/my-data/access); every /admin/{nation}/privacy/… route is in
// servertest.NationRoutes.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{nation}/my-data/access", h.start)
	mux.HandleFunc("POST /{nation}/my-data/access", h.request)
	mux.HandleFunc("POST /{nation}/my-data/open", h.open)
	mux.HandleFunc("GET /{nation}/my-data/view", h.view)
	mux.HandleFunc("GET /{nation}/my-data/export.json", h.download)
	mux.HandleFunc("GET /{nation}/my-data/export.csv", h.download)
	mux.HandleFunc("POST /{nation}/my-data/correct", h.correct)
	mux.HandleFunc("POST /{nation}/my-data/withdraw", h.withdraw)
	mux.HandleFunc("GET /{nation}/my-data/erase", h.eraseForm)
	mux.HandleFunc("POST /{nation}/my-data/erase", h.erase)
	mux.HandleFunc("POST /{nation}/my-data/logout", h.logout)

	admin := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleAdmin, fn)
	}
	mux.Handle("GET /admin/{nation}/privacy/requests", admin(h.queue))
	mux.Handle("POST /admin/{nation}/privacy/requests", admin(h.create))
	mux.Handle("GET /admin/{nation}/privacy/requests/{id}", admin(h.detail))
	mux.Handle("POST /admin/{nation}/privacy/requests/{id}/extend", admin(h.extend))
	mux.Handle("POST /admin/{nation}/privacy/requests/{id}/close", admin(h.close))
	mux.Handle("POST /admin/{nation}/privacy/requests/{id}/execute", admin(h.execute))
	mux.Handle("GET /admin/{nation}/privacy/requests/{id}/export.json", admin(h.staffExport))
}

// RedirectBare is a middleware that sends GET /{nation}/my-data and
// /{nation}/my-data/ (the address people type and print) to the page at
// /{nation}/my-data/access.
func RedirectBare(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/")
			if slug, ok := strings.CutSuffix(p, "/my-data"); ok && slug != "" && !strings.Contains(slug, "/") && slug != "static" && slug != "admin" {
				target := "/" + slug + "/my-data/access"
				if r.URL.RawQuery != "" {
					target += "?" + r.URL.RawQuery
				}
				http.Redirect(w, r, target, http.StatusMovedPermanently)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// adminData is what the admin/privacy_* templates receive.
type adminData struct {
	Requests   []*Request
	Request    *Request
	Now        time.Time
	Kinds      []string
	Channels   []string
	MailOff    bool
	Restricted bool
	Report     *Erasure
}

func (h *Handlers) adminView(r *http.Request, s *auth.Staff) *web.View {
	lang := i18n.Negotiate(r, i18n.Languages, "en")
	v := h.Renderer.NewView(r, lang, i18n.Languages)
	v.User = &web.ViewUser{ID: s.User.ID, Email: s.User.Email, Name: s.User.Name}
	v.Nation = &web.ViewNation{ID: s.Nation.ID, Slug: s.Nation.Slug, Name: s.Nation.Name}
	v.Role = string(s.Role)
	return v
}

func (h *Handlers) adminRender(w http.ResponseWriter, r *http.Request, status int, page string, v *web.View) {
	i18n.Remember(w, r, v.Lang)
	w.Header().Set("Cache-Control", "no-store")
	h.Renderer.Render(w, status, "admin/"+page, v)
}

func (h *Handlers) queue(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	reqs, err := h.Service.Requests(r.Context(), s.Nation.ID, 0)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v := h.adminView(r, s)
	v.Data = &adminData{Requests: reqs, Now: h.Service.d.Now(), Kinds: Kinds, Channels: Channels, MailOff: !h.Mailer.Configured()}
	if r.URL.Query().Get("created") != "" {
		v.Flash = v.T("privacy.admin.created")
	}
	h.adminRender(w, r, http.StatusOK, "privacy_requests", v)
}

// create records a request that arrived by post, e-mail or phone. When the
// contact is an address the nation holds, the request is linked to that
// person.
func (h *Handlers) create(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	f := r.PostForm
	req := &Request{NationID: s.Nation.ID, Kind: f.Get("kind"), Channel: f.Get("channel"), Contact: f.Get("contact"),
		Details: f.Get("details"), CreatedBy: s.User.ID}
	if d := strings.TrimSpace(f.Get("received")); d != "" {
		t, err := time.Parse("2006-01-02", d)
		if err != nil {
			h.invalid(w, r, s, errs.InvalidField("received", "the date must be YYYY-MM-DD"))
			return
		}
		req.ReceivedAt = t
	}
	if pid, err := h.Service.FindByEmail(r.Context(), s.Nation.ID, req.Contact); err == nil {
		req.PersonID = pid
	}
	if err := h.Service.CreateRequest(r.Context(), req); err != nil {
		h.invalid(w, r, s, err)
		return
	}
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "privacy.request.create", "privacy_request", req.ID)
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/requests?created=1", http.StatusSeeOther)
}

// invalid shows the queue again with the form's problem.
func (h *Handlers) invalid(w http.ResponseWriter, r *http.Request, s *auth.Staff, err error) {
	if errs.KindOf(err) != errs.KindInvalid {
		web.Error(w, r, h.Log, err)
		return
	}
	reqs, lerr := h.Service.Requests(r.Context(), s.Nation.ID, 0)
	if lerr != nil {
		web.Error(w, r, h.Log, lerr)
		return
	}
	v := h.adminView(r, s)
	v.Form = r.PostForm
	v.Errors = map[string]string{errs.FieldOf(err): errs.Message(err)}
	v.Data = &adminData{Requests: reqs, Now: h.Service.d.Now(), Kinds: Kinds, Channels: Channels, MailOff: !h.Mailer.Configured()}
	h.adminRender(w, r, http.StatusUnprocessableEntity, "privacy_requests", v)
}

func (h *Handlers) loadRequest(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*Request, bool) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return nil, false
	}
	req, err := h.Service.GetRequest(r.Context(), s.Nation.ID, id)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return nil, false
	}
	return req, true
}

func (h *Handlers) detail(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	req, ok := h.loadRequest(w, r, s)
	if !ok {
		return
	}
	d := &adminData{Request: req, Now: h.Service.d.Now()}
	if req.PersonID != 0 {
		d.Restricted, _ = h.Service.Restricted(r.Context(), s.Nation.ID, req.PersonID)
	}
	v := h.adminView(r, s)
	v.Data = d
	if done := r.URL.Query().Get("done"); done != "" {
		v.Flash = v.T("privacy.admin.done." + done)
	}
	h.adminRender(w, r, http.StatusOK, "privacy_request", v)
}

func (h *Handlers) back(w http.ResponseWriter, r *http.Request, s *auth.Staff, req *Request, done string) {
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/privacy/requests/"+strconv.FormatInt(req.ID, 10)+"?done="+done, http.StatusSeeOther)
}

func (h *Handlers) extend(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	req, ok := h.loadRequest(w, r, s)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	if err := h.Service.ExtendRequest(r.Context(), s.Nation.ID, req.ID, r.PostForm.Get("note"), s.User.ID); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.back(w, r, s, req, "extended")
}

func (h *Handlers) close(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	req, ok := h.loadRequest(w, r, s)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	if err := h.Service.CloseRequest(r.Context(), s.Nation.ID, req.ID, r.PostForm.Get("status"), r.PostForm.Get("response"), s.User.ID); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.back(w, r, s, req, "closed")
}

// execute carries out what an erasure or restriction request asks, for
// the person it is linked to (confirm=yes is required for erasure).
func (h *Handlers) execute(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	req, ok := h.loadRequest(w, r, s)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		web.Error(w, r, h.Log, errs.Invalid("bad form"))
		return
	}
	if req.PersonID == 0 {
		web.Error(w, r, h.Log, errs.Conflict("the request is not linked to a person"))
		return
	}
	ctx := r.Context()
	src := people.Source{Kind: "staff", UserID: s.User.ID, Ref: "privacy-request-" + strconv.FormatInt(req.ID, 10)}
	switch {
	case req.Kind == "erasure" && r.PostForm.Get("confirm") == "yes":
		if _, err := h.Service.Erase(ctx, s.Nation.ID, req.PersonID, s.User.ID); err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
		h.back(w, r, s, req, "erased")
	case req.Kind == "restriction" || req.Kind == "erasure" && r.PostForm.Get("restrict") != "":
		on := r.PostForm.Get("restrict") != "no"
		if err := h.Service.SetRestricted(ctx, s.Nation.ID, req.PersonID, on, src, s.User.ID); err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
		h.back(w, r, s, req, "restricted")
	default:
		web.Error(w, r, h.Log, errs.Invalid("nothing to do: confirm the erasure"))
	}
}

// staffExport downloads the access export for an access request.
func (h *Handlers) staffExport(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	req, ok := h.loadRequest(w, r, s)
	if !ok {
		return
	}
	if req.PersonID == 0 {
		web.Error(w, r, h.Log, errs.NotFound("the request is not linked to a person"))
		return
	}
	exp, err := h.Service.Collect(r.Context(), s.Nation.ID, req.PersonID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	_ = h.Service.d.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "person.access_export", "person", req.PersonID)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="person-`+strconv.FormatInt(req.PersonID, 10)+`.json"`)
	_ = exp.WriteJSON(w)
}
