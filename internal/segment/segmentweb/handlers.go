// Package segmentweb serves the targeting pages of the control panel: the
// segments page (filter box with a live count, the first page of matching
// people, syntax help and a point-and-click builder), saved segments with
// their count over time, actions on a segment (CSV export, tagging everyone
// in it as a background job, the audience export for ad platforms and its
// register), and the engagement ladder. The rules live in internal/segment;
// this package is HTTP, the background jobs and the one bulk write the
// people store has no method for (tagging a whole segment).
package segmentweb

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the targeting pages need.
type Deps struct {
	DB       *store.DB
	Segments *segment.Service
	People   *people.Store
	Auth     *auth.Store
	Guard    *auth.Guard
	Jobs     *jobs.Queue
	Renderer *web.Renderer
	Log      *slog.Logger
	// Scope is the volunteers' scopes (internal/privacy implements it):
	// a volunteer granted exports may export the people of their scope.
	// Nil keeps volunteers out of every segment route.
	Scope Scoper
}

// Scoper says what a volunteer may see: a condition on people p (with its
// arguments) selecting the people of their scope, and whether sensitive
// fields and exports are granted (the same as peopleweb.Scoper).
type Scoper interface {
	PeopleScope(ctx context.Context, nationID, userID int64) (where string, args []any, sensitive, export bool, err error)
}

// Handlers serves the targeting pages.
type Handlers struct{ Deps }

// NewHandlers returns the targeting handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{Deps: d} }

// Zone gives the segment service each nation's time zone (ages and dates
// are counted in it); an unknown zone name counts in UTC.
func Zone(nations *nation.Store) func(ctx context.Context, id int64) (*time.Location, error) {
	return func(ctx context.Context, id int64) (*time.Location, error) {
		n, err := nations.ByID(ctx, id)
		if err != nil {
			return nil, err
		}
		loc, err := time.LoadLocation(n.TimeZone)
		if err != nil {
			return time.UTC, nil
		}
		return loc, nil
	}
}

// Register adds the routes. Every /admin/{nation}/… route here is also
// listed in servertest.NationRoutes, the cross-nation isolation probe.
// Organizers and administrators use segments and the ladder; the audience
// export, its register and the ladder's configuration are for
// administrators. Volunteers get 404, as for any page they may not see,
// except from the list export when they hold the export grant.
func (h *Handlers) Register(mux *http.ServeMux) {
	org := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleOrganizer, fn)
	}
	admin := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleAdmin, fn)
	}
	mux.Handle("GET /admin/{nation}/segments", org(h.index))
	mux.Handle("GET /admin/{nation}/segments/count", org(h.count))
	mux.Handle("GET /admin/{nation}/segments/build", org(h.build))
	mux.Handle("POST /admin/{nation}/segments/saved", org(h.savedCreate))
	mux.Handle("GET /admin/{nation}/segments/saved/{id}", org(h.savedShow))
	mux.Handle("POST /admin/{nation}/segments/saved/{id}", org(h.savedUpdate))
	mux.Handle("POST /admin/{nation}/segments/saved/{id}/delete", org(h.savedDelete))
	// Volunteers granted exports reach the list export, for their scope.
	mux.Handle("POST /admin/{nation}/segments/export", h.Guard.Nation(auth.RoleVolunteer, h.export))
	mux.Handle("POST /admin/{nation}/segments/tag", org(h.tag))
	mux.Handle("GET /admin/{nation}/segments/jobs/{id}", org(h.jobShow))
	mux.Handle("POST /admin/{nation}/segments/audience", admin(h.audience))
	mux.Handle("GET /admin/{nation}/segments/register", admin(h.register))
	mux.Handle("POST /admin/{nation}/segments/sensitive", admin(h.sensitive))

	mux.Handle("GET /admin/{nation}/ladder", org(h.ladder))
	mux.Handle("POST /admin/{nation}/ladder/points", admin(h.ladderPoints))
	mux.Handle("POST /admin/{nation}/ladder/rungs", admin(h.ladderRungs))
	mux.Handle("POST /admin/{nation}/ladder/recompute", admin(h.ladderRecompute))
	mux.Handle("GET /admin/{nation}/ladder/ready", org(h.ladderReady))
	mux.Handle("GET /admin/{nation}/ladder/people/{id}", org(h.ladderPerson))
	mux.Handle("POST /admin/{nation}/ladder/people/{id}", org(h.ladderPersonSet))
}

// fail answers with the error's status and safe message.
func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.Error(w, r, h.Log, err)
}

// base is the nation's segments URL.
func base(s *auth.Staff) string { return "/admin/" + s.Nation.Slug + "/segments" }

// staffNames maps the nation's staff ids to what to show for them.
func (h *Handlers) staffNames(ctx context.Context, nationID int64) map[int64]string {
	names := map[int64]string{}
	members, err := h.Auth.Members(ctx, nationID)
	if err != nil {
		return names
	}
	for _, m := range members {
		if m.Name != "" {
			names[m.UserID] = m.Name
		} else {
			names[m.UserID] = m.Email
		}
	}
	return names
}

// pageParam reads ?page= (1-based).
func pageParam(r *http.Request) int {
	p, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func sortStrings(s []string) { slices.Sort(s) }
