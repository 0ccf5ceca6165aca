package auth

import (
	"net/url"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/admin/"},
		{"/admin/greens/", "/admin/greens/"},
		{"/admin/greens/staff?x=1#top", "/admin/greens/staff?x=1#top"},
		{"/", "/"},
		{"//evil.example", "/admin/"},
		{"/\\evil.example", "/admin/"},
		{"/\\/evil.example", "/admin/"},
		{"https://evil.example/", "/admin/"},
		{"javascript:alert(1)", "/admin/"},
		{"admin/", "/admin/"},
		{"/admin/\n", "/admin/"},
		{"/a\\b", "/admin/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	}
	for _, tt := range tests {
		if got := SafeNext(tt.in); got != tt.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzSafeNext checks that whatever it is given, SafeNext answers a path
// that a browser resolves on this site, never on another host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/admin/", "//x", "/\\x", "https://x/", "/a?b=c", "", "/%09/x", "\t//x"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://muster.example/admin/login")
	f.Fuzz(func(t *testing.T, next string) {
		got := SafeNext(next)
		if got != "/admin/" && got != next {
			t.Fatalf("SafeNext(%q) = %q: neither the input nor the default", next, got)
		}
		if len(got) == 0 || got[0] != '/' {
			t.Fatalf("SafeNext(%q) = %q does not start with /", next, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("SafeNext(%q) = %q does not parse: %v", next, got, err)
		}
		if r := base.ResolveReference(u); r.Host != base.Host || r.Scheme != base.Scheme {
			t.Fatalf("SafeNext(%q) = %q leads to %s", next, got, r)
		}
	})
}
