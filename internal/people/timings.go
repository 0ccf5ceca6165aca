package people

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Timings adds up where the time of batch upserts goes, stage by stage, so
// that `muster bench import` can say which part of an import costs what
// (docs/benchmarks.md). Pass one in UpsertOptions.Timings; a nil *Timings
// records nothing and costs nothing. It is safe for batches written at the
// same time (PostgreSQL), whose stage times then add up to more than the
// wall clock.
type Timings struct {
	mu     sync.Mutex
	byName map[string]time.Duration
	order  []string
}

// Stage is one stage's total time.
type Stage struct {
	Name    string        `json:"name"`
	Seconds float64       `json:"seconds"`
	Elapsed time.Duration `json:"-"`
}

// start returns the time a stage starts, or the zero time when t is nil.
func (t *Timings) start() time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Now()
}

// lap adds the time since from to the stage and returns now, the start of
// the next stage.
func (t *Timings) lap(stage string, from time.Time) time.Time {
	if t == nil {
		return from
	}
	now := time.Now()
	t.Add(stage, now.Sub(from))
	return now
}

// Add adds d to the stage's total.
func (t *Timings) Add(stage string, d time.Duration) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byName == nil {
		t.byName = map[string]time.Duration{}
	}
	if _, ok := t.byName[stage]; !ok {
		t.order = append(t.order, stage)
	}
	t.byName[stage] += d
}

// Stages lists the stages, the costliest first.
func (t *Timings) Stages() []Stage {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Stage, 0, len(t.order))
	for _, name := range t.order {
		d := t.byName[name]
		out = append(out, Stage{Name: name, Seconds: d.Seconds(), Elapsed: d})
	}
	slices.SortStableFunc(out, func(a, b Stage) int { return cmp.Compare(b.Elapsed, a.Elapsed) })
	return out
}
