package people

import "github.com/muster-org/muster/internal/store"

// ConcurrentBatches is how many import batches may be written at once. On
// PostgreSQL two: a batch's database work runs in one server process, so a
// second batch uses the second core (the importer keeps the two batches'
// records apart, see importer.RunReader). On SQLite one: it has a single
// writer, and a second batch would only wait for it.
func (s *Store) ConcurrentBatches() int {
	if s.db.Engine == store.Postgres {
		return 2
	}
	return 1
}

// MatchKeys calls fn with every key record i can be matched by or proposed
// as a duplicate on: external ids, e-mails, phone numbers and the name and
// postcode key, each prefixed by its kind. Two records that share no key
// cannot meet in one person, so two batches whose records share none can
// be written at once without either missing what the other creates.
func (p *Prepared) MatchKeys(i int, fn func(key string)) {
	r := &p.preps[i]
	if r.reject != nil {
		return
	}
	for _, k := range [...]struct {
		kind string
		col  int
	}{{"nb:", cNBID}, {"civi:", cCiviID}, {"ext:", cExtID}, {"tel:", cMobileE164}, {"tel:", cPhoneE164}, {"tel:", cWorkE164}} {
		if v := r.v[k.col]; v != "" {
			fn(k.kind + v)
		}
	}
	for _, e := range r.emails {
		fn("email:" + e.norm)
	}
	if k := nameKey(&r.v); k != "" {
		fn("name:" + k)
	}
}

// Select returns the records of p at the given indexes (ascending), as
// normalised; recs and srcs of a caller are split alike.
func (p *Prepared) Select(idx []int) *Prepared {
	out := &Prepared{country: p.country, tags: p.tags, recs: make([]Record, len(idx)), preps: make([]prepared, len(idx))}
	for j, i := range idx {
		out.recs[j], out.preps[j] = p.recs[i], p.preps[i]
	}
	return out
}

// Append returns the records of p followed by those of q, two batches of
// one import (normalised for the same country and tags). Either may be nil.
func (p *Prepared) Append(q *Prepared) *Prepared {
	switch {
	case p == nil || len(p.preps) == 0:
		return q
	case q == nil || len(q.preps) == 0:
		return p
	}
	out := &Prepared{country: p.country, tags: p.tags}
	out.recs = append(append(make([]Record, 0, len(p.recs)+len(q.recs)), p.recs...), q.recs...)
	out.preps = append(append(make([]prepared, 0, len(p.preps)+len(q.preps)), p.preps...), q.preps...)
	return out
}
