package servertest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/segment/segmentweb"
	"github.com/muster-org/muster/internal/servertest"
)

// segmentFixtures makes in n what the segment routes name: a saved segment
// ({segment}) named after secret, and a queued tag job ({tagjob}).
func segmentFixtures(t *testing.T, s *servertest.Server, n *nation.Nation, secret string) map[string]string {
	t.Helper()
	ctx := context.Background()
	g, err := s.App.Segments.CreateSaved(ctx, n.ID, segment.Saved{Name: secret + " segment", Filter: "tag:probe-fixture"})
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.App.Jobs.Enqueue(ctx, jobs.Params{NationID: n.ID, Kind: segmentweb.KindTag,
		Args: segmentweb.TagArgs{Filter: "tag:probe-fixture", Tag: "probe-job"}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"segment": strconv.FormatInt(g.ID, 10), "tagjob": strconv.FormatInt(j.ID, 10)}
}

// segmentUnchanged checks that the probe changed nothing of nation b's
// targeting data.
func segmentUnchanged(t *testing.T, s *servertest.Server, b *nation.Nation, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	svc := s.App.Segments
	if saved, err := svc.ListSaved(ctx, b.ID); err != nil || len(saved) != 1 || saved[0].Filter != "tag:probe-fixture" {
		t.Errorf("B's saved segments changed: %+v %v", saved, err)
	}
	if list, _ := s.App.Jobs.List(ctx, b.ID, jobs.Filter{}); len(list) != 1 {
		t.Errorf("B's jobs: %d, want only the fixture's", len(list))
	}
	if reg, _ := svc.Register(ctx, b.ID, 10, 0); len(reg) != 0 {
		t.Errorf("B's targeting register: %+v", reg)
	}
	if sens, _ := svc.SensitiveTags(ctx, b.ID); len(sens) != 0 {
		t.Errorf("B's sensitive tags: %+v", sens)
	}
	if pts, _ := svc.Points(ctx, b.ID); pts["signed"] != 5 {
		t.Errorf("B's points changed: %+v", pts)
	}
	if rungs, _ := svc.Rungs(ctx, b.ID); len(rungs) != 5 {
		t.Errorf("B's ladder changed: %+v", rungs)
	}
	person, _ := strconv.ParseInt(values["person"], 10, 64)
	if pr, _, err := svc.RungOf(ctx, b.ID, person); err != nil || pr.Manual != nil {
		t.Errorf("B's person's rung changed: %+v %v", pr, err)
	}
	if p, _ := people.NewStore(s.DB).Get(ctx, b.ID, person); p == nil || len(p.Tags) != 1 {
		t.Errorf("B's person's tags changed: %+v", p)
	}
}
