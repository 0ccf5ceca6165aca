// Package web is Muster's small shared HTTP plumbing: template rendering with
// translations, the mapping from error kinds to HTTP status (the only one),
// middleware (security headers, CSRF, recovery, request logs without
// personal data), and client-address helpers. Domains own their handlers and
// use this package to answer.
package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/i18n"
)

// Renderer renders the embedded html/template pages. Each page file under
// templates/<layout>/ defines "title" and "content" and is executed inside
// templates/layouts/<layout>.html; partials in templates/partials/ are
// available to all.
type Renderer struct {
	pages  map[string]*template.Template
	bundle *i18n.Bundle
	log    *slog.Logger
	themes ThemeSource // nil: every nation gets the default public theme
}

// ThemeSource gives a nation's published overrides of the public templates
// (internal/theme). It is asked on every public render, so it answers from
// memory; nil results mean the default theme.
type ThemeSource interface {
	// Page returns the nation's template set for a public page ("public/home"),
	// or nil when the nation overrides nothing.
	Page(nationID int64, page string) *template.Template
	// CSS returns the address of the nation's own stylesheet, or "".
	CSS(nationID int64) string
}

// SetThemes installs the per-nation theme overrides; call it once, while
// assembling the application, before serving.
func (rd *Renderer) SetThemes(ts ThemeSource) { rd.themes = ts }

// NewRenderer parses every page of fsys (rooted at the web/ directory).
func NewRenderer(fsys fs.FS, bundle *i18n.Bundle, log *slog.Logger) (*Renderer, error) {
	r := &Renderer{pages: map[string]*template.Template{}, bundle: bundle, log: log}
	partials, err := fs.Glob(fsys, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	layouts, err := fs.Glob(fsys, "templates/layouts/*.html")
	if err != nil {
		return nil, err
	}
	for _, layout := range layouts {
		lname := strings.TrimSuffix(path.Base(layout), ".html")
		pages, err := fs.Glob(fsys, "templates/"+lname+"/*.html")
		if err != nil {
			return nil, err
		}
		for _, page := range pages {
			files := append([]string{layout}, partials...)
			files = append(files, page)
			t, err := template.New(path.Base(layout)).Funcs(Funcs).ParseFS(fsys, files...)
			if err != nil {
				return nil, fmt.Errorf("web: parse %s: %w", page, err)
			}
			r.pages[lname+"/"+strings.TrimSuffix(path.Base(page), ".html")] = t
		}
	}
	if len(r.pages) == 0 {
		return nil, fmt.Errorf("web: no templates found")
	}
	return r, nil
}

// Funcs are the helpers available in every template.
var Funcs = template.FuncMap{
	"langName": func(l string) string { return i18n.Names[l] },
	"date":     func(t time.Time) string { return t.Format("2006-01-02") },
	"datetime": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
	"upper":    strings.ToUpper,
}

// View is what every page template receives.
type View struct {
	Lang  string   // the language of this response
	Langs []string // languages offered, for the switcher
	Path  string   // the request path, for switcher links
	Query url.Values

	User    *ViewUser   // the signed-in staff member, if any
	Nation  *ViewNation // the nation the page belongs to, if any
	Nations []ViewNation
	Role    string // the user's role in Nation

	Flash  string
	Errors map[string]string // form field → message
	Form   url.Values        // submitted values, to refill a form
	Data   any               // the page's own data

	// ThemeCSS is the address of the nation's own stylesheet (theme
	// overrides), linked after the default one; set by Render.
	ThemeCSS string

	bundle *i18n.Bundle
}

// ViewUser is the part of a staff account a template may show.
type ViewUser struct {
	ID    int64
	Email string
	Name  string
}

// ViewNation is the part of a nation a template may show.
type ViewNation struct {
	ID   int64
	Slug string
	Name string
}

// T translates key into the view's language.
func (v *View) T(key string, args ...any) string {
	if v.bundle == nil {
		return key
	}
	return v.bundle.T(v.Lang, key, args...)
}

// N formats a number in the view's locale.
func (v *View) N(n any) string {
	if v.bundle == nil {
		return fmt.Sprint(n)
	}
	return v.bundle.Printer(v.Lang).Sprintf("%d", n)
}

// LangURL returns the current page's URL switched to lang.
func (v *View) LangURL(lang string) string {
	q := url.Values{}
	for k, vals := range v.Query {
		q[k] = vals
	}
	q.Set("lang", lang)
	return v.Path + "?" + q.Encode()
}

// FieldError returns the message for a form field, if any.
func (v *View) FieldError(field string) string { return v.Errors[field] }

// FormValue returns a submitted value to refill a field.
func (v *View) FormValue(field string) string { return v.Form.Get(field) }

// NewView starts a view for a request in lang.
func (rd *Renderer) NewView(r *http.Request, lang string, langs []string) *View {
	return &View{Lang: lang, Langs: langs, Path: r.URL.Path, Query: r.URL.Query(), bundle: rd.bundle}
}

// Bundle returns the translations the renderer uses.
func (rd *Renderer) Bundle() *i18n.Bundle { return rd.bundle }

// Render executes page into a buffer and writes it with status; a template
// failure becomes a plain 500 rather than half a page.
func (rd *Renderer) Render(w http.ResponseWriter, status int, page string, v *View) {
	t, ok := rd.pages[page]
	if !ok {
		rd.log.Error("web: unknown template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if rd.themes != nil && v.Nation != nil && strings.HasPrefix(page, "public/") {
		v.ThemeCSS = rd.themes.CSS(v.Nation.ID)
		if o := rd.themes.Page(v.Nation.ID, page); o != nil {
			// A theme was executed against a sample when saved, but real
			// data can still trip it: then the default theme answers.
			err := o.Execute(&buf, v)
			if err == nil {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(status)
				_, _ = w.Write(buf.Bytes())
				return
			}
			rd.log.Warn("web: theme override failed, using the default", "page", page, "nation", v.Nation.ID, "err", err)
			buf.Reset()
		}
	}
	if err := t.Execute(&buf, v); err != nil {
		rd.log.Error("web: render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// Has reports whether a page template exists.
func (rd *Renderer) Has(page string) bool { _, ok := rd.pages[page]; return ok }
