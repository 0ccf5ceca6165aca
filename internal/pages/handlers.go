package pages

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/ratelimit"
	"github.com/muster-org/muster/internal/site"
	"github.com/muster-org/muster/internal/web"
)

// Limits protect the public forms. Zero values take the defaults.
type Limits struct {
	// PerIPPerMinute and PerIPBurst: a token bucket per client address.
	// Generous, so that a school or a mobile carrier's NAT is not locked
	// out; a script is.
	PerIPPerMinute, PerIPBurst int
	// PerPagePerMinute and PerPageBurst: a high ceiling per page, a last
	// guard against a flood spread over many addresses.
	PerPagePerMinute, PerPageBurst int
	// MaxBody caps a public form's request body, in bytes.
	MaxBody int64
	// Unlimited turns the per-address and per-page limits off. Only for
	// load tests on loopback (muster bench petition): a production server
	// never sets it.
	Unlimited bool
}

func (l Limits) withDefaults() Limits {
	if l.PerIPPerMinute == 0 {
		l.PerIPPerMinute = 30
	}
	if l.PerIPBurst == 0 {
		l.PerIPBurst = 30
	}
	if l.PerPagePerMinute == 0 {
		l.PerPagePerMinute = 60_000
	}
	if l.PerPageBurst == 0 {
		l.PerPageBurst = 20_000
	}
	if l.MaxBody == 0 {
		l.MaxBody = 256 << 10
	}
	return l
}

// Deps are what the page handlers need.
type Deps struct {
	Store      *Store
	Forms      *Forms
	Nations    *nation.Store
	Guard      *auth.Guard
	Renderer   *web.Renderer
	Site       *site.Handlers // themed public views and errors
	Log        *slog.Logger
	BaseURL    string // public URL for share links; "" means the request's own host
	TrustProxy bool   // believe X-Forwarded-For for the client address
	Limits     Limits
}

// Handlers serves the control-panel pages of pages and topics, and the
// public pages with their forms.
type Handlers struct {
	Deps
	md      *Markdown
	perIP   *ratelimit.Limiter
	perPage *ratelimit.Limiter
	nations nationCache
	output  outputCache
}

// allowSubmit spends the tokens of a submission from ip to page p.
func (h *Handlers) allowSubmit(ip string, nationID, pageID int64) bool {
	if h.Limits.Unlimited {
		return true
	}
	return h.perIP.Allow(ip) && h.perPage.Allow(itoa64(nationID)+"/"+itoa64(pageID))
}

// NewHandlers returns the page handlers.
func NewHandlers(d Deps) *Handlers {
	d.Limits = d.Limits.withDefaults()
	return &Handlers{
		Deps:    d,
		md:      NewMarkdown(),
		perIP:   ratelimit.New(d.Limits.PerIPPerMinute, time.Minute, d.Limits.PerIPBurst),
		perPage: ratelimit.New(d.Limits.PerPagePerMinute, time.Minute, d.Limits.PerPageBurst),
	}
}

// Register adds the routes. Every /admin/{nation}/… route here is also
// listed in servertest.NationRoutes, the cross-nation isolation probe.
func (h *Handlers) Register(mux *http.ServeMux) {
	org := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleOrganizer, fn)
	}
	mux.Handle("GET /admin/{nation}/pages", org(h.list))
	mux.Handle("GET /admin/{nation}/pages/new", org(h.newForm))
	mux.Handle("POST /admin/{nation}/pages/new", org(h.newSubmit))
	mux.Handle("GET /admin/{nation}/pages/{page}/edit", org(h.editForm))
	mux.Handle("POST /admin/{nation}/pages/{page}/edit", org(h.editSubmit))
	mux.Handle("GET /admin/{nation}/pages/{page}/preview", org(h.preview))
	mux.Handle("POST /admin/{nation}/pages/{page}/publish", org(h.publish))
	mux.Handle("POST /admin/{nation}/pages/{page}/unpublish", org(h.unpublish))
	mux.Handle("GET /admin/{nation}/pages/{page}/submissions", org(h.submissions))
	mux.Handle("GET /admin/{nation}/pages/{page}/delete", org(h.deleteForm))
	mux.Handle("POST /admin/{nation}/pages/{page}/delete", org(h.deleteSubmit))
	mux.Handle("GET /admin/{nation}/pages/{page}/translations/{lang}", org(h.translationForm))
	mux.Handle("POST /admin/{nation}/pages/{page}/translations/{lang}", org(h.translationSubmit))
	mux.Handle("POST /admin/{nation}/pages/{page}/translations/{lang}/delete", org(h.translationDelete))
	mux.Handle("GET /admin/{nation}/topics", org(h.topics))
	mux.Handle("POST /admin/{nation}/topics", org(h.topicCreate))
	mux.Handle("POST /admin/{nation}/topics/{topic}/edit", org(h.topicEdit))
	mux.Handle("POST /admin/{nation}/topics/{topic}/delete", org(h.topicDelete))

	mux.HandleFunc("GET /{nation}/{page}", h.show)
	mux.HandleFunc("POST /{nation}/{page}", h.submit)
	mux.HandleFunc("GET /{nation}/{page}/thanks", h.thanks)
}

// HomeContent gives the home page its list of published pages and the text
// of the nation's published home page, if any (site.HomeSource). Each page
// is listed with its title in lang when it has a translation, else in its
// own language (the link says which); the home text is taken from a home
// page that has it in lang, else from the first one.
func (h *Handlers) HomeContent(ctx context.Context, nationID int64, lang string) (site.HomeData, error) {
	ps, err := h.Store.List(ctx, nationID, true)
	if err != nil {
		return site.HomeData{}, err
	}
	def := ""
	if n, err := h.Nations.ByID(ctx, nationID); err == nil {
		def = n.DefaultLang
	}
	var d site.HomeData
	var intro *Page
	for _, p := range ps {
		lp := p.In(lang, def)
		if p.Type == TypeHome {
			if intro == nil || (intro.DefaultLang(def) != lang && lp.DefaultLang(def) == lang) {
				intro = lp
			}
			continue
		}
		d.Pages = append(d.Pages, site.PageLink{Slug: p.Slug, Title: lp.Title, Summary: lp.Target, Lang: lp.DefaultLang(def)})
	}
	if intro != nil {
		d.Intro, d.IntroLang = h.md.HTML(intro.Body), intro.DefaultLang(def)
	}
	return d, nil
}

// pageLangs are the languages page p of nation n is served in: its own,
// then its translations.
func pageLangs(n *nation.Nation, p *Page) []string {
	return p.Langs(n.DefaultLang, n.Languages)
}
