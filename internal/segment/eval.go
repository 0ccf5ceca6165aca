package segment

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/muster-org/muster/internal/errs"
)

// Facts is everything the filter language can ask about one person, in
// plain Go values: the input of the reference evaluator. Zero values mean
// "unknown" or "none", as documented per field.
type Facts struct {
	Tags      []string // tag names as stored
	BirthDate string   // YYYY-MM-DD; "" (or anything unreadable) when unknown
	Gender    string   // f, m or x; "" when unknown
	Support   *int     // support level 1..5; nil when unknown
	Location  *Point   // home coordinates; nil when unknown
	Postcode  string   // as stored; "" when unknown
	City      string   // "" when unknown
	Country   string   // ISO 3166-1 alpha-2; "" when unknown

	Signed     []string // slugs of the petitions signed
	RSVPs      []string // slugs of the events the person registered for
	Attended   []string // slugs of the events the person was checked in at
	Subscribed []string // slugs of the email topics currently opted in to

	// Restricted is GDPR Art. 18 restriction of processing: a restricted
	// person matches no filter at all, not even the empty one or a NOT.
	Restricted bool

	DonatedCents int64 // total donated, in cents of the nation's currency
	Donations    int64 // number of gifts
	Actions      int64 // distinct campaigns acted on
	Points       int64 // engagement points

	// Consents holds, per channel (email, sms, phone, ads, push, post),
	// whether the current state in the consent ledger is granted. A missing
	// channel is not granted.
	Consents map[string]bool

	HasEmail, HasPhone, HasMobile, HasAddress bool

	Created time.Time // record created; zero when unknown
	Active  time.Time // last activity; zero when never active

	// Fields holds custom field values by lower-case field name; "" is
	// the same as absent.
	Fields map[string]string

	// Segments resolves segment:NAME to the saved segment's filter (false
	// when there is no such segment). Nil means there are none.
	Segments func(name string) (Expr, bool)
}

// Point is a place in degrees (WGS 84).
type Point struct{ Lat, Lon float64 }

// EarthRadiusM is the mean Earth radius (IUGG), which near: uses for
// great-circle distances.
const EarthRadiusM = 6371008.8

// Eval reports whether person p matches e on the date today has in loc, the
// nation's time zone (nil means UTC). It is the reference semantics of the
// language; see the package documentation for the rules, and the per
// qualifier notes in match. A restricted person never matches.
func Eval(e Expr, p *Facts, today time.Time, loc *time.Location) bool {
	if p.Restricted {
		return false
	}
	if loc == nil {
		loc = time.UTC
	}
	ev := &evaluator{p: p, today: today.In(loc), loc: loc}
	return ev.eval(e)
}

type evaluator struct {
	p     *Facts
	today time.Time
	loc   *time.Location
	stack []string // saved segments being evaluated, to stop cycles
}

func (ev *evaluator) eval(e Expr) bool {
	switch e := e.(type) {
	case *All:
		return true
	case *And:
		for _, t := range e.Terms {
			if !ev.eval(t) {
				return false
			}
		}
		return true
	case *Or:
		for _, t := range e.Terms {
			if ev.eval(t) {
				return true
			}
		}
		return false
	case *Not:
		return !ev.eval(e.X)
	case *Qualifier:
		return ev.match(e)
	}
	return false
}

// match tests one qualifier. Every comparison on an unknown value is false,
// so that its negation is true.
func (ev *evaluator) match(q *Qualifier) bool {
	p := ev.p
	switch q.Name {
	case "tag":
		// Case-insensitive by Unicode simple folding.
		return slices.ContainsFunc(p.Tags, func(t string) bool { return strings.EqualFold(strings.TrimSpace(t), q.Value) })
	case "age":
		age, ok := Age(p.BirthDate, ev.today, ev.loc)
		return ok && q.Cmp.Match(int64(age))
	case "gender":
		return p.Gender != "" && strings.EqualFold(p.Gender, q.Value)
	case "support":
		return p.Support != nil && q.Cmp.Match(int64(*p.Support))
	case "near":
		// Inclusive: a person exactly on the circle is near.
		return p.Location != nil && DistanceM(q.Geo.Lat, q.Geo.Lon, p.Location.Lat, p.Location.Lon) <= float64(q.Geo.RadiusM)
	case "postcode":
		pc := NormalizePostcode(p.Postcode)
		if pc == "" {
			return false
		}
		if q.Prefix {
			return strings.HasPrefix(pc, q.Value)
		}
		return pc == q.Value
	case "city":
		c := strings.TrimSpace(p.City)
		return c != "" && strings.EqualFold(c, q.Value)
	case "country":
		return p.Country != "" && strings.EqualFold(strings.TrimSpace(p.Country), q.Value)
	case "signed":
		return hasSlug(p.Signed, q.Value)
	case "rsvp":
		return hasSlug(p.RSVPs, q.Value)
	case "attended":
		return hasSlug(p.Attended, q.Value)
	case "subscribed":
		return hasSlug(p.Subscribed, q.Value)
	case "donated":
		return q.Cmp.Match(p.DonatedCents)
	case "donations":
		return q.Cmp.Match(p.Donations)
	case "actions":
		return q.Cmp.Match(p.Actions)
	case "points":
		return q.Cmp.Match(p.Points)
	case "consent":
		return p.Consents[q.Value]
	case "has":
		switch q.Value {
		case "email":
			return p.HasEmail
		case "phone":
			return p.HasPhone
		case "mobile":
			return p.HasMobile
		case "address":
			return p.HasAddress
		}
		return false
	case "created":
		return !p.Created.IsZero() && q.Cmp.Match(CalendarDate(p.Created, ev.loc))
	case "active":
		return !p.Active.IsZero() && q.Cmp.Match(CalendarDate(p.Active, ev.loc))
	case "field":
		v := strings.TrimSpace(p.Fields[q.Field])
		return v != "" && strings.EqualFold(v, q.Value)
	case "segment":
		return ev.segment(q.Value)
	}
	return false
}

// segment evaluates a saved segment; an unknown segment, or one that refers
// back to itself, matches no one (the SQL compiler reports them as errors).
func (ev *evaluator) segment(name string) bool {
	if ev.p.Segments == nil || slices.Contains(ev.stack, name) || len(ev.stack) >= MaxDepth {
		return false
	}
	e, ok := ev.p.Segments(name)
	if !ok || e == nil {
		return false
	}
	ev.stack = append(ev.stack, name)
	defer func() { ev.stack = ev.stack[:len(ev.stack)-1] }()
	return ev.eval(e)
}

// hasSlug reports whether slugs holds want, or anything at all for "*".
func hasSlug(slugs []string, want string) bool {
	if want == "*" {
		return len(slugs) > 0
	}
	return slices.ContainsFunc(slugs, func(s string) bool { return strings.EqualFold(s, want) })
}

// Age is the age in whole years on the date today has in loc of someone
// born on birth (YYYY-MM-DD). The birthday itself counts; someone born on
// 29 February turns a year older on 1 March in common years. ok is false
// for an unreadable birth date or one after today.
func Age(birth string, today time.Time, loc *time.Location) (age int, ok bool) {
	b, err := time.Parse(time.DateOnly, birth)
	if err != nil {
		return 0, false
	}
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := today.In(loc).Date()
	age = y - b.Year()
	if m < b.Month() || (m == b.Month() && d < b.Day()) {
		age--
	}
	if age < 0 {
		return 0, false
	}
	return age, true
}

// DistanceM is the great-circle distance in metres between two points in
// degrees, by the haversine formula on a sphere of EarthRadiusM.
func DistanceM(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ, dλ := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dφ/2)*math.Sin(dφ/2) + math.Cos(φ1)*math.Cos(φ2)*math.Sin(dλ/2)*math.Sin(dλ/2)
	return 2 * EarthRadiusM * math.Asin(math.Sqrt(min(h, 1)))
}

// CalendarDate is the date t has in loc as a YYYYMMDD number, the form
// created: and active: compare.
func CalendarDate(t time.Time, loc *time.Location) int64 {
	y, m, d := t.In(loc).Date()
	return int64(y)*10000 + int64(m)*100 + int64(d)
}

// NormalizePostcode is a postcode as postcode: compares them: upper case,
// without spaces.
func NormalizePostcode(s string) string {
	return strings.ToUpper(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), ""))
}

// Expand replaces every segment:NAME in e by the saved segment's filter,
// recursively, so that Uses and Qualifiers see what a filter really selects
// on (the audience export needs this). An unknown segment, a cycle, or an
// expansion past MaxTerms*10 qualifiers is an invalid-input error. The
// result may hold an *And directly inside an *And; it means the same.
func Expand(e Expr, resolve func(name string) (Expr, bool)) (Expr, error) {
	x := &expander{resolve: resolve}
	return x.expand(e)
}

type expander struct {
	resolve func(string) (Expr, bool)
	stack   []string
	terms   int
}

func (x *expander) expand(e Expr) (Expr, error) {
	switch e := e.(type) {
	case *And:
		terms, err := x.all(e.Terms)
		if err != nil {
			return nil, err
		}
		return &And{Terms: terms}, nil
	case *Or:
		terms, err := x.all(e.Terms)
		if err != nil {
			return nil, err
		}
		return &Or{Terms: terms}, nil
	case *Not:
		inner, err := x.expand(e.X)
		if err != nil {
			return nil, err
		}
		return &Not{X: inner}, nil
	case *Qualifier:
		x.terms++
		if x.terms > MaxTerms*10 {
			return nil, errs.Invalid("filter too large once saved segments are included")
		}
		if e.Name != "segment" {
			return e, nil
		}
		if slices.Contains(x.stack, e.Value) {
			return nil, errs.Invalid("saved segment %q refers to itself", e.Value)
		}
		var saved Expr
		ok := false
		if x.resolve != nil {
			saved, ok = x.resolve(e.Value)
		}
		if !ok || saved == nil {
			return nil, errs.Invalid("unknown saved segment %q", e.Value)
		}
		x.stack = append(x.stack, e.Value)
		defer func() { x.stack = x.stack[:len(x.stack)-1] }()
		return x.expand(saved)
	}
	return e, nil
}

func (x *expander) all(in []Expr) ([]Expr, error) {
	out := make([]Expr, len(in))
	for i, t := range in {
		var err error
		if out[i], err = x.expand(t); err != nil {
			return nil, err
		}
	}
	return out, nil
}
