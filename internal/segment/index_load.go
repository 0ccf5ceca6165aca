package segment

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/muster-org/muster/internal/crypt"
)

// Loading the index. A cold start has to read a whole nation (a million
// people, five million taggings, a million and a half consent entries) in
// a few seconds, so loading is shaped for throughput:
//
//   - six streaming queries (people, taggings, consents, actions,
//     signatures, subscriptions), each in
//     primary-key or index order so that neither engine sorts, run
//     concurrently on separate connections (SQLite has a pool of readers);
//   - rows are scanned into reused variables (sql.RawBytes for text), text
//     values are interned into small integer codes, normalised once per
//     distinct value, and no per-row maps or strings are kept;
//   - people are read in id order and placed at consecutive positions, so
//     every list of positions comes out sorted and is added to its bitmap
//     in one AddMany;
//   - the current consent is derived while streaming, from entries grouped
//     by person and channel (the latest by time, then id, wins).
//
// The same loaders reload a few changed people (Sync), with an IN list.

// Bits of personRows.has, in the order of hasNames.
var hasNames = [...]string{"email", "phone", "mobile", "address"}

// Interned text columns of personRows.
const (
	colGender = iota
	colPostcode
	colCity
	colCountry
	nTextCols
)

// personRows is what the people query read, column by column, in the
// order read. Text columns are codes into keys (0: none).
type personRows struct {
	ids                     []int64
	birth                   []int32 // YYYYMMDD; 0 unknown
	lat, lng                []float64
	created, active, points []int64
	support, has            []uint8
	text                    [nTextCols][]uint32
	keys                    [nTextCols]*interner
}

// interner gives each distinct raw text a code and each code its
// normalised key; raw values that normalise to the same key share a code,
// and those that normalise to "" get code 0.
type interner struct {
	norm  func(string) string
	byRaw map[string]uint32
	byKey map[string]uint32
	keys  []string // code → key; keys[0] is ""
}

func newInterner(norm func(string) string) *interner {
	return &interner{norm: norm, byRaw: map[string]uint32{}, byKey: map[string]uint32{}, keys: []string{""}}
}

func (in *interner) code(raw []byte) uint32 {
	if len(raw) == 0 {
		return 0
	}
	if c, ok := in.byRaw[string(raw)]; ok { // no allocation
		return c
	}
	s := string(raw)
	var c uint32
	if k := in.norm(s); k != "" {
		var ok bool
		if c, ok = in.byKey[k]; !ok {
			c = uint32(len(in.keys))
			in.keys = append(in.keys, k)
			in.byKey[k] = c
		}
	}
	in.byRaw[s] = c
	return c
}

// The keys the index files people under, as the filter compares them.
func genderKey(s string) string   { return strings.ToLower(s) }
func cityKey(s string) string     { return foldKey(strings.TrimSpace(s)) }
func countryKey(s string) string  { return strings.ToUpper(strings.TrimSpace(s)) }
func postcodeKey(s string) string { return NormalizePostcode(s) }

// keyedRows are person ids filed under keys: taggings by tag key, granted
// consents by channel. Each list is ascending when read in person order.
type keyedRows struct {
	keys  []string
	lists [][]int64
}

func (k *keyedRows) add(i int, id int64) { k.lists[i] = append(k.lists[i], id) }

// keyIndex returns the index of key, adding it.
func (k *keyedRows) keyIndex(key string) int {
	for i, s := range k.keys {
		if s == key {
			return i
		}
	}
	k.keys = append(k.keys, key)
	k.lists = append(k.lists, nil)
	return len(k.keys) - 1
}

// actionRows are the distinct campaigns each person acted on.
type actionRows struct {
	ids    []int64
	counts []int32
}

// loaded is everything the loaders read.
type loaded struct {
	people     personRows
	tags       keyedRows
	consents   keyedRows
	actions    actionRows
	signed     keyedRows // by decimal page id
	subscribed keyedRows // by decimal topic id
}

// restrictedBit is the bit of personRows.has that marks a restricted
// person (the four has: flags are bits 0-3).
const restrictedBit = 1 << 4

// loadAll reads the people of ids (the whole nation when ids is nil). A
// whole nation is read by the four loaders at once.
func (ix *Index) loadAll(ctx context.Context, ids []int64, concurrent bool) (*loaded, error) {
	l := &loaded{}
	steps := []func() error{
		func() error { return ix.loadPeople(ctx, ids, &l.people) },
		func() error { return ix.loadTags(ctx, ids, &l.tags) },
		func() error { return ix.loadConsents(ctx, ids, &l.consents) },
		func() error { return ix.loadActions(ctx, ids, &l.actions) },
		func() error {
			return ix.loadByID(ctx, ids, &l.signed, "signatures",
				`SELECT person_id, page_id FROM signatures WHERE nation_id = ?`)
		},
		func() error {
			return ix.loadByID(ctx, ids, &l.subscribed, "subscriptions",
				`SELECT person_id, topic_id FROM topic_subscriptions WHERE nation_id = ? AND status = 'subscribed'`)
		},
	}
	errs := make([]error, len(steps))
	if concurrent {
		var wg sync.WaitGroup
		for i, step := range steps {
			wg.Go(func() { errs[i] = step() })
		}
		wg.Wait()
	} else {
		for i, step := range steps {
			if errs[i] = step(); errs[i] != nil {
				break
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (ix *Index) loadPeople(ctx context.Context, ids []int64, out *personRows) error {
	out.keys = [nTextCols]*interner{
		colGender: newInterner(genderKey), colPostcode: newInterner(postcodeKey),
		colCity: newInterner(cityKey), colCountry: newInterner(countryKey),
	}
	var (
		id, has, points, created, active int64
		birth                            sql.RawBytes
		text                             [nTextCols]sql.RawBytes
		support                          sql.RawBytes // sealed (internal/crypt)
		lat, lng                         sql.NullFloat64
		unopened                         int
	)
	// The index holds support levels in the clear, in memory only: the
	// stored values are sealed under the nation's key, five possible values.
	levels, err := SealedSupport(ctx, ix.db, ix.nationID)
	if err != nil {
		return err
	}
	level := make(map[string]uint8, 5)
	for l := 1; l <= 5; l++ {
		level[levels[l]] = uint8(l)
	}
	dest := []any{&id, &birth, &text[colGender], &support, &lat, &lng, &text[colPostcode], &text[colCity], &text[colCountry],
		&has, &points, &created, &active}
	err = eachChunk(ids, func(in func(string) string, args []any) error {
		// has: one small integer instead of four strings.
		return ix.scan(ctx, `SELECT id, birth_date, gender, support_level_enc, home_lat, home_lng, home_postcode, home_city, home_country,
			CASE WHEN email_norm <> '' THEN 1 ELSE 0 END + CASE WHEN phone_e164 <> '' THEN 2 ELSE 0 END +
			CASE WHEN mobile_e164 <> '' THEN 4 ELSE 0 END + CASE WHEN home_line1 <> '' THEN 8 ELSE 0 END +
			CASE WHEN restricted <> 0 THEN 16 ELSE 0 END,
			points, created_at, last_activity_at
			FROM people WHERE nation_id = ? AND merged_into = 0`+in("id")+` ORDER BY nation_id, id`,
			append([]any{ix.nationID}, args...), dest, func() {
				out.ids = append(out.ids, id)
				out.birth = append(out.birth, birthBytes(birth))
				if lat.Valid && lng.Valid {
					out.lat, out.lng = append(out.lat, lat.Float64), append(out.lng, lng.Float64)
				} else {
					out.lat, out.lng = append(out.lat, math.NaN()), append(out.lng, math.NaN())
				}
				out.created, out.active, out.points = append(out.created, created), append(out.active, active), append(out.points, points)
				s, ok := level[string(support)]
				if !ok && len(support) > 0 {
					unopened++
				}
				out.support = append(out.support, s)
				out.has = append(out.has, uint8(has))
				for c := range text {
					out.text[c] = append(out.text[c], out.keys[c].code(text[c]))
				}
			})
	})
	if err != nil {
		return fmt.Errorf("segment: index: load people: %w", err)
	}
	if unopened > 0 {
		return fmt.Errorf("segment: index: %d support levels do not open under the nation key", unopened)
	}
	return nil
}

func (ix *Index) loadTags(ctx context.Context, ids []int64, out *keyedRows) error {
	byID := map[int64]int{} // tag id → index in out
	var tid, pid int64
	// Tags are filed under their plain key, in memory only: a sensitive
	// tag's row holds its name sealed and a blind index as key (crypt).
	k, err := ReadKey(ctx, ix.db, ix.nationID)
	if err != nil {
		return err
	}
	tags, err := crypt.Tags(ctx, ix.db, k, ix.nationID)
	if err != nil {
		return fmt.Errorf("segment: index: load tags: %w", err)
	}
	for _, t := range tags {
		byID[t.ID] = out.keyIndex(TagKey(t.Key))
	}
	err = eachChunk(ids, func(in func(string) string, args []any) error {
		return ix.scan(ctx, `SELECT person_id, tag_id FROM taggings WHERE nation_id = ?`+in("person_id")+
			` ORDER BY nation_id, person_id, tag_id`, append([]any{ix.nationID}, args...), []any{&pid, &tid}, func() {
			// A tag created after the tags query is replayed by the next sync.
			if i, ok := byID[tid]; ok {
				out.add(i, pid)
			}
		})
	})
	if err != nil {
		return fmt.Errorf("segment: index: load taggings: %w", err)
	}
	return nil
}

// loadConsents reads each person's ledger grouped by channel (the order of
// the consents_person index, so no sort) and keeps the latest entry of
// each group by (at, id).
func (ix *Index) loadConsents(ctx context.Context, ids []int64, out *keyedRows) error {
	var (
		pid, at, id     int64
		channel, status sql.RawBytes
	)
	err := eachChunk(ids, func(in func(string) string, args []any) error {
		cur, curChan := int64(-1), -1
		var bestAt, bestID int64
		var bestGranted bool
		flush := func() {
			if cur >= 0 && bestGranted {
				out.add(curChan, cur)
			}
		}
		err := ix.scan(ctx, `SELECT person_id, channel, status, at, id FROM consents WHERE nation_id = ?`+in("person_id")+
			` ORDER BY nation_id, person_id, channel`, append([]any{ix.nationID}, args...),
			[]any{&pid, &channel, &status, &at, &id}, func() {
				ch := out.channelIndex(channel)
				if pid != cur || ch != curChan {
					flush()
					cur, curChan, bestAt, bestID = pid, ch, math.MinInt64, math.MinInt64
				}
				if at > bestAt || (at == bestAt && id > bestID) {
					bestAt, bestID, bestGranted = at, id, string(status) == "granted"
				}
			})
		flush()
		return err
	})
	if err != nil {
		return fmt.Errorf("segment: index: load consents: %w", err)
	}
	return nil
}

// channelIndex is keyIndex for a channel read as bytes (few channels: a
// linear search without allocating).
func (k *keyedRows) channelIndex(b []byte) int {
	for i, s := range k.keys {
		if s == string(b) {
			return i
		}
	}
	return k.keyIndex(string(b))
}

func (ix *Index) loadActions(ctx context.Context, ids []int64, out *actionRows) error {
	types := strings.TrimSuffix(strings.Repeat("?,", len(ActionTypes)), ",")
	var pid, c int64
	err := eachChunk(ids, func(in func(string) string, args []any) error {
		qargs := []any{ix.nationID}
		for _, t := range ActionTypes {
			qargs = append(qargs, t)
		}
		return ix.scan(ctx, `SELECT person_id, COUNT(DISTINCT source_kind || ':' || source_ref) FROM activities
			WHERE nation_id = ? AND source_ref <> '' AND type IN (`+types+`)`+in("person_id")+` GROUP BY person_id`,
			append(qargs, args...), []any{&pid, &c}, func() {
				out.ids = append(out.ids, pid)
				out.counts = append(out.counts, int32(min(c, math.MaxInt32)))
			})
	})
	if err != nil {
		return fmt.Errorf("segment: index: load actions: %w", err)
	}
	return nil
}

// loadByID files people under the decimal id of the second column of q
// (signatures by page, subscriptions by topic), reading by the
// (nation_id, person_id) index of the table.
func (ix *Index) loadByID(ctx context.Context, ids []int64, out *keyedRows, what, q string) error {
	byID := map[int64]int{}
	var pid, key int64
	err := eachChunk(ids, func(in func(string) string, args []any) error {
		return ix.scan(ctx, q+in("person_id")+` ORDER BY nation_id, person_id`, append([]any{ix.nationID}, args...),
			[]any{&pid, &key}, func() {
				i, ok := byID[key]
				if !ok {
					i = len(out.keys)
					byID[key] = i
					out.keys = append(out.keys, strconv.FormatInt(key, 10))
					out.lists = append(out.lists, nil)
				}
				out.add(i, pid)
			})
	})
	if err != nil {
		return fmt.Errorf("segment: index: load %s: %w", what, err)
	}
	return nil
}

// scan runs q and, for each row, scans into dest and calls fn.
func (ix *Index) scan(ctx context.Context, q string, args, dest []any, fn func()) error {
	rows, err := ix.db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		fn()
	}
	return rows.Err()
}

// eachChunk calls fn once with no id filter when ids is nil, else once per
// chunk of ids with an " AND col IN (…)" clause maker and its arguments.
func eachChunk(ids []int64, fn func(in func(col string) string, args []any) error) error {
	if ids == nil {
		return fn(func(string) string { return "" }, nil)
	}
	const chunk = 500
	for len(ids) > 0 {
		k := min(chunk, len(ids))
		args := make([]any, k)
		for i, id := range ids[:k] {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", k), ",")
		if err := fn(func(col string) string { return " AND " + col + " IN (" + marks + ")" }, args); err != nil {
			return err
		}
		ids = ids[k:]
	}
	return nil
}

// apply puts what was loaded into the index. On an empty index (a build)
// the loaded columns become the index's own and people take positions in
// the order read; otherwise (a reload, after the people were cleared) each
// person keeps or gets a position and only the people loaded here are
// filed under keys.
func (ix *Index) apply(l *loaded) {
	pr := &l.people
	fresh := len(ix.ids) == 0
	var live *roaring.Bitmap // positions loaded now; nil: all of them (fresh)
	var rowPos []uint32      // row → position; nil: the row number (fresh)
	if fresh {
		ix.ids, ix.birth, ix.lat, ix.lng = pr.ids, pr.birth, pr.lat, pr.lng
		ix.created, ix.active, ix.points = pr.created, pr.active, pr.points
		ix.actions = make([]int32, len(pr.ids))
		ix.pos = newPosIndex(pr.ids)
		ix.all.AddRange(0, uint64(len(pr.ids)))
	} else {
		live = roaring.New()
		rowPos = make([]uint32, len(pr.ids))
		for i, id := range pr.ids {
			p := ix.position(id)
			rowPos[i] = p
			live.Add(p)
			ix.birth[p], ix.lat[p], ix.lng[p] = pr.birth[i], pr.lat[i], pr.lng[i]
			ix.created[p], ix.active[p], ix.points[p] = pr.created[i], pr.active[i], pr.points[i]
		}
		ix.all.Or(live)
	}
	posOf := func(i int) uint32 {
		if rowPos == nil {
			return uint32(i)
		}
		return rowPos[i]
	}

	// Support levels and has: flags.
	var support [6][]uint32
	var has [len(hasNames)][]uint32
	var restricted []uint32
	for i := range pr.ids {
		p := posOf(i)
		if pr.has[i]&restrictedBit != 0 {
			restricted = append(restricted, p)
		}
		if s := pr.support[i]; s != 0 {
			support[s] = append(support[s], p)
		}
		for b := range hasNames {
			if pr.has[i]&(1<<b) != 0 {
				has[b] = append(has[b], p)
			}
		}
	}
	for s := 1; s <= 5; s++ {
		ix.support[s].AddMany(support[s])
	}
	ix.restricted.AddMany(restricted)
	for b, name := range hasNames {
		if len(has[b]) > 0 {
			bitmapOf(ix.has, name).AddMany(has[b])
		}
	}
	// Interned text columns.
	for c, m := range [nTextCols]map[string]*roaring.Bitmap{colGender: ix.gender, colPostcode: ix.postcode, colCity: ix.city, colCountry: ix.country} {
		lists := make([][]uint32, len(pr.keys[c].keys))
		for i, code := range pr.text[c] {
			if code != 0 {
				lists[code] = append(lists[code], posOf(i))
			}
		}
		for code, list := range lists {
			if len(list) > 0 {
				bitmapOf(m, pr.keys[c].keys[code]).AddMany(list)
			}
		}
	}

	// Taggings, consents and actions, by person id.
	position := func(id int64) (uint32, bool) {
		p, ok := ix.pos.get(id)
		return p, ok && (live == nil || live.Contains(p))
	}
	for _, kr := range []struct {
		rows *keyedRows
		m    map[string]*roaring.Bitmap
	}{{&l.tags, ix.tags}, {&l.consents, ix.consent}, {&l.signed, ix.signed}, {&l.subscribed, ix.subscribed}} {
		var buf []uint32
		for i, key := range kr.rows.keys {
			buf = buf[:0]
			for _, id := range kr.rows.lists[i] {
				if p, ok := position(id); ok {
					buf = append(buf, p)
				}
			}
			if len(buf) > 0 {
				bitmapOf(kr.m, key).AddMany(buf)
			}
		}
	}
	for i, id := range l.actions.ids {
		if p, ok := position(id); ok {
			ix.actions[p] = l.actions.counts[i]
		}
	}
}

func bitmapOf(m map[string]*roaring.Bitmap, key string) *roaring.Bitmap {
	b := m[key]
	if b == nil {
		b = roaring.New()
		m[key] = b
	}
	return b
}

// posIndex maps person ids to positions: a dense table over the id range
// when ids are dense (they come from a per-nation counter), else a map.
// People added after the build go to the map unless they fall in range.
type posIndex struct {
	base  int64
	dense []uint32 // id-base → position+1; 0: none
	extra map[int64]uint32
}

func newPosIndex(ids []int64) posIndex {
	var x posIndex
	if len(ids) > 0 {
		lo, hi := ids[0], ids[0]
		for _, id := range ids {
			lo, hi = min(lo, id), max(hi, id)
		}
		if span := hi - lo; span >= 0 && span < 2*int64(len(ids))+1024 {
			x.base, x.dense = lo, make([]uint32, span+1)
		}
	}
	for p, id := range ids {
		x.set(id, uint32(p))
	}
	return x
}

func (x *posIndex) get(id int64) (uint32, bool) {
	if i := id - x.base; i >= 0 && i < int64(len(x.dense)) {
		p := x.dense[i]
		return p - 1, p != 0
	}
	p, ok := x.extra[id]
	return p, ok
}

func (x *posIndex) set(id int64, p uint32) {
	if i := id - x.base; i >= 0 && i < int64(len(x.dense)) {
		x.dense[i] = p + 1
		return
	}
	if x.extra == nil {
		x.extra = map[int64]uint32{}
	}
	x.extra[id] = p
}

// bytes is roughly the memory held.
func (x *posIndex) bytes() uint64 { return uint64(len(x.dense))*4 + uint64(len(x.extra))*24 }

// birthBytes reads a birth date as YYYYMMDD like birthNumber, without
// allocating for the usual well-formed YYYY-MM-DD.
func birthBytes(b []byte) int32 {
	if len(b) == 0 {
		return 0
	}
	if len(b) == 10 && b[4] == '-' && b[7] == '-' {
		y, ok1 := digits(b[0:4])
		m, ok2 := digits(b[5:7])
		d, ok3 := digits(b[8:10])
		if ok1 && ok2 && ok3 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(m, y) {
			return int32(y*10000 + m*100 + d)
		}
	}
	return birthNumber(string(b)) // whatever time.Parse makes of it
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
