package privacy

import (
	"bytes"
	"testing"
)

// FuzzPurge feeds arbitrary file contents to the import-file purge: it
// must never panic, must remove every line naming the person in one pass
// (a second pass finds nothing), and keep the header line.
func FuzzPurge(f *testing.F) {
	f.Add([]byte("email,first_name\nada@example.org,Ada\nbob@example.org,Bob\n"))
	f.Add([]byte("email;phone\r\n\"ada@example.org\";+32 470 91 82 73\r\n"))
	f.Add([]byte("a\tb\nx\"y\tada@example.org\n"))
	f.Add([]byte("email,reason\njimada@example.org,malformed \"ada@example.org\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMatcher(&identity{emails: []string{"ada@example.org"}, phones: []string{"+32470918273"}, country: "BE"})
		out, kept, dropped, err := purgeCSV(data, m)
		if err == nil {
			// Every line naming the person went: purging again finds none.
			_, _, dropped2, err2 := purgeCSV(out, m)
			if err2 == nil && dropped2 != 0 {
				t.Fatalf("second purge dropped %d more", dropped2)
			}
			return
		}
		out, kept, dropped = purgeLines(data, m)
		if kept < 0 || dropped < 0 {
			t.Fatal("negative counts")
		}
		if _, _, dropped2 := purgeLines(out, m); dropped2 != 0 {
			t.Fatalf("second line purge dropped %d more", dropped2)
		}
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if len(first) > 0 && !bytes.HasPrefix(out, first) {
			t.Fatalf("header lost")
		}
	})
}

func TestContainsAddress(t *testing.T) {
	for _, c := range []struct {
		text string
		want bool
	}{
		{"ada@example.org", true},
		{"malformed \"ada@example.org\"", true},
		{"jimada@example.org", false},
		{"ada@example.org.uk", false},
		{"ada@example.org.", true},
		{"<ada@example.org>", true},
		{"", false},
	} {
		if got := containsAddress(c.text, "ada@example.org"); got != c.want {
			t.Errorf("containsAddress(%q) = %v", c.text, got)
		}
	}
}

func TestValidateCatches(t *testing.T) {
	schema := map[string]any{"type": "object", "additionalProperties": false, "required": []any{"a"},
		"properties": map[string]any{"a": map[string]any{"type": "integer"}, "t": map[string]any{"type": "string", "format": "date-time"}}}
	if errs := Validate(schema, map[string]any{"a": 1.0, "t": "2026-01-02T03:04:05Z"}); len(errs) != 0 {
		t.Errorf("valid document refused: %v", errs)
	}
	for _, bad := range []map[string]any{{}, {"a": 1.5}, {"a": 1.0, "b": 2.0}, {"a": "1"}, {"a": 1.0, "t": "yesterday"}} {
		if errs := Validate(schema, bad); len(errs) == 0 {
			t.Errorf("invalid document %v accepted", bad)
		}
	}
}
