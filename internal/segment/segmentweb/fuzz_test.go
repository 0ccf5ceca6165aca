package segmentweb_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/segment/segmentweb"
)

// FuzzBuildTerm: whatever a person types as the value of a free-text
// qualifier in the builder, the term written into the filter box parses,
// and to that very value (so the builder never produces a filter that
// means something else than what was picked).
func FuzzBuildTerm(f *testing.F) {
	for _, s := range []string{"pensions", "climate strike", `say "hi"`, `a\b`, "(x)", "OR", "-x", "é è", "x:y", ""} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, value string, negate bool) {
		if !utf8.ValidString(value) {
			return
		}
		term := segmentweb.BuildTerm("tag", "", value, negate)
		if strings.TrimSpace(value) == "" {
			if term != "" {
				t.Fatalf("empty value gave %q", term)
			}
			return
		}
		e, err := segment.Parse(term)
		if err != nil {
			if len(term) > segment.MaxLength || strings.ContainsFunc(value, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				return // too long, or control characters the language refuses
			}
			t.Fatalf("BuildTerm(%q) = %q does not parse: %v", value, term, err)
		}
		if negate {
			n, ok := e.(*segment.Not)
			if !ok {
				t.Fatalf("%q: negation lost: %#v", term, e)
			}
			e = n.X
		}
		q, ok := e.(*segment.Qualifier)
		if !ok || q.Name != "tag" || q.Value != strings.TrimSpace(value) {
			t.Fatalf("BuildTerm(%q) = %q parses to %#v", value, term, e)
		}
	})
}
