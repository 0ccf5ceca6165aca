package pages

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// honeypot is the name of the form field that people never see (hidden by
// the theme's CSS, out of the tab order) and scripts fill in.
const honeypot = "website"

// publicData is what public/page_show and public/page_thanks receive.
type publicData struct {
	Page      *Page
	Body      template.HTML
	Action    string
	Lang      string
	Fields    []formField
	Consents  []checkbox
	Interests []checkbox
	Skills    []checkbox
	Topics    []checkbox
	Public    *checkbox // the opt-in to the public list of signers
	Honeypot  string
	Petition  bool
	Count     int64
	Goal      int64
	Signers   []Signer
	Preview   bool
	HasErrors bool
	Thanks    template.HTML
	Share     []shareLink
	PageURL   string
	// Description and Image are the page's summary and share image for
	// the Open Graph tags that link previews read.
	Description string
	Image       string
}

type formField struct {
	Name, Label, Type, Value, Error, Autocomplete string
	Required, Textarea                            bool
	Max                                           int
}

type checkbox struct {
	Name, Value, Label, ID string
	Checked                bool
}

type shareLink struct{ Label, URL string }

var autocomplete = map[string]string{
	"first_name": "given-name", "last_name": "family-name", "email": "email", "phone": "tel", "mobile": "tel",
	"postcode": "postal-code", "city": "address-level2", "country": "country-name", "birth_date": "bday",
}

// load finds the published page of the request, or answers 404 itself.
func (h *Handlers) load(w http.ResponseWriter, r *http.Request) (*nation.Nation, *Page, bool) {
	n, err := h.publicNation(r.Context(), r.PathValue("nation"))
	if err != nil {
		if errs.KindOf(err) == errs.KindNotFound {
			h.Site.NotFound(w, r)
		} else {
			h.Site.Fail(w, r, nil, err)
		}
		return nil, nil, false
	}
	p, err := h.Store.PublicPage(r.Context(), n.ID, r.PathValue("page"))
	if err == nil && (!p.Published() || p.Type == TypeHome) {
		err = errs.NotFound("page not found")
	}
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return nil, nil, false
	}
	return n, p, true
}

func (h *Handlers) show(w http.ResponseWriter, r *http.Request) {
	n, p, ok := h.load(w, r)
	if !ok {
		return
	}
	v := h.Site.View(w, r, n, pageLangs(n, p))
	h.showCached(w, r, v, n, p)
}

// renderPage renders page p in v's language, its form refilled from v.Form
// with problems next to their fields.
func (h *Handlers) renderPage(w http.ResponseWriter, r *http.Request, status int, v *web.View, n *nation.Nation, p *Page, ps Problems, preview bool) {
	d, err := h.pageData(r, v, n, p, ps)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	d.Preview = preview
	v.Data = d
	w.Header().Set("Cache-Control", "no-store")
	h.Renderer.Render(w, status, "public/page_show", v)
}

func (h *Handlers) pageData(r *http.Request, v *web.View, n *nation.Nation, p *Page, ps Problems) (*publicData, error) {
	ctx := r.Context()
	langs := pageLangs(n, p)
	v.Errors = ps.Translate(v.T)
	// The texts in the language served (v.Lang is one of langs); the
	// consent wording comes from the same language below and in
	// ParseSubmission, so the ledger records what was shown.
	lp := p.In(v.Lang, n.DefaultLang)
	d := &publicData{Page: lp, Body: h.md.HTML(lp.Body), Action: "/" + n.Slug + "/" + p.Slug, Lang: v.Lang,
		Petition: p.Type == TypePetition, Goal: p.Goal, HasErrors: len(ps) > 0, Honeypot: honeypot}
	h.openGraph(r, n, lp, d)
	form := v.Form
	if form == nil {
		form = url.Values{}
	}
	if p.HasForm() {
		for _, f := range p.Settings.Fields {
			ff := formField{Name: f.Name, Label: v.T("pages.field." + f.Name), Type: "text", Value: form.Get(f.Name),
				Error: v.Errors[f.Name], Required: f.Required, Autocomplete: autocomplete[f.Name], Max: MaxLen[f.Name]}
			switch f.Name {
			case "email":
				ff.Type = "email"
			case "phone", "mobile":
				ff.Type = "tel"
			case "comment":
				ff.Textarea = true
			}
			d.Fields = append(d.Fields, ff)
		}
		for _, q := range p.Settings.Consents {
			if wd := q.WordingIn(v.Lang, langs); wd != "" {
				d.Consents = append(d.Consents, checkbox{Name: "consent_" + q.Channel, Value: "yes", Label: wd,
					ID: "f-consent-" + q.Channel, Checked: form.Get("consent_"+q.Channel) == "yes"})
			}
		}
		boxes := func(name string, opts []string) []checkbox {
			var out []checkbox
			for i, o := range opts {
				out = append(out, checkbox{Name: name, Value: o, Label: o, ID: "f-" + name + "-" + itoa(i),
					Checked: slices.Contains(form[name], o)})
			}
			return out
		}
		if p.Type == TypeVolunteer {
			d.Interests = boxes("interests", p.Settings.Interests)
			d.Skills = boxes("skills", p.Settings.Skills)
		}
		topics, err := h.Store.PublicTopics(ctx, n.ID)
		if err != nil {
			return nil, err
		}
		for i, t := range OfferedTopics(p, topics) {
			d.Topics = append(d.Topics, checkbox{Name: "topics", Value: t.Slug, Label: t.Name(v.Lang), ID: "f-topic-" + itoa(i),
				Checked: slices.Contains(form["topics"], t.Slug)})
		}
		if d.Petition && p.Settings.PublicSigners {
			d.Public = &checkbox{Name: "show_publicly", Value: "yes", Label: v.T("pages.public.show_publicly"), ID: "f-show-publicly",
				Checked: form.Get("show_publicly") == "yes"}
		}
	}
	if d.Petition {
		if err := h.petitionFigures(r, n, p, d); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (h *Handlers) petitionFigures(r *http.Request, n *nation.Nation, p *Page, d *publicData) error {
	c, err := h.Store.SignatureCount(r.Context(), n.ID, p.ID)
	if err != nil {
		return err
	}
	d.Count = c
	if p.Settings.PublicSigners {
		d.Signers, err = h.Store.RecentSigners(r.Context(), n.ID, p.ID, true, 10)
	}
	return err
}

func (h *Handlers) submit(w http.ResponseWriter, r *http.Request) {
	n, p, ok := h.load(w, r)
	if !ok {
		return
	}
	langs := pageLangs(n, p)
	if !p.HasForm() {
		h.Site.Fail(w, r, n, errs.NotFound("page has no form"))
		return
	}
	ip := web.ClientIP(r, h.TrustProxy)
	if !h.allowSubmit(ip, n.ID, p.ID) {
		v := h.Site.View(w, r, n, langs)
		w.Header().Set("Retry-After", "60")
		h.Site.ErrorPage(w, v, http.StatusTooManyRequests, v.T("pages.public.too_many_title"), v.T("pages.public.too_many_text"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.Limits.MaxBody)
	if err := r.ParseForm(); err != nil {
		v := h.Site.View(w, r, n, langs)
		if web.IsTooLarge(err) {
			h.Site.ErrorPage(w, v, http.StatusRequestEntityTooLarge, v.T("pages.public.too_large_title"), v.T("pages.public.too_large_text"))
		} else {
			h.Site.ErrorPage(w, v, http.StatusBadRequest, v.T("error.generic"), v.T("pages.public.bad_request_text"))
		}
		return
	}
	// The language the form was shown in, so that the consent wording
	// recorded is the one the visitor read.
	if l := r.PostForm.Get("lang"); slices.Contains(langs, l) {
		q := r.URL.Query()
		q.Set("lang", l)
		r.URL.RawQuery = q.Encode()
	}
	v := h.Site.View(w, r, n, langs)
	thanks := p.Settings.Redirect
	if thanks == "" {
		thanks = "/" + n.Slug + "/" + p.Slug + "/thanks?lang=" + url.QueryEscape(v.Lang)
	}
	if r.PostForm.Get(honeypot) != "" {
		// A script: it is told it succeeded and nothing is recorded.
		http.Redirect(w, r, thanks, http.StatusSeeOther)
		return
	}
	topics, err := h.Store.PublicTopics(r.Context(), n.ID)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	sub, ps := ParseSubmission(p, r.PostForm, v.Lang, langs, topics, n.Country)
	sub.IP = ip
	if len(ps) == 0 {
		_, err = h.Forms.Submit(r.Context(), n.ID, p, sub)
		var e *errs.Error
		if errors.As(err, &e) && e.Kind == errs.KindInvalid {
			field := e.Field
			if !slices.Contains(FormFields, field) {
				field = "email"
			}
			ps.add(field, "invalid", 0)
		} else if err != nil {
			h.Site.Fail(w, r, n, err)
			return
		}
	}
	if len(ps) > 0 {
		v.Form = r.PostForm
		h.renderPage(w, r, http.StatusUnprocessableEntity, v, n, p, ps, false)
		return
	}
	http.Redirect(w, r, thanks, http.StatusSeeOther)
}

func (h *Handlers) thanks(w http.ResponseWriter, r *http.Request) {
	n, p, ok := h.load(w, r)
	if !ok || !p.HasForm() {
		if ok {
			h.Site.Fail(w, r, n, errs.NotFound("page has no form"))
		}
		return
	}
	v := h.Site.View(w, r, n, pageLangs(n, p))
	p = p.In(v.Lang, n.DefaultLang)
	d := &publicData{Page: p, Petition: p.Type == TypePetition, Goal: p.Goal, Lang: v.Lang}
	if p.Settings.ThankYou != "" {
		d.Thanks = h.md.HTML(p.Settings.ThankYou)
	}
	if d.Petition {
		if err := h.petitionFigures(r, n, p, d); err != nil {
			h.Site.Fail(w, r, n, err)
			return
		}
	}
	h.openGraph(r, n, p, d)
	d.Share = shareLinks(d.PageURL, p.Title, v.T("pages.public.share_email"))
	v.Data = d
	w.Header().Set("Cache-Control", "no-store")
	h.Renderer.Render(w, http.StatusOK, "public/page_thanks", v)
}

// openGraph fills what the Open Graph tags of a public page show: its
// address, a plain-text summary and its share image as an absolute URL.
func (h *Handlers) openGraph(r *http.Request, n *nation.Nation, p *Page, d *publicData) {
	base := h.baseURL(r)
	d.PageURL = base + "/" + n.Slug + "/" + p.Slug
	d.Description = summary(p)
	if img := p.ShareImage; img != "" && SafeURL(img) {
		if strings.HasPrefix(img, "/") {
			img = base + img
		}
		d.Image = img
	}
}

// summary is a page's description for link previews: the start of its
// text with the Markdown marks left out, else a petition's target.
func summary(p *Page) string {
	text := strings.Map(func(r rune) rune {
		switch r {
		case '#', '*', '_', '`', '>', '[', ']':
			return -1
		}
		return r
	}, p.Body)
	text = strings.Join(strings.Fields(text), " ")
	if text == "" {
		return p.Target
	}
	const max = 200
	if rs := []rune(text); len(rs) > max {
		text = strings.TrimSpace(string(rs[:max])) + "…"
	}
	return text
}

func (h *Handlers) baseURL(r *http.Request) string {
	if h.BaseURL != "" {
		return strings.TrimRight(h.BaseURL, "/")
	}
	scheme := "http"
	if web.IsTLS(r, h.TrustProxy) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// shareLinks are plain links to share a page: no third-party script, no
// request to any network until the visitor clicks.
func shareLinks(pageURL, title, emailLabel string) []shareLink {
	u, t := url.QueryEscape(pageURL), url.QueryEscape(title)
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	mail := "mailto:?subject=" + esc(title) + "&body=" + esc(pageURL)
	return []shareLink{
		{emailLabel, mail},
		{"Facebook", "https://www.facebook.com/sharer/sharer.php?u=" + u},
		{"X", "https://x.com/intent/post?url=" + u + "&text=" + t},
		{"Bluesky", "https://bsky.app/intent/compose?text=" + url.QueryEscape(title+" "+pageURL)},
		{"Mastodon", "https://mastodonshare.com/?url=" + u + "&text=" + t},
		{"LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?url=" + u},
		{"WhatsApp", "https://wa.me/?text=" + url.QueryEscape(title+" "+pageURL)},
		{"Telegram", "https://t.me/share/url?url=" + u + "&text=" + t},
	}
}
