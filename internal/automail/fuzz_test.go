package automail

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzTokenNation: the public confirmation route reads a nation id out of
// any path segment; it must never panic, and a nation it returns must be
// the positive number before the first dot.
func FuzzTokenNation(f *testing.F) {
	for _, s := range []string{"1.2.abc", "", ".", "-1.2.x", "99999999999999999999.1.x", "7.", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		n := TokenNation(tok)
		if n == 0 {
			return
		}
		head, _, ok := strings.Cut(tok, ".")
		if !ok || n < 0 || strconv.FormatInt(n, 10) != strings.TrimLeft(strings.TrimPrefix(head, "+"), "0") {
			t.Fatalf("TokenNation(%q) = %d", tok, n)
		}
	})
}

// TestTokenRoundTrip: a token made for a nation names it, and its hash is
// stable.
func TestTokenRoundTrip(t *testing.T) {
	s := &Service{d: Deps{Key: []byte("k")}}
	tok := s.token(42, 7)
	if TokenNation(tok) != 42 || tokenHash(tok) != tokenHash(s.token(42, 7)) || tok == s.token(42, 8) {
		t.Fatalf("token %q", tok)
	}
}
