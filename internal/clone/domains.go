package clone

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// NormaliseHost checks a host name a nation may be bound to and returns it
// lower-cased without a trailing dot: letters, digits and hyphens in dot-
// separated labels of 1–63 characters, at least two labels, 253 characters
// at most, no port, no IP address, no wildcard.
func NormaliseHost(h string) (string, error) {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	bad := func(why string) (string, error) {
		return "", errs.InvalidField("host", "domain %q: %s", h, why)
	}
	if h == "" {
		return bad("empty")
	}
	if len(h) > 253 {
		return bad("longer than 253 characters")
	}
	if net.ParseIP(h) != nil {
		return bad("an IP address cannot be bound; use a host name")
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return bad("use a full host name such as www.example.org")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return bad("each part between dots must be 1–63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("a part cannot start or end with a hyphen")
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("only letters, digits, hyphens and dots (write an internationalised name in its xn-- form)")
			}
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return bad("the last part cannot be a number")
	}
	return h, nil
}

// Domains binds host names to nations (table nation_domains).
type Domains struct {
	db *store.DB
	// changed is called after every change, to refresh the host router.
	changed func()
}

// NewDomains returns the domain store on db.
func NewDomains(db *store.DB) *Domains { return &Domains{db: db, changed: func() {}} }

// Add binds host to a nation. A host bound to any nation is a conflict.
func (d *Domains) Add(ctx context.Context, nationID int64, host string) (string, error) {
	host, err := NormaliseHost(host)
	if err != nil {
		return "", err
	}
	_, err = d.db.Exec(ctx, `INSERT INTO nation_domains (nation_id, host, created_at) VALUES (?, ?, ?)`,
		nationID, host, store.Millis(time.Now()))
	if store.IsUniqueViolation(err) {
		return "", errs.Conflict("domain %q is already bound to a nation", host)
	}
	if err != nil {
		return "", fmt.Errorf("clone: add domain: %w", err)
	}
	d.changed()
	return host, nil
}

// addTx binds host inside a cloning transaction.
func addDomainTx(ctx context.Context, tx *store.Tx, nationID int64, host string) error {
	_, err := tx.Exec(ctx, `INSERT INTO nation_domains (nation_id, host, created_at) VALUES (?, ?, ?)`,
		nationID, host, store.Millis(time.Now()))
	if store.IsUniqueViolation(err) {
		return errs.Conflict("domain %q is already bound to a nation", host)
	}
	return err
}

// Remove unbinds a host from a nation.
func (d *Domains) Remove(ctx context.Context, nationID int64, host string) error {
	res, err := d.db.Exec(ctx, `DELETE FROM nation_domains WHERE nation_id = ? AND host = ?`, nationID, strings.ToLower(host))
	if err != nil {
		return fmt.Errorf("clone: remove domain: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errs.NotFound("domain not found")
	}
	d.changed()
	return nil
}

// List returns a nation's hosts, sorted.
func (d *Domains) List(ctx context.Context, nationID int64) ([]string, error) {
	rows, err := d.db.Query(ctx, `SELECT host FROM nation_domains WHERE nation_id = ? ORDER BY host`, nationID)
	if err != nil {
		return nil, fmt.Errorf("clone: domains: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("clone: domains: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// all returns every bound host with its nation's slug.
func (d *Domains) all(ctx context.Context) (map[string]string, error) {
	rows, err := d.db.Query(ctx, `SELECT d.host, n.slug FROM nation_domains d JOIN nations n ON n.id = d.nation_id`)
	if err != nil {
		return nil, fmt.Errorf("clone: domains: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var h, s string
		if err := rows.Scan(&h, &s); err != nil {
			return nil, fmt.Errorf("clone: domains: %w", err)
		}
		out[h] = s
	}
	return out, rows.Err()
}

// HostTTL is how long the host router trusts its map: a change made on
// this node refreshes it at once, one made on another node is seen within
// HostTTL.
const HostTTL = 15 * time.Second

// HostRouter serves the public pages of a nation bound to a host name at
// the root of that host. It keeps the host → slug map in memory.
type HostRouter struct {
	domains *Domains
	log     *slog.Logger

	mu      sync.RWMutex
	hosts   map[string]string
	expires time.Time
}

// NewHostRouter returns the router over d, and makes d refresh it on change.
func NewHostRouter(d *Domains, log *slog.Logger) *HostRouter {
	hr := &HostRouter{domains: d, log: log}
	d.changed = hr.Invalidate
	return hr
}

// Invalidate makes the next request reload the host map.
func (hr *HostRouter) Invalidate() {
	hr.mu.Lock()
	hr.expires = time.Time{}
	hr.mu.Unlock()
}

// Lookup returns the slug of the nation bound to host (port ignored).
func (hr *HostRouter) Lookup(host string) (string, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	now := time.Now()
	hr.mu.RLock()
	hosts, fresh := hr.hosts, now.Before(hr.expires)
	hr.mu.RUnlock()
	if !fresh {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m, err := hr.domains.all(ctx)
		cancel()
		if err != nil {
			hr.log.Error("clone: load domains", "err", err)
			m = hosts // keep serving what we knew
		}
		hr.mu.Lock()
		hr.hosts, hr.expires = m, now.Add(HostTTL)
		hr.mu.Unlock()
		hosts = m
	}
	slug, ok := hosts[host]
	return slug, ok
}

// InstallationRoutes are the first path segments of the installation's own
// routes (not a nation's public site): on a bound host they are not
// rewritten, so the control panel, static files, health checks, invitation
// and unsubscribe links keep working on every host. Each is also a reserved
// nation slug (nation.Reserved), except "u" (unsubscribe links), which is
// too short to be a slug.
var InstallationRoutes = []string{"admin", "api", "static", "healthz", "readyz", "metrics", "setup", "login", "logout",
	"debug", "invite", "u", "webhooks", ".well-known", "well-known", "favicon.ico", "robots.txt"}

// Middleware rewrites requests for a bound host: a public path /x becomes
// /{nation}/x before routing, so that the home is at / and the pages at
// /{page}, /{page}/thanks, /my-data and so on. InstallationRoutes are left
// alone, and so are paths that already start with the nation's own slug
// (the links the default theme writes), so both forms work on a bound host.
// A page whose slug equals its nation's slug is therefore only reachable
// as /{nation}/{nation} there.
func (hr *HostRouter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slug, ok := hr.Lookup(r.Host)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if first == slug || slices.Contains(InstallationRoutes, first) {
			next.ServeHTTP(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/" + slug + r.URL.Path
		if r.URL.RawPath != "" {
			r2.URL.RawPath = "/" + slug + r.URL.RawPath
		}
		next.ServeHTTP(w, r2)
	})
}
