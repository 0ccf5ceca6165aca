package pages

import (
	"context"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/nation"
)

// publicCache keeps what a public page view reads besides the signature
// count — the page itself and the nation's topic names — so that a page
// under load is rendered from memory. Writes through this process's Store
// invalidate their entries at once; publicTTL bounds how long another
// node's edit takes to show.
type publicCache struct {
	mu     sync.Mutex
	pages  map[pageKey]cachedPage
	topics map[int64]cachedTopics
}

type pageKey struct {
	nationID int64
	slug     string
}

type cachedPage struct {
	p  *Page
	at time.Time
}

type cachedTopics struct {
	ts []Topic
	at time.Time
}

const (
	publicTTL      = 5 * time.Second
	maxCachedPages = 10_000
)

// PublicPage returns a page of the nation by slug for a public view, from
// the cache when fresh. The page is shared: callers must not modify it.
func (s *Store) PublicPage(ctx context.Context, nationID int64, slug string) (*Page, error) {
	key := pageKey{nationID, slug}
	now := s.now()
	s.cache.mu.Lock()
	c, ok := s.cache.pages[key]
	s.cache.mu.Unlock()
	if ok && now.Sub(c.at) < publicTTL {
		return c.p, nil
	}
	p, err := s.BySlug(ctx, nationID, slug)
	if err != nil {
		return nil, err
	}
	s.cache.mu.Lock()
	if s.cache.pages == nil || len(s.cache.pages) >= maxCachedPages {
		s.cache.pages = map[pageKey]cachedPage{}
	}
	s.cache.pages[key] = cachedPage{p, now}
	s.cache.mu.Unlock()
	return p, nil
}

// PublicTopics returns the nation's topics (without subscriber counts)
// for public forms, from the cache when fresh. The slice is shared.
func (s *Store) PublicTopics(ctx context.Context, nationID int64) ([]Topic, error) {
	now := s.now()
	s.cache.mu.Lock()
	c, ok := s.cache.topics[nationID]
	s.cache.mu.Unlock()
	if ok && now.Sub(c.at) < publicTTL {
		return c.ts, nil
	}
	ts, err := s.Topics(ctx, nationID)
	if err != nil {
		return nil, err
	}
	s.cache.mu.Lock()
	if s.cache.topics == nil || len(s.cache.topics) >= maxCachedPages {
		s.cache.topics = map[int64]cachedTopics{}
	}
	s.cache.topics[nationID] = cachedTopics{ts, now}
	s.cache.mu.Unlock()
	return ts, nil
}

// invalidatePages forgets the cached pages of a nation (after any write
// to one of them: its slug may have changed).
func (s *Store) invalidatePages(nationID int64) {
	s.cache.mu.Lock()
	for k := range s.cache.pages {
		if k.nationID == nationID {
			delete(s.cache.pages, k)
		}
	}
	s.cache.mu.Unlock()
}

// invalidateTopics forgets the cached topics of a nation.
func (s *Store) invalidateTopics(nationID int64) {
	s.cache.mu.Lock()
	delete(s.cache.topics, nationID)
	s.cache.mu.Unlock()
}

// nationCache keeps the nations public pages are served for, briefly: a
// page view would otherwise read the nation's row every time. Nation
// settings change rarely and their edit shows after nationTTL.
type nationCache struct {
	mu sync.Mutex
	m  map[string]cachedNation
}

type cachedNation struct {
	n  *nation.Nation
	at time.Time
}

const nationTTL = time.Second

// publicNation returns the nation of a public address, from the cache
// when fresh. The nation is shared: callers must not modify it.
func (h *Handlers) publicNation(ctx context.Context, slug string) (*nation.Nation, error) {
	now := time.Now()
	h.nations.mu.Lock()
	c, ok := h.nations.m[slug]
	h.nations.mu.Unlock()
	if ok && now.Sub(c.at) < nationTTL {
		return c.n, nil
	}
	n, err := h.Nations.BySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	h.nations.mu.Lock()
	if h.nations.m == nil || len(h.nations.m) >= maxCachedPages {
		h.nations.m = map[string]cachedNation{}
	}
	h.nations.m[slug] = cachedNation{n, now}
	h.nations.mu.Unlock()
	return n, nil
}
