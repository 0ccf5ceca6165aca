package privacy

import (
	"strings"
	"testing"
)

// FuzzJournalLine feeds arbitrary lines to the erasure journal's parser: it
// never panics, accepts only well-formed entries, reads a line without the
// action field as an erasure, and an entry it accepts reads the same once
// written back in the current format.
func FuzzJournalLine(f *testing.F) {
	f.Add("3\temail\tabc123\t1700000000000")
	f.Add("3\tphone\tabc123\t1700000000000\tanonymise")
	f.Add("3\temail\tabc123\t1700000000000\terase")
	f.Add("3\temail\tabc123\t1700000000000\tforget")
	f.Add("x\temail\t\t")
	f.Add("3\temail\tabc")
	f.Fuzz(func(t *testing.T, line string) {
		e, ok := parseJournalLine(line)
		if !ok {
			return
		}
		if e.action != ActionErase && e.action != ActionAnonymise {
			t.Fatalf("action %q", e.action)
		}
		if e.kind != "email" && e.kind != "phone" {
			t.Fatalf("kind %q", e.kind)
		}
		parts := strings.Split(line, "\t")
		if len(parts) == 4 && e.action != ActionErase {
			t.Fatalf("an old-format line reads as %q", e.action)
		}
		again, ok := parseJournalLine(strings.Join(append(parts[:4:4], e.action), "\t"))
		if !ok || again != e {
			t.Fatalf("%+v written back reads %+v (%v)", e, again, ok)
		}
	})
}
