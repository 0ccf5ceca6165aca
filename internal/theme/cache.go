package theme

import (
	"context"
	"html/template"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// TTL is how long a nation's compiled theme is trusted before it is read
// again: a publish on this node invalidates at once, one on another node
// is seen within TTL.
const TTL = 30 * time.Second

// Themes is the web.ThemeSource of the running application: each nation's
// published theme, compiled once and kept in memory. A nation without
// overrides costs one map lookup per render.
type Themes struct {
	store    *Store
	defaults *Defaults
	log      *slog.Logger
	slugs    func(ctx context.Context, nationID int64) (string, error)

	mu      sync.RWMutex
	entries map[int64]entry
}

type entry struct {
	set     *Set
	css     string // address of the stylesheet, "" without one
	expires time.Time
}

// NewThemes returns the cache; slug names a nation's slug for the
// stylesheet's address.
func NewThemes(st *Store, d *Defaults, log *slog.Logger, slug func(ctx context.Context, nationID int64) (string, error)) *Themes {
	return &Themes{store: st, defaults: d, log: log, slugs: slug, entries: map[int64]entry{}}
}

// Page returns the nation's template set for a public page, or nil.
func (t *Themes) Page(nationID int64, page string) *template.Template {
	e := t.get(nationID)
	if e.set == nil || e.set.Pages == nil {
		return nil
	}
	return e.set.Pages[page]
}

// CSS returns the address of the nation's stylesheet, or "".
func (t *Themes) CSS(nationID int64) string { return t.get(nationID).css }

// Published returns the nation's compiled published theme (nil: none).
func (t *Themes) Published(nationID int64) *Set { return t.get(nationID).set }

// Invalidate forgets a nation's compiled theme (after a publish or a clone).
func (t *Themes) Invalidate(nationID int64) {
	t.mu.Lock()
	delete(t.entries, nationID)
	t.mu.Unlock()
}

func (t *Themes) get(nationID int64) entry {
	now := time.Now()
	t.mu.RLock()
	e, ok := t.entries[nationID]
	t.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e
	}
	e = t.load(nationID)
	e.expires = now.Add(TTL)
	t.mu.Lock()
	t.entries[nationID] = e
	t.mu.Unlock()
	return e
}

// load reads and compiles a nation's published theme. A failure is logged
// and gives the default theme: a public page never fails for its theme.
func (t *Themes) load(nationID int64) entry {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	files, version, err := t.store.Published(ctx, nationID)
	if err != nil {
		t.log.Error("theme: load", "nation", nationID, "err", err)
		return entry{}
	}
	if len(files) == 0 {
		return entry{}
	}
	set, err := t.defaults.Compile(files)
	if err != nil {
		t.log.Error("theme: compile published theme", "nation", nationID, "err", err)
		return entry{}
	}
	e := entry{set: set}
	if set.CSS != "" {
		slug, err := t.slugs(ctx, nationID)
		if err != nil {
			t.log.Error("theme: nation slug", "nation", nationID, "err", err)
		} else {
			e.css = CSSPath(slug) + "?v=" + strconv.FormatInt(version, 36)
		}
	}
	return e
}

// CSSPath is the address of a nation's published stylesheet.
func CSSPath(slug string) string { return "/static/theme/" + slug + "/style.css" }
