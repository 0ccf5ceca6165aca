package automail

import (
	"log/slog"
	"net/http"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// PublicSite is the themed public site as the confirmation pages need it
// (internal/site).
type PublicSite interface {
	View(w http.ResponseWriter, r *http.Request, n *nation.Nation, langs []string) *web.View
	Fail(w http.ResponseWriter, r *http.Request, n *nation.Nation, err error)
}

// HandlerDeps are what the confirmation pages need.
type HandlerDeps struct {
	Service    *Service
	Nations    *nation.Store
	Site       PublicSite
	Renderer   *web.Renderer
	TrustProxy bool
	Log        *slog.Logger
}

// Handlers serves the double opt-in confirmation link: GET shows a button
// (mail scanners follow links; only the person's click confirms), POST
// confirms.
type Handlers struct{ HandlerDeps }

// NewHandlers returns the handlers.
func NewHandlers(d HandlerDeps) *Handlers { return &Handlers{d} }

// Register adds the routes. They sit under /u/, beside the unsubscribe
// links, so that no nation slug can shadow them.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /u/{token}/confirm", h.show)
	mux.HandleFunc("POST /u/{token}/confirm", h.confirm)
}

// confirmData is what public/confirm_show and public/confirm_done receive.
type confirmData struct {
	Token   string
	Used    bool
	Expired bool
	Done    bool
}

func (h *Handlers) nationOf(r *http.Request) *nation.Nation {
	id := TokenNation(r.PathValue("token"))
	if id == 0 {
		return nil
	}
	n, err := h.Nations.ByID(r.Context(), id)
	if err != nil {
		return nil
	}
	return n
}

func (h *Handlers) show(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	n := h.nationOf(r)
	p, err := h.Service.Lookup(r.Context(), r.PathValue("token"))
	if err != nil || n == nil {
		h.Site.Fail(w, r, n, errs.NotFound("unknown link"))
		return
	}
	v := h.Site.View(w, r, n, nil)
	v.Data = confirmData{Token: r.PathValue("token"), Used: p.Used, Expired: p.Expired && !p.Used}
	h.Renderer.Render(w, http.StatusOK, "public/confirm_show", v)
}

func (h *Handlers) confirm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	n := h.nationOf(r)
	if n == nil {
		h.Site.Fail(w, r, nil, errs.NotFound("unknown link"))
		return
	}
	_, err := h.Service.Confirm(r.Context(), r.PathValue("token"), web.ClientIP(r, h.TrustProxy))
	v := h.Site.View(w, r, n, nil)
	d := confirmData{Token: r.PathValue("token"), Done: err == nil}
	status := http.StatusOK
	switch {
	case err == nil:
	case errs.KindOf(err) == errs.KindConflict:
		d.Used, status = true, http.StatusConflict
	case errs.KindOf(err) == errs.KindInvalid:
		d.Expired, status = true, http.StatusGone
	default:
		if h.Log != nil && errs.KindOf(err) != errs.KindNotFound {
			h.Log.Error("automail: confirm", "err", err)
		}
		h.Site.Fail(w, r, n, err)
		return
	}
	v.Data = d
	h.Renderer.Render(w, status, "public/confirm_done", v)
}
