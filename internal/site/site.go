// Package site serves each nation's public pages through the nation's theme
// (for now the one default theme in web/templates/public). Every public
// answer, errors included, is a themed page in the visitor's language.
package site

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the public site needs.
type Deps struct {
	Nations  *nation.Store
	Renderer *web.Renderer
	Log      *slog.Logger
	// Home gives what the home page shows of the nation's pages; nil shows
	// only the nation's name and welcome text.
	Home HomeSource
}

// HomeSource is the pages feature as the home page sees it.
type HomeSource interface {
	// HomeContent returns the published pages to list and the home page's
	// own text (already safe HTML), in lang.
	HomeContent(ctx context.Context, nationID int64, lang string) (HomeData, error)
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
	// GET /{nation}/{page} belongs to internal/pages, which answers unknown
	// pages with NotFound below.
}

// HomeData is what the home page template receives in View.Data. Sections
// render only when their slice holds something: an empty site shows its
// name and welcome text, never placeholder content.
type HomeData struct {
	Pages []PageLink    // published pages to list; filled by the pages feature
	Intro template.HTML // the nation's home text (sanitised), replacing the welcome text
	// IntroLang is the language of Intro; the page marks it when it is
	// not the language of the rest of the page.
	IntroLang string
}

// PageLink is one entry of a list of pages on the public site.
type PageLink struct {
	Slug    string
	Title   string
	Summary string
	// Lang is the language of Title and Summary (a page without a
	// translation in the visitor's language is listed in its own); the
	// list marks it when it differs from the page's language.
	Lang string
}

// ErrorData is what the error page template receives in View.Data.
type ErrorData struct {
	Status  int
	Title   string
	Message string
}

func (h *Handlers) home(w http.ResponseWriter, r *http.Request) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	v := h.view(w, r, n)
	var d HomeData
	if h.Home != nil {
		if d, err = h.Home.HomeContent(r.Context(), n.ID, v.Lang); err != nil {
			h.fail(w, r, n, err)
			return
		}
	}
	v.Data = d
	h.Renderer.Render(w, http.StatusOK, "public/home", v)
}

// NotFound answers with the themed 404 of the nation named in the path
// (or of no nation, when there is none by that name).
func (h *Handlers) NotFound(w http.ResponseWriter, r *http.Request) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	if err != nil {
		n = nil
	} else {
		err = errs.NotFound("page not found")
	}
	h.fail(w, r, n, err)
}

// View starts a public page of nation n in the language negotiated among
// langs (nil: the nation's languages), for other public features.
func (h *Handlers) View(w http.ResponseWriter, r *http.Request, n *nation.Nation, langs []string) *web.View {
	if n == nil || len(langs) == 0 {
		return h.view(w, r, n)
	}
	def := n.DefaultLang
	if !contains(langs, def) {
		def = langs[0]
	}
	lang := i18n.Negotiate(r, langs, def)
	i18n.Remember(w, r, lang)
	w.Header().Set("Vary", "Accept-Language, Cookie")
	v := h.Renderer.NewView(r, lang, langs)
	v.Nation = &web.ViewNation{ID: n.ID, Slug: n.Slug, Name: n.Name}
	return v
}

// Fail answers with a themed error page whose status comes from err.
func (h *Handlers) Fail(w http.ResponseWriter, r *http.Request, n *nation.Nation, err error) {
	h.fail(w, r, n, err)
}

// ErrorPage answers with a themed error page of the given status and texts
// (already translated into v's language).
func (h *Handlers) ErrorPage(w http.ResponseWriter, v *web.View, status int, title, message string) {
	v.Data = ErrorData{Status: status, Title: title, Message: message}
	w.Header().Set("Cache-Control", "no-store")
	h.Renderer.Render(w, status, "public/error", v)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// view starts a public page of nation n (nil when the nation is unknown, in
// which case every language Muster speaks is offered) in the negotiated
// language, remembering an explicit ?lang= choice.
func (h *Handlers) view(w http.ResponseWriter, r *http.Request, n *nation.Nation) *web.View {
	langs, def := i18n.Languages, "en"
	if n != nil {
		langs, def = n.Languages, n.DefaultLang
	}
	lang := i18n.Negotiate(r, langs, def)
	i18n.Remember(w, r, lang)
	// The answer depends on the language, which comes from these headers;
	// shared caches must not serve one visitor's language to another.
	w.Header().Set("Vary", "Accept-Language, Cookie")
	v := h.Renderer.NewView(r, lang, langs)
	if n != nil {
		v.Nation = &web.ViewNation{ID: n.ID, Slug: n.Slug, Name: n.Name}
	}
	return v
}

// fail answers a public request with a themed error page whose status comes
// from web.Status. Internal errors are logged; the visitor only ever sees a
// translated message, never err's text (errs messages are English).
func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, n *nation.Nation, err error) {
	status := web.Status(err)
	if status == http.StatusInternalServerError {
		h.Log.Error("site: request failed", "route", r.Pattern, "err", err)
	}
	v := h.view(w, r, n)
	d := ErrorData{Status: status}
	switch status {
	case http.StatusNotFound:
		d.Title, d.Message = v.T("error.not_found"), v.T("public.error.not_found_text")
	default:
		d.Title, d.Message = v.T("error.generic"), v.T("public.error.generic_text")
	}
	v.Data = d
	w.Header().Set("Cache-Control", "no-store")
	h.Renderer.Render(w, status, "public/error", v)
}
