package broadcast

import (
	"strings"
	"testing"
)

// FuzzPlausibleEmail checks that whatever the address check accepts can be
// written into an SMTP envelope and headers safely.
func FuzzPlausibleEmail(f *testing.F) {
	for _, s := range []string{"a@b.org", "", "@", "a@b", "a b@c.org", "a@b.org\r\nBcc: x@y.org", "<a@b.org>", "a@@b.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plausibleEmail(s) {
			return
		}
		if strings.ContainsAny(s, " \r\n\t<>,") || strings.Count(s, "@") != 1 || len(s) > 254 {
			t.Fatalf("accepted %q", s)
		}
	})
}
