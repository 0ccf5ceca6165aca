package servertest_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/muster-org/muster/internal/auth"
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
			for _, secret := range []string{b.Name, bob.Email, "carol-secret"} {
				if res.Has(secret) {
					t.Errorf("%s %s leaks %q of nation B", rt.Method, rt.Path, secret)
				}
			}

			if rt.Method == http.MethodGet {
				own := servertest.Fill(rt.Path, map[string]string{"nation": a.Slug})
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
	})
}
