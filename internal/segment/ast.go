package segment

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// Expr is a parsed filter: *All, *And, *Or, *Not or *Qualifier. Trees made
// by Parse compare equal with reflect.DeepEqual when their canonical texts
// are equal, which is what the round-trip tests rely on.
type Expr interface {
	// String is the canonical text of the filter: Parse(e.String()) gives
	// back a tree equal to e.
	String() string
	// Uses reports whether any qualifier in the tree has that name ("tag",
	// "support", "field" for any custom field or "field.NAME" for one).
	// Saved segments are not looked into: Expand them first.
	Uses(name string) bool
	isExpr()
}

// All matches everyone: the tree of an empty filter. It only ever appears
// alone, never inside another node.
type All struct{}

// And matches people matched by every term (two or more; never an *And).
type And struct{ Terms []Expr }

// Or matches people matched by any term (two or more; never an *Or).
type Or struct{ Terms []Expr }

// Not matches people not matched by X.
type Not struct{ X Expr }

// Qualifier is one NAME:VALUE test. Which fields are set depends on Name:
//
//	tag, city, segment, field   Value as written (Field holds the custom field's name, lower case)
//	signed, rsvp, attended,
//	subscribed                  Value is a lower-case slug, or "*" for any
//	gender, consent, has        Value is the lower-case keyword
//	country                     Value is the upper-case ISO code
//	postcode                    Value upper-cased without spaces; Prefix for a trailing *
//	age, support, donations,
//	actions, points             Cmp over whole numbers
//	donated                     Cmp over cents of the nation's currency
//	created, active             Cmp over dates written as YYYYMMDD numbers (20260131)
//	near                        Geo
type Qualifier struct {
	Name   string
	Field  string
	Value  string
	Prefix bool
	Cmp    *Cmp
	Geo    *Geo
}

// Op is a comparison operator.
type Op uint8

// Operators. OpRange includes both ends. A range open at one end is parsed
// as OpGe ("a..") or OpLe ("..b").
const (
	OpEq Op = iota + 1
	OpLt
	OpLe
	OpGt
	OpGe
	OpRange
)

// Cmp is a comparison: the operand is Lo, and for OpRange the range is Lo..Hi.
type Cmp struct {
	Op     Op
	Lo, Hi int64
}

// Match reports whether v satisfies the comparison.
func (c *Cmp) Match(v int64) bool {
	lo, hi := c.Interval()
	return lo <= v && v <= hi
}

// Interval returns the comparison as the closed interval of whole numbers it
// accepts, with math.MinInt64 / math.MaxInt64 for an open end. Every value
// the language compares (years, levels, counts, cents, dates as YYYYMMDD) is
// a whole number, so ">n" is ">= n+1".
func (c *Cmp) Interval() (lo, hi int64) {
	switch c.Op {
	case OpEq:
		return c.Lo, c.Lo
	case OpLt:
		return math.MinInt64, c.Lo - 1
	case OpLe:
		return math.MinInt64, c.Lo
	case OpGt:
		return c.Lo + 1, math.MaxInt64
	case OpGe:
		return c.Lo, math.MaxInt64
	case OpRange:
		return c.Lo, c.Hi
	}
	return 1, 0 // an unknown operator matches nothing
}

// Geo is a disc on the Earth's surface: the centre in degrees and the radius
// in whole metres.
type Geo struct {
	Lat, Lon float64
	RadiusM  int64
}

func (*All) isExpr()       {}
func (*And) isExpr()       {}
func (*Or) isExpr()        {}
func (*Not) isExpr()       {}
func (*Qualifier) isExpr() {}

func (*All) String() string { return "" }

func (e *And) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = group(t, false)
	}
	return strings.Join(parts, " ")
}

func (e *Or) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " OR ")
}

func (e *Not) String() string { return "-" + group(e.X, true) }

// group prints a term inside an AND (or under NOT, when tight), adding the
// parentheses that precedence needs and no others.
func group(e Expr, tight bool) string {
	switch e.(type) {
	case *Or:
		return "(" + e.String() + ")"
	case *And:
		if tight {
			return "(" + e.String() + ")"
		}
	}
	return e.String()
}

func (q *Qualifier) String() string {
	var v string
	switch {
	case q.Cmp != nil:
		v = q.Cmp.format(kindOf(q.Name))
	case q.Geo != nil:
		v = q.Geo.String()
	case q.Prefix:
		v = quote(q.Value) + "*"
	default:
		v = quote(q.Value)
	}
	if q.Name == "field" {
		return "field." + q.Field + ":" + v
	}
	return q.Name + ":" + v
}

func (c *Cmp) format(k kind) string {
	f := func(n int64) string { return formatScalar(k, n) }
	switch c.Op {
	case OpEq:
		return f(c.Lo)
	case OpLt:
		return "<" + f(c.Lo)
	case OpLe:
		return "<=" + f(c.Lo)
	case OpGt:
		return ">" + f(c.Lo)
	case OpGe:
		return ">=" + f(c.Lo)
	case OpRange:
		return f(c.Lo) + ".." + f(c.Hi)
	}
	return "?"
}

func (g *Geo) String() string {
	r := strconv.FormatInt(g.RadiusM, 10) + "m"
	if g.RadiusM%1000 == 0 {
		r = strconv.FormatInt(g.RadiusM/1000, 10) + "km"
	}
	return strconv.FormatFloat(g.Lat, 'f', -1, 64) + "," + strconv.FormatFloat(g.Lon, 'f', -1, 64) + "," + r
}

// quote returns v as the lexer reads it back: bare when it can be, else in
// double quotes with \" and \\ escaped.
func quote(v string) string {
	if v != "" && !strings.ContainsFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || r == '(' || r == ')' || r == '"'
	}) {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(v) + `"`
}

// formatScalar prints one operand of a comparison in the qualifier's syntax.
func formatScalar(k kind, n int64) string {
	switch k {
	case kindMoney:
		s := strconv.FormatInt(n/100, 10)
		if c := n % 100; c != 0 {
			s += strings.TrimRight(fmt.Sprintf(".%02d", c), "0")
		}
		return s
	case kindDate:
		return fmt.Sprintf("%04d-%02d-%02d", n/10000, n/100%100, n%100)
	}
	return strconv.FormatInt(n, 10)
}

func (*All) Uses(string) bool        { return false }
func (e *And) Uses(name string) bool { return uses(e, name) }
func (e *Or) Uses(name string) bool  { return uses(e, name) }
func (e *Not) Uses(name string) bool { return uses(e, name) }
func (q *Qualifier) Uses(name string) bool {
	return q.Name == name || (q.Name == "field" && name == "field."+q.Field)
}

func uses(e Expr, name string) bool {
	found := false
	Walk(e, func(x Expr) bool {
		if q, ok := x.(*Qualifier); ok && q.Uses(name) {
			found = true
		}
		return !found
	})
	return found
}

// Walk calls fn for e and then, depth first in order, for every node below
// it, skipping the children of a node for which fn returns false.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *And:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *Or:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *Not:
		Walk(e.X, fn)
	}
}

// Qualifiers returns the qualifiers of e in order, e.g. to check the tags a
// filter selects on against the list of sensitive tags.
func Qualifiers(e Expr) []*Qualifier {
	var qs []*Qualifier
	Walk(e, func(x Expr) bool {
		if q, ok := x.(*Qualifier); ok {
			qs = append(qs, q)
		}
		return true
	})
	return qs
}
