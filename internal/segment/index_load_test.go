package segment

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func TestPosIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ids   []int64
		dense bool
	}{
		{"dense", []int64{10, 11, 13, 12, 20}, true},
		{"sparse", []int64{5, 1 << 40, 7, -3}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newPosIndex(tc.ids)
			if got := len(x.dense) > 0; got != tc.dense {
				t.Errorf("dense table: %v, want %v", got, tc.dense)
			}
			for p, id := range tc.ids {
				if got, ok := x.get(id); !ok || got != uint32(p) {
					t.Errorf("get(%d) = %d, %v; want %d", id, got, ok, p)
				}
			}
			for _, id := range []int64{0, 14, 1 << 41, -1} {
				if p, ok := x.get(id); ok {
					t.Errorf("get(%d) = %d for an absent id", id, p)
				}
			}
			// Added later: inside the dense range and far outside it.
			x.set(14, 100)
			x.set(1<<41, 101)
			if p, ok := x.get(14); !ok || p != 100 {
				t.Errorf("get(14) = %d, %v", p, ok)
			}
			if p, ok := x.get(1 << 41); !ok || p != 101 {
				t.Errorf("get(1<<41) = %d, %v", p, ok)
			}
		})
	}
}

func TestBirthBytes(t *testing.T) {
	for s, want := range map[string]int32{
		"": 0, "1970-01-31": 19700131, "2000-02-29": 20000229, "1900-02-29": 0, "2024-02-29": 20240229,
		"2023-02-29": 0, "1970-04-31": 0, "1970-13-01": 0, "1970-00-10": 0, "1970-1-01": 0, "19700101": 0, "abcd-ef-gh": 0,
	} {
		if got := birthBytes([]byte(s)); got != want {
			t.Errorf("birthBytes(%q) = %d, want %d", s, got, want)
		}
	}
}

// FuzzBirthBytes: the allocation-free reader agrees with time.Parse.
func FuzzBirthBytes(f *testing.F) {
	for _, s := range []string{"1970-01-31", "2000-02-29", "1900-02-29", "0000-01-01", "1970-1-01", "+970-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := birthBytes([]byte(s)), birthNumber(s); got != want {
			t.Errorf("birthBytes(%q) = %d, birthNumber = %d", s, got, want)
		}
	})
}

// TestWarm: warming builds a nation's index (counts then agree with SQL
// without a build of their own) and logs its size, not people's data.
func TestWarm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "warm")
		if err := GeneratePeople(ctx, db, nid, 700, GenOptions{Seed: 4, Today: testToday}); err != nil {
			t.Fatal(err)
		}
		svc := newService(t, db)
		var buf bytes.Buffer
		svc.Warm(ctx, []int64{nid}, slog.New(slog.NewTextHandler(&buf, nil)))
		ix := svc.Index(nid)
		ix.mu.RLock()
		built, n := ix.built, ix.all.GetCardinality()
		ix.mu.RUnlock()
		if !built || n == 0 {
			t.Fatalf("after Warm: built %v with %d people", built, n)
		}
		out := buf.String()
		if !strings.Contains(out, "segment index ready") || !strings.Contains(out, "people=") {
			t.Errorf("log lacks the ready line:\n%s", out)
		}
		if strings.Contains(out, "@example.org") {
			t.Errorf("log holds personal data:\n%s", out)
		}
		for _, f := range []string{"tag:pensions consent:email", "postcode:10* -has:phone", "gender:f country:be city:gent", "actions:>=1 support:..2"} {
			countBoth(t, svc, nid, f)
		}
	})
}
