package segment

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/muster-org/muster/internal/store"
)

// Index is the in-memory fast path for one nation's segment counts (DESIGN
// §3): roaring bitmaps per tag, gender, support level, granted consent
// channel, has: flag, country, city and postcode, and columns (one value per
// person, scanned) for birth date, coordinates, created, active, points and
// actions. People get dense uint32 positions in the order they are loaded.
//
// It stays correct under writes from any process: before answering, it
// reads people_changes after the last sequence number it applied, reloads
// those people from the database and updates itself (Sync). A write
// committed before Count starts is therefore always counted.
//
// Qualifiers it does not cover, answered by SQL instead: field.NAME (custom
// fields). Everything else is covered; rsvp, attended, donated and donations
// are constants until their data exists.
//
// signed: and subscribed: are bitmaps per page id and per topic id (the
// people with a signature, the people whose subscription status is
// 'subscribed'), kept in step through the change log like everything else
// (internal/pages records the change in the transaction that signs or
// subscribes). Slugs are resolved to ids when counting, from the pages and
// topics tables: a page or topic deleted, renamed or re-created (new id)
// needs no change-log entry for its people.
//
// Restricted people (GDPR Art. 18) are kept in their own bitmap, which is
// subtracted from every answer, as Compile's "p.restricted = 0".
type Index struct {
	db       *store.DB
	nationID int64

	mu       sync.RWMutex
	built    bool
	lastSeq  int64
	lastSync time.Time

	pos posIndex // person id → position
	ids []int64  // position → person id

	all      *roaring.Bitmap // live (not merged, not deleted) people
	tags     map[string]*roaring.Bitmap
	gender   map[string]*roaring.Bitmap
	support  [6]*roaring.Bitmap
	consent  map[string]*roaring.Bitmap
	has      map[string]*roaring.Bitmap
	country  map[string]*roaring.Bitmap
	city     map[string]*roaring.Bitmap
	postcode map[string]*roaring.Bitmap
	// signed and subscribed are keyed by the decimal page or topic id.
	signed     map[string]*roaring.Bitmap
	subscribed map[string]*roaring.Bitmap
	restricted *roaring.Bitmap // matches nothing, ever

	birth   []int32 // YYYYMMDD; 0 unknown
	lat     []float64
	lng     []float64 // NaN unknown
	created []int64   // ms
	active  []int64   // ms; 0 never
	points  []int64
	actions []int32
}

// RebuildAfter is how long an index may go without syncing before it
// rebuilds instead of replaying changes: change rows older than twice this
// are pruned, so replaying could miss some.
const RebuildAfter = 30 * time.Minute

// ChangeRetention is how long people_changes rows are kept.
const ChangeRetention = 2 * RebuildAfter

// maxReplay is the most change rows a sync replays; further behind, it
// rebuilds.
const maxReplay = 200_000

// NewIndex returns an empty index of a nation; it builds on first use.
func NewIndex(db *store.DB, nationID int64) *Index {
	return &Index{db: db, nationID: nationID}
}

// Covers reports whether the index can answer e (after Expand).
func Covers(e Expr) bool { return !Uses(e, "field") && !Uses(e, "segment") }

// Count counts the people matching e (expanded: no segment:NAME) on today
// in loc, after catching up with committed writes.
func (ix *Index) Count(ctx context.Context, e Expr, today time.Time, loc *time.Location) (n int64, err error) {
	if !Covers(e) {
		return 0, fmt.Errorf("segment: index: filter needs SQL")
	}
	if err := ix.Sync(ctx); err != nil {
		return 0, err
	}
	if loc == nil {
		loc = time.UTC
	}
	q := &query{today: today.In(loc), loc: loc}
	if Uses(e, "signed") {
		if q.pages, err = ix.slugIDs(ctx, "pages"); err != nil {
			return 0, err
		}
	}
	if Uses(e, "subscribed") {
		if q.topics, err = ix.slugIDs(ctx, "topics"); err != nil {
			return 0, err
		}
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return int64(ix.answer(e, q).GetCardinality()), nil
}

// answer is the people matching e: the live people it selects less the
// restricted ones. Every index answer goes through here.
func (ix *Index) answer(e Expr, q *query) *roaring.Bitmap {
	r := roaring.And(ix.eval(e, q), ix.all)
	r.AndNot(ix.restricted)
	return r
}

// query is what evaluating a filter on the index needs besides the filter:
// the date and zone, and the current slug → id of pages and topics (nil
// when the filter does not ask).
type query struct {
	today  time.Time
	loc    *time.Location
	pages  map[string]string
	topics map[string]string
}

// slugIDs reads slug → decimal id of the nation's pages or topics (a few
// hundred rows at most, by the (nation_id, slug) index).
func (ix *Index) slugIDs(ctx context.Context, table string) (map[string]string, error) {
	out := map[string]string{}
	var id int64
	var slug string
	err := ix.scan(ctx, `SELECT id, slug FROM `+table+` WHERE nation_id = ?`, []any{ix.nationID}, []any{&id, &slug}, func() {
		out[strings.ToLower(slug)] = strconv.FormatInt(id, 10)
	})
	if err != nil {
		return nil, fmt.Errorf("segment: index: read %s: %w", table, err)
	}
	return out, nil
}

// bySlug answers signed: or subscribed: from bitmaps keyed by id, with the
// current slug → id of the pages or topics; "*" is any of them.
func bySlug(m map[string]*roaring.Bitmap, ids map[string]string, slug string) *roaring.Bitmap {
	if slug != "*" {
		return orEmpty(m[ids[strings.ToLower(slug)]])
	}
	var bs []*roaring.Bitmap
	for _, id := range ids {
		if b := m[id]; b != nil {
			bs = append(bs, b)
		}
	}
	return roaring.FastOr(bs...)
}

// keyed lists the index's bitmaps filed under keys.
func (ix *Index) keyed() []map[string]*roaring.Bitmap {
	return []map[string]*roaring.Bitmap{ix.tags, ix.gender, ix.consent, ix.has, ix.country, ix.city, ix.postcode, ix.signed, ix.subscribed}
}

// Sync builds the index if needed, else applies the changes committed since
// the last sync.
func (ix *Index) Sync(ctx context.Context) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !ix.built || time.Since(ix.lastSync) > RebuildAfter {
		return ix.build(ctx)
	}
	rows, err := ix.db.Query(ctx, `SELECT seq, person_id FROM people_changes WHERE nation_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		ix.nationID, ix.lastSeq, maxReplay+1)
	if err != nil {
		return fmt.Errorf("segment: index: read changes: %w", err)
	}
	var ids []int64
	last := ix.lastSeq
	for rows.Next() {
		var seq, id int64
		if err := rows.Scan(&seq, &id); err != nil {
			rows.Close()
			return fmt.Errorf("segment: index: read changes: %w", err)
		}
		ids = append(ids, id)
		last = max(last, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("segment: index: read changes: %w", err)
	}
	if len(ids) > maxReplay {
		return ix.build(ctx)
	}
	now := time.Now()
	if len(ids) > 0 {
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if err := ix.reload(ctx, ids); err != nil {
			ix.built = false // half-applied: rebuild next time
			return err
		}
	}
	ix.lastSeq, ix.lastSync = last, now
	return nil
}

// Warm builds the indexes of the given nations one after the other, so that
// counts are fast from the start rather than after a first slow one; the
// server calls it in the background on start. Each build is logged with
// its duration and size (no personal data). It stops early when ctx ends.
func (s *Service) Warm(ctx context.Context, nationIDs []int64, log *slog.Logger) {
	if s.opts.NoIndex {
		return
	}
	start := time.Now()
	for _, id := range nationIDs {
		if ctx.Err() != nil {
			return
		}
		t := time.Now()
		st, err := s.Index(id).Stats(ctx)
		if err != nil {
			log.Warn("segment index: build failed; counts will retry", "nation_id", id, "err", err)
			continue
		}
		log.Info("segment index ready", "nation_id", id, "people", st.People, "tags", st.Tags,
			"ms", time.Since(t).Milliseconds(), "mib", st.Bytes>>20)
	}
	log.Info("segment indexes ready", "nations", len(nationIDs), "ms", time.Since(start).Milliseconds())
}

// Stats describes the index's size.
type Stats struct {
	People int
	Tags   int
	Bytes  uint64 // approximate memory held
}

// Stats reports the index's size (building it if needed).
func (ix *Index) Stats(ctx context.Context) (Stats, error) {
	if err := ix.Sync(ctx); err != nil {
		return Stats{}, err
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	s := Stats{People: int(ix.all.GetCardinality()), Tags: len(ix.tags)}
	s.Bytes = ix.all.GetSizeInBytes() + ix.restricted.GetSizeInBytes()
	for _, m := range ix.keyed() {
		for k, b := range m {
			s.Bytes += b.GetSizeInBytes() + uint64(len(k)) + 48
		}
	}
	for _, b := range ix.support {
		s.Bytes += b.GetSizeInBytes()
	}
	n := uint64(len(ix.ids))
	s.Bytes += n * (8 + 4 + 8 + 8 + 8 + 8 + 8 + 4) // ids, columns
	s.Bytes += ix.pos.bytes()
	return s, nil
}

func (ix *Index) reset() {
	ix.pos = posIndex{}
	ix.ids = nil
	ix.all = roaring.New()
	ix.tags = map[string]*roaring.Bitmap{}
	ix.gender = map[string]*roaring.Bitmap{}
	ix.consent = map[string]*roaring.Bitmap{}
	ix.has = map[string]*roaring.Bitmap{}
	ix.country = map[string]*roaring.Bitmap{}
	ix.city = map[string]*roaring.Bitmap{}
	ix.postcode = map[string]*roaring.Bitmap{}
	ix.signed = map[string]*roaring.Bitmap{}
	ix.subscribed = map[string]*roaring.Bitmap{}
	ix.restricted = roaring.New()
	for i := range ix.support {
		ix.support[i] = roaring.New()
	}
	ix.birth, ix.lat, ix.lng, ix.created, ix.active, ix.points, ix.actions = nil, nil, nil, nil, nil, nil, nil
}

// build loads the whole nation with a few streaming queries. The change
// sequence is read first: whatever commits while loading is replayed by
// the next sync (replaying is idempotent: it reloads current facts).
func (ix *Index) build(ctx context.Context) error {
	var last int64
	if err := ix.db.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM people_changes WHERE nation_id = ?`, ix.nationID).Scan(&last); err != nil {
		return fmt.Errorf("segment: index: build: %w", err)
	}
	// Changes pruned away are irrelevant: the counter only grows.
	start := time.Now()
	ix.reset()
	ix.built = false
	l, err := ix.loadAll(ctx, nil, true)
	if err != nil {
		return err
	}
	ix.apply(l)
	ix.all.RunOptimize()
	ix.restricted.RunOptimize()
	for _, m := range ix.keyed() {
		for _, b := range m {
			b.RunOptimize()
		}
	}
	for _, b := range ix.support {
		b.RunOptimize()
	}
	ix.built, ix.lastSeq, ix.lastSync = true, last, start
	return nil
}

// reload replaces what the index knows of the given people with their
// current state in the database; people gone (merged away, deleted) drop
// out.
func (ix *Index) reload(ctx context.Context, ids []int64) error {
	changed := roaring.New()
	for _, id := range ids {
		if p, ok := ix.pos.get(id); ok {
			changed.Add(p)
			ix.clearColumns(p)
		}
	}
	if !changed.IsEmpty() {
		ix.all.AndNot(changed)
		ix.restricted.AndNot(changed)
		for _, m := range ix.keyed() {
			for _, b := range m {
				b.AndNot(changed)
			}
		}
		for _, b := range ix.support {
			b.AndNot(changed)
		}
	}
	l, err := ix.loadAll(ctx, ids, false)
	if err != nil {
		return err
	}
	ix.apply(l)
	return nil
}

func (ix *Index) clearColumns(p uint32) {
	ix.birth[p], ix.lat[p], ix.lng[p] = 0, math.NaN(), math.NaN()
	ix.created[p], ix.active[p], ix.points[p], ix.actions[p] = 0, 0, 0, 0
}

// position returns the person's position, appending a new one.
func (ix *Index) position(id int64) uint32 {
	if p, ok := ix.pos.get(id); ok {
		return p
	}
	p := uint32(len(ix.ids))
	ix.pos.set(id, p)
	ix.ids = append(ix.ids, id)
	ix.birth = append(ix.birth, 0)
	ix.lat = append(ix.lat, math.NaN())
	ix.lng = append(ix.lng, math.NaN())
	ix.created = append(ix.created, 0)
	ix.active = append(ix.active, 0)
	ix.points = append(ix.points, 0)
	ix.actions = append(ix.actions, 0)
	return p
}

// birthNumber reads a birth date as YYYYMMDD, 0 when unreadable (as Age).
func birthNumber(s string) int32 {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0
	}
	return int32(t.Year()*10000 + int(t.Month())*100 + t.Day())
}

// dateNumber reads a YYYY-MM-DD string made by BirthRange (whose day may not
// exist) as YYYYMMDD.
func dateNumber(s string) int32 {
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:10])
	return int32(y*10000 + m*100 + d)
}

// foldKey is the key city: compares by (Unicode lower case, like EqualFold
// for all but a few letters).
func foldKey(s string) string { return strings.ToLower(s) }

// eval returns the people matching e, before answer leaves out the
// restricted ones. The result may be one of the index's own bitmaps:
// callers never modify it.
func (ix *Index) eval(e Expr, q *query) *roaring.Bitmap {
	switch e := e.(type) {
	case *All:
		return ix.all
	case *And:
		bs := make([]*roaring.Bitmap, 0, len(e.Terms))
		var nots []*roaring.Bitmap
		for _, t := range e.Terms {
			if n, ok := t.(*Not); ok {
				nots = append(nots, ix.eval(n.X, q))
				continue
			}
			bs = append(bs, ix.eval(t, q))
		}
		var r *roaring.Bitmap
		if len(bs) == 0 {
			r = ix.all.Clone()
		} else {
			slices.SortFunc(bs, func(a, b *roaring.Bitmap) int { return int(a.GetCardinality()) - int(b.GetCardinality()) })
			r = roaring.FastAnd(bs...)
			if len(bs) == 1 {
				r = bs[0].Clone()
			}
		}
		for _, n := range nots {
			r.AndNot(n)
		}
		return r
	case *Or:
		bs := make([]*roaring.Bitmap, len(e.Terms))
		for i, t := range e.Terms {
			bs[i] = ix.eval(t, q)
		}
		return roaring.FastOr(bs...)
	case *Not:
		return roaring.AndNot(ix.all, ix.eval(e.X, q))
	case *Qualifier:
		return ix.qualifier(e, q)
	}
	return roaring.New()
}

func orEmpty(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b
}

func (ix *Index) qualifier(q *Qualifier, qc *query) *roaring.Bitmap {
	today, loc := qc.today, qc.loc
	switch q.Name {
	case "tag":
		return orEmpty(ix.tags[TagKey(q.Value)])
	case "gender":
		return orEmpty(ix.gender[q.Value])
	case "consent":
		return orEmpty(ix.consent[q.Value])
	case "has":
		return orEmpty(ix.has[q.Value])
	case "country":
		return orEmpty(ix.country[q.Value])
	case "city":
		return orEmpty(ix.city[foldKey(q.Value)])
	case "postcode":
		if !q.Prefix {
			return orEmpty(ix.postcode[q.Value])
		}
		var bs []*roaring.Bitmap
		for k, b := range ix.postcode {
			if strings.HasPrefix(k, q.Value) {
				bs = append(bs, b)
			}
		}
		return roaring.FastOr(bs...)
	case "support":
		lo, hi := q.Cmp.Interval()
		var bs []*roaring.Bitmap
		for l := int64(1); l <= 5; l++ {
			if lo <= l && l <= hi {
				bs = append(bs, ix.support[l])
			}
		}
		return roaring.FastOr(bs...)
	case "signed":
		return bySlug(ix.signed, qc.pages, q.Value)
	case "subscribed":
		return bySlug(ix.subscribed, qc.topics, q.Value)
	case "rsvp", "attended":
		return roaring.New()
	case "donated", "donations":
		if q.Cmp.Match(0) {
			return ix.all
		}
		return roaring.New()
	case "age":
		lo, hi := q.Cmp.Interval()
		from, to, ok := BirthRange(lo, hi, today, loc)
		if !ok {
			return roaring.New()
		}
		t, f := dateNumber(to), int32(0)
		if from != "" {
			f = dateNumber(from)
		}
		return ix.scanColumn(func(p int) bool { b := ix.birth[p]; return b != 0 && b <= t && b > f })
	case "near":
		g := q.Geo
		box := BoundingBox(g)
		r := float64(g.RadiusM)
		return ix.scanColumn(func(p int) bool {
			la, lo := ix.lat[p], ix.lng[p]
			if la != la || lo != lo || la < box.MinLat || la > box.MaxLat { // NaN: unknown
				return false
			}
			if box.LonLimited {
				if box.MinLon <= box.MaxLon {
					if lo < box.MinLon || lo > box.MaxLon {
						return false
					}
				} else if lo < box.MinLon && lo > box.MaxLon {
					return false
				}
			}
			return DistanceM(g.Lat, g.Lon, la, lo) <= r
		})
	case "created", "active":
		from, to, ok := MillisRange(q.Cmp, loc)
		if !ok {
			return roaring.New()
		}
		col := ix.created
		if q.Name == "active" {
			col = ix.active
		}
		never := q.Name == "active"
		return ix.scanColumn(func(p int) bool { v := col[p]; return v >= from && v < to && (!never || v != 0) })
	case "points":
		lo, hi := q.Cmp.Interval()
		return ix.scanColumn(func(p int) bool { v := ix.points[p]; return v >= lo && v <= hi })
	case "actions":
		lo, hi := q.Cmp.Interval()
		return ix.scanColumn(func(p int) bool { v := int64(ix.actions[p]); return v >= lo && v <= hi })
	}
	return roaring.New() // field and segment never reach here (Covers)
}

// scanColumn tests every position and returns those that pass, filling a
// dense bitset first (much faster than adding one by one).
func (ix *Index) scanColumn(test func(p int) bool) *roaring.Bitmap {
	n := len(ix.ids)
	words := make([]uint64, (n+63)/64)
	for p := 0; p < n; p++ {
		if test(p) {
			words[p>>6] |= 1 << (p & 63)
		}
	}
	b := roaring.FromDense(words, false)
	b.And(ix.all)
	return b
}
