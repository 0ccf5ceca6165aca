// Package servertest builds the real Muster application (server.New) on a
// fresh storetest database behind an httptest.Server, for HTTP scenario
// tests: staff accounts and nations made directly through the stores, and
// browser-like clients with cookie jars that sign in, get and post.
//
// It also holds the cross-nation isolation probe: NationRoutes lists every
// /admin/{nation}/… route, and TestNationIsolation proves each of them
// answers 404 to staff of another nation.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// Password is the password CreateUser gives staff accounts.
const Password = "correct horse battery staple"

// Server is a running application on a throw-away database.
type Server struct {
	URL    string // base URL, no trailing slash
	App    *server.Server
	DB     *store.DB
	Engine store.Engine
	t      testing.TB
}

// New starts the application on a fresh database of engine. The config
// trusts X-Forwarded-For so that clients can pose as different addresses
// (Client.IP); everything else is as `muster serve` sets it up.
func New(t testing.TB, engine store.Engine) *Server {
	t.Helper()
	db := storetest.Open(t, engine)
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	// DataDir holds files such as control-panel imports; the database is
	// storetest's.
	cfg := &config.Config{BaseURL: base, TrustProxy: true, LogLevel: slog.LevelWarn, DataDir: t.TempDir()}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	app, err := server.New(server.Deps{Config: cfg, DB: db, Log: log})
	if err == nil {
		app.Auth.Hashing = auth.TestHashParams // cheap argon2id: tests sign in hundreds of times
	}
	if err != nil {
		t.Fatalf("servertest: build app: %v", err)
	}
	ts.Config.Handler = app.Handler
	ts.Start()
	t.Cleanup(ts.Close)
	return &Server{URL: base, App: app, DB: db, Engine: engine, t: t}
}

// Each runs fn as a subtest per available engine, each on its own server.
func Each(t *testing.T, fn func(t *testing.T, s *Server)) {
	t.Helper()
	for _, e := range storetest.Engines(t) {
		t.Run(string(e), func(t *testing.T) { fn(t, New(t, e)) })
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// CreateNation makes a nation with slug, named "Nation <slug>".
func (s *Server) CreateNation(slug string) *nation.Nation {
	s.t.Helper()
	n, err := s.App.Nations.Create(context.Background(), nation.NewNation{Slug: slug, Name: "Nation " + slug})
	if err != nil {
		s.t.Fatalf("servertest: create nation %s: %v", slug, err)
	}
	return n
}

// CreateUser makes a staff account with Password (or reuses the account of
// that e-mail) and gives it role in n; n may be nil for an account without
// any nation.
func (s *Server) CreateUser(email string, n *nation.Nation, role auth.Role) *auth.User {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.App.Auth.UserByEmail(ctx, email)
	if err != nil {
		u, err = s.App.Auth.CreateUser(ctx, email, "Name of "+email, Password)
		if err != nil {
			s.t.Fatalf("servertest: create user %s: %v", email, err)
		}
	}
	if n != nil {
		if err := s.App.Auth.SetMembership(ctx, n.ID, u.ID, role); err != nil {
			s.t.Fatalf("servertest: membership: %v", err)
		}
	}
	return u
}

// SetupToken issues a first-run set-up token, as `muster serve` does.
func (s *Server) SetupToken() string {
	s.t.Helper()
	tok, err := s.App.Auth.CreateSetupToken(context.Background())
	if err != nil {
		s.t.Fatalf("servertest: setup token: %v", err)
	}
	return tok
}

// Client is one browser: a cookie jar, no automatic redirects (responses
// show where they lead), and the headers a browser sends.
type Client struct {
	s    *Server
	HTTP *http.Client
	// IP, when set, is sent as X-Forwarded-For so the server (which trusts
	// it in tests) sees the client at that address.
	IP string
	// Lang, when set, is sent as Accept-Language.
	Lang string
}

// Client returns a new browser with an empty cookie jar.
func (s *Server) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{s: s, HTTP: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Response is a fully read response.
type Response struct {
	Status   int
	Body     string
	Header   http.Header
	Location string // the redirect target, if any
}

// Has reports whether the body contains s.
func (r *Response) Has(s string) bool { return strings.Contains(r.Body, s) }

// Do sends a request built by the caller and reads the whole response.
func (c *Client) Do(req *http.Request) *Response {
	c.s.t.Helper()
	if c.IP != "" {
		req.Header.Set("X-Forwarded-For", c.IP)
	}
	if c.Lang != "" {
		req.Header.Set("Accept-Language", c.Lang)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.s.t.Fatalf("servertest: %s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		c.s.t.Fatalf("servertest: read %s: %v", req.URL.Path, err)
	}
	return &Response{Status: res.StatusCode, Body: string(body), Header: res.Header, Location: res.Header.Get("Location")}
}

// Get fetches path (relative to the server).
func (c *Client) Get(path string) *Response {
	c.s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.s.URL+path, nil)
	if err != nil {
		c.s.t.Fatalf("servertest: %v", err)
	}
	req.Header.Set("Sec-Fetch-Site", "none")
	return c.Do(req)
}

// PostForm posts a form as a browser does from one of our own pages
// (Sec-Fetch-Site: same-origin).
func (c *Client) PostForm(path string, form url.Values) *Response {
	c.s.t.Helper()
	return c.post(path, form, "same-origin")
}

// PostFormCrossSite posts a form as a browser does when another site's page
// submits it, which CSRF protection must refuse.
func (c *Client) PostFormCrossSite(path string, form url.Values) *Response {
	c.s.t.Helper()
	return c.post(path, form, "cross-site")
}

func (c *Client) post(path string, form url.Values, site string) *Response {
	c.s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.s.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.s.t.Fatalf("servertest: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	return c.Do(req)
}

// TryLogin posts the sign-in form and returns the answer.
func (c *Client) TryLogin(email, password string) *Response {
	c.s.t.Helper()
	return c.PostForm("/admin/login", url.Values{"email": {email}, "password": {password}})
}

// Login signs in and fails the test unless it worked.
func (c *Client) Login(email, password string) {
	c.s.t.Helper()
	if r := c.TryLogin(email, password); r.Status != http.StatusSeeOther {
		c.s.t.Fatalf("servertest: sign-in as %s: status %d, want 303", email, r.Status)
	}
}

// SessionCookie returns the client's session cookie value, if any.
func (c *Client) SessionCookie() string {
	u, _ := url.Parse(c.s.URL)
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == auth.SessionCookie {
			return ck.Value
		}
	}
	return ""
}
