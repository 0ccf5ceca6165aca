package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/storetest"
)

// TestExportFilter: --filter exports exactly the people `segment count`
// counts, on both engines, and a filter that does not parse exits 2
// naming the column, without exporting anyone.
func TestExportFilter(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db := storageArgs(t, engine)
			runCLI(t, append([]string{"nation", "create", "north", "--name", "North"}, db...)...)
			var b strings.Builder
			b.WriteString("nationbuilder_id,first_name,email,tag_list,support_level\n")
			for i := range 60 {
				tags := "volunteer"
				if i%3 == 0 {
					tags = "member, volunteer"
				}
				if i%4 == 0 {
					tags = "member"
				}
				b.WriteString(strconv.Itoa(i+1) + ",P" + strconv.Itoa(i) + ",p" + strconv.Itoa(i) + "@example.org,\"" + tags + "\"," + strconv.Itoa(i%5+1) + "\n")
			}
			file := filepath.Join(t.TempDir(), "people.csv")
			os.WriteFile(file, []byte(b.String()), 0o600)
			if code, _, stderr := runCLI(t, append(append([]string{"import", "people", "--nation", "north"}, db...), file)...); code != 0 {
				t.Fatalf("import: %d %s", code, stderr)
			}
			for _, tc := range []struct {
				filter string
				want   int
			}{
				{"tag:member", 30},                // i%4==0 (15), or i%3==0 and not i%4==0 (20-5)
				{"tag:member -tag:volunteer", 15}, // i%4==0
				{"tag:member support:1..2", 12},
				{"", 60},
			} {
				code, out, stderr := runCLI(t, append([]string{"export", "people", "--nation", "north", "--filter", tc.filter}, db...)...)
				if code != 0 {
					t.Fatalf("export --filter %q: %d %s", tc.filter, code, stderr)
				}
				recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
				if err != nil || len(recs)-1 != tc.want {
					t.Errorf("export --filter %q: %d people (%v), want %d", tc.filter, len(recs)-1, err, tc.want)
				}
				code, out, _ = runCLI(t, append(append([]string{"segment", "count", "--nation", "north", "--json"}, db...), tc.filter)...)
				var c struct{ Count int }
				if code != 0 || json.Unmarshal([]byte(out), &c) != nil || c.Count != tc.want {
					t.Errorf("segment count %q = %s, want %d", tc.filter, out, tc.want)
				}
			}
			// JSON with a filter.
			code, out, _ := runCLI(t, append([]string{"export", "people", "--nation", "north", "--format", "json", "--filter", "tag:member -tag:volunteer"}, db...)...)
			var people []map[string]string
			if code != 0 || json.Unmarshal([]byte(out), &people) != nil || len(people) != 15 || people[0]["tag_list"] != "member" {
				t.Errorf("json export: %d %d %v", code, len(people), people)
			}
			code, out, stderr := runCLI(t, append([]string{"export", "people", "--nation", "north", "--filter", "tag:member OR"}, db...)...)
			if code != 2 || out != "" || !strings.Contains(stderr, "--filter: at column") {
				t.Errorf("bad filter: %d %q %q", code, out, stderr)
			}
		})
	}
}
