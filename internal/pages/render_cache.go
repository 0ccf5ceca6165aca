package pages

import (
	"bytes"
	"net/http"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// outputCache keeps the rendered HTML of public page views for a moment:
// executing the page's template (its form, the escaping of every
// attribute) is most of what a view costs. An entry is keyed by everything
// the HTML depends on — the page's version, the language, the query and
// the signature count — so a new signature or an edit through this
// process shows at once; outputTTL bounds how long a theme change or
// another node's edit takes to show.
type outputCache struct {
	mu sync.Mutex
	m  map[outputKey]cachedOutput
}

type outputKey struct {
	nationID, pageID, version int64
	lang, query               string
	count                     int64
}

type cachedOutput struct {
	body   []byte
	header http.Header // the headers the render set (content type, cookies excluded)
	at     time.Time
}

const (
	outputTTL        = 2 * time.Second
	maxOutputEntries = 2000
	maxCachedQuery   = 64
)

func (c *outputCache) get(k outputKey, now time.Time) (cachedOutput, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.m[k]
	if !ok || now.Sub(o.at) >= outputTTL {
		return cachedOutput{}, false
	}
	return o, true
}

func (c *outputCache) put(k outputKey, o cachedOutput) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxOutputEntries {
		c.m = map[outputKey]cachedOutput{}
	}
	c.m[k] = o
}

// capture is a ResponseWriter that keeps the body (and status) a handler
// writes; headers go to the real response.
type capture struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.buf.Write(b)
}

// showCached answers a plain view of a public page (no form refill, no
// errors) from the output cache, rendering and keeping it on a miss.
func (h *Handlers) showCached(w http.ResponseWriter, r *http.Request, v *web.View, n *nation.Nation, p *Page) {
	if len(r.URL.RawQuery) > maxCachedQuery {
		h.renderPage(w, r, http.StatusOK, v, n, p, nil, false)
		return
	}
	k := outputKey{nationID: n.ID, pageID: p.ID, version: p.UpdatedAt.UnixNano(), lang: v.Lang, query: r.URL.RawQuery}
	if p.Type == TypePetition {
		c, err := h.Store.SignatureCount(r.Context(), n.ID, p.ID)
		if err != nil {
			h.Site.Fail(w, r, n, err)
			return
		}
		k.count = c
	}
	now := time.Now()
	if o, ok := h.output.get(k, now); ok {
		for name, vals := range o.header {
			w.Header()[name] = vals
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(o.body)
		return
	}
	before := w.Header().Clone()
	c := &capture{header: w.Header()}
	h.renderPage(c, r, http.StatusOK, v, n, p, nil, false)
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.status == http.StatusOK {
		// Keep the headers the render added (not those set before it,
		// such as the language cookie, which depend on the request).
		set := http.Header{}
		for name, vals := range w.Header() {
			if _, ok := before[name]; !ok {
				set[name] = vals
			}
		}
		h.output.put(k, cachedOutput{body: bytes.Clone(c.buf.Bytes()), header: set, at: now})
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.buf.Bytes())
}
