package auth

import (
	"log/slog"
	"net/http"

	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// HandlerDeps are what the control-panel handlers of this package need.
type HandlerDeps struct {
	Store      *Store
	Guard      *Guard
	Nations    *nation.Store
	Renderer   *web.Renderer
	Log        *slog.Logger
	BaseURL    string
	TrustProxy bool
}

// Handlers serves sign-in, set-up, the nation switcher, dashboards and staff pages.
type Handlers struct{ HandlerDeps }

// NewHandlers returns the auth handlers.
func NewHandlers(d HandlerDeps) *Handlers { return &Handlers{d} }

// Register adds the routes of this package.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.Handle("GET /admin/{$}", h.Guard.User(h.switcher))
}

// View starts a control-panel view: all three languages are offered.
func (h *Handlers) View(r *http.Request, u *User) *web.View {
	lang := i18n.Negotiate(r, i18n.Languages, "en")
	v := h.Renderer.NewView(r, lang, i18n.Languages)
	if u != nil {
		v.User = &web.ViewUser{ID: u.ID, Email: u.Email, Name: u.Name}
	}
	return v
}

func (h *Handlers) switcher(w http.ResponseWriter, r *http.Request, u *User) {
	nations, err := h.Nations.ListForUser(r.Context(), u.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	_ = nations
	w.Write([]byte("nations"))
}
