package servertest_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/servertest"
)

// broadcastFixtures makes in n what the e-mail routes name: a draft
// broadcast ({broadcast}) whose subject names secret.
func broadcastFixtures(t *testing.T, s *servertest.Server, n *nation.Nation, secret string) map[string]string {
	t.Helper()
	b, err := s.App.Broadcasts.Create(context.Background(), n.ID, 0, broadcast.Draft{
		Subject: "Broadcast of " + secret, Body: "Hello {{first_name | default \"ami·e\"}}", Filter: "tag:probe-fixture"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"broadcast": strconv.FormatInt(b.ID, 10)}
}

// broadcastUnchanged checks that the probe changed nothing of nation b's
// broadcasts or automatic-message settings.
func broadcastUnchanged(t *testing.T, s *servertest.Server, b *nation.Nation, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	id, _ := strconv.ParseInt(values["broadcast"], 10, 64)
	got, err := s.App.Broadcasts.Get(ctx, b.ID, id)
	if err != nil || got.State != broadcast.StateDraft || got.Subject != "Broadcast of Zelda-secret" || got.Filter != "tag:probe-fixture" {
		t.Errorf("B's broadcast changed: %+v %v", got, err)
	}
	if list, _ := s.App.Broadcasts.List(ctx, b.ID, 10); len(list) != 1 {
		t.Errorf("B has %d broadcasts, want 1", len(list))
	}
	page, _ := strconv.ParseInt(values["page"], 10, 64)
	if st, err := s.App.Automail.Settings(ctx, b.ID, page); err != nil || st.DoubleOptIn || len(st.Welcome) != 0 {
		t.Errorf("B's automatic messages changed: %+v %v", st, err)
	}
}
