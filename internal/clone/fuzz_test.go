package clone_test

import (
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/clone"
)

// FuzzParseCSV: any input gives rows, row errors or one Invalid error,
// never a panic; every row kept is valid and has a line after the header.
func FuzzParseCSV(f *testing.F) {
	f.Add(threeRows)
	f.Add("slug;name;candidate_name;email\nab;N;C;a@b.org\n")
	f.Add("slug,name,candidate_name,email\n\"ab,N,C,a@b.org\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, _, err := clone.ParseCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.Line < 2 || r.Slug == "" || r.Name == "" || r.CandidateName == "" || r.Email == "" {
				t.Fatalf("bad row kept: %+v", r)
			}
			if r.Domain != "" {
				if h, err := clone.NormaliseHost(r.Domain); err != nil || h != r.Domain {
					t.Fatalf("domain %q not normalised", r.Domain)
				}
			}
		}
	})
}

// FuzzNormaliseHost: an accepted host is stable under normalisation and
// holds only what a DNS name may.
func FuzzNormaliseHost(f *testing.F) {
	for _, s := range []string{"www.example.org", "EXAMPLE.be.", "127.0.0.1", "a..b", "xn--bcher-kva.example", "host:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := clone.NormaliseHost(in)
		if err != nil {
			return
		}
		again, err := clone.NormaliseHost(h)
		if err != nil || again != h {
			t.Fatalf("not stable: %q → %q → %q (%v)", in, h, again, err)
		}
		if strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" || len(h) > 253 {
			t.Fatalf("accepted %q", h)
		}
	})
}
