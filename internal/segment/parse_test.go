package segment

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/errs"
)

// TestParseCanonical parses valid filters and checks their canonical text,
// which pins the typing of every qualifier's value, and that the canonical
// text parses back to the same tree.
func TestParseCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  \t\n ", ""},
		{"tag:pensions age:45.. consent:email -tag:member", "tag:pensions age:>=45 consent:email -tag:member"},
		{`tag:"climate strike"`, `tag:"climate strike"`},
		{`tag:"say \"hi\" \\ now"`, `tag:"say \"hi\" \\ now"`},
		{`tag:"plain"`, `tag:plain`},
		{`tag:a\b`, `tag:a\b`},
		{`tag:"(x)"`, `tag:"(x)"`},
		{`tag:" padded "`, `tag:padded`},
		{"tag:Éco", "tag:Éco"},
		{"tag:a:b", "tag:a:b"},
		{"Tag:X AGE:=30", "tag:X age:30"},
		{"age:30", "age:30"},
		{"age:007", "age:7"},
		{"age:>30 age:<30 age:>=30 age:<=30 age:=30", "age:>30 age:<30 age:>=30 age:<=30 age:30"},
		{"age:30..40 OR age:<18", "age:30..40 OR age:<18"},
		{"age:..30", "age:<=30"},
		{"age:30..30", "age:30..30"},
		{"support:1..2", "support:1..2"},
		{"donations:>=3 actions:>=2 points:>=10", "donations:>=3 actions:>=2 points:>=10"},
		{"donated:>=50", "donated:>=50"},
		{"donated:12.5..99.99", "donated:12.5..99.99"},
		{"donated:0.05 donated:50.00 donated:50.10", "donated:0.05 donated:50 donated:50.1"},
		{"created:>=2026-01-01 active:2026-01-01..2026-06-30", "created:>=2026-01-01 active:2026-01-01..2026-06-30"},
		{"created:2024-02-29", "created:2024-02-29"},
		{"active:..2026-06-01", "active:<=2026-06-01"},
		{"gender:F has:address consent:ADS", "gender:f has:address consent:ads"},
		{"gender:m gender:x", "gender:m gender:x"},
		{"consent:email consent:sms consent:phone consent:ads consent:push consent:post", "consent:email consent:sms consent:phone consent:ads consent:push consent:post"},
		{"has:email has:phone has:mobile", "has:email has:phone has:mobile"},
		{"near:50.85,4.35,10km", "near:50.85,4.35,10km"},
		{"near:50.850,-4.35,1.5KM", "near:50.85,-4.35,1500m"},
		{"near:-33.8688,151.2093,500m", "near:-33.8688,151.2093,500m"},
		{"near:0,0,2000m", "near:0,0,2km"},
		{"near:90,-180,20000km", "near:90,-180,20000km"},
		{"postcode:4000", "postcode:4000"},
		{"postcode:40*", "postcode:40*"},
		{`postcode:"sw1a 1aa"`, "postcode:SW1A1AA"},
		{"postcode:sw1a*", "postcode:SW1A*"},
		{"city:Brussels", "city:Brussels"},
		{`city:"La Louvière"`, `city:"La Louvière"`},
		{"country:be", "country:BE"},
		{"signed:* signed:Save-The-Park", "signed:* signed:save-the-park"},
		{"rsvp:rally-2026 attended:*", "rsvp:rally-2026 attended:*"},
		{"subscribed:newsletter", "subscribed:newsletter"},
		{`segment:"Over 45s"`, `segment:"Over 45s"`},
		{"field.Member_Since:2020", "field.member_since:2020"},
		{`field.x:"a b"`, `field.x:"a b"`},
		// Structure: precedence, flattening, redundant parentheses.
		{"(tag:a OR tag:b) tag:c", "(tag:a OR tag:b) tag:c"},
		{"tag:a OR (tag:b tag:c)", "tag:a OR tag:b tag:c"},
		{"tag:a OR tag:b tag:c", "tag:a OR tag:b tag:c"},
		{"NOT (tag:a OR tag:b)", "-(tag:a OR tag:b)"},
		{"-(tag:a tag:b)", "-(tag:a tag:b)"},
		{"NOT tag:a", "-tag:a"},
		{"--tag:a", "--tag:a"},
		{"NOT NOT tag:a", "--tag:a"},
		{"NOT -tag:a", "--tag:a"},
		{"((tag:a))", "tag:a"},
		{"(tag:a tag:b) (tag:c)", "tag:a tag:b tag:c"},
		{"tag:a OR (tag:b OR tag:c)", "tag:a OR tag:b OR tag:c"},
		{"(tag:a)OR(tag:b)", "tag:a OR tag:b"},
		{"tag:a(tag:b)", "tag:a tag:b"},
		{`tag:"a"(tag:b)`, "tag:a tag:b"},
		{"tag:x-y -tag:-z", "tag:x-y -tag:-z"},
		{"tag:OR tag:NOT", "tag:OR tag:NOT"},
		{"tag:a\u00a0tag:b", "tag:a tag:b"},
		{`tag:"a` + "\u00a0" + `b"`, `tag:"a` + "\u00a0" + `b"`},
	} {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		again, err := Parse(e.String())
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Errorf("round trip of %q via %q: %v, %#v", tc.in, e.String(), err, again)
		}
	}
}

func q(name, value string) *Qualifier { return &Qualifier{Name: name, Value: value} }

// TestParseTree pins the shape and typed values of parsed trees.
func TestParseTree(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expr
	}{
		{"", &All{}},
		{"tag:a OR tag:b tag:c", &Or{Terms: []Expr{q("tag", "a"), &And{Terms: []Expr{q("tag", "b"), q("tag", "c")}}}}},
		{"-tag:a tag:b", &And{Terms: []Expr{&Not{X: q("tag", "a")}, q("tag", "b")}}},
		{"NOT tag:a OR tag:b", &Or{Terms: []Expr{&Not{X: q("tag", "a")}, q("tag", "b")}}},
		{"-(tag:a OR tag:b)", &Not{X: &Or{Terms: []Expr{q("tag", "a"), q("tag", "b")}}}},
		{"age:45..", &Qualifier{Name: "age", Cmp: &Cmp{Op: OpGe, Lo: 45}}},
		{"age:..30", &Qualifier{Name: "age", Cmp: &Cmp{Op: OpLe, Lo: 30}}},
		{"age:<30", &Qualifier{Name: "age", Cmp: &Cmp{Op: OpLt, Lo: 30}}},
		{"support:1..2", &Qualifier{Name: "support", Cmp: &Cmp{Op: OpRange, Lo: 1, Hi: 2}}},
		{"donated:12.5..99.99", &Qualifier{Name: "donated", Cmp: &Cmp{Op: OpRange, Lo: 1250, Hi: 9999}}},
		{"donated:>50", &Qualifier{Name: "donated", Cmp: &Cmp{Op: OpGt, Lo: 5000}}},
		{"created:>=2026-01-31", &Qualifier{Name: "created", Cmp: &Cmp{Op: OpGe, Lo: 20260131}}},
		{"near:50.85,4.35,2.5km", &Qualifier{Name: "near", Geo: &Geo{Lat: 50.85, Lon: 4.35, RadiusM: 2500}}},
		{"postcode:40*", &Qualifier{Name: "postcode", Value: "40", Prefix: true}},
		{"field.Level:Gold", &Qualifier{Name: "field", Field: "level", Value: "Gold"}},
		{"signed:*", q("signed", "*")},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %s (%#v), want %s", tc.in, got, got, tc.want)
		}
	}
}

// TestParseErrors pins the message and position of errors: each names the
// column and what was expected there.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tga:x", `at column 1: unknown qualifier "tga" (did you mean "tag"?)`},
		{"tag:pensions tga:x", `at column 14: unknown qualifier "tga" (did you mean "tag"?)`},
		{"tags:x", `at column 1: unknown qualifier "tags" (did you mean "tag"?)`},
		{"zipcode:4000", `at column 1: unknown qualifier "zipcode" (did you mean "postcode"?)`},
		{"colour:red", `at column 1: unknown qualifier "colour" (expected one of tag, age, gender, support, near, postcode, city, country, signed, rsvp, attended, donated, donations, actions, points, subscribed, consent, has, created, active, segment, field.NAME)`},
		{"foo.bar:x", `at column 1: unknown qualifier "foo.bar" (custom fields are written field.NAME:VALUE)`},
		{"age:abc", `at column 5: expected a number or range after "age:", found "abc"`},
		{"age:", `at column 5: expected a number or range after "age:"`},
		{"age:-3", `at column 5: expected a number or range after "age:", found "-3"`},
		{"age:1.5", `at column 5: expected a number or range after "age:", found "1.5"`},
		{"age:50..30", `at column 5: empty range after "age:": 50 is greater than 30`},
		{"age:200", `at column 5: expected a number from 0 to 150 after "age:", found "200"`},
		{"age:>=1000000000000000", `at column 5: expected a number or range after "age:", found ">=1000000000000000"`},
		{"support:0..3", `at column 9: expected a number from 1 to 5 after "support:", found "0..3"`},
		{"support:..", `at column 9: expected a number or range after "support:", found ".."`},
		{"support:1...3", `at column 9: expected a number or range after "support:", found "1...3"`},
		{"support:>", `at column 9: expected a number or range after "support:", found ">"`},
		{"donated:1.234", `at column 9: expected an amount or range after "donated:", found "1.234"`},
		{"donated:€50", `at column 9: expected an amount or range after "donated:", found "€50"`},
		{"donated:.5", `at column 9: expected an amount or range after "donated:", found ".5"`},
		{"donated:20..10.5", `at column 9: empty range after "donated:": 20 is greater than 10.5`},
		{"created:2026-02-30", `at column 9: expected a date (YYYY-MM-DD) or range after "created:", found "2026-02-30"`},
		{"created:>2026-1-1", `at column 9: expected a date (YYYY-MM-DD) or range after "created:", found ">2026-1-1"`},
		{"active:2026-06-01..2026-01-01", `at column 8: empty range after "active:": 2026-06-01 is greater than 2026-01-01`},
		{"gender:q", `at column 8: expected f, m or x after "gender:", found "q"`},
		{"consent:fax", `at column 9: expected email, sms, phone, ads, push or post after "consent:", found "fax"`},
		{"has:twitter", `at column 5: expected email, phone, mobile or address after "has:", found "twitter"`},
		{"country:BEL", `at column 9: expected a two-letter country code such as BE after "country:", found "BEL"`},
		{"country:UK", `at column 9: expected a two-letter country code such as BE after "country:", found "UK" (did you mean "GB"?)`},
		{"country:EU", `at column 9: expected a two-letter country code such as BE after "country:", found "EU"`},
		{"country:ZZ", `at column 9: expected a two-letter country code such as BE after "country:", found "ZZ"`},
		{"postcode:4*0", `at column 10: expected a postcode or a prefix ending in * after "postcode:", found "4*0"`},
		{"postcode:*", `at column 10: expected a postcode or a prefix ending in * after "postcode:", found "*"`},
		{"signed:hello!", `at column 8: expected a petition's slug or * after "signed:", found "hello!"`},
		{"signed:-x", `at column 8: expected a petition's slug or * after "signed:", found "-x"`},
		{"subscribed:", `at column 12: expected a topic's slug or * after "subscribed:"`},
		{"near:95,4,1km", `at column 6: expected a latitude from -90 to 90 after "near:", found "95"`},
		{"near:50,181,1km", `at column 6: expected a longitude from -180 to 180 after "near:", found "181"`},
		{"near:50,4,10", `at column 6: expected a radius in km or m (as in 10km or 500m) after "near:", found "10"`},
		{"near:50,4,0m", `at column 6: expected a radius from 1m to 20000km after "near:", found "0m"`},
		{"near:50,4,30000km", `at column 6: expected a radius from 1m to 20000km after "near:", found "30000km"`},
		{"near:50,4", `at column 6: expected LAT,LON,RADIUS (as in 50.85,4.35,10km) after "near:", found "50,4"`},
		{"near:1e1,4,1km", `at column 6: expected a latitude from -90 to 90 after "near:", found "1e1"`},
		{"field.:x", `at column 7: expected a custom field name after "field."`},
		{"field.a/b:x", `at column 7: expected a custom field name (letters, digits, _ or -) after "field.", found "a/b"`},
		{"field:x", `at column 1: expected field.NAME:VALUE for a custom field, as in field.member_since:2020`},
		{"field.x:", `at column 9: expected a value after "field.x:"`},
		{"tag:", `at column 5: expected a tag name after "tag:"`},
		{`tag:""`, `at column 5: expected a tag name after "tag:", found ""`},
		{`tag:"  "`, `at column 5: expected a tag name after "tag:", found "  "`},
		{`tag:"abc`, `at column 5: unterminated quoted value: expected a closing "`},
		{`tag:"abc"x`, `at column 10: expected a space or ")" after the closing quote`},
		{`tag:ab"c`, `at column 7: unexpected quote inside a value; quote the whole value, as in tag:"climate strike"`},
		{`tag:"a\nb"`, `at column 7: invalid escape in quoted value: use \" for a quote and \\ for a backslash`},
		{`tag"x"`, `at column 4: unexpected quote after "tag"; quote a whole value, as in tag:"climate strike"`},
		{`"tag"`, `at column 1: expected a qualifier before the quoted text, as in tag:"climate strike"`},
		{":x", `at column 1: expected a qualifier name before ":"`},
		{"(tag:a", `at column 1: unbalanced "("`},
		{"tag:b ((tag:a) OR tag:c", `at column 7: unbalanced "("`},
		{"tag:a)", `at column 6: unbalanced ")"`},
		{"tag:a )", `at column 7: unbalanced ")"`},
		{")", `at column 1: unbalanced ")"`},
		{"()", `at column 2: expected a qualifier inside "()"`},
		{"tag:a OR", `at column 9: expected a qualifier after OR`},
		{"tag:climate OR", `at column 15: expected a qualifier after OR`},
		{"tag:a OR OR tag:b", `at column 10: expected a qualifier after OR, found OR`},
		{"(tag:a OR) tag:b", `at column 10: expected a qualifier after OR, found ")"`},
		{"OR tag:a", `at column 1: expected a qualifier before OR`},
		{"(OR tag:a)", `at column 2: expected a qualifier before OR`},
		{"tag:a AND tag:b", `at column 7: AND is not needed: qualifiers side by side must all match`},
		{"tag:x or tag:y", `at column 7: expected a qualifier, found "or" (write OR in capitals)`},
		{"not tag:y", `at column 1: expected a qualifier, found "not" (write NOT in capitals, or use -)`},
		{"!tag:y", `at column 1: unknown qualifier "!tag" (did you mean "tag"?)`},
		{"pensions", `at column 1: expected a qualifier such as tag:NAME, found "pensions"`},
		{"-", `at column 1: expected a qualifier or "(" right after "-"`},
		{"- tag:a", `at column 1: expected a qualifier or "(" right after "-"`},
		{"NOT", `at column 4: expected a qualifier or "(" after NOT`},
		{"NOT)", `at column 4: expected a qualifier or "(" after NOT, found ")"`},
		{"-OR", `at column 2: expected a qualifier or "(" after -, found OR`},
		{"tag:a\x00", `at column 6: unexpected control character U+0000`},
		{"tag:\xff", `at column 5: invalid UTF-8 text`},
		// Columns count characters, not bytes.
		{"tag:éé tga:x", `at column 8: unknown qualifier "tga" (did you mean "tag"?)`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %s", tc.in, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("Parse(%q)\n got: %s\nwant: %s", tc.in, err, tc.want)
		}
	}
}

func TestSyntaxErrorFields(t *testing.T) {
	_, err := Parse("tag:éé tga:x")
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %T is not a *SyntaxError", err)
	}
	if se.Pos != 9 || se.Col != 8 || se.Msg != `unknown qualifier "tga" (did you mean "tag"?)` {
		t.Errorf("got %+v", se)
	}
	if errs.KindOf(err) != errs.KindInvalid {
		t.Errorf("KindOf = %v, want KindInvalid (exit 2, message under the box)", errs.KindOf(err))
	}
	if !errors.Is(err, errs.ErrInvalid) {
		t.Error("errors.Is(err, errs.ErrInvalid) is false")
	}
	if got := errs.Message(fmt.Errorf("segment count: %w", err)); got != err.Error() {
		t.Errorf("user message through a wrap = %q", got)
	}
}

func TestLimits(t *testing.T) {
	longest := "tag:" + strings.Repeat("x", MaxLength-4)
	if _, err := Parse("  " + longest + "  "); err != nil {
		t.Errorf("%d bytes and some spaces: %v", MaxLength, err)
	}
	if _, err := Parse(longest + "x"); err == nil || err.Error() != `at column 4097: filter too long: at most 4096 characters` {
		t.Errorf("%d bytes: %v", MaxLength+1, err)
	}
	if _, err := Parse(strings.Repeat(" ", 2*MaxLength+1)); err == nil || err.Error() != `at column 8193: filter too long: at most 4096 characters` {
		t.Errorf("%d spaces: %v", 2*MaxLength+1, err)
	}
	many := strings.TrimSpace(strings.Repeat("tag:a ", MaxTerms))
	if _, err := Parse(many); err != nil {
		t.Errorf("%d qualifiers: %v", MaxTerms, err)
	}
	if _, err := Parse(many + " tag:b"); err == nil || err.Error() != `at column 601: too many qualifiers: at most 100` {
		t.Errorf("%d qualifiers: %v", MaxTerms+1, err)
	}
	deep := strings.Repeat("(", MaxDepth) + "tag:a" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(deep); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Parse("-" + deep); err == nil || err.Error() != `at column 21: too deeply nested: at most 20 levels of parentheses and negations` {
		t.Errorf("depth %d: %v", MaxDepth+1, err)
	}
	if _, err := Parse(strings.Repeat("NOT ", 5000)); err == nil {
		t.Error("5000 NOTs parsed")
	}
}

func TestUsesWalkQualifiers(t *testing.T) {
	e := MustParse(`tag:a (-support:1..2 OR field.level:gold) segment:x`)
	for name, want := range map[string]bool{
		"tag": true, "support": true, "field": true, "field.level": true, "segment": true,
		"field.other": false, "age": false, "level": false,
	} {
		if got := e.Uses(name); got != want {
			t.Errorf("Uses(%q) = %v, want %v", name, got, want)
		}
	}
	if (&All{}).Uses("tag") {
		t.Error("the empty filter uses tag")
	}
	var names []string
	for _, q := range Qualifiers(e) {
		names = append(names, q.Name)
	}
	if got := strings.Join(names, ","); got != "tag,support,field,segment" {
		t.Errorf("Qualifiers: %s", got)
	}
	// Walk can skip a subtree: here, everything under a negation.
	var seen []string
	Walk(e, func(x Expr) bool {
		if q, ok := x.(*Qualifier); ok {
			seen = append(seen, q.Name)
		}
		_, isNot := x.(*Not)
		return !isNot
	})
	if got := strings.Join(seen, ","); got != "tag,field,segment" {
		t.Errorf("Walk skipping negations: %s", got)
	}
}

func TestExpand(t *testing.T) {
	saved := map[string]Expr{
		"left":   MustParse("support:1..2"),
		"young":  MustParse("age:..30 segment:left"),
		"loop":   MustParse("tag:a segment:loop2"),
		"loop2":  MustParse("segment:loop"),
		"nested": MustParse("segment:young OR segment:young"),
	}
	resolve := func(name string) (Expr, bool) { e, ok := saved[name]; return e, ok }

	e, err := Expand(MustParse("tag:x segment:young"), resolve)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Uses("support") || e.Uses("segment") {
		t.Errorf("expanded %s: support %v, segment %v", e, e.Uses("support"), e.Uses("segment"))
	}
	if want := MustParse("tag:x age:<=30 support:1..2"); !reflect.DeepEqual(MustParse(e.String()), want) {
		t.Errorf("expanded to %s, want %s", e, want)
	}
	if _, err := Expand(MustParse("segment:nested"), resolve); err != nil {
		t.Errorf("a segment used twice is not a cycle: %v", err)
	}
	if _, err := Expand(MustParse("segment:loop"), resolve); err == nil || errs.KindOf(err) != errs.KindInvalid ||
		errs.Message(err) != `saved segment "loop" refers to itself` {
		t.Errorf("cycle: %v", err)
	}
	if _, err := Expand(MustParse("-segment:nope"), resolve); err == nil || errs.Message(err) != `unknown saved segment "nope"` {
		t.Errorf("unknown: %v", err)
	}
}
