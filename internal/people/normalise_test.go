package people

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
)

func TestNormaliseEmail(t *testing.T) {
	tests := []struct {
		in, display, norm string
		ok                bool
	}{
		{"", "", "", true},
		{"  Jan.Peeters@Example.BE ", "Jan.Peeters@Example.BE", "jan.peeters@example.be", true},
		{"<a@b.co>", "a@b.co", "a@b.co", true},
		{"mailto:x@y.org", "x@y.org", "x@y.org", true},
		{"élise@exemple.fr", "élise@exemple.fr", "élise@exemple.fr", true},
		{"no-at-sign", "", "", false},
		{"a@b", "", "", false},
		{"@b.com", "", "", false},
		{"a@", "", "", false},
		{"a b@c.com", "", "", false},
		{"a@@b.com", "", "", false},
		{"a@b..com", "", "", false},
		{".a@b.com", "", "", false},
		{"a@-b.com", "", "", false},
		{"Jan <jan@x.be>", "", "", false},
	}
	for _, tt := range tests {
		d, n, err := NormaliseEmail(tt.in)
		if (err == nil) != tt.ok || d != tt.display || n != tt.norm {
			t.Errorf("NormaliseEmail(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, d, n, err, tt.display, tt.norm, tt.ok)
		}
		if err != nil && errs.FieldOf(err) != "email" {
			t.Errorf("NormaliseEmail(%q): error field %q", tt.in, errs.FieldOf(err))
		}
	}
}

func TestNormalisePhone(t *testing.T) {
	tests := []struct {
		raw, country, e164 string
		invalid            bool
	}{
		{"", "BE", "", false},
		{"0470 12 34 56", "BE", "+32470123456", false},
		{"+32 470 12 34 56", "", "+32470123456", false},
		{"0032470123456", "", "+32470123456", false},
		{"0470123456", "", "", true}, // no country: only international form
		{"02 345 67 89", "BE", "+3223456789", false},
		{"06 12 34 56 78", "FR", "+33612345678", false},
		{"06 12 34 56 78", "NL", "+31612345678", false},
		{"not a phone", "BE", "", true},
		{"123", "BE", "", true},
	}
	for _, tt := range tests {
		p := NormalisePhone(tt.raw, tt.country)
		if p.E164 != tt.e164 || p.Invalid != tt.invalid {
			t.Errorf("NormalisePhone(%q, %q) = %+v; want e164 %q invalid %v", tt.raw, tt.country, p, tt.e164, tt.invalid)
		}
		if tt.raw != "" && p.Raw == "" {
			t.Errorf("NormalisePhone(%q) lost the raw text", tt.raw)
		}
	}
}

func TestNormaliseDate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"1980-04-23", "1980-04-23"},
		{"1980-04-23T00:00:00Z", "1980-04-23"},
		{"1980-04-23 00:00:00", "1980-04-23"},
		{"23/04/1980", "1980-04-23"},
		{"23-04-1980", "1980-04-23"},
		{"23.04.1980", "1980-04-23"},
		{"3/4/1980", "1980-04-03"},   // day first
		{"04/23/1980", "1980-04-23"}, // month first only when unambiguous
		{"29/02/2000", "2000-02-29"},
		{"31/02/1980", "!"},
		{"29/02/1900", "!"},
		{"23/04/80", "!"}, // two-digit year
		{"1980-13-01", "!"},
		{"1980-04-23x", "!"},
		{"13/13/1980", "!"},
		{"yesterday", "!"},
		{"1700-01-01", "!"},
	}
	for _, tt := range tests {
		got, err := NormaliseDate(tt.in)
		if tt.want == "!" {
			if err == nil {
				t.Errorf("NormaliseDate(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormaliseDate(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormaliseGenderSupportRelationshipName(t *testing.T) {
	for in, want := range map[string]string{"F": "f", "Female": "f", "femme": "f", "Vrouw": "f", "V": "f", "m": "m", "Homme": "m",
		"man": "m", "H": "m", "x": "x", "O": "x", "autre": "x", "anders": "x", "": "", "unknown": "", "onbekend": ""} {
		if got, err := NormaliseGender(in); err != nil || got != want {
			t.Errorf("NormaliseGender(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := NormaliseGender("banana"); errs.FieldOf(err) != "gender" {
		t.Errorf("NormaliseGender(banana) error = %v", err)
	}
	for in, want := range map[string]int{"": 0, "1": 1, " 5 ": 5, "3.0": 3} {
		if got, err := NormaliseSupportLevel(in); err != nil || got != want {
			t.Errorf("NormaliseSupportLevel(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "6", "strong", "-1"} {
		if _, err := NormaliseSupportLevel(in); errs.FieldOf(err) != "support_level" {
			t.Errorf("NormaliseSupportLevel(%q) error = %v", in, err)
		}
	}
	for in, want := range map[string]string{"Former member": "former_member", "member": "member", "regular-contact": "regular_contact", "": ""} {
		if got, err := NormaliseRelationship(in); err != nil || got != want {
			t.Errorf("NormaliseRelationship(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := NormaliseRelationship("friend"); err == nil {
		t.Error("NormaliseRelationship(friend) accepted")
	}
	if got := NormaliseName("  Jan \t\u00a0 Van  Damme \n"); got != "Jan Van Damme" {
		t.Errorf("NormaliseName = %q", got)
	}
	if n, k := NormaliseTag("  Climate   Strike "); n != "Climate Strike" || k != "climate strike" {
		t.Errorf("NormaliseTag = %q, %q", n, k)
	}
}

func FuzzNormaliseEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", " Jan@X.be ", "a@@b", "<x@y.z>", "é@ü.de", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, n, err := NormaliseEmail(s)
		if err != nil {
			if d != "" || n != "" {
				t.Fatalf("error with values %q %q", d, n)
			}
			return
		}
		if d == "" {
			return
		}
		if n != strings.ToLower(d) || strings.Count(n, "@") != 1 || strings.ContainsAny(n, " \t\n") {
			t.Fatalf("bad result %q %q for %q", d, n, s)
		}
		// Normalising is stable.
		d2, n2, err := NormaliseEmail(d)
		if err != nil || d2 != d || n2 != n {
			t.Fatalf("not idempotent: %q → %q %q %v", d, d2, n2, err)
		}
	})
}

func FuzzNormalisePhone(f *testing.F) {
	for _, s := range []string{"0470 12 34 56", "+32470123456", "0032 2 345 67 89", "abc", "", "+"} {
		f.Add(s, "BE")
	}
	f.Add("06 12 34 56 78", "FR")
	f.Add("0470123456", "")
	f.Fuzz(func(t *testing.T, raw, country string) {
		p := NormalisePhone(raw, country)
		if p.E164 != "" {
			if p.Invalid || !strings.HasPrefix(p.E164, "+") {
				t.Fatalf("bad result %+v", p)
			}
			// The E.164 form parses to itself, whatever the country.
			if q := NormalisePhone(p.E164, ""); q.E164 != p.E164 {
				t.Fatalf("E.164 %q re-parses to %q", p.E164, q.E164)
			}
		}
		if strings.TrimSpace(raw) != "" && utf8.ValidString(raw) && p.Raw == "" && NormaliseName(raw) != "" {
			t.Fatalf("raw text lost for %q", raw)
		}
	})
}

func FuzzNormaliseDate(f *testing.F) {
	for _, s := range []string{"1980-04-23", "23/04/1980", "04/23/1980", "31/02/1980", "1980-04-23T10:00:00Z", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormaliseDate(s)
		if err != nil || d == "" {
			return
		}
		if len(d) != 10 {
			t.Fatalf("NormaliseDate(%q) = %q", s, d)
		}
		if d2, err := NormaliseDate(d); err != nil || d2 != d {
			t.Fatalf("not stable: %q → %q, %v", d, d2, err)
		}
	})
}

func FuzzNormaliseName(f *testing.F) {
	for _, s := range []string{"  Jan  Peeters ", "\u00a0x\ty", "", "Ö"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseName(s)
		if n != strings.TrimSpace(n) || strings.Contains(n, "  ") || NormaliseName(n) != n {
			t.Fatalf("NormaliseName(%q) = %q", s, n)
		}
	})
}
