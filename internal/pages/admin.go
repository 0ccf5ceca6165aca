package pages

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/web"
)

// view starts a control-panel view inside the staff member's nation.
func (h *Handlers) view(r *http.Request, s *auth.Staff) *web.View {
	v := s.View(h.Renderer, r)
	if done := r.URL.Query().Get("done"); slices.Contains([]string{"created", "saved", "published", "unpublished", "deleted", "topic_saved", "topic_deleted", "translation_saved", "translation_removed"}, done) {
		v.Flash = v.T("pages.flash." + done)
	}
	return v
}

// fail answers a control-panel request with err's status and message.
func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.Error(w, r, h.Log, err)
}

func (h *Handlers) adminURL(s *auth.Staff, rest string) string {
	return "/admin/" + s.Nation.Slug + "/" + rest
}

// pageOf loads the page named by {page} in the staff member's nation.
func (h *Handlers) pageOf(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*Page, bool) {
	id, ok := web.PathID(w, r, "page")
	if !ok {
		return nil, false
	}
	p, err := h.Store.ByID(r.Context(), s.Nation.ID, id)
	if err != nil {
		if errs.KindOf(err) == errs.KindNotFound {
			http.NotFound(w, r)
		} else {
			h.fail(w, r, err)
		}
		return nil, false
	}
	return p, true
}

type listRow struct {
	*Page
	Count   int64
	TypeKey string
}

func (h *Handlers) list(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	ps, err := h.Store.List(r.Context(), s.Nation.ID, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var rows []listRow
	for _, p := range ps {
		row := listRow{Page: p, TypeKey: "pages.type." + p.Type}
		if p.Type == TypePetition {
			if row.Count, err = h.Store.SignatureCount(r.Context(), s.Nation.ID, p.ID); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		rows = append(rows, row)
	}
	v := h.view(r, s)
	v.Data = struct {
		Pages []listRow
		Types []string
	}{rows, Types}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "pages_list", v)
}

// editData is what admin/pages_edit receives.
type editData struct {
	Page      *Page
	IsNew     bool
	Action    string
	Types     []option
	Langs     []option
	Fields    []fieldOption
	Consents  []consentEdit
	Topics    []option
	Tags      string
	Interests string
	Skills    string
	Count     int64
	Signers   []Signer
	Inputs    map[string]textInput
	Lang      string           // the language of the page's own texts
	Tabs      []translationTab // the nation's other languages
}

// translationTab links to the translation of a page into one language.
type translationTab struct {
	Lang, URL string
	Exists    bool
}

// textInput is one labelled text input of the edit form.
type textInput struct{ Name, Label, Value, Hint, Error string }

type option struct {
	Value, Label string
	Selected     bool
}

type fieldOption struct {
	Name, Label     string
	Asked, Required bool
}

type consentEdit struct {
	Channel, Label string
	Wordings       []option // Value = language, Label = wording
}

func (h *Handlers) editData(r *http.Request, v *web.View, s *auth.Staff, p *Page, isNew bool) (*editData, error) {
	d := &editData{Page: p, IsNew: isNew, Tags: strings.Join(p.Settings.Tags, ", "),
		Interests: strings.Join(p.Settings.Interests, "\n"), Skills: strings.Join(p.Settings.Skills, "\n")}
	d.Inputs = map[string]textInput{}
	for name, val := range map[string]string{
		"title": p.Title, "slug": p.Slug, "share_image": p.ShareImage, "target": p.Target, "goal": itoa64(p.Goal),
		"tags": d.Tags, "points": itoa(p.Settings.Points), "redirect": p.Settings.Redirect, "auto_subject": p.Settings.AutoResponse.Subject,
	} {
		in := textInput{Name: name, Label: v.T("pages.admin.field." + name), Value: val, Error: v.Errors[name]}
		switch name {
		case "slug":
			in.Hint = v.T("pages.admin.hint.slug")
		case "share_image", "redirect":
			in.Hint = v.T("pages.admin.hint.url")
		case "tags":
			in.Hint = v.T("pages.admin.hint.tags")
		}
		d.Inputs[name] = in
	}
	if isNew {
		d.Action = h.adminURL(s, "pages/new")
	} else {
		d.Action = h.adminURL(s, "pages/"+itoa64(p.ID)+"/edit")
	}
	for _, t := range Types {
		d.Types = append(d.Types, option{t, v.T("pages.type." + t), t == p.Type})
	}
	d.Lang = p.DefaultLang(s.Nation.DefaultLang)
	for _, l := range s.Nation.Languages {
		d.Langs = append(d.Langs, option{l, i18n.Names[l], l == d.Lang})
		if l != d.Lang && !isNew {
			d.Tabs = append(d.Tabs, translationTab{Lang: l, URL: h.adminURL(s, "pages/"+itoa64(p.ID)+"/translations/"+l),
				Exists: p.Translation(l) != nil})
		}
	}
	for _, f := range FormFields {
		asked, req := p.Settings.Asks(f)
		d.Fields = append(d.Fields, fieldOption{f, v.T("pages.field." + f), asked, req})
	}
	for _, c := range ConsentChannels {
		ce := consentEdit{Channel: c, Label: v.T("pages.admin.consent_" + c)}
		// The page's own language and those of its translations: a
		// question added here needs its wording in each at once.
		q := p.Settings.Consent(c)
		for _, l := range p.Langs(s.Nation.DefaultLang, s.Nation.Languages) {
			o := option{Value: l}
			if q != nil {
				o.Label = q.Wording[l]
			}
			ce.Wordings = append(ce.Wordings, o)
		}
		d.Consents = append(d.Consents, ce)
	}
	topics, err := h.Store.Topics(r.Context(), s.Nation.ID)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		d.Topics = append(d.Topics, option{t.Slug, t.Name(v.Lang), slices.Contains(p.Settings.Topics, t.Slug)})
	}
	if !isNew && p.Type == TypePetition {
		if d.Count, err = h.Store.SignatureCount(r.Context(), s.Nation.ID, p.ID); err != nil {
			return nil, err
		}
		if d.Signers, err = h.Store.RecentSigners(r.Context(), s.Nation.ID, p.ID, false, 50); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (h *Handlers) renderEdit(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, v *web.View, p *Page, isNew bool) {
	d, err := h.editData(r, v, s, p, isNew)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "pages_edit", v)
}

func (h *Handlers) newForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	typ := r.URL.Query().Get("type")
	if !slices.Contains(Types, typ) {
		typ = TypePetition
	}
	bundle := h.Renderer.Bundle()
	p := &Page{NationID: s.Nation.ID, Type: typ, Status: StatusDraft,
		Settings: DefaultSettings(typ, s.Nation.Languages, bundle.T)}
	h.renderEdit(w, r, s, http.StatusOK, h.view(r, s), p, true)
}

func (h *Handlers) newSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	p := &Page{NationID: s.Nation.ID, Status: StatusDraft}
	h.save(w, r, s, p, true)
}

func (h *Handlers) editForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return
	}
	h.renderEdit(w, r, s, http.StatusOK, h.view(r, s), p, false)
}

func (h *Handlers) editSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	h.save(w, r, s, p, false)
}

// save reads the edit form into p, validates and stores it; problems
// re-render the form (422) with messages next to the fields.
func (h *Handlers) save(w http.ResponseWriter, r *http.Request, s *auth.Staff, p *Page, isNew bool) {
	ps := pageFromForm(p, r.PostForm, s.Nation.DefaultLang)
	ps = append(ps, p.Validate(s.Nation.Languages)...)
	v := h.view(r, s)
	if len(ps) == 0 {
		var err error
		if isNew {
			err = h.Store.Create(r.Context(), p)
		} else {
			err = h.Store.Update(r.Context(), p)
		}
		if errs.KindOf(err) == errs.KindInvalid && errs.FieldOf(err) == "slug" {
			ps = append(ps, Problem{Field: "slug", Code: "slug_taken"})
		} else if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if len(ps) > 0 {
		v.Errors = ps.Translate(v.T)
		h.renderEdit(w, r, s, http.StatusUnprocessableEntity, v, p, isNew)
		return
	}
	done := "saved"
	if isNew {
		done = "created"
	}
	http.Redirect(w, r, h.adminURL(s, "pages/"+itoa64(p.ID)+"/edit?done="+done), http.StatusSeeOther)
}

// pageFromForm copies the edit form's values into p; the translations
// stay as they are (they have their own form). nationDefault is the
// language of a page whose form names none.
func pageFromForm(p *Page, f url.Values, nationDefault string) Problems {
	var ps Problems
	p.Slug, p.Title, p.Type = f.Get("slug"), f.Get("title"), f.Get("type")
	p.Body, p.Target, p.ShareImage = f.Get("body"), f.Get("target"), f.Get("share_image")
	if l := f.Get("lang"); l != "" {
		p.Lang = l
	}
	if p.Lang == "" {
		p.Lang = nationDefault
	}
	old := p.Settings
	p.SupportsParty = f.Get("supports_party") == "yes"
	p.Goal = 0
	if g := strings.TrimSpace(f.Get("goal")); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			ps.add("goal", "goal", 0)
		}
		p.Goal = n
	}
	st := Settings{
		Tags:          strings.Split(f.Get("tags"), ","),
		Interests:     strings.Split(f.Get("interests"), "\n"),
		Skills:        strings.Split(f.Get("skills"), "\n"),
		Topics:        f["topics"],
		ThankYou:      f.Get("thank_you"),
		Redirect:      f.Get("redirect"),
		PublicSigners: f.Get("public_signers") == "yes",
		AutoResponse: AutoResponse{Enabled: f.Get("auto_enabled") == "yes",
			Subject: f.Get("auto_subject"), Body: f.Get("auto_body")},
	}
	if pts := strings.TrimSpace(f.Get("points")); pts != "" {
		n, err := strconv.Atoi(pts)
		if err != nil {
			ps.add("points", "points", 0)
		}
		st.Points = n
	}
	for _, name := range FormFields {
		if f.Get("ask_"+name) == "yes" {
			st.Fields = append(st.Fields, Field{Name: name, Required: f.Get("req_"+name) == "yes"})
		}
	}
	// A consent question is asked when it is worded in the page's own
	// language; the wordings posted (consent_<channel>_<lang>) replace
	// those of the same language and the others — the translations' —
	// are kept. Emptying the page's own wording removes the question in
	// every language.
	for _, c := range ConsentChannels {
		q := ConsentQuestion{Channel: c, Wording: map[string]string{}}
		if o := old.Consent(c); o != nil {
			maps.Copy(q.Wording, o.Wording)
		}
		prefix := "consent_" + c + "_"
		for k, vs := range f {
			if l, ok := strings.CutPrefix(k, prefix); ok && len(vs) > 0 {
				q.Wording[l] = vs[0]
			}
		}
		if strings.TrimSpace(q.Wording[p.Lang]) == "" {
			continue
		}
		st.Consents = append(st.Consents, q)
	}
	p.Settings = st
	return ps
}

func (h *Handlers) preview(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return
	}
	v := h.Site.View(w, r, s.Nation, pageLangs(s.Nation, p))
	h.renderPage(w, r, http.StatusOK, v, s.Nation, p, nil, true)
}

func (h *Handlers) publish(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.setStatus(w, r, s, StatusPublished, "published")
}

func (h *Handlers) unpublish(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.setStatus(w, r, s, StatusDraft, "unpublished")
}

func (h *Handlers) setStatus(w http.ResponseWriter, r *http.Request, s *auth.Staff, status, done string) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return
	}
	if err := h.Store.SetStatus(r.Context(), s.Nation.ID, p.ID, status); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "pages?done="+done), http.StatusSeeOther)
}

func (h *Handlers) deleteForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok {
		return
	}
	h.renderDelete(w, r, s, http.StatusOK, p, false)
}

func (h *Handlers) renderDelete(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, p *Page, unconfirmed bool) {
	var count int64
	if p.Type == TypePetition {
		var err error
		if count, err = h.Store.SignatureCount(r.Context(), s.Nation.ID, p.ID); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	v := h.view(r, s)
	if unconfirmed {
		v.Errors = map[string]string{"confirm": v.T("pages.err.confirm")}
	}
	v.Data = struct {
		Page  *Page
		Count int64
	}{p, count}
	h.Renderer.RenderPrivate(w, r, status, "pages_delete", v)
}

func (h *Handlers) deleteSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.pageOf(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.renderDelete(w, r, s, http.StatusUnprocessableEntity, p, true)
		return
	}
	if err := h.Store.Delete(r.Context(), s.Nation.ID, p.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "pages?done=deleted"), http.StatusSeeOther)
}

// topicsData is what admin/pages_topics receives.
type topicsData struct {
	Topics []Topic
	Langs  []option
	New    Topic
}

func (h *Handlers) topics(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderTopics(w, r, s, http.StatusOK, h.view(r, s), Topic{})
}

func (h *Handlers) renderTopics(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, v *web.View, fresh Topic) {
	ts, err := h.Store.Topics(r.Context(), s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := topicsData{Topics: ts, New: fresh}
	for _, l := range s.Nation.Languages {
		d.Langs = append(d.Langs, option{Value: l, Label: i18n.Names[l]})
	}
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "pages_topics", v)
}

func topicNames(f url.Values, langs []string) map[string]string {
	names := map[string]string{}
	for _, l := range langs {
		names[l] = f.Get("name_" + l)
	}
	return names
}

func (h *Handlers) topicCreate(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	t := Topic{Slug: r.PostForm.Get("slug"), Names: topicNames(r.PostForm, s.Nation.Languages)}
	ps := ValidateTopic(&t)
	if len(ps) == 0 {
		if err := h.Store.CreateTopic(r.Context(), s.Nation.ID, &t); errs.FieldOf(err) == "slug" {
			ps = append(ps, Problem{Field: "slug", Code: "topic_taken"})
		} else if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if len(ps) > 0 {
		v := h.view(r, s)
		v.Errors = ps.Translate(v.T)
		h.renderTopics(w, r, s, http.StatusUnprocessableEntity, v, t)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "topics?done=topic_saved"), http.StatusSeeOther)
}

func (h *Handlers) topicOf(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*Topic, bool) {
	id, ok := web.PathID(w, r, "topic")
	if !ok {
		return nil, false
	}
	t, err := h.Store.TopicByID(r.Context(), s.Nation.ID, id)
	if err != nil {
		if errs.KindOf(err) == errs.KindNotFound {
			http.NotFound(w, r)
		} else {
			h.fail(w, r, err)
		}
		return nil, false
	}
	return t, true
}

func (h *Handlers) topicEdit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	t, ok := h.topicOf(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	t.Names = topicNames(r.PostForm, s.Nation.Languages)
	if ps := ValidateTopic(t); len(ps) > 0 {
		v := h.view(r, s)
		v.Errors = ps.Translate(v.T)
		h.renderTopics(w, r, s, http.StatusUnprocessableEntity, v, Topic{})
		return
	}
	if err := h.Store.UpdateTopicNames(r.Context(), s.Nation.ID, t.ID, t.Names); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "topics?done=topic_saved"), http.StatusSeeOther)
}

func (h *Handlers) topicDelete(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	t, ok := h.topicOf(w, r, s)
	if !ok {
		return
	}
	if err := h.Store.DeleteTopic(r.Context(), s.Nation.ID, t.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.adminURL(s, "topics?done=topic_deleted"), http.StatusSeeOther)
}
