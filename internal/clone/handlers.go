package clone

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the cloning, roll-up and domain pages need.
type Deps struct {
	DB       *store.DB
	Cloner   *Cloner
	Domains  *Domains
	Guard    *auth.Guard
	Renderer *web.Renderer
	Log      *slog.Logger
	BaseURL  string // "" means the request's own scheme and host
	// TrustProxy believes X-Forwarded-Proto for the invitation links.
	TrustProxy bool
}

// Handlers serves /admin/{nation}/clone, /children and /domains.
type Handlers struct{ Deps }

// NewHandlers returns the handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{d} }

// Register adds the routes; each is listed in servertest.NationRoutes.
func (h *Handlers) Register(mux *http.ServeMux) {
	admin := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleAdmin, fn)
	}
	mux.Handle("GET /admin/{nation}/clone", admin(h.cloneForm))
	mux.Handle("POST /admin/{nation}/clone/preview", admin(h.clonePreview))
	mux.Handle("POST /admin/{nation}/clone/run", admin(h.cloneRun))
	mux.Handle("GET /admin/{nation}/children", h.Guard.Nation(auth.RoleOrganizer, h.children))
	mux.Handle("GET /admin/{nation}/domains", admin(h.domains))
	mux.Handle("POST /admin/{nation}/domains", admin(h.domainAdd))
	mux.Handle("POST /admin/{nation}/domains/remove", admin(h.domainRemove))
}

func (h *Handlers) view(r *http.Request, s *auth.Staff) *web.View {
	v := s.View(h.Renderer, r)
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"added", "removed"}, done) {
		v.Flash = v.T("domains.flash." + done)
	}
	return v
}

func badForm(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if web.IsTooLarge(err) {
		status = http.StatusRequestEntityTooLarge
	}
	http.Error(w, http.StatusText(status), status)
}

// cloneData is what the cloning pages receive.
type cloneData struct {
	CSV      string
	Error    string
	Rows     []Row
	Existing []Row // rows whose nation exists: skipped by a run
	Bad      []RowError
	Report   *Report
}

func (h *Handlers) cloneForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	v := h.view(r, s)
	v.Data = cloneData{}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "clone_index", v)
}

// csvOf reads the posted file (field "file") or pasted text (field "csv").
func csvOf(r *http.Request) (string, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return "", err
		}
		if f, _, err := r.FormFile("file"); err == nil {
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, 1<<20))
			if err != nil {
				return "", err
			}
			if len(strings.TrimSpace(string(b))) > 0 {
				return string(b), nil
			}
		}
	} else if err := r.ParseForm(); err != nil {
		return "", err
	}
	return r.PostFormValue("csv"), nil
}

func (h *Handlers) clonePreview(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	text, err := csvOf(r)
	if err != nil {
		badForm(w, err)
		return
	}
	v := h.view(r, s)
	d := cloneData{CSV: text}
	rows, bad, err := ParseCSV(strings.NewReader(text))
	if err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		d.Error = errs.Message(err)
		v.Data = d
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "clone_index", v)
		return
	}
	existing, err := h.Cloner.existingSlugs(r.Context())
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	for _, row := range rows {
		if existing[row.Slug] {
			d.Existing = append(d.Existing, row)
		} else {
			d.Rows = append(d.Rows, row)
		}
	}
	d.Bad = bad
	v.Data = d
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "clone_preview", v)
}

func (h *Handlers) cloneRun(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		badForm(w, err)
		return
	}
	v := h.view(r, s)
	rows, bad, err := ParseCSV(strings.NewReader(r.PostForm.Get("csv")))
	if err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		v.Data = cloneData{Error: errs.Message(err), CSV: r.PostForm.Get("csv")}
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "clone_index", v)
		return
	}
	c := *h.Cloner
	if c.BaseURL == "" {
		c.BaseURL = h.requestBase(r)
	}
	rep, err := c.Run(r.Context(), s.Nation.Slug, rows, s.User.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	rep.Rejected = append(append([]RowError{}, bad...), rep.Rejected...)
	v.Data = cloneData{Report: rep}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "clone_result", v)
}

func (h *Handlers) requestBase(r *http.Request) string {
	scheme := "http"
	if web.IsTLS(r, h.TrustProxy) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handlers) children(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	ru, err := RollupOf(r.Context(), h.DB, s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v := h.view(r, s)
	v.Data = ru
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "clone_children", v)
}

type domainsData struct {
	Hosts []string
	Host  string
}

func (h *Handlers) domains(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderDomains(w, r, s, http.StatusOK, "", "")
}

func (h *Handlers) renderDomains(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, host, problem string) {
	hosts, err := h.Domains.List(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v := h.view(r, s)
	if problem != "" {
		v.Errors = map[string]string{"host": problem}
	}
	v.Data = domainsData{Hosts: hosts, Host: host}
	h.Renderer.RenderPrivate(w, r, status, "domains_index", v)
}

func (h *Handlers) domainAdd(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		badForm(w, err)
		return
	}
	host := r.PostForm.Get("host")
	if _, err := h.Domains.Add(r.Context(), s.Nation.ID, host); err != nil {
		switch errs.KindOf(err) {
		case errs.KindInvalid, errs.KindConflict:
			h.renderDomains(w, r, s, web.Status(err), host, errs.Message(err))
		default:
			web.Error(w, r, h.Log, err)
		}
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/domains?done=added", http.StatusSeeOther)
}

func (h *Handlers) domainRemove(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		badForm(w, err)
		return
	}
	if err := h.Domains.Remove(r.Context(), s.Nation.ID, r.PostForm.Get("host")); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/domains?done=removed", http.StatusSeeOther)
}
