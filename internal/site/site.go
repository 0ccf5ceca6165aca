// Package site serves each nation's public pages.
package site

import (
	"log/slog"
	"net/http"

	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the public site needs.
type Deps struct {
	Nations  *nation.Store
	Renderer *web.Renderer
	Log      *slog.Logger
}

// Handlers serves public pages.
type Handlers struct{ Deps }

// NewHandlers returns the public site handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{d} }

// Register adds the public routes.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{nation}/{$}", h.home)
	mux.HandleFunc("GET /{nation}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/"+r.PathValue("nation")+"/", http.StatusMovedPermanently)
	})
}

func (h *Handlers) home(w http.ResponseWriter, r *http.Request) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	lang := i18n.Negotiate(r, n.Languages, n.DefaultLang)
	i18n.Remember(w, r, lang)
	v := h.Renderer.NewView(r, lang, n.Languages)
	v.Nation = &web.ViewNation{ID: n.ID, Slug: n.Slug, Name: n.Name}
	h.Renderer.Render(w, http.StatusOK, "public/home", v)
}
