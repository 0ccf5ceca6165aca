package people_test

import (
	"slices"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func TestTimingsNameTheStagesOfABatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := people.NewStore(db)
		n := newNation(t, db, "be", "BE")
		var tm people.Timings
		upsert(t, s, n, sample(), people.UpsertOptions{Timings: &tm})
		stages := tm.Stages()
		byName := map[string]time.Duration{}
		for _, st := range stages {
			byName[st.Name] = st.Elapsed
		}
		// New people, e-mails, tags, a timeline and consents were written:
		// each of those stages took some time, and nothing the batch did
		// not do (no existing person was updated) is listed.
		for _, want := range []string{"look up people", "match and apply", "insert people (and search index)",
			"insert person_emails", "insert taggings", "insert activities", "insert consents (and wordings)", "change log", "commit"} {
			if d, ok := byName[want]; !ok || d <= 0 {
				t.Errorf("stage %q: %v (listed: %v)", want, d, ok)
			}
		}
		if !slices.IsSortedFunc(stages, func(a, b people.Stage) int { return int(b.Elapsed - a.Elapsed) }) {
			t.Errorf("stages not costliest first: %+v", stages)
		}
		// A second batch adds to the same totals.
		before := byName["commit"]
		upsert(t, s, n, sample(), people.UpsertOptions{Timings: &tm})
		for _, st := range tm.Stages() {
			if st.Name == "commit" && st.Elapsed <= before {
				t.Errorf("commit total %v after a second batch, was %v", st.Elapsed, before)
			}
		}
		// Without Timings nothing is recorded and nothing breaks.
		var none *people.Timings
		upsert(t, s, n, sample(), people.UpsertOptions{Timings: none})
		if none.Stages() != nil {
			t.Error("a nil Timings listed stages")
		}
	})
}
