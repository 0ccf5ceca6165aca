package segment

import (
	"math"
	"testing"
	"time"
	_ "time/tzdata" // the tests' time zones, whatever the machine has
)

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func intp(n int) *int { return &n }

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// evalCase is one person, one filter, and whether the person matches.
type evalCase struct {
	filter string
	p      Facts
	want   bool
}

func runEval(t *testing.T, today time.Time, loc *time.Location, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		e, err := Parse(tc.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.filter, err)
			continue
		}
		if got := Eval(e, &tc.p, today, loc); got != tc.want {
			t.Errorf("Eval(%q, %+v) = %v, want %v", tc.filter, tc.p, got, tc.want)
		}
	}
}

func TestAge(t *testing.T) {
	brussels := mustLoc(t, "Europe/Brussels")
	for _, tc := range []struct {
		birth string
		today string
		loc   *time.Location
		age   int
		ok    bool
	}{
		{"1980-06-15", "2026-06-14T12:00:00Z", time.UTC, 45, true},
		{"1980-06-15", "2026-06-15T00:00:00Z", time.UTC, 46, true}, // the birthday counts
		{"1980-06-15", "2026-06-16T00:00:00Z", time.UTC, 46, true},
		{"1980-12-31", "2026-01-01T00:00:00Z", time.UTC, 45, true},
		// 29 February: a year older on 1 March in common years, on the day in leap years.
		{"2004-02-29", "2025-02-28T12:00:00Z", time.UTC, 20, true},
		{"2004-02-29", "2025-03-01T12:00:00Z", time.UTC, 21, true},
		{"2004-02-29", "2028-02-28T12:00:00Z", time.UTC, 23, true},
		{"2004-02-29", "2028-02-29T12:00:00Z", time.UTC, 24, true},
		// Today is the date in the nation's time zone: 23:30 UTC on the 14th
		// is already the 15th in Brussels (UTC+2 in June).
		{"1980-06-15", "2026-06-14T23:30:00Z", time.UTC, 45, true},
		{"1980-06-15", "2026-06-14T23:30:00Z", brussels, 46, true},
		{"2026-06-15", "2026-06-15T00:00:00Z", time.UTC, 0, true},
		{"2026-06-16", "2026-06-15T00:00:00Z", time.UTC, 0, false}, // born after today: unknown
		{"", "2026-06-15T00:00:00Z", time.UTC, 0, false},
		{"15/06/1980", "2026-06-15T00:00:00Z", time.UTC, 0, false},
	} {
		age, ok := Age(tc.birth, date(tc.today), tc.loc)
		if age != tc.age || ok != tc.ok {
			t.Errorf("Age(%q, %s, %s) = %d, %v; want %d, %v", tc.birth, tc.today, tc.loc, age, ok, tc.age, tc.ok)
		}
	}
}

func TestDistance(t *testing.T) {
	// One degree of longitude on the equator is R·π/180 with the mean radius.
	want := 6371008.8 * math.Pi / 180 // 111195.08 m
	if got := DistanceM(0, 0, 0, 1); math.Abs(got-want) > 1e-6 {
		t.Errorf("1° on the equator = %.4f m, want %.4f", got, want)
	}
	// Pole to pole is half a great circle.
	if got := DistanceM(90, 0, -90, 0); math.Abs(got-math.Pi*EarthRadiusM) > 1e-6 {
		t.Errorf("pole to pole = %f", got)
	}
	// Brussels Grand-Place to Antwerp Grote Markt: about 41 km.
	if got := DistanceM(50.8467, 4.3525, 51.2213, 4.3997); got < 41000 || got > 42000 {
		t.Errorf("Brussels–Antwerp = %.0f m", got)
	}
	// Across the antimeridian the short way.
	if got := DistanceM(0, 179.5, 0, -179.5); math.Abs(got-want) > 1e-6 {
		t.Errorf("across the antimeridian = %f", got)
	}
}

func TestEvalAgeAndUnknowns(t *testing.T) {
	today := date("2026-06-15T10:00:00Z")
	born1990 := Facts{BirthDate: "1990-06-15"} // 36 today
	born2000 := Facts{BirthDate: "2000-06-16"} // 25 today, 26 tomorrow
	nobody := Facts{}
	runEval(t, today, time.UTC, []evalCase{
		{"age:36", born1990, true},
		{"age:35", born1990, false},
		{"age:>=36", born1990, true},
		{"age:>36", born1990, false},
		{"age:<37", born1990, true},
		{"age:<36", born1990, false},
		{"age:<=36", born1990, true},
		{"age:30..36", born1990, true},
		{"age:36..40", born1990, true},
		{"age:37..40", born1990, false},
		{"age:45..", born1990, false},
		{"age:..30", born2000, true},
		{"age:26", born2000, false},
		// Unknown birth date: no comparison matches, every negation does.
		{"age:..30", nobody, false},
		{"-age:..30", nobody, true},
		{"age:30..", nobody, false},
		{"age:..30 OR age:30..", nobody, false},
		{"support:1..2", nobody, false},
		{"-support:1..2", nobody, true},
		{"support:1..2", Facts{Support: intp(2)}, true},
		{"support:3", Facts{Support: intp(2)}, false},
		{"-support:3", Facts{Support: intp(2)}, true},
		{"gender:f", nobody, false},
		{"-gender:f", nobody, true},
		{"gender:f", Facts{Gender: "F"}, true},
		{"gender:m", Facts{Gender: "f"}, false},
		{"near:50.85,4.35,1000km", nobody, false},
		{"-near:50.85,4.35,1000km", nobody, true},
		{"postcode:40*", nobody, false},
		{"city:Liège", nobody, false},
		{"country:BE", nobody, false},
		{"created:>=2000-01-01", nobody, false},
		{"active:<=2100-01-01", nobody, false},
		{"-active:>=2026-01-01", nobody, true},
		{"field.level:gold", nobody, false},
		{"segment:any", nobody, false},
		// Counters are never unknown: no gift is a total of 0.
		{"donated:<10", nobody, true},
		{"donations:0", nobody, true},
		{"actions:>=1", nobody, false},
		{"points:0", nobody, true},
		{"", nobody, true}, // the empty filter matches everyone
	})
}

func TestEvalNationTimeZone(t *testing.T) {
	brussels := mustLoc(t, "Europe/Brussels")
	today := date("2026-06-14T23:30:00Z") // already 15 June in Brussels
	p := Facts{BirthDate: "1980-06-15"}
	runEval(t, today, time.UTC, []evalCase{{"age:46", p, false}, {"age:45", p, true}})
	runEval(t, today, brussels, []evalCase{{"age:46", p, true}, {"age:45", p, false}})

	// Dates of records are the nation's calendar dates: 23:30 UTC on
	// 31 December is 1 January in Brussels.
	newYear := Facts{Created: date("2025-12-31T23:30:00Z"), Active: date("2025-12-31T23:30:00Z")}
	runEval(t, today, brussels, []evalCase{
		{"created:>=2026-01-01", newYear, true},
		{"created:2026-01-01", newYear, true},
		{"created:<2026-01-01", newYear, false},
		{"active:2026-01-01..2026-01-31", newYear, true},
	})
	runEval(t, today, time.UTC, []evalCase{
		{"created:>=2026-01-01", newYear, false},
		{"created:2025-12-31", newYear, true},
		{"created:<2026-01-01", newYear, true},
		{"created:<=2025-12-31", newYear, true}, // the whole day is included
		{"created:>2025-12-31", newYear, false},
	})
}

func TestEvalNear(t *testing.T) {
	equator := Facts{Location: &Point{Lat: 0, Lon: 1}} // 111195.08 m from (0,0)
	brussels := Facts{Location: &Point{Lat: 50.8467, Lon: 4.3525}}
	runEval(t, time.Now(), time.UTC, []evalCase{
		// These two pin the mean radius: with 6371 km the first would match.
		{"near:0,0,111195m", equator, false},
		{"near:0,0,111196m", equator, true},
		{"near:0,0,112km", equator, true},
		{"near:0,0,111km", equator, false},
		{"near:51.2213,4.3997,40km", brussels, false},
		{"near:51.2213,4.3997,42km", brussels, true},
		{"near:50.8467,4.3525,1m", brussels, true}, // the centre itself
	})
}

func TestEvalStrings(t *testing.T) {
	p := Facts{
		Tags:       []string{"Pensions", "climate strike", "ÉCOLE"},
		Postcode:   "sw1a 1aa",
		City:       "Liège",
		Country:    "be",
		Signed:     []string{"save-the-park"},
		RSVPs:      []string{"rally-2026"},
		Subscribed: []string{"newsletter"},
		Fields:     map[string]string{"level": "Gold", "empty": ""},
	}
	nothing := Facts{}
	runEval(t, time.Now(), time.UTC, []evalCase{
		{"tag:pensions", p, true},
		{"tag:PENSIONS", p, true},
		{`tag:"Climate Strike"`, p, true},
		{"tag:école", p, true}, // Unicode case folding
		{"tag:climate", p, false},
		{"-tag:member", p, true},
		{"tag:pensions -tag:member", p, true},
		{"postcode:SW1A1AA", p, true},
		{`postcode:"SW1A 1AA"`, p, true},
		{"postcode:sw1a*", p, true},
		{"postcode:SW1*", p, true},
		{"postcode:SW1A", p, false}, // exact unless starred
		{"postcode:SW2*", p, false},
		{"postcode:4000", Facts{Postcode: "4000"}, true},
		{"postcode:40*", Facts{Postcode: "4000"}, true},
		{"postcode:40*", Facts{Postcode: "1040"}, false},
		{"city:liège", p, true},
		{"city:LIÈGE", p, true},
		{"city:Liege", p, false},
		{"country:BE", p, true},
		{"country:NL", p, false},
		{"signed:save-the-park", p, true},
		{"signed:other", p, false},
		{"signed:*", p, true},
		{"signed:*", nothing, false},
		{"rsvp:rally-2026", p, true},
		{"rsvp:*", p, true},
		{"attended:*", p, false},
		{"attended:rally-2026", p, false},
		{"subscribed:newsletter", p, true},
		{"subscribed:press", p, false},
		{"field.level:gold", p, true},
		{"field.Level:GOLD", p, true},
		{"field.level:silver", p, false},
		{"field.empty:x", p, false},
		{"field.missing:x", p, false},
	})
}

func TestEvalCountersConsentsHas(t *testing.T) {
	p := Facts{
		DonatedCents: 5000, Donations: 3, Actions: 2, Points: 10,
		Consents: map[string]bool{"email": true, "sms": false},
		HasEmail: true, HasMobile: true,
	}
	runEval(t, time.Now(), time.UTC, []evalCase{
		{"donated:>=50", p, true},
		{"donated:>50", p, false},
		{"donated:50", p, true},
		{"donated:49.99", p, false},
		{"donated:>=50.01", p, false},
		{"donated:>=50", Facts{DonatedCents: 4999}, false},
		{"donated:12.5", Facts{DonatedCents: 1250}, true},
		{"donated:10..20", Facts{DonatedCents: 2000}, true},
		{"donated:10..20", Facts{DonatedCents: 2001}, false},
		{"donations:>=3", p, true},
		{"donations:>3", p, false},
		{"actions:>=2", p, true},
		{"actions:>=3", p, false},
		{"points:>=10", p, true},
		{"points:<10", p, false},
		{"consent:email", p, true},
		{"consent:sms", p, false}, // withdrawn: the current state is not granted
		{"consent:ads", p, false}, // never asked
		{"-consent:ads", p, true},
		{"has:email", p, true},
		{"has:mobile", p, true},
		{"has:phone", p, false},
		{"has:address", p, false},
	})
}

func TestEvalLogic(t *testing.T) {
	ab := Facts{Tags: []string{"a", "b"}}
	c := Facts{Tags: []string{"c"}}
	runEval(t, time.Now(), time.UTC, []evalCase{
		{"tag:a tag:b", ab, true},
		{"tag:a tag:c", ab, false},
		{"tag:a OR tag:c", c, true},
		// AND binds tighter than OR: c OR (a AND x).
		{"tag:c OR tag:a tag:x", c, true},
		{"tag:c OR tag:a tag:x", ab, false},
		{"(tag:c OR tag:a) tag:x", c, false},
		// NOT binds tighter than AND and OR.
		{"-tag:a tag:c", c, true},
		{"NOT tag:a OR tag:b", ab, true},
		{"-(tag:a OR tag:c)", ab, false},
		{"-(tag:a OR tag:c)", Facts{}, true},
		{"--tag:a", ab, true},
	})
}

func TestEvalSegments(t *testing.T) {
	saved := map[string]Expr{
		"over 45s": MustParse("age:45.."),
		"mailable": MustParse(`consent:email segment:"over 45s"`),
		"loop":     MustParse("tag:a segment:loop"),
	}
	resolve := func(name string) (Expr, bool) { e, ok := saved[name]; return e, ok }
	today := date("2026-06-15T10:00:00Z")
	old := Facts{BirthDate: "1950-01-01", Consents: map[string]bool{"email": true}, Tags: []string{"a"}, Segments: resolve}
	young := Facts{BirthDate: "2000-01-01", Consents: map[string]bool{"email": true}, Segments: resolve}
	runEval(t, today, time.UTC, []evalCase{
		{`segment:"over 45s"`, old, true},
		{`segment:"over 45s"`, young, false},
		{"segment:mailable", old, true},
		{"segment:mailable", young, false},
		{"-segment:mailable", young, true},
		{"segment:unknown", old, false},
		{"segment:loop", old, false}, // a cycle matches no one rather than looping
		{"segment:mailable", Facts{BirthDate: "1950-01-01"}, false},
	})
}
