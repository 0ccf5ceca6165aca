package segment

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParse checks that no input panics the parser, the printer or the
// evaluator; that errors are positioned inside the input; and that every
// filter that parses prints to a canonical text, no longer than the input,
// that parses back to the same tree and prints the same again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "tag:pensions age:45.. consent:email -tag:member", `tag:"climate strike"`,
		`tag:"a \"b\" \\"`, "(tag:a OR tag:b) -(tag:c OR NOT tag:d)", "near:50.85,4.35,10km",
		"donated:12.5..99.99 created:>=2026-01-01", "field.level:gold segment:x postcode:40*",
	} {
		f.Add(s)
	}
	people := samplePeople()
	today := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): error %T is not a *SyntaxError", src, err)
			}
			if se.Pos < 0 || se.Pos > len(src) || se.Col < 1 || se.Col > utf8.RuneCountInString(src)+1 || se.Msg == "" {
				t.Fatalf("Parse(%q): badly placed error %+v", src, se)
			}
			return
		}
		canon := e.String()
		if dense(canon) > dense(src) {
			t.Fatalf("Parse(%q) prints more than whitespace: %q", src, canon)
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) prints %q, which does not parse: %v", src, canon, err)
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("Parse(%q) prints %q, which parses to a different tree:\n%#v\n%#v", src, canon, e, again)
		}
		if again.String() != canon {
			t.Fatalf("canonical text not stable: %q then %q", canon, again.String())
		}
		for i := range people {
			Eval(e, &people[i], today, time.UTC)
		}
	})
}

// dense is the length of s without whitespace, which printing never grows.
func dense(s string) int {
	return len(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), ""))
}

// samplePeople is a few people with every fact set or unset, for checks
// that evaluate random filters.
func samplePeople() []Facts {
	resolve := func(name string) (Expr, bool) {
		switch name {
		case "x":
			return MustParse("tag:a OR age:..30"), true
		case "self":
			return MustParse("tag:a segment:self"), true
		}
		return nil, false
	}
	return []Facts{
		{},
		{Segments: resolve},
		{
			Tags: []string{"a", "Pensions", "climate strike"}, BirthDate: "1980-02-29", Gender: "f", Support: intp(2),
			Location: &Point{Lat: 50.85, Lon: 4.35}, Postcode: "4000", City: "Liège", Country: "BE",
			Signed: []string{"p1"}, RSVPs: []string{"e1"}, Attended: []string{"e1"}, Subscribed: []string{"news"},
			DonatedCents: 1250, Donations: 1, Actions: 2, Points: 10,
			Consents: map[string]bool{"email": true, "ads": true}, HasEmail: true, HasAddress: true,
			Created: time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC), Active: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
			Fields: map[string]string{"level": "gold"}, Segments: resolve,
		},
		{
			Tags: []string{"b"}, BirthDate: "2010-06-15", Gender: "x", Support: intp(5),
			Location: &Point{Lat: -33.87, Lon: 151.21}, Postcode: "SW1A 1AA", City: "London", Country: "GB",
			Signed: []string{"p2"}, DonatedCents: 500000, Donations: 12, Actions: 7, Points: 300,
			Consents: map[string]bool{"sms": true}, HasPhone: true, HasMobile: true,
			Created: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Segments: resolve,
		},
	}
}

// atoms are valid qualifiers of every kind, for random filters.
var atoms = []string{
	"tag:a", "tag:pensions", `tag:"climate strike"`, "age:45..", "age:..30", "age:16..17", "age:>=36",
	"gender:f", "gender:x", "support:1..2", "support:5", "near:50.85,4.35,10km", "near:-33.8,151.2,50km",
	"postcode:40*", "postcode:SW1A1AA", "postcode:SW*", "city:liège", "city:London", "country:BE", "country:GB",
	"signed:*", "signed:p1", "rsvp:e1", "attended:*", "donated:>=50", "donated:10..20", "donations:>=3",
	"actions:>=2", "points:>=10", "subscribed:news", "consent:email", "consent:ads", "consent:sms",
	"has:email", "has:mobile", "has:address", "created:>=2026-01-01", "created:<2026-01-01",
	"active:2026-06-01", "field.level:gold", "segment:x", "segment:self", "segment:none",
}

// randomTree builds a random tree of atoms, including shapes the parser
// never produces (an AND directly inside an AND, single-term groups are
// not built), to test that the printer keeps the meaning of any tree.
func randomTree(r *rand.Rand, depth int) Expr {
	if depth == 0 || r.IntN(3) == 0 {
		return MustParse(atoms[r.IntN(len(atoms))])
	}
	switch r.IntN(3) {
	case 0:
		return &Not{X: randomTree(r, depth-1)}
	case 1:
		n := 2 + r.IntN(3)
		terms := make([]Expr, n)
		for i := range terms {
			terms[i] = randomTree(r, depth-1)
		}
		return &And{Terms: terms}
	default:
		n := 2 + r.IntN(3)
		terms := make([]Expr, n)
		for i := range terms {
			terms[i] = randomTree(r, depth-1)
		}
		return &Or{Terms: terms}
	}
}

// TestPrintKeepsMeaning prints hundreds of random trees, parses the text
// back, and checks that both trees select the same people, and that the
// reparsed tree is a fixed point of printing and parsing.
func TestPrintKeepsMeaning(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	people := samplePeople()
	today := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	for range 500 {
		tree := randomTree(r, 4)
		text := tree.String()
		parsed, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(%q): %v", text, err)
		}
		for i := range people {
			if a, b := Eval(tree, &people[i], today, time.UTC), Eval(parsed, &people[i], today, time.UTC); a != b {
				t.Fatalf("%q: person %d matches the tree: %v, the reparsed text: %v", text, i, a, b)
			}
		}
		again, err := Parse(parsed.String())
		if err != nil || !reflect.DeepEqual(again, parsed) {
			t.Fatalf("%q not stable: %v", text, err)
		}
	}
}

// TestEvalLaws checks the boolean laws the compiled forms rely on, over
// random filters and the sample people: De Morgan, and that a filter and
// its negation split everyone.
func TestEvalLaws(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	people := samplePeople()
	today := time.Date(2026, 6, 15, 10, 0, 0, 0, time.UTC)
	for range 300 {
		a, b := randomTree(r, 3), randomTree(r, 3)
		for i := range people {
			p := &people[i]
			ev := func(e Expr) bool { return Eval(e, p, today, time.UTC) }
			if ev(&Not{X: a}) == ev(a) {
				t.Fatalf("%s and its negation agree for person %d", a, i)
			}
			if ev(&Not{X: &And{Terms: []Expr{a, b}}}) != ev(&Or{Terms: []Expr{&Not{X: a}, &Not{X: b}}}) {
				t.Fatalf("De Morgan fails for %s, %s", a, b)
			}
			text := strings.Join([]string{a.String(), "OR", b.String()}, " ")
			if e, err := Parse(text); err == nil && ev(e) != (ev(a) || ev(b)) {
				t.Fatalf("%q: OR of the texts differs from OR of the trees", text)
			}
		}
	}
}
