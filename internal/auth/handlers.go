package auth

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync"

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
	BaseURL    string // public URL, for invitation links; "" means the request's own host
	TrustProxy bool   // believe X-Forwarded-For for the throttle's client address
}

// Handlers serves sign-in, set-up, the nation switcher, dashboards and staff pages.
type Handlers struct {
	HandlerDeps

	// dummyHash is checked against when a sign-in names an unknown e-mail,
	// so that it costs the same time as a wrong password (computed once,
	// on the first sign-in, not at start-up).
	dummyOnce sync.Once
	dummyHash string
}

// NewHandlers returns the auth handlers.
func NewHandlers(d HandlerDeps) *Handlers { return &Handlers{HandlerDeps: d} }

// Register adds the routes of this package. Every /admin/{nation}/… route
// added here must also be listed in servertest.NationRoutes, the
// cross-nation isolation probe.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /setup/{token}", h.setupForm)
	mux.HandleFunc("POST /setup/{token}", h.setupSubmit)

	mux.HandleFunc("GET /admin/login", h.loginForm)
	mux.HandleFunc("POST /admin/login", h.loginSubmit)
	mux.HandleFunc("POST /admin/logout", h.logout)
	mux.Handle("GET /admin/account/password", h.Guard.User(h.passwordForm))
	mux.Handle("POST /admin/account/password", h.Guard.User(h.passwordSubmit))

	mux.Handle("GET /admin/{$}", h.Guard.User(h.switcher))
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /admin/{nation}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/"+url.PathEscape(r.PathValue("nation"))+"/", http.StatusMovedPermanently)
	})
	mux.Handle("GET /admin/{nation}/{$}", h.Guard.Nation(RoleVolunteer, h.dashboard))

	mux.Handle("GET /admin/{nation}/staff", h.Guard.Nation(RoleAdmin, h.staffPage))
	mux.Handle("POST /admin/{nation}/staff/{user}/role", h.Guard.Nation(RoleAdmin, h.staffRole))
	mux.Handle("POST /admin/{nation}/staff/{user}/remove", h.Guard.Nation(RoleAdmin, h.staffRemove))
	mux.Handle("POST /admin/{nation}/invitations", h.Guard.Nation(RoleAdmin, h.inviteCreate))
	mux.Handle("POST /admin/{nation}/invitations/revoke", h.Guard.Nation(RoleAdmin, h.inviteRevoke))

	mux.HandleFunc("GET /invite/{token}", h.inviteForm)
	mux.HandleFunc("POST /invite/{token}", h.inviteSubmit)
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

// nationView starts a view of a page inside one nation.
func (h *Handlers) nationView(r *http.Request, s *Staff) *web.View {
	v := h.View(r, s.User)
	v.Nation = &web.ViewNation{ID: s.Nation.ID, Slug: s.Nation.Slug, Name: s.Nation.Name}
	v.Role = string(s.Role)
	return v
}

// message renders a page that only says something, such as a dead link.
func (h *Handlers) message(w http.ResponseWriter, r *http.Request, status int, u *User, titleKey, textKey string) {
	v := h.View(r, u)
	v.Data = messagePage{Title: v.T(titleKey), Text: v.T(textKey)}
	h.Renderer.RenderPrivate(w, r, status, "message", v)
}

type messagePage struct{ Title, Text string }

// field is one text input of a form, with what the shared "field" template
// needs to label it and tie its error to it for assistive technology.
type field struct {
	Name, Label, Type, Value, Error, Hint, Autocomplete string
	Required                                            bool
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// fieldErrors collects translated messages per form field.
type fieldErrors map[string]string

func (e fieldErrors) add(field, msg string) {
	if _, ok := e[field]; !ok {
		e[field] = msg
	}
}

// roleOptions lists the roles for a select, translated.
func roleOptions(v *web.View, selected Role) []option {
	var out []option
	for _, r := range []Role{RoleVolunteer, RoleOrganizer, RoleAdmin} {
		out = append(out, option{Value: string(r), Label: v.T("admin.role." + string(r)), Selected: r == selected})
	}
	return out
}
