// Package server assembles Muster's HTTP application from its domains: it is
// the one place routes are listed. cmd/muster builds it for `serve`; tests
// build the same thing on a throw-away database (see servertest).
package server

import (
	"crypto/subtle"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/site"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
	assets "github.com/muster-org/muster/web"
)

// Deps are what the application is built from.
type Deps struct {
	Config *config.Config
	DB     *store.DB
	Log    *slog.Logger
}

// Server is the assembled application.
type Server struct {
	Handler  http.Handler
	Registry *prometheus.Registry
	Guard    *auth.Guard
	Auth     *auth.Store
	Nations  *nation.Store
	Renderer *web.Renderer
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

	siteHandlers := site.NewHandlers(site.Deps{Nations: nations, Renderer: renderer, Log: d.Log})
	siteHandlers.Register(mux)

	s.Handler = web.Chain(mux,
		web.Recover(d.Log),
		countRequests(requests),
		web.LogRequests(d.Log),
		web.SecurityHeaders,
		web.LimitBody(maxBody),
		web.CSRF(),
	)
	return s, nil
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

func (w *statusRecorder) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(time.Hour.Seconds())))
		next.ServeHTTP(w, r)
	})
}
