// Package pages owns a nation's public pages — basic pages, petitions,
// newsletter signups, volunteer signups, topic preferences and the home
// page's text — with their forms, the per-nation e-mail topics and their
// subscriptions, and petition signatures.
//
// It holds the model and its SQL (Store), what a submission does (Submit:
// match or create the person through internal/people, tags, points,
// consent ledger entries with the wording shown, signature, topic
// subscriptions, timeline), the control-panel handlers (/admin/{nation}/pages
// and /topics) and the public handlers (GET and POST /{nation}/{page} and
// its thank-you page). Public pages are rendered through internal/site's
// themed views, so that they share the theme, language negotiation and
// error pages of the rest of the public site.
package pages

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/nation"
)

// Types of page.
const (
	TypeBasic     = "basic"
	TypePetition  = "petition"
	TypeSignup    = "signup"
	TypeVolunteer = "volunteer"
	TypeTopics    = "topics"
	TypeHome      = "home" // the text of the nation's home page; not served at its own address
)

// Types lists the page types in the order the control panel offers them.
var Types = []string{TypePetition, TypeSignup, TypeVolunteer, TypeTopics, TypeBasic, TypeHome}

// Statuses of a page.
const (
	StatusDraft     = "draft"
	StatusPublished = "published"
)

// FormFields are the public form's person fields, by their contract names
// (DESIGN §4), in the order a form shows them, with their length limits in
// characters.
var FormFields = []string{"first_name", "last_name", "email", "phone", "mobile", "postcode", "city", "country", "birth_date", "comment"}

// MaxLen is the longest value each public field accepts, in characters.
var MaxLen = map[string]int{
	"first_name": 100, "last_name": 100, "email": 254, "phone": 40, "mobile": 40,
	"postcode": 20, "city": 100, "country": 60, "birth_date": 30, "comment": 2000,
}

// ConsentChannels are the channels a form may ask consent for; the public
// checkbox of channel c is named consent_c (value "yes").
var ConsentChannels = []string{"email", "sms", "phone", "post"}

// Reserved are page slugs that cannot be used: the nation-level reserved
// words and the words of this package's own addresses.
var Reserved = append(slices.Clone(nation.Reserved), "thanks", "new", "edit", "preview", "home", "pages", "topics", "privacy", "events", "donate")

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$`)

// Page is one public page of a nation.
type Page struct {
	ID       int64
	NationID int64
	Slug     string
	Type     string
	Title    string
	Body     string // Markdown
	// Lang is the language Title, Body and Settings.ThankYou are written
	// in; "" means the nation's default language.
	Lang string
	// Translations are the page's texts in other languages of the nation,
	// ordered by language. The consent questions keep their wording per
	// language in Settings.Consents.
	Translations  []Translation
	ShareImage    string // a local path (/…) or an https URL
	Status        string
	Target        string // petition: whom it addresses
	Goal          int64  // petition: signatures sought
	SupportsParty bool   // petition directly supports the party or candidate
	Settings      Settings
	CreatedAt     time.Time
	UpdatedAt     time.Time
	PublishedAt   time.Time
}

// Translation is a page's text in another language than its own: every
// text the page has, so that a visitor never gets a page half in one
// language and half in another.
type Translation struct {
	Lang     string `json:"lang"`
	Title    string `json:"title"`
	Body     string `json:"body,omitempty"`      // Markdown, sanitised like the page's own
	ThankYou string `json:"thank_you,omitempty"` // Markdown
}

// DefaultLang is the language of the page's own texts, given its nation's
// default language.
func (p *Page) DefaultLang(nationDefault string) string {
	if p.Lang != "" {
		return p.Lang
	}
	return nationDefault
}

// Translation returns the page's translation into lang, or nil.
func (p *Page) Translation(lang string) *Translation {
	for i := range p.Translations {
		if p.Translations[i].Lang == lang {
			return &p.Translations[i]
		}
	}
	return nil
}

// Langs are the languages the page can be served in: its own first, then
// those of its translations that the nation still offers.
func (p *Page) Langs(nationDefault string, nationLangs []string) []string {
	out := make([]string, 1, 1+len(p.Translations))
	out[0] = p.DefaultLang(nationDefault)
	for _, t := range p.Translations {
		if t.Lang != out[0] && slices.Contains(nationLangs, t.Lang) {
			out = append(out, t.Lang)
		}
	}
	return out
}

// In returns the page as served in lang: a shallow copy carrying the
// translation's title, body and thank-you text, or p itself when lang is
// the page's own language or has no translation. The copy shares p's
// slices and maps: callers must not modify either.
func (p *Page) In(lang, nationDefault string) *Page {
	if lang == p.DefaultLang(nationDefault) {
		return p
	}
	t := p.Translation(lang)
	if t == nil {
		return p
	}
	c := *p
	c.Lang, c.Title, c.Body, c.Settings.ThankYou = t.Lang, t.Title, t.Body, t.ThankYou
	return &c
}

// SetTranslation adds or replaces the translation into t.Lang, keeping
// the translations ordered by language.
func (p *Page) SetTranslation(t Translation) {
	if old := p.Translation(t.Lang); old != nil {
		*old = t
		return
	}
	p.Translations = append(p.Translations, t)
	slices.SortFunc(p.Translations, func(a, b Translation) int { return strings.Compare(a.Lang, b.Lang) })
}

// RemoveTranslation drops the translation into lang and the consent
// wording in that language.
func (p *Page) RemoveTranslation(lang string) {
	p.Translations = slices.DeleteFunc(p.Translations, func(t Translation) bool { return t.Lang == lang })
	for i := range p.Settings.Consents {
		delete(p.Settings.Consents[i].Wording, lang)
	}
}

// Published reports whether the public can see the page.
func (p *Page) Published() bool { return p.Status == StatusPublished }

// HasForm reports whether the page takes submissions.
func (p *Page) HasForm() bool { return p.Type != TypeBasic && p.Type != TypeHome }

// Settings are a page's form settings.
type Settings struct {
	Fields        []Field           `json:"fields"`             // person fields asked, in FormFields order
	Tags          []string          `json:"tags,omitempty"`     // added to everyone who submits
	Points        int               `json:"points,omitempty"`   // engagement points for a first submission
	Consents      []ConsentQuestion `json:"consents,omitempty"` // asked as unticked checkboxes
	Interests     []string          `json:"interests,omitempty"`
	Skills        []string          `json:"skills,omitempty"`
	Topics        []string          `json:"topics,omitempty"`    // slugs offered; empty: every topic of the nation
	ThankYou      string            `json:"thank_you,omitempty"` // Markdown
	Redirect      string            `json:"redirect,omitempty"`  // after a submission, instead of the thank-you page
	PublicSigners bool              `json:"public_signers,omitempty"`
	AutoResponse  AutoResponse      `json:"auto_response"`
}

// Field is one person field a form asks.
type Field struct {
	Name     string `json:"name"`
	Required bool   `json:"required,omitempty"`
}

// ConsentQuestion asks consent for a channel with its exact wording per
// language; the wording shown is what the ledger records.
type ConsentQuestion struct {
	Channel string            `json:"channel"`
	Wording map[string]string `json:"wording"`
}

// AutoResponse is the e-mail sent after a submission (sent once e-mail
// sending exists; stored now).
type AutoResponse struct {
	Enabled bool   `json:"enabled,omitempty"`
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
}

// Asks reports whether the form asks field name, and whether it is required.
func (s *Settings) Asks(name string) (asked, required bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return true, f.Required
		}
	}
	return false, false
}

// Consent returns the question for a channel, if asked.
func (s *Settings) Consent(channel string) *ConsentQuestion {
	for i := range s.Consents {
		if s.Consents[i].Channel == channel {
			return &s.Consents[i]
		}
	}
	return nil
}

// WordingIn returns the wording to show in lang: that language's, else the
// first of langs that has one.
func (q *ConsentQuestion) WordingIn(lang string, langs []string) string {
	if w := strings.TrimSpace(q.Wording[lang]); w != "" {
		return w
	}
	for _, l := range langs {
		if w := strings.TrimSpace(q.Wording[l]); w != "" {
			return w
		}
	}
	return ""
}

// Problem is one thing wrong with a page or a submission: the field at
// fault and a catalog key (pages.err.<Code>) with its argument.
type Problem struct {
	Field string
	Code  string
	Arg   int
}

// Problems collects problems, at most one per field.
type Problems []Problem

func (ps *Problems) add(field, code string, arg int) {
	for _, p := range *ps {
		if p.Field == field {
			return
		}
	}
	*ps = append(*ps, Problem{field, code, arg})
}

// Has reports whether field has a problem.
func (ps Problems) Has(field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}

// Translate returns field → message, through t (a catalog lookup).
func (ps Problems) Translate(t func(key string, args ...any) string) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if p.Arg != 0 {
			out[p.Field] = t("pages.err."+p.Code, p.Arg)
		} else {
			out[p.Field] = t("pages.err." + p.Code)
		}
	}
	return out
}

// ValidSlug reports the problem with a page slug, if any.
func ValidSlug(slug string) (code string) {
	switch {
	case slug == "":
		return "required"
	case !slugPattern.MatchString(slug):
		return "slug"
	case slices.Contains(Reserved, slug):
		return "slug_reserved"
	}
	return ""
}

// Validate checks a page against the languages its nation offers and
// normalises it (trims, drops duplicates, orders fields). It does not check
// that the slug is free: the store does, atomically.
func (p *Page) Validate(nationLangs []string) Problems {
	var ps Problems
	p.Slug = strings.TrimSpace(p.Slug)
	p.Title = strings.TrimSpace(p.Title)
	if code := ValidSlug(p.Slug); code != "" {
		ps.add("slug", code, 0)
	}
	if !slices.Contains(Types, p.Type) {
		ps.add("type", "type", 0)
	}
	if p.Status == "" {
		p.Status = StatusDraft
	}
	if p.Status != StatusDraft && p.Status != StatusPublished {
		ps.add("status", "invalid", 0)
	}
	checkLen(&ps, "title", p.Title, 200, true)
	checkLen(&ps, "body", p.Body, 100_000, false)
	checkLen(&ps, "target", p.Target, 200, false)
	p.Lang = strings.TrimSpace(p.Lang)
	if p.Lang != "" && !slices.Contains(nationLangs, p.Lang) {
		ps.add("lang", "language", 0)
	}
	p.ShareImage = strings.TrimSpace(p.ShareImage)
	if p.ShareImage != "" && !SafeURL(p.ShareImage) {
		ps.add("share_image", "url", 0)
	}
	if p.Goal < 0 || p.Goal > 1_000_000_000 {
		ps.add("goal", "goal", 0)
	}
	s := &p.Settings
	var fields []Field
	for _, name := range FormFields {
		if asked, req := s.Asks(name); asked {
			fields = append(fields, Field{Name: name, Required: req})
		}
	}
	for _, f := range s.Fields {
		if !slices.Contains(FormFields, f.Name) {
			ps.add("fields", "invalid", 0)
		}
	}
	s.Fields = fields
	if p.HasForm() {
		if a, _ := s.Asks("email"); !a {
			if m, _ := s.Asks("mobile"); !m {
				if ph, _ := s.Asks("phone"); !ph {
					ps.add("fields", "identity_field", 0)
				}
			}
		}
	}
	s.Tags = cleanList(s.Tags, 100)
	s.Interests = cleanList(s.Interests, 100)
	s.Skills = cleanList(s.Skills, 100)
	s.Topics = dedupe(s.Topics)
	if s.Points < 0 || s.Points > 1000 {
		ps.add("points", "points", 0)
	}
	var consents []ConsentQuestion
	for _, q := range s.Consents {
		if !slices.Contains(ConsentChannels, q.Channel) {
			ps.add("consents", "invalid", 0)
			continue
		}
		w := map[string]string{}
		for l, text := range q.Wording {
			text = strings.TrimSpace(text)
			if text == "" {
				continue
			}
			if !slices.Contains(nationLangs, l) {
				ps.add("consent_"+q.Channel, "language", 0)
			}
			checkLen(&ps, "consent_"+q.Channel+"_"+l, text, 1000, false)
			w[l] = text
		}
		if len(w) > 0 {
			consents = append(consents, ConsentQuestion{Channel: q.Channel, Wording: w})
		}
	}
	s.Consents = consents
	checkLen(&ps, "thank_you", s.ThankYou, 10_000, false)
	s.Redirect = strings.TrimSpace(s.Redirect)
	if s.Redirect != "" && !SafeURL(s.Redirect) {
		ps.add("redirect", "url", 0)
	}
	checkLen(&ps, "auto_subject", s.AutoResponse.Subject, 200, false)
	checkLen(&ps, "auto_body", s.AutoResponse.Body, 20_000, false)
	p.validateTranslations(&ps, nationLangs)
	return ps
}

// validateTranslations checks each translation: a language of the nation
// other than the page's own, once; and every text the page has, translated
// — title, body, thank-you, and the wording of each consent question asked —
// so that what a visitor reads, and the consent wording recorded, is all
// in the language served. Problems name the field as <field>_<lang>
// (title_fr, consent_email_fr), as the translation form and the command
// line call them.
func (p *Page) validateTranslations(ps *Problems, nationLangs []string) {
	seen := map[string]bool{}
	for i := range p.Translations {
		t := &p.Translations[i]
		t.Lang = strings.TrimSpace(t.Lang)
		t.Title = strings.TrimSpace(t.Title)
		switch {
		case !slices.Contains(nationLangs, t.Lang):
			ps.add("translations", "language", 0)
			continue
		case t.Lang == p.Lang:
			ps.add("lang", "lang_translated", 0)
			continue
		case seen[t.Lang]:
			ps.add("translations", "invalid", 0)
			continue
		}
		seen[t.Lang] = true
		l := t.Lang
		checkLen(ps, "title_"+l, t.Title, 200, true)
		checkLen(ps, "body_"+l, t.Body, 100_000, strings.TrimSpace(p.Body) != "")
		if p.HasForm() {
			checkLen(ps, "thank_you_"+l, t.ThankYou, 10_000, strings.TrimSpace(p.Settings.ThankYou) != "")
			for _, q := range p.Settings.Consents {
				if q.Wording[l] == "" {
					ps.add("consent_"+q.Channel+"_"+l, "required", 0)
				}
			}
		} else {
			t.ThankYou = ""
		}
	}
	slices.SortFunc(p.Translations, func(a, b Translation) int { return strings.Compare(a.Lang, b.Lang) })
}

// SafeURL accepts a local path ("/x", never "//host") or an https URL with
// a host: what a page may link or redirect to.
func SafeURL(s string) bool {
	if len(s) > 2000 || strings.ContainsAny(s, " \t\r\n\\") {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

func checkLen(ps *Problems, field, v string, max int, required bool) {
	n := utf8.RuneCountInString(v)
	switch {
	case required && strings.TrimSpace(v) == "":
		ps.add(field, "required", 0)
	case n > max:
		ps.add(field, "too_long", max)
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		ps.add(field, "invalid", 0)
	}
}

func cleanList(xs []string, max int) []string {
	var out []string
	for _, x := range xs {
		x = strings.TrimSpace(x)
		if x == "" || utf8.RuneCountInString(x) > max || slices.Contains(out, x) {
			continue
		}
		out = append(out, x)
	}
	return out
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// DefaultSettings are the form settings a new page of type typ starts
// with: the usual fields, and for forms an e-mail consent question worded
// in each of langs through t (the catalog), copied into the page so that
// the wording a signer saw stays what it was even if the catalog changes.
func DefaultSettings(typ string, langs []string, t func(lang, key string, args ...any) string) Settings {
	var s Settings
	switch typ {
	case TypePetition:
		s.Fields = []Field{{"first_name", true}, {"last_name", false}, {"email", true}, {"postcode", false}, {"city", false}, {"comment", false}}
		s.PublicSigners = true
	case TypeSignup, TypeTopics:
		s.Fields = []Field{{"first_name", false}, {"email", true}}
	case TypeVolunteer:
		s.Fields = []Field{{"first_name", true}, {"last_name", true}, {"email", true}, {"mobile", false}, {"postcode", false}, {"comment", false}}
	default:
		return s
	}
	if typ == TypeSignup || typ == TypeTopics || typ == TypePetition {
		q := ConsentQuestion{Channel: "email", Wording: map[string]string{}}
		for _, l := range langs {
			q.Wording[l] = t(l, "pages.default.consent_email")
		}
		s.Consents = []ConsentQuestion{q}
	}
	return s
}

func itoa(i int) string { return itoa64(int64(i)) }

func itoa64(i int64) string { return strconv.FormatInt(i, 10) }
