package servertest_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// TestNationIsolation signs in as an administrator of nation A and asks
// every /admin/{nation}/… route with nation B's slug (and B's member and
// invitation where a route names one): each must answer 404, show nothing
// of B, and change nothing of B. The same GET routes with A's own slug must
// work, so the probe cannot pass by accident.
func TestNationIsolation(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		a, b := s.CreateNation("nation-a"), s.CreateNation("nation-b")
		s.CreateUser("alice@example.org", a, auth.RoleAdmin)
		bob := s.CreateUser("bob-secret@example.org", b, auth.RoleAdmin)
		_, err := s.App.Auth.CreateInvitation(ctx, b.ID, "carol-secret@example.org", auth.RoleOrganizer, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		invs, err := s.App.Auth.PendingInvitations(ctx, b.ID)
		if err != nil || len(invs) != 1 {
			t.Fatalf("invitations of B: %v %v", invs, err)
		}
		c := s.Client()
		c.Login("alice@example.org", servertest.Password)

		values := map[string]string{"nation": b.Slug, "user": strconv.FormatInt(bob.ID, 10), "invitation": invs[0].TokenHash}
		own := map[string]string{"nation": a.Slug}
		for k, v := range peopleFixtures(t, s, b, "Zelda-secret") {
			values[k] = v
		}
		for k, v := range peopleFixtures(t, s, a, "Alma") {
			own[k] = v
		}
		for k, v := range pagesFixtures(t, s, b, "Zelda-secret") {
			values[k] = v
		}
		for k, v := range pagesFixtures(t, s, a, "Alma") {
			own[k] = v
		}
		for k, v := range segmentFixtures(t, s, b, "Zelda-secret") {
			values[k] = v
		}
		for k, v := range segmentFixtures(t, s, a, "Alma") {
			own[k] = v
		}
		for k, v := range importFixtures(t, s, b, "Zelda-secret") {
			values[k] = v
		}
		for k, v := range importFixtures(t, s, a, "Alma") {
			own[k] = v
		}
		for k, v := range broadcastFixtures(t, s, b, "Zelda-secret") {
			values[k] = v
		}
		for k, v := range broadcastFixtures(t, s, a, "Alma") {
			own[k] = v
		}
		for _, rt := range servertest.NationRoutes() {
			path := servertest.Fill(rt.Path, values)
			var res *servertest.Response
			if rt.Method == http.MethodGet {
				res = c.Get(path)
			} else {
				res = c.PostForm(path, servertest.FillForm(rt.Form, values))
			}
			if res.Status != http.StatusNotFound {
				t.Errorf("%s %s as staff of another nation: status %d, want 404", rt.Method, rt.Path, res.Status)
			}
			for _, secret := range []string{b.Name, bob.Email, "carol-secret", "Zelda-secret"} {
				if res.Has(secret) {
					t.Errorf("%s %s leaks %q of nation B", rt.Method, rt.Path, secret)
				}
			}

			if rt.Method == http.MethodGet {
				own := servertest.Fill(rt.Path, own)
				if res := c.Get(own); res.Status != http.StatusOK {
					t.Errorf("GET %s on the user's own nation: status %d, want 200 (probe would be vacuous)", rt.Path, res.Status)
				}
			}
		}

		// Nothing of B changed.
		if role, err := s.App.Auth.RoleIn(ctx, b.ID, bob.ID); err != nil || role != auth.RoleAdmin {
			t.Errorf("bob's role in B is now %q (%v)", role, err)
		}
		if invs, _ := s.App.Auth.PendingInvitations(ctx, b.ID); len(invs) != 1 {
			t.Errorf("B's invitations changed: %d pending, want 1", len(invs))
		}
		if _, err := s.App.Auth.RoleIn(ctx, b.ID, s.CreateUser("alice@example.org", nil, "").ID); err == nil {
			t.Errorf("alice became staff of B")
		}
		checkPagesUnchanged(t, s, b, values)
		ps := people.NewStore(s.DB)
		bp, _ := strconv.ParseInt(values["person"], 10, 64)
		if p, err := ps.Get(ctx, b.ID, bp); err != nil || p.FirstName != "Zelda-secret" || len(p.Tags) != 1 || p.MergedInto != 0 {
			t.Errorf("B's person changed: %+v %v", p, err)
		}
		if acts, _ := ps.Timeline(ctx, b.ID, bp, 10); len(acts) != 2 {
			t.Errorf("B's person's timeline changed: %d entries, want 2", len(acts))
		}
		if open, _ := ps.ListDuplicates(ctx, b.ID, "", people.Page{}); len(open) != 1 {
			t.Errorf("B's open duplicates: %d, want 1", len(open))
		}
		if ms, _ := ps.Merges(ctx, b.ID, bp+3); len(ms) != 1 || !ms[0].UndoneAt.IsZero() {
			t.Errorf("B's merge changed: %+v", ms)
		}
		for _, q := range []string{"probe-person", "probe-edit"} { // the probes' e-mails
			if n, _ := ps.Search(ctx, b.ID, q, people.Page{}); len(n) != 0 {
				t.Errorf("a probe created people in B")
			}
		}
		if log, _ := ps.AuditByTime(ctx, b.ID, time.Unix(0, 0), time.Now().Add(time.Hour), 100); len(log) != 1 {
			t.Errorf("B's audit log: %+v, want only the fixture's merge", log)
		}
		segmentUnchanged(t, s, b, values)
		importUnchanged(t, s, b, values)
		broadcastUnchanged(t, s, b, values)
	})
}

// peopleFixtures makes in n what the people routes name: a tagged person
// ({person}), an open duplicate pair ({duplicate}, first person {dup_a}) and
// an undoable merge ({merge}), and returns their ids as probe values.
func peopleFixtures(t *testing.T, s *servertest.Server, n *nation.Nation, first string) map[string]string {
	t.Helper()
	ctx := context.Background()
	ps := people.NewStore(s.DB)
	src := people.Source{Kind: "import", Ref: "probe.csv"}
	add := func(rec people.Record) int64 {
		res, err := ps.Upsert(ctx, n.ID, rec, src, people.UpsertOptions{})
		if err != nil || res.Outcome != people.Created {
			t.Fatalf("fixture person: %+v %v", res, err)
		}
		return res.PersonID
	}
	person := add(people.Record{FirstName: first, LastName: "Probe", Emails: []string{first + "@example.org"}, Tags: []string{"probe-fixture"}})
	if _, err := ps.Upsert(ctx, n.ID, people.Record{Emails: []string{first + "@example.org"}, Note: "fixture note"}, src, people.UpsertOptions{}); err != nil {
		t.Fatal(err)
	}
	a := add(people.Record{FirstName: "Twin", LastName: "Probe", Emails: []string{"twin1@example.org"}, Home: people.Address{Postcode: "1000"}})
	add(people.Record{FirstName: "Twin", LastName: "Probe", Emails: []string{"twin2@example.org"}, Home: people.Address{Postcode: "1000"}})
	kept := add(people.Record{FirstName: "Kept", Emails: []string{"kept@example.org"}})
	gone := add(people.Record{FirstName: "Gone", Emails: []string{"gone@example.org"}})
	if kept != person+3 {
		t.Fatalf("fixture ids not consecutive: person %d, kept %d", person, kept)
	}
	merge, err := ps.Merge(ctx, n.ID, kept, gone, 0)
	if err != nil {
		t.Fatal(err)
	}
	dups, err := ps.ListDuplicates(ctx, n.ID, "", people.Page{})
	if err != nil || len(dups) != 1 || dups[0].PersonA != a {
		t.Fatalf("fixture duplicate: %+v %v", dups, err)
	}
	return map[string]string{"person": strconv.FormatInt(person, 10), "dup_a": strconv.FormatInt(a, 10),
		"duplicate": strconv.FormatInt(dups[0].ID, 10), "merge": strconv.FormatInt(merge, 10)}
}
