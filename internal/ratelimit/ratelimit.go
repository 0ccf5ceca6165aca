// Package ratelimit holds in-memory token buckets by key for public forms
// (per client address, per page, per e-mail address). Limits are per node:
// a script hammering one node runs dry there, which is what they are for;
// sign-in throttling, which must hold across nodes, lives in the database
// (internal/auth).
package ratelimit

import (
	"sync"
	"time"
)

// Limiter is a set of token buckets by key (a client address, a page): each
// key may spend Burst requests at once and regains Rate per second. A
// school's or a mobile carrier's NAT shares one address, so the per-address
// burst is generous; a script hammering a form runs dry after it.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory: past it, buckets that have refilled (and so
// carry no information) are dropped.
const maxBuckets = 100_000

// New returns a limiter allowing burst requests at once per key, refilled
// at count per period (e.g. 30 per minute, 3 per hour).
func New(count int, per time.Duration, burst int) *Limiter {
	return &Limiter{rate: float64(count) / per.Seconds(), burst: float64(burst), now: time.Now, buckets: map[string]*bucket{}}
}

// Allow spends a token of key, reporting false when none is left.
func (l *Limiter) Allow(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets) // under attack from many addresses: start afresh rather than grow
	}
}
