package theme

import (
	"bytes"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/site"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the theme pages need.
type Deps struct {
	Store    *Store
	Themes   *Themes
	Defaults *Defaults
	Nations  *nation.Store
	Guard    *auth.Guard
	Renderer *web.Renderer
	Home     site.HomeSource // the home page's content, for the preview; may be nil
	Log      *slog.Logger
}

// Handlers serves the control panel's theme editor and the nations'
// stylesheets.
type Handlers struct{ Deps }

// NewHandlers returns the theme handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{d} }

// Register adds the routes; every /admin/{nation}/… one is also listed in
// servertest.NationRoutes.
func (h *Handlers) Register(mux *http.ServeMux) {
	admin := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleAdmin, fn)
	}
	mux.Handle("GET /admin/{nation}/theme", admin(h.index))
	mux.Handle("GET /admin/{nation}/theme/edit", admin(h.editForm))
	mux.Handle("POST /admin/{nation}/theme/edit", admin(h.editSave))
	mux.Handle("POST /admin/{nation}/theme/publish", admin(h.publish))
	mux.Handle("GET /admin/{nation}/theme/preview", admin(h.preview))
	mux.Handle("GET /admin/{nation}/theme/preview.css", admin(h.previewCSS))
	// Four segments: /static/theme/{x} would overlap /{nation}/{page}/thanks.
	mux.HandleFunc("GET /static/theme/{nation}/style.css", h.css)
}

// fileRow is one line of the theme's file list.
type fileRow struct {
	Name       string
	Overridden bool // published differs from the default
	Pending    bool // a saved draft waits to be published
}

func (h *Handlers) view(r *http.Request, s *auth.Staff) *web.View {
	v := s.View(h.Renderer, r)
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"saved", "published"}, done) {
		v.Flash = v.T("theme.flash." + done)
	}
	return v
}

func (h *Handlers) index(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	files, err := h.Store.Files(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	byName := map[string]File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	var rows []fileRow
	pending := false
	for _, name := range h.Defaults.Names() {
		f := byName[name]
		rows = append(rows, fileRow{Name: name, Overridden: f.Published != "", Pending: f.Pending()})
		pending = pending || f.Pending()
	}
	v := h.view(r, s)
	v.Data = struct {
		Files   []fileRow
		Pending bool
	}{rows, pending}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "theme_index", v)
}

type editData struct {
	File    string
	Source  string
	Error   string
	Default bool // the source shown is the default's
	IsCSS   bool
}

// current returns the source the editor starts from: the draft, else the
// published file, else the default.
func (h *Handlers) current(r *http.Request, nationID int64, name string) (string, bool, error) {
	files, err := h.Store.Files(r.Context(), nationID)
	if err != nil {
		return "", false, err
	}
	for _, f := range files {
		if f.Name == name && f.Draft != "" {
			return f.Draft, false, nil
		}
	}
	return h.Defaults.Source(name), true, nil
}

func (h *Handlers) editForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	name := r.URL.Query().Get("file")
	if !h.Defaults.Allowed(name) {
		web.Error(w, r, h.Log, errs.NotFound("no such theme file"))
		return
	}
	src, isDefault, err := h.current(r, s.Nation.ID, name)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v := h.view(r, s)
	v.Data = editData{File: name, Source: src, Default: isDefault, IsCSS: name == CSSFile}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "theme_edit", v)
}

func (h *Handlers) editSave(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if web.IsTooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	name := r.PostForm.Get("file")
	if !h.Defaults.Allowed(name) {
		web.Error(w, r, h.Log, errs.NotFound("no such theme file"))
		return
	}
	src := r.PostForm.Get("source")
	if r.PostForm.Get("action") == "reset" || src == h.Defaults.Source(name) {
		src = "" // back to the default
	}
	if err := h.SaveDraft(r, s.Nation, name, src); err != nil {
		if errs.KindOf(err) != errs.KindInvalid {
			web.Error(w, r, h.Log, err)
			return
		}
		v := h.view(r, s)
		v.Data = editData{File: name, Source: r.PostForm.Get("source"), Error: errs.Message(err), IsCSS: name == CSSFile}
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "theme_edit", v)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/theme?done=saved", http.StatusSeeOther)
}

// SaveDraft validates the nation's draft set with src as file name — parsed
// with the default partials and FuncMap, each page executed against a
// sample view — and stores it. A refusal is errs.Invalid naming the file,
// line and reason.
func (h *Handlers) SaveDraft(r *http.Request, n *nation.Nation, name, src string) error {
	if err := h.Defaults.CheckFile(name, src); err != nil {
		return err
	}
	drafts, err := h.Store.Drafts(r.Context(), n.ID)
	if err != nil {
		return err
	}
	if src == "" {
		delete(drafts, name)
	} else {
		drafts[name] = src
	}
	set, err := h.Defaults.Compile(drafts)
	if err != nil {
		return err
	}
	if err := set.Execute(func(page string) *web.View { return SampleView(h.Renderer, n, page) }); err != nil {
		return err
	}
	return h.Store.SaveDraft(r.Context(), n.ID, name, src)
}

func (h *Handlers) publish(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if err := h.Store.Publish(r.Context(), s.Nation.ID); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.Themes.Invalidate(s.Nation.ID)
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/theme?done=published", http.StatusSeeOther)
}

// preview renders the nation's home page through its draft theme.
func (h *Handlers) preview(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	drafts, err := h.Store.Drafts(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	if _, ok := drafts[layoutFile]; !ok {
		drafts[layoutFile] = h.Defaults.Source(layoutFile) // build the pages even without HTML overrides
	}
	set, err := h.Defaults.Compile(drafts)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	n := s.Nation
	lang := i18n.Negotiate(r, n.Languages, n.DefaultLang)
	v := h.Renderer.NewView(r, lang, n.Languages)
	v.Nation = &web.ViewNation{ID: n.ID, Slug: n.Slug, Name: n.Name}
	if set.CSS != "" {
		v.ThemeCSS = "/admin/" + n.Slug + "/theme/preview.css?t=" + time.Now().Format("150405.000")
	}
	var d site.HomeData
	if h.Home != nil {
		if d, err = h.Home.HomeContent(r.Context(), n.ID, lang); err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
	}
	v.Data = d
	var buf bytes.Buffer
	if err := set.Pages["public/home"].Execute(&buf, v); err != nil {
		web.Error(w, r, h.Log, templateError(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handlers) previewCSS(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	drafts, err := h.Store.Drafts(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(drafts[CSSFile]))
}

// css serves a nation's published stylesheet. Its address carries the
// version, so it may be cached.
func (h *Handlers) css(w http.ResponseWriter, r *http.Request) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	var set *Set
	if err == nil {
		set = h.Themes.Published(n.ID)
	}
	if set == nil || set.CSS == "" {
		if err != nil && !errors.Is(err, errs.ErrNotFound) {
			h.Log.Error("theme: stylesheet", "err", err)
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write([]byte(set.CSS))
}

// SampleView is the view a theme's page is executed against on save: the
// nation, its default language, and plausible data of each public page's
// shape. Pages it does not know get nil (they are parsed, not executed).
func SampleView(rd *web.Renderer, n *nation.Nation, page string) *web.View {
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/" + n.Slug + "/"}}
	v := rd.NewView(req, n.DefaultLang, n.Languages)
	v.Nation = &web.ViewNation{ID: n.ID, Slug: n.Slug, Name: n.Name}
	v.Errors = map[string]string{}
	v.Form = url.Values{}
	p := &pages.Page{ID: 1, NationID: n.ID, Slug: "sample", Type: pages.TypePetition, Title: "Sample petition",
		Status: pages.StatusPublished, Target: "The council", Goal: 1000,
		Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}}}}
	box := map[string]any{"Name": "topics", "Value": "x", "Label": "X", "ID": "t-x", "Checked": false}
	signers := []pages.Signer{{FirstName: "Ada", City: "Liège", Public: true, Lang: "en", At: time.Now()}}
	switch page {
	case "public/home":
		v.Data = site.HomeData{Pages: []site.PageLink{{Slug: "sample", Title: "Sample petition", Summary: "A summary"}},
			Intro: template.HTML("<p>Welcome</p>")}
	case "public/error":
		v.Data = site.ErrorData{Status: http.StatusNotFound, Title: "Not found", Message: "This page does not exist."}
	case "public/page_show", "public/page_thanks":
		v.Data = map[string]any{
			"Page": p, "Body": template.HTML("<p>Body</p>"), "Action": "/" + n.Slug + "/sample", "Lang": v.Lang,
			"Fields": []map[string]any{{"Name": "email", "Label": "E-mail", "Type": "email", "Value": "", "Error": "",
				"Autocomplete": "email", "Required": true, "Textarea": false, "Max": 254}},
			"Consents": []map[string]any{box}, "Interests": []map[string]any{box}, "Skills": []map[string]any{box},
			"Topics": []map[string]any{box}, "Public": box, "Honeypot": "website", "Petition": true,
			"Count": int64(12), "Goal": int64(1000), "Signers": signers, "Preview": false, "HasErrors": false,
			"Thanks": template.HTML("<p>Thank you</p>"), "Share": []map[string]any{{"Label": "E-mail", "URL": "mailto:?body=x"}},
			"PageURL": "/" + n.Slug + "/sample",
		}
	default:
		return nil
	}
	return v
}
