package segment

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Env is what compiling a filter needs besides the filter: the engine, the
// nation the compiler scopes every table by, today's date and the nation's
// time zone (age, created, active), and saved segments for segment:NAME.
type Env struct {
	Engine   store.Engine
	NationID int64
	Today    time.Time
	Loc      *time.Location // nil means UTC
	// Segments resolves segment:NAME to the saved filter; nil means none.
	Segments func(name string) (Expr, bool)
	// Support holds the stored (sealed) forms of the support levels 1..5,
	// index = level (internal/crypt: people.support_level_enc is sealed
	// deterministically under the nation's key). Fill it with SealedSupport;
	// a support: filter without it is refused rather than matching nobody.
	Support [6]string
	// Key is the nation's key (crypt.ReadKeyOf). With it, tag:NAME also
	// matches a tag marked sensitive, whose tags.key holds a blind index of
	// the name (crypt.NationKey.TagBlind), and Support may be left empty.
	// Without it only tags stored in the clear match.
	Key *crypt.NationKey
}

// ActionTypes are the activity types that count as acting on a campaign for
// actions: (distinct source_kind:source_ref pairs among the person's
// activities of these types). Features that record actions (petitions,
// forms, events, gifts, shifts, canvassing) write activities of these types
// with the campaign (page, event…) in source_kind/source_ref.
var ActionTypes = []string{"signed", "form_submitted", "rsvp", "attended", "donated", "volunteered", "canvassed"}

// Compile turns a filter into an SQL condition over "people p" (alias p),
// portable between SQLite and PostgreSQL, with ? placeholders. The
// condition always includes the nation scope (p.nation_id = ?, and every
// subquery scoped by nation too) and leaves out merged-away people and
// restricted people (GDPR Art. 18: people.restricted = 1 must never match,
// so never be counted, listed, exported or messaged): a caller never adds
// the scope itself. The restriction sits in the top-level conjunction, never
// under the filter's NOT, so "-tag:x" or an empty filter leave them out too.
//
// Every qualifier compiles to a condition that is strictly TRUE or FALSE,
// never NULL (nullable columns are guarded with IS NOT NULL), so that NOT
// behaves as in Eval: "-age:..30" includes people without a birth date.
//
// signed and subscribed read the pages feature's signatures and
// topic_subscriptions (joined to pages and topics of the same nation for
// the slug). Qualifiers whose data arrives with later features compile to
// constants: rsvp and attended match no one; donated and donations compare
// 0 (a person who never gave has donated 0, as Eval says).
func Compile(e Expr, env Env) (where string, args []any, err error) {
	if env.Loc == nil {
		env.Loc = time.UTC
	}
	if env.Today.IsZero() {
		env.Today = time.Now()
	}
	if e == nil {
		e = &All{}
	}
	if Uses(e, "segment") {
		if e, err = Expand(e, env.Segments); err != nil {
			return "", nil, err
		}
	}
	c := &compiler{env: env}
	var b strings.Builder
	b.WriteString("p.nation_id = ? AND p.merged_into = 0 AND p.restricted = 0")
	c.args = append(c.args, env.NationID)
	if _, all := e.(*All); !all {
		b.WriteString(" AND ")
		if err := c.expr(&b, e); err != nil {
			return "", nil, err
		}
	}
	return b.String(), c.args, nil
}

// Uses reports whether e holds a qualifier with that name (nil-safe form of
// Expr.Uses).
func Uses(e Expr, name string) bool { return e != nil && e.Uses(name) }

type compiler struct {
	env  Env
	args []any
}

func (c *compiler) arg(v ...any) { c.args = append(c.args, v...) }

func (c *compiler) expr(b *strings.Builder, e Expr) error {
	switch e := e.(type) {
	case *All:
		b.WriteString("1 = 1")
	case *And:
		return c.join(b, e.Terms, " AND ")
	case *Or:
		return c.join(b, e.Terms, " OR ")
	case *Not:
		b.WriteString("NOT (")
		if err := c.expr(b, e.X); err != nil {
			return err
		}
		b.WriteString(")")
	case *Qualifier:
		return c.qualifier(b, e)
	default:
		return fmt.Errorf("segment: compile: unexpected node %T", e)
	}
	return nil
}

func (c *compiler) join(b *strings.Builder, terms []Expr, op string) error {
	b.WriteString("(")
	for i, t := range terms {
		if i > 0 {
			b.WriteString(op)
		}
		if err := c.expr(b, t); err != nil {
			return err
		}
	}
	b.WriteString(")")
	return nil
}

const (
	sqlFalse = "1 = 0"
	sqlTrue  = "1 = 1"
	// dbl makes a parameter double precision on PostgreSQL (where it
	// would otherwise take the float4 type of a REAL column beside it).
	dbl = "CAST(? AS DOUBLE PRECISION)"
)

func (c *compiler) qualifier(b *strings.Builder, q *Qualifier) error {
	n := c.env.NationID
	switch q.Name {
	case "tag":
		b.WriteString("EXISTS (SELECT 1 FROM taggings tg JOIN tags t ON t.nation_id = tg.nation_id AND t.id = tg.tag_id" +
			" WHERE tg.nation_id = ? AND tg.person_id = p.id AND ")
		c.arg(n)
		if key := TagKey(q.Value); c.env.Key != nil {
			// A sensitive tag is found by the blind index of its key.
			b.WriteString("t.key IN (?, ?))")
			c.arg(key, c.env.Key.TagBlind(key))
		} else {
			b.WriteString("t.key = ?)")
			c.arg(key)
		}
	case "age":
		lo, hi := q.Cmp.Interval()
		from, to, ok := BirthRange(lo, hi, c.env.Today, c.env.Loc)
		if !ok {
			b.WriteString(sqlFalse)
			return nil
		}
		b.WriteString("(p.birth_date <> '' AND p.birth_date <= ?")
		c.arg(to)
		if from != "" {
			b.WriteString(" AND p.birth_date > ?")
			c.arg(from)
		}
		b.WriteString(")")
	case "gender":
		b.WriteString("p.gender = ?")
		c.arg(q.Value)
	case "support":
		return c.support(b, q.Cmp)
	case "near":
		c.near(b, q.Geo)
	case "postcode":
		col := "REPLACE(UPPER(p.home_postcode), ' ', '')"
		if q.Prefix {
			fmt.Fprintf(b, "SUBSTR(%s, 1, %d) = ?", col, len(q.Value))
		} else {
			b.WriteString(col + " = ?")
		}
		c.arg(q.Value)
	case "city":
		// Case folding by the engine's lower(): ASCII only on SQLite (the
		// index path folds Unicode, as Eval does).
		b.WriteString("(p.home_city <> '' AND LOWER(TRIM(p.home_city)) = ?)")
		c.arg(strings.ToLower(q.Value))
	case "country":
		b.WriteString("UPPER(TRIM(p.home_country)) = ?")
		c.arg(q.Value)
	case "signed":
		b.WriteString("EXISTS (SELECT 1 FROM signatures sg JOIN pages pg ON pg.nation_id = sg.nation_id AND pg.id = sg.page_id" +
			" WHERE sg.nation_id = ? AND sg.person_id = p.id")
		c.arg(n)
		c.slug(b, "pg.slug", q.Value)
		b.WriteString(")")
	case "subscribed":
		// The current status of a subscription is its row: 'subscribed'
		// or 'unsubscribed' (internal/pages, the preferences page).
		b.WriteString("EXISTS (SELECT 1 FROM topic_subscriptions ts JOIN topics tp ON tp.nation_id = ts.nation_id AND tp.id = ts.topic_id" +
			" WHERE ts.nation_id = ? AND ts.person_id = p.id AND ts.status = 'subscribed'")
		c.arg(n)
		c.slug(b, "tp.slug", q.Value)
		b.WriteString(")")
	case "rsvp", "attended":
		b.WriteString(sqlFalse) // no such data yet: nobody has registered for anything
	case "donated", "donations":
		if q.Cmp.Match(0) { // everyone has given 0, in 0 gifts, so far
			b.WriteString(sqlTrue)
		} else {
			b.WriteString(sqlFalse)
		}
	case "actions":
		types := strings.TrimSuffix(strings.Repeat("?,", len(ActionTypes)), ",")
		c.interval(b, "(SELECT COUNT(DISTINCT a.source_kind || ':' || a.source_ref) FROM activities a"+
			" WHERE a.nation_id = ? AND a.person_id = p.id AND a.source_ref <> '' AND a.type IN ("+types+"))",
			q.Cmp, func() {
				c.arg(n)
				for _, t := range ActionTypes {
					c.arg(t)
				}
			})
	case "points":
		c.interval(b, "p.points", q.Cmp, nil)
	case "consent":
		// The current state is the latest entry of the channel (by time, then id).
		b.WriteString("EXISTS (SELECT 1 FROM consents c WHERE c.nation_id = ? AND c.person_id = p.id AND c.channel = ?" +
			" AND c.status = 'granted' AND NOT EXISTS (SELECT 1 FROM consents c2 WHERE c2.nation_id = ? AND c2.person_id = p.id" +
			" AND c2.channel = c.channel AND (c2.at > c.at OR (c2.at = c.at AND c2.id > c.id))))")
		c.arg(n, q.Value, n)
	case "has":
		col, ok := hasColumns[q.Value]
		if !ok {
			return errs.Invalid("unknown has: field %q", q.Value)
		}
		b.WriteString(col + " <> ''")
	case "created":
		c.dates(b, "p.created_at", q.Cmp, false)
	case "active":
		c.dates(b, "p.last_activity_at", q.Cmp, true)
	case "field":
		b.WriteString("EXISTS (SELECT 1 FROM custom_values cv JOIN custom_fields cf ON cf.nation_id = cv.nation_id AND cf.id = cv.field_id" +
			" WHERE cv.nation_id = ? AND cv.person_id = p.id AND LOWER(cf.name) = ? AND LOWER(TRIM(cv.value)) = ?)")
		c.arg(n, q.Field, strings.ToLower(q.Value))
	case "segment":
		return errs.Invalid("unknown saved segment %q", q.Value) // Expand resolved them all
	default:
		return errs.Invalid("unknown qualifier %q", q.Name)
	}
	return nil
}

// slug adds the slug comparison of signed: and subscribed:, none for "*".
// Slugs are stored lower-case (pages.ValidSlug) and parsed lower-case.
func (c *compiler) slug(b *strings.Builder, col, v string) {
	if v == "*" {
		return
	}
	b.WriteString(" AND " + col + " = ?")
	c.arg(strings.ToLower(v))
}

// hasColumns are the people columns has:FIELD tests: a valid normalised
// e-mail or phone number, and a street line for the address.
var hasColumns = map[string]string{
	"email":   "p.email_norm",
	"phone":   "p.phone_e164",
	"mobile":  "p.mobile_e164",
	"address": "p.home_line1",
}

// TagKey is the stored key a tag:NAME qualifier looks up (tags.key is the
// lower-cased, trimmed name).
func TagKey(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

// interval writes "expr >= lo AND expr <= hi", leaving out open ends.
// before, if set, adds the arguments of expr; it is called once per use.
func (c *compiler) interval(b *strings.Builder, expr string, cmp *Cmp, before func()) {
	lo, hi := cmp.Interval()
	if lo > hi {
		b.WriteString(sqlFalse)
		return
	}
	parts := 0
	b.WriteString("(")
	if lo != math.MinInt64 {
		b.WriteString(expr + " >= ?")
		if before != nil {
			before()
		}
		c.arg(lo)
		parts++
	}
	if hi != math.MaxInt64 {
		if parts > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(expr + " <= ?")
		if before != nil {
			before()
		}
		c.arg(hi)
		parts++
	}
	if parts == 0 {
		b.WriteString(sqlTrue)
	}
	b.WriteString(")")
}

// intervalNullable is interval over a nullable column: NULL (unknown) never
// matches, and the condition is never NULL itself.
func (c *compiler) intervalNullable(b *strings.Builder, col string, cmp *Cmp) {
	b.WriteString("(" + col + " IS NOT NULL AND ")
	c.interval(b, col, cmp, nil)
	b.WriteString(")")
}

// dates compares a millisecond column with a range of calendar dates in the
// nation's time zone, as start-of-day instants. zeroUnknown: 0 means never.
func (c *compiler) dates(b *strings.Builder, col string, cmp *Cmp, zeroUnknown bool) {
	from, to, ok := MillisRange(cmp, c.env.Loc)
	if !ok {
		b.WriteString(sqlFalse)
		return
	}
	b.WriteString("(" + col + " >= ? AND " + col + " < ?")
	c.arg(from, to)
	if zeroUnknown {
		b.WriteString(" AND " + col + " <> 0")
	}
	b.WriteString(")")
}

// near writes a bounding-box prefilter (which an index on lat/lng can use)
// and the exact haversine test. Both engines have sin, cos and radians
// (modernc's SQLite is built with its math functions). Instead of
// 2R·asin(√h) ≤ r it tests the equivalent h ≤ sin²(r/2R), which avoids
// asin of a value rounded past 1.
func (c *compiler) near(b *strings.Builder, g *Geo) {
	box := BoundingBox(g)
	b.WriteString("(p.home_lat IS NOT NULL AND p.home_lng IS NOT NULL")
	b.WriteString(" AND p.home_lat >= " + dbl + " AND p.home_lat <= " + dbl)
	c.arg(box.MinLat, box.MaxLat)
	if box.LonLimited {
		if box.MinLon <= box.MaxLon {
			b.WriteString(" AND p.home_lng >= " + dbl + " AND p.home_lng <= " + dbl)
		} else { // the box crosses the antimeridian
			b.WriteString(" AND (p.home_lng >= " + dbl + " OR p.home_lng <= " + dbl + ")")
		}
		c.arg(box.MinLon, box.MaxLon)
	}
	lat := "CAST(p.home_lat AS DOUBLE PRECISION)"
	lng := "CAST(p.home_lng AS DOUBLE PRECISION)"
	dlat := "SIN(RADIANS(" + lat + " - " + dbl + ") / 2)"
	dlng := "SIN(RADIANS(" + lng + " - " + dbl + ") / 2)"
	b.WriteString(" AND " + dlat + " * " + dlat + " + COS(RADIANS(" + dbl + ")) * COS(RADIANS(" + lat + ")) * " +
		dlng + " * " + dlng + " <= " + dbl + ")")
	c.arg(g.Lat, g.Lat, g.Lat, g.Lon, g.Lon, HaversineLimit(g.RadiusM))
}

// HaversineLimit is the largest haversine h = sin²(d/2R) of a distance d
// within radius r metres.
func HaversineLimit(radiusM int64) float64 {
	s := math.Sin(float64(radiusM) / (2 * EarthRadiusM))
	return s * s
}

// Box is a latitude/longitude rectangle holding a disc. LonLimited is false
// when the disc reaches a pole (every longitude); MinLon > MaxLon when the
// box crosses the antimeridian.
type Box struct {
	MinLat, MaxLat, MinLon, MaxLon float64
	LonLimited                     bool
}

// BoundingBox is a rectangle that holds every point within g (with a small
// margin for rounding), for prefiltering before the exact distance.
func BoundingBox(g *Geo) Box {
	const margin = 1e-6 // degrees, about 10 cm
	d := float64(g.RadiusM) / EarthRadiusM * 180 / math.Pi
	box := Box{MinLat: g.Lat - d - margin, MaxLat: g.Lat + d + margin}
	if box.MinLat <= -90 || box.MaxLat >= 90 {
		return box
	}
	// Longitude half-width at the latitude where the disc is widest.
	ang := float64(g.RadiusM) / EarthRadiusM
	s := math.Sin(ang) / math.Cos(g.Lat*math.Pi/180)
	if s >= 1 || ang >= math.Pi/2 {
		return box
	}
	dl := math.Asin(s)*180/math.Pi + margin
	box.LonLimited = true
	box.MinLon, box.MaxLon = g.Lon-dl, g.Lon+dl
	if box.MinLon < -180 {
		box.MinLon += 360
	}
	if box.MaxLon > 180 {
		box.MaxLon -= 360
	}
	if box.MinLon > box.MaxLon && box.MinLon-box.MaxLon < 1e-9 {
		box.LonLimited = false
	}
	return box
}

// BirthRange turns an age interval into birth dates: age in [lo, hi] on
// today (in loc) exactly when from < birth_date <= to, comparing
// YYYY-MM-DD strings; from is "" when there is no upper age. The bounds are
// (year-n, month, day) of today, written even when that day does not exist
// (29 February): string order is still the tuple order Age uses, which is
// how someone born on 29 February turns a year older on 1 March.
func BirthRange(lo, hi int64, today time.Time, loc *time.Location) (from, to string, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	lo = max(lo, 0) // Age is never negative: births after today are unknown
	if lo > hi || lo > 10000 {
		return "", "", false
	}
	y, m, d := today.In(loc).Date()
	cut := func(n int64) string { return fmt.Sprintf("%04d-%02d-%02d", int64(y)-n, int(m), d) }
	to = cut(lo)
	if hi < int64(y) { // otherwise no birth date is old enough to fall out
		from = cut(hi + 1)
	}
	if int64(y)-lo < 0 {
		return "", "", false
	}
	return from, to, true
}

// MillisRange turns a range of calendar dates (YYYYMMDD) into the instants
// [from, to) of their days in loc.
func MillisRange(cmp *Cmp, loc *time.Location) (from, to int64, ok bool) {
	lo, hi := cmp.Interval()
	if lo > hi {
		return 0, 0, false
	}
	from, to = math.MinInt64, math.MaxInt64
	if lo != math.MinInt64 {
		from = dayStart(lo, 0, loc)
	}
	if hi != math.MaxInt64 {
		to = dayStart(hi, 1, loc)
	}
	return from, to, from < to
}

func dayStart(ymd int64, plusDays int, loc *time.Location) int64 {
	if loc == nil {
		loc = time.UTC
	}
	t := time.Date(int(ymd/10000), time.Month(ymd/100%100), int(ymd%100)+plusDays, 0, 0, 0, 0, loc)
	return t.UnixMilli()
}

// support matches the sealed support level with an IN list of the sealed
// forms of the levels in the interval: no plaintext is ever compared.
func (c *compiler) support(b *strings.Builder, cmp *Cmp) error {
	if c.env.Support[1] == "" && c.env.Key != nil {
		c.env.Support = c.env.Key.Support()
	}
	if c.env.Support[1] == "" {
		return errors.New("segment: support: needs the nation's key (Env.Support)")
	}
	lo, hi := cmp.Interval()
	var in []string
	for l := 1; l <= 5; l++ {
		if int64(l) >= lo && int64(l) <= hi {
			in = append(in, "?")
			c.arg(c.env.Support[l])
		}
	}
	if len(in) == 0 {
		b.WriteString(sqlFalse)
		return nil
	}
	b.WriteString("(p.support_level_enc IS NOT NULL AND p.support_level_enc IN (" + strings.Join(in, ", ") + "))")
	return nil
}

// ReadKey returns a nation's key for Env.Key. It never writes
// (crypt.ReadKeyOf): a nation without a key yet has nothing sealed.
func ReadKey(ctx context.Context, db *store.DB, nationID int64) (*crypt.NationKey, error) {
	k, err := crypt.ReadKeyOf(ctx, db, nationID)
	if err != nil {
		return nil, fmt.Errorf("segment: nation key: %w", err)
	}
	return k, nil
}

// SealedSupport returns the sealed support levels of a nation for Env.Support.
// It never writes (crypt.ReadKeyOf): a nation without a key yet has no
// sealed value, and gets forms that match nothing.
func SealedSupport(ctx context.Context, db *store.DB, nationID int64) ([6]string, error) {
	k, err := crypt.ReadKeyOf(ctx, db, nationID)
	if err != nil {
		return [6]string{}, fmt.Errorf("segment: nation key: %w", err)
	}
	return k.Support(), nil
}
