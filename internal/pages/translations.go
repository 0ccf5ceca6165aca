package pages

import (
	"net/http"
	"slices"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/web"
)

// translationData is what admin/pages_translation receives: the page's
// texts in its own language beside the fields of their translation.
type translationData struct {
	Page     *Page
	Lang     string // the translation's language
	PageLang string // the page's own language
	Exists   bool
	Action   string
	Delete   string
	Back     string
	Preview  string // the page as visitors of this language get it
	Fields   []translationField
}

// translationField is one text to translate: its input name
// (<field>_<lang>), label, the original and the translation.
type translationField struct {
	Name, Label, Original, Value, Error string
	Markdown, Long                      bool
}

// translationOf loads the page named by {page} and checks {lang}: one of
// the nation's languages other than the page's own. Anything else is 404.
func (h *Handlers) translationOf(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*Page, string, bool) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return nil, "", false
	}
	l := r.PathValue("lang")
	if !slices.Contains(s.Nation.Languages, l) || l == p.DefaultLang(s.Nation.DefaultLang) {
		http.NotFound(w, r)
		return nil, "", false
	}
	return p, l, true
}

func (h *Handlers) translationForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, l, ok := h.translationOf(w, r, s)
	if !ok {
		return
	}
	h.renderTranslation(w, r, s, http.StatusOK, h.view(r, s), p, l)
}

func (h *Handlers) renderTranslation(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, v *web.View, p *Page, l string) {
	base := h.adminURL(s, "pages/"+itoa64(p.ID))
	d := &translationData{Page: p, Lang: l, PageLang: p.DefaultLang(s.Nation.DefaultLang),
		Action: base + "/translations/" + l, Delete: base + "/translations/" + l + "/delete", Back: base + "/edit", Preview: base + "/preview?lang=" + l}
	var t Translation
	if cur := p.Translation(l); cur != nil {
		t, d.Exists = *cur, true
	}
	field := func(name, label, original, value string, markdown, long bool) {
		name += "_" + l
		d.Fields = append(d.Fields, translationField{Name: name, Label: label, Original: original, Value: value,
			Error: v.Errors[name], Markdown: markdown, Long: long})
	}
	field("title", v.T("pages.admin.field.title"), p.Title, t.Title, false, false)
	field("body", v.T("pages.admin.field.body"), p.Body, t.Body, true, true)
	if p.HasForm() {
		field("thank_you", v.T("pages.admin.field.thank_you"), p.Settings.ThankYou, t.ThankYou, true, true)
		for _, q := range p.Settings.Consents {
			field("consent_"+q.Channel, v.T("pages.admin.consent_question", v.T("pages.admin.consent_"+q.Channel)),
				q.Wording[d.PageLang], q.Wording[l], false, true)
		}
	}
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "pages_translation", v)
}

// translationSubmit adds or replaces the translation of a page into
// {lang}: its title, body, thank-you text and consent wordings, validated
// with the whole page; problems re-render the form (422) next to the fields.
func (h *Handlers) translationSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, l, ok := h.translationOf(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	f := r.PostForm
	p.SetTranslation(Translation{Lang: l, Title: f.Get("title_" + l), Body: f.Get("body_" + l), ThankYou: f.Get("thank_you_" + l)})
	for i := range p.Settings.Consents {
		q := &p.Settings.Consents[i]
		if q.Wording == nil {
			q.Wording = map[string]string{}
		}
		q.Wording[l] = f.Get("consent_" + q.Channel + "_" + l)
	}
	ps := p.Validate(s.Nation.Languages)
	if len(ps) == 0 {
		if err := h.Store.Update(r.Context(), p); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, h.adminURL(s, "pages/"+itoa64(p.ID)+"/translations/"+l+"?done=translation_saved"), http.StatusSeeOther)
		return
	}
	v := h.view(r, s)
	v.Errors = ps.Translate(v.T)
	// Validate dropped the empty wordings the form posted; show the
	// fields as typed.
	for i := range p.Settings.Consents {
		q := &p.Settings.Consents[i]
		q.Wording[l] = f.Get("consent_" + q.Channel + "_" + l)
	}
	h.renderTranslation(w, r, s, http.StatusUnprocessableEntity, v, p, l)
}

// translationDelete removes a page's translation into {lang}, with its
// consent wordings in that language.
func (h *Handlers) translationDelete(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, l, ok := h.translationOf(w, r, s)
	if !ok {
		return
	}
	p.RemoveTranslation(l)
	if err := h.Store.Update(r.Context(), p); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "pages/"+itoa64(p.ID)+"/edit?done=translation_removed"), http.StatusSeeOther)
}
