package servertest_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/servertest"
)

// pagesFixtures makes in n what the pages routes name: a published petition
// titled after first, signed once ({page}), and a topic ({topic}).
func pagesFixtures(t *testing.T, s *servertest.Server, n *nation.Nation, first string) map[string]string {
	t.Helper()
	ctx := context.Background()
	p := &pages.Page{NationID: n.ID, Type: pages.TypePetition, Slug: "probe-petition", Title: "Petition of " + first,
		Status: pages.StatusPublished, Settings: pages.DefaultSettings(pages.TypePetition, n.Languages, func(l, k string, _ ...any) string { return "I agree" })}
	if ps := p.Validate(n.Languages); len(ps) > 0 {
		t.Fatalf("fixture page: %+v", ps)
	}
	if err := s.App.Pages.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	topic := &pages.Topic{Slug: "probe-topic-" + n.Slug, Names: map[string]string{"en": "Topic of " + first}}
	if err := s.App.Pages.CreateTopic(ctx, n.ID, topic); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	c.IP = "192.0.2.77"
	res := c.PostForm("/"+n.Slug+"/probe-petition", url.Values{"first_name": {first}, "email": {first + "-signer@example.org"}})
	if res.Status != 303 {
		t.Fatalf("fixture signature: status %d", res.Status)
	}
	return map[string]string{"page": strconv.FormatInt(p.ID, 10), "topic": strconv.FormatInt(topic.ID, 10)}
}

// checkPagesUnchanged proves the probe changed nothing of nation b's pages.
func checkPagesUnchanged(t *testing.T, s *servertest.Server, b *nation.Nation, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	id, _ := strconv.ParseInt(values["page"], 10, 64)
	p, err := s.App.Pages.ByID(ctx, b.ID, id)
	if err != nil || p.Slug != "probe-petition" || !p.Published() || p.Type != pages.TypePetition {
		t.Errorf("B's page changed: %+v %v", p, err)
	}
	if list, _ := s.App.Pages.List(ctx, b.ID, false); len(list) != 1 {
		t.Errorf("B has %d pages, want 1", len(list))
	}
	if n, err := s.App.Pages.SignatureCount(ctx, b.ID, id); err != nil || n != 1 {
		t.Errorf("B's signatures: %d %v", n, err)
	}
	ts, _ := s.App.Pages.Topics(ctx, b.ID)
	if len(ts) != 1 || ts[0].Names["en"] != "Topic of Zelda-secret" {
		t.Errorf("B's topics changed: %+v", ts)
	}
}
