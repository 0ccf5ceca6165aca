package segment

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/language"
)

// kind is how a qualifier's value is read, checked and printed.
type kind uint8

const (
	kindText     kind = iota // any non-empty text, kept as written
	kindSlug                 // a lower-case slug, or * for any
	kindEnum                 // one of a few lower-case keywords
	kindCountry              // ISO 3166-1 alpha-2
	kindPostcode             // exact or prefix*
	kindInt                  // whole number comparison
	kindMoney                // amount comparison, in cents
	kindDate                 // date comparison, YYYYMMDD
	kindGeo                  // LAT,LON,RADIUS
)

// spec describes one qualifier: its kind, what a value looks like (for
// "expected …" messages), allowed keywords or the bounds of its numbers.
type spec struct {
	name     string
	kind     kind
	expect   string
	enum     []string
	min, max int64
}

const maxCount = 1_000_000_000

// specs is the table of DESIGN §4, in the order the help lists them.
var specs = []spec{
	{name: "tag", kind: kindText, expect: "a tag name"},
	{name: "age", kind: kindInt, expect: "a number or range", min: 0, max: 150},
	{name: "gender", kind: kindEnum, enum: []string{"f", "m", "x"}},
	{name: "support", kind: kindInt, expect: "a number or range", min: 1, max: 5},
	{name: "near", kind: kindGeo, expect: "LAT,LON,RADIUS such as 50.85,4.35,10km"},
	{name: "postcode", kind: kindPostcode, expect: "a postcode or a prefix ending in *"},
	{name: "city", kind: kindText, expect: "a city name"},
	{name: "country", kind: kindCountry, expect: "a two-letter country code such as BE"},
	{name: "signed", kind: kindSlug, expect: "a petition's slug or *"},
	{name: "rsvp", kind: kindSlug, expect: "an event's slug or *"},
	{name: "attended", kind: kindSlug, expect: "an event's slug or *"},
	{name: "donated", kind: kindMoney, expect: "an amount or range", min: 0, max: 100 * maxCount},
	{name: "donations", kind: kindInt, expect: "a number or range", min: 0, max: maxCount},
	{name: "actions", kind: kindInt, expect: "a number or range", min: 0, max: maxCount},
	{name: "points", kind: kindInt, expect: "a number or range", min: 0, max: maxCount},
	{name: "subscribed", kind: kindSlug, expect: "a topic's slug or *"},
	{name: "consent", kind: kindEnum, enum: []string{"email", "sms", "phone", "ads", "push", "post"}},
	{name: "has", kind: kindEnum, enum: []string{"email", "phone", "mobile", "address"}},
	{name: "created", kind: kindDate, expect: "a date (YYYY-MM-DD) or range"},
	{name: "active", kind: kindDate, expect: "a date (YYYY-MM-DD) or range"},
	{name: "segment", kind: kindText, expect: "a saved segment's name"},
	{name: "field", kind: kindText, expect: "a value"},
}

func lookup(name string) (spec, bool) {
	for _, s := range specs {
		if s.name == name {
			if s.kind == kindEnum {
				s.expect = orList(s.enum)
			}
			return s, true
		}
	}
	return spec{}, false
}

// kindOf is the kind of a known qualifier name (kindText otherwise).
func kindOf(name string) kind {
	s, _ := lookup(name)
	return s.kind
}

// Names lists the qualifier names, in the order of DESIGN §4, for help
// texts and the point-and-click builder; custom fields appear as "field".
func Names() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parseQualifier checks a NAME:VALUE token and types its value.
func parseQualifier(src string, t token) (*Qualifier, error) {
	name := strings.ToLower(t.name)
	q := &Qualifier{Name: name}
	if f, ok := strings.CutPrefix(name, "field."); ok {
		if f == "" {
			return nil, syntaxErr(src, t.pos+len("field."), `expected a custom field name after "field."`)
		}
		if !isWord(f) {
			return nil, syntaxErr(src, t.pos+len("field."),
				`expected a custom field name (letters, digits, _ or -) after "field.", found "%s"`, clip(t.name[len("field."):]))
		}
		q.Name, q.Field = "field", f
	} else if name == "field" {
		return nil, syntaxErr(src, t.pos, `expected field.NAME:VALUE for a custom field, as in field.member_since:2020`)
	}
	sp, ok := lookup(q.Name)
	if !ok {
		return nil, syntaxErr(src, t.pos, "%s", unknownMsg(t.name))
	}

	bad := func(format string, a ...any) error { return syntaxErr(src, t.valuePos, format, a...) }
	expected := func() error {
		if t.value == "" && !t.quoted {
			return bad(`expected %s after "%s:"`, sp.expect, t.name)
		}
		return bad(`expected %s after "%s:", found "%s"`, sp.expect, t.name, clip(t.value))
	}
	v := t.value
	switch sp.kind {
	case kindText:
		v = strings.TrimSpace(v)
		if v == "" {
			return nil, expected()
		}
		q.Value = v
	case kindSlug:
		v = strings.ToLower(v)
		if v != "*" && !isSlug(v) {
			return nil, expected()
		}
		q.Value = v
	case kindEnum:
		v = strings.ToLower(v)
		if !contains(sp.enum, v) {
			return nil, expected()
		}
		q.Value = v
	case kindCountry:
		code, hint, ok := parseCountry(v)
		if !ok {
			return nil, bad(`expected %s after "%s:", found "%s"%s`, sp.expect, t.name, clip(t.value), hint)
		}
		q.Value = code
	case kindPostcode:
		v = strings.ToUpper(strings.Join(strings.FieldsFunc(v, unicode.IsSpace), ""))
		v, q.Prefix = strings.CutSuffix(v, "*")
		if v == "" || !isPostcode(v) {
			return nil, expected()
		}
		q.Value = v
	case kindInt, kindMoney, kindDate:
		c, ok := parseCmp(v, sp.kind)
		if !ok {
			return nil, expected()
		}
		if sp.kind != kindDate {
			lo, hi := c.Lo, c.Lo
			if c.Op == OpRange {
				hi = c.Hi
			}
			if lo < sp.min || hi > sp.max {
				return nil, bad(`expected %s from %s to %s after "%s:", found "%s"`,
					strings.TrimSuffix(sp.expect, " or range"), formatScalar(sp.kind, sp.min), formatScalar(sp.kind, sp.max), t.name, clip(t.value))
			}
		}
		if c.Op == OpRange && c.Lo > c.Hi {
			return nil, bad(`empty range after "%s:": %s is greater than %s`, t.name, formatScalar(sp.kind, c.Lo), formatScalar(sp.kind, c.Hi))
		}
		q.Cmp = c
	case kindGeo:
		g, msg, part := parseGeo(v)
		if msg != "" {
			return nil, bad(`%s after "%s:", found "%s"`, msg, t.name, clip(part))
		}
		q.Geo = g
	}
	return q, nil
}

// aliases are names other tools use for our qualifiers, suggested when
// spelling is not close enough to find them.
var aliases = map[string]string{
	"zip": "postcode", "zipcode": "postcode", "postalcode": "postcode", "postal_code": "postcode",
	"sex": "gender", "town": "city", "born": "age", "birthdate": "age", "birth_date": "age",
	"petition": "signed", "event": "rsvp", "topic": "subscribed", "level": "support",
}

// unknownMsg names an unknown qualifier and the likely intended one.
func unknownMsg(name string) string {
	lower := strings.ToLower(name)
	if strings.Contains(lower, ".") {
		return fmt.Sprintf(`unknown qualifier "%s" (custom fields are written field.NAME:VALUE)`, clip(name))
	}
	best, bestD := aliases[lower], 3
	for _, s := range specs {
		if best != "" {
			break
		}
		if d := editDistance(lower, s.name); d < bestD && d < len(s.name) {
			best, bestD = s.name, d
		}
	}
	if best != "" {
		return fmt.Sprintf(`unknown qualifier "%s" (did you mean "%s"?)`, clip(name), best)
	}
	return fmt.Sprintf(`unknown qualifier "%s" (expected one of %s, field.NAME)`, clip(name), strings.Join(Names()[:len(specs)-1], ", "))
}

// editDistance is the Levenshtein distance between two short ASCII-ish
// strings, counted in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 40 {
		return len(ra) // long words are never near a qualifier name
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }

// isWord accepts custom field names: lower-case letters, digits, _ and -.
func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerAlnum(c) && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

// isSlug accepts page and topic slugs: lower-case letters, digits, _ and -,
// starting with a letter or digit.
func isSlug(s string) bool { return s != "" && isLowerAlnum(s[0]) && isWord(s) }

// isPostcode accepts upper-case letters, digits and hyphens.
func isPostcode(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

// parseCountry checks an ISO 3166-1 alpha-2 code against the region data of
// x/text. When the code is a known alias (UK for GB), hint suggests the
// canonical one.
func parseCountry(v string) (code, hint string, ok bool) {
	code = strings.ToUpper(v)
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return "", "", false
	}
	r, err := language.ParseRegion(code)
	if err != nil || !r.IsCountry() {
		return "", "", false
	}
	if c := r.Canonicalize(); c.String() != code {
		return "", fmt.Sprintf(` (did you mean "%s"?)`, c), false
	}
	if r.ISO3() == "ZZZ" { // groupings such as UN and EA, not countries
		return "", "", false
	}
	return code, "", true
}

// parseCmp reads "n", "=n", ">n", ">=n", "<n", "<=n", "a..b", "a.." or "..b".
func parseCmp(v string, k kind) (*Cmp, bool) {
	for _, o := range []struct {
		prefix string
		op     Op
	}{{">=", OpGe}, {"<=", OpLe}, {">", OpGt}, {"<", OpLt}, {"=", OpEq}} {
		if rest, ok := strings.CutPrefix(v, o.prefix); ok {
			n, ok := parseScalar(rest, k)
			return &Cmp{Op: o.op, Lo: n}, ok
		}
	}
	lo, hi, isRange := strings.Cut(v, "..")
	if !isRange {
		n, ok := parseScalar(v, k)
		return &Cmp{Op: OpEq, Lo: n}, ok
	}
	switch {
	case lo == "" && hi == "":
		return nil, false
	case lo == "":
		n, ok := parseScalar(hi, k)
		return &Cmp{Op: OpLe, Lo: n}, ok
	case hi == "":
		n, ok := parseScalar(lo, k)
		return &Cmp{Op: OpGe, Lo: n}, ok
	}
	a, okA := parseScalar(lo, k)
	b, okB := parseScalar(hi, k)
	return &Cmp{Op: OpRange, Lo: a, Hi: b}, okA && okB
}

// parseScalar reads one operand: a whole number (at most 12 digits), an
// amount with at most two decimals (as cents), or a date (as YYYYMMDD).
func parseScalar(s string, k kind) (int64, bool) {
	switch k {
	case kindDate:
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || len(s) != len(time.DateOnly) {
			return 0, false
		}
		return int64(d.Year())*10000 + int64(d.Month())*100 + int64(d.Day()), true
	case kindMoney:
		whole, frac, _ := strings.Cut(s, ".")
		if strings.Contains(s, ".") && (len(frac) < 1 || len(frac) > 2 || !isDigits(frac)) {
			return 0, false
		}
		if !isDigits(whole) || len(whole) > 12 {
			return 0, false
		}
		w, _ := strconv.ParseInt(whole, 10, 64)
		c, _ := strconv.ParseInt((frac + "00")[:2], 10, 64)
		return w*100 + c, true
	}
	if !isDigits(s) || len(s) > 12 {
		return 0, false
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n, true
}

// Bounds of near: coordinates in degrees, radius from 1 m to half the
// Earth's circumference (rounded).
const maxRadiusM = 20_000_000

// parseGeo reads LAT,LON,RADIUS. On failure msg says what was expected
// ("expected …") and part is the offending text.
func parseGeo(v string) (g *Geo, msg, part string) {
	const shape = "expected LAT,LON,RADIUS (as in 50.85,4.35,10km)"
	parts := strings.Split(v, ",")
	if len(parts) != 3 {
		return nil, shape, v
	}
	lat, ok := parseDegrees(parts[0])
	if !ok || lat < -90 || lat > 90 {
		return nil, "expected a latitude from -90 to 90", parts[0]
	}
	lon, ok := parseDegrees(parts[1])
	if !ok || lon < -180 || lon > 180 {
		return nil, "expected a longitude from -180 to 180", parts[1]
	}
	r, ok := parseRadius(strings.ToLower(parts[2]))
	if !ok {
		return nil, "expected a radius in km or m (as in 10km or 500m)", parts[2]
	}
	if r < 1 || r > maxRadiusM {
		return nil, "expected a radius from 1m to 20000km", parts[2]
	}
	return &Geo{Lat: lat, Lon: lon, RadiusM: r}, "", ""
}

// parseDegrees reads a plain decimal number of degrees (no exponent, at
// most 10 decimals).
func parseDegrees(s string) (float64, bool) {
	digits := strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(digits, ".")
	if !isDigits(whole) || len(whole) > 3 || (hasDot && (!isDigits(frac) || len(frac) > 10)) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// parseRadius reads "10km", "2.5km" (at most 3 decimals) or "500m" as whole
// metres.
func parseRadius(s string) (int64, bool) {
	if num, ok := strings.CutSuffix(s, "km"); ok {
		whole, frac, hasDot := strings.Cut(num, ".")
		if !isDigits(whole) || len(whole) > 6 || (hasDot && (!isDigits(frac) || len(frac) > 3)) {
			return 0, false
		}
		w, _ := strconv.ParseInt(whole, 10, 64)
		f, _ := strconv.ParseInt((frac + "000")[:3], 10, 64)
		return w*1000 + f, true
	}
	if num, ok := strings.CutSuffix(s, "m"); ok && isDigits(num) && len(num) <= 9 {
		n, _ := strconv.ParseInt(num, 10, 64)
		return n, true
	}
	return 0, false
}
