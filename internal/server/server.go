// Package server assembles Muster's HTTP application from its domains: it is
// the one place routes are listed. cmd/muster builds it for `serve`; tests
// build the same thing on a throw-away database (see servertest).
package server

import (
	"context"
	"crypto/subtle"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/automail"
	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/broadcast/broadcastweb"
	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/importer/importweb"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/people/peopleweb"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/segment/segmentweb"
	"github.com/muster-org/muster/internal/site"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/theme"
	"github.com/muster-org/muster/internal/web"
	assets "github.com/muster-org/muster/web"
)

// Deps are what the application is built from.
type Deps struct {
	Config *config.Config
	DB     *store.DB
	Log    *slog.Logger
	// Jobs is the background queue (built by cmd/muster with every domain's
	// handlers); nil gives a queue with none, for enqueueing only.
	Jobs *jobs.Queue
	// PageLimits are the public forms' rate limits (zero: the defaults);
	// muster bench petition turns them off.
	PageLimits pages.Limits
}

// Server is the assembled application.
type Server struct {
	Handler  http.Handler
	Registry *prometheus.Registry
	Guard    *auth.Guard
	Auth     *auth.Store
	Nations  *nation.Store
	Renderer *web.Renderer
	Jobs     *jobs.Queue
	Pages    *pages.Store
	Segments *segment.Service
	// Broadcasts is the e-mail broadcast service (unsubscribe, bounces).
	Broadcasts *broadcast.Service
	// Automail sends pages' automatic messages (auto-response, double
	// opt-in, welcome series).
	Automail *automail.Service
	// Imports are the control panel's imports; ImportWeb their pages.
	Imports   *importer.Imports
	ImportWeb *importweb.Handlers
	// Themes are the nations' published theme overrides (cached); Cloner
	// makes child nations; Hosts routes custom domains.
	Themes *theme.Themes
	Cloner *clone.Cloner
	Hosts  *clone.HostRouter
	// Privacy is the subject-rights service (export, erasure, requests);
	// PrivacyWeb its pages ("my data" and the requests queue).
	Privacy    *privacy.Service
	PrivacyWeb *privacy.Handlers
}

// ImportsDir is where control-panel imports keep their files: the data
// directory's imports/, also on PostgreSQL-only deployments (a local
// directory, which several nodes must share). Empty without a data
// directory; uploads are then refused.
func ImportsDir(cfg *config.Config) string {
	if cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(cfg.DataDir, "imports")
}

// maxBody caps every request body; forms are small, uploads have their own
// larger cap on their own routes.
const maxBody = 1 << 20

// New builds the application.
func New(d Deps) (*Server, error) {
	bundle, err := i18n.Load()
	if err != nil {
		return nil, err
	}
	renderer, err := web.NewRenderer(assets.FS, bundle, d.Log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "muster_http_requests_total", Help: "HTTP requests by route pattern and status.",
	}, []string{"route", "status"})
	reg.MustRegister(requests)

	nations := nation.NewStore(d.DB)
	authStore := auth.NewStore(d.DB)
	guard := &auth.Guard{Store: authStore, Nations: nations, SecureCookies: d.Config.Secure()}

	s := &Server{Registry: reg, Guard: guard, Auth: authStore, Nations: nations, Renderer: renderer}
	s.Jobs = d.Jobs
	if s.Jobs == nil {
		s.Jobs = jobs.New(d.DB, d.Log)
	}

	mailCfg, err := d.Config.MailSettings()
	if err != nil {
		return nil, err
	}
	// Every people store that creates people checks the erasure
	// suppression list, keyed by the installation's secret (internal/privacy).
	newPeople := func() *people.Store { return people.NewStore(d.DB).WithSuppression(mailCfg.SecretKey) }

	mux := http.NewServeMux()
	static, _ := fs.Sub(assets.FS, "static")
	// Flat: a subtree pattern (/static/) would conflict with /{nation}/.
	mux.Handle("GET /static/{file}", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := d.DB.Ping(r.Context()); err != nil {
			d.Log.Warn("readyz: database unreachable", "err", err)
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", s.metricsGate(d.Config.MetricsToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
	})

	authHandlers := auth.NewHandlers(auth.HandlerDeps{
		Store: authStore, Guard: guard, Nations: nations, Renderer: renderer, Log: d.Log,
		BaseURL: d.Config.BaseURL, TrustProxy: d.Config.TrustProxy,
	})
	authHandlers.Register(mux)

	peopleHandlers := peopleweb.NewHandlers(peopleweb.Deps{
		DB: d.DB, People: newPeople(), Auth: authStore, Guard: guard, Renderer: renderer, Log: d.Log,
		Scope: privacyScope{s},
	})
	peopleHandlers.Register(mux)

	s.Segments = segment.NewService(d.DB, segment.Options{Zone: segmentweb.Zone(nations)})
	segmentHandlers := segmentweb.NewHandlers(segmentweb.Deps{
		DB: d.DB, Segments: s.Segments, People: newPeople(), Auth: authStore, Guard: guard,
		Jobs: s.Jobs, Renderer: renderer, Log: d.Log, Scope: privacyScope{s},
	})
	segmentHandlers.Register(mux)

	siteHandlers := site.NewHandlers(site.Deps{Nations: nations, Renderer: renderer, Log: d.Log})
	siteHandlers.Register(mux)

	s.Pages = pages.NewStore(d.DB)
	s.Broadcasts = broadcast.NewService(broadcast.Deps{DB: d.DB, Jobs: s.Jobs, People: newPeople(), Mail: mailCfg, Log: d.Log})
	s.Automail = NewAutomail(d.DB, s.Broadcasts, s.Jobs, bundle, mailCfg, d.Log)
	pageHandlers := pages.NewHandlers(pages.Deps{
		Store: s.Pages, Forms: &pages.Forms{Pages: s.Pages, People: newPeople(), Automation: s.Automail},
		Nations: nations, Guard: guard, Renderer: renderer, Site: siteHandlers, Log: d.Log,
		BaseURL: d.Config.BaseURL, TrustProxy: d.Config.TrustProxy, Limits: d.PageLimits,
	})
	pageHandlers.Register(mux)
	siteHandlers.Home = pageHandlers

	broadcast.NewHandlers(broadcast.HandlerDeps{
		Service: s.Broadcasts, Nations: nations, Site: siteHandlers, Renderer: renderer, Log: d.Log,
	}).Register(mux)

	automail.NewHandlers(automail.HandlerDeps{
		Service: s.Automail, Nations: nations, Site: siteHandlers, Renderer: renderer,
		TrustProxy: d.Config.TrustProxy, Log: d.Log,
	}).Register(mux)
	broadcastweb.NewHandlers(broadcastweb.Deps{
		Broadcasts: s.Broadcasts, Automail: s.Automail, Pages: s.Pages, People: newPeople(),
		Guard: guard, Renderer: renderer, Log: d.Log,
	}).Register(mux)

	s.Imports = importer.NewImports(d.DB, ImportsDir(d.Config))
	s.ImportWeb = importweb.NewHandlers(importweb.Deps{
		Imports: s.Imports, People: newPeople(), Jobs: s.Jobs, Guard: guard, Renderer: renderer, Log: d.Log,
	})
	s.ImportWeb.Register(mux)

	s.Privacy = privacy.NewService(privacy.Deps{DB: d.DB, People: newPeople(), Key: mailCfg.SecretKey,
		ImportsDir: ImportsDir(d.Config), JournalPath: privacy.JournalFile(d.Config.DataDir), Log: d.Log})
	// A database restored from a backup older than an erasure brings the
	// person back: the journal erases them again (docs/privacy.md).
	if rep, err := s.Privacy.ReplayJournal(context.Background()); err != nil {
		return nil, err
	} else if rep.Erased > 0 || rep.Restored > 0 {
		d.Log.Warn("privacy: erasure journal replayed after a restore", "suppressions", rep.Restored, "people", rep.Erased)
	}
	s.PrivacyWeb = privacy.NewHandlers(privacy.HandlerDeps{
		Service: s.Privacy, Mailer: privacy.NewMailer(mailCfg, d.Log), Nations: nations, Guard: guard, Site: siteHandlers,
		Renderer: renderer, Log: d.Log, BaseURL: mailCfg.BaseURL, TrustProxy: d.Config.TrustProxy,
	})
	s.PrivacyWeb.Register(mux)
	// Retention, the Art. 30 record, audit presets, breach draft, volunteers' scopes.
	privacy.NewRegisterHandlers(s.PrivacyWeb, privacy.Setup{SMTPURL: mailCfg.SMTPURL, BaseURL: mailCfg.BaseURL}).Register(mux)

	// Themes, cloning, the parent's roll-up and custom domains.
	themeDefaults, err := theme.LoadDefaults(assets.FS)
	if err != nil {
		return nil, err
	}
	themeStore := theme.NewStore(d.DB)
	s.Themes = theme.NewThemes(themeStore, themeDefaults, d.Log, func(ctx context.Context, id int64) (string, error) {
		n, err := nations.ByID(ctx, id)
		if err != nil {
			return "", err
		}
		return n.Slug, nil
	})
	renderer.SetThemes(s.Themes)
	theme.NewHandlers(theme.Deps{
		Store: themeStore, Themes: s.Themes, Defaults: themeDefaults, Nations: nations, Guard: guard,
		Renderer: renderer, Home: pageHandlers, Log: d.Log,
	}).Register(mux)
	domains := clone.NewDomains(d.DB)
	s.Hosts = clone.NewHostRouter(domains, d.Log)
	s.Cloner = &clone.Cloner{DB: d.DB, Nations: nations, Pages: s.Pages, Auth: authStore, BaseURL: d.Config.BaseURL,
		Changed: func(int64) { s.Hosts.Invalidate() }}
	clone.NewHandlers(clone.Deps{
		DB: d.DB, Cloner: s.Cloner, Domains: domains, Guard: guard, Renderer: renderer, Log: d.Log,
		BaseURL: d.Config.BaseURL, TrustProxy: d.Config.TrustProxy,
	}).Register(mux)

	s.Handler = web.Chain(mux,
		web.Recover(d.Log),
		countRequests(requests),
		web.LogRequests(d.Log),
		web.SecurityHeaders,
		// Before routing: a request for a nation's own host name is
		// rewritten from /x to /{nation}/x (public paths only).
		s.Hosts.Middleware,
		privacy.RedirectBare, // /{nation}/my-data → /{nation}/my-data/
		limitBody(mux, maxBody, importweb.UploadPattern),
		web.CSRF(broadcast.CSRFBypass...),
	)
	return s, nil
}

// limitBody caps request bodies at max (web.LimitBody), except on the
// routes named in uploads: those take files far larger than any form and
// set their own cap in their handler. The route is found with the mux's own
// matching, before the handler runs; the cost is one more route lookup.
func limitBody(mux *http.ServeMux, max int64, uploads ...string) web.Middleware {
	exempt := map[string]bool{}
	for _, p := range uploads {
		exempt[p] = true
	}
	return func(next http.Handler) http.Handler {
		limited := web.LimitBody(max)(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				if _, pattern := mux.Handler(r); exempt[pattern] {
					next.ServeHTTP(w, r)
					return
				}
			}
			limited.ServeHTTP(w, r)
		})
	}
}

// metricsGate opens /metrics to a bearer token (when configured) or to a
// signed-in administrator of any nation; to everyone else it is 404, so that
// its existence is not advertised.
func (s *Server) metricsGate(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		if u, err := s.Guard.CurrentUser(r); err == nil {
			if ok, _ := s.Auth.IsAdminAnywhere(r.Context(), u.ID); ok {
				next.ServeHTTP(w, r)
				return
			}
		}
		http.NotFound(w, r)
	})
}

func countRequests(c *prometheus.CounterVec) web.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			c.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(time.Hour.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// NewAutomail builds the automatic messages service; cmd/muster's job queue
// builds the same one to run its jobs.
func NewAutomail(db *store.DB, b *broadcast.Service, q *jobs.Queue, bundle *i18n.Bundle, m *config.Mail, log *slog.Logger) *automail.Service {
	return automail.New(automail.Deps{DB: db, Broadcasts: b, Pages: pages.NewStore(db), People: people.NewStore(db), Jobs: q,
		Bundle: bundle, Key: m.SecretKey, BaseURL: m.BaseURL, Log: log})
}

// privacyScope gives the people pages and the segment list export the
// volunteers' scopes kept by s.Privacy (assembled after them; used only
// while serving).
type privacyScope struct{ s *Server }

func (p privacyScope) PeopleScope(ctx context.Context, nationID, userID int64) (string, []any, bool, bool, error) {
	return p.s.Privacy.PeopleScope(ctx, nationID, userID)
}
