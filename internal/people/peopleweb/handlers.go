// Package peopleweb serves the people pages of the control panel: the list
// with search, the profile (fields, tags, consents with their history, the
// timeline and the provenance of each datum), the edit and new-person forms,
// tags and notes, the duplicates queue with merge and undo, and the audit
// log. The rules and most SQL live in internal/people; the few targeted
// writes the store has no method for yet (edit by id, tag, untag, note) are
// here, each in one transaction with its timeline entry and audit line.
package peopleweb

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// Deps are what the people pages need.
type Deps struct {
	DB       *store.DB
	People   *people.Store
	Auth     *auth.Store
	Guard    *auth.Guard
	Renderer *web.Renderer
	Log      *slog.Logger
	// Scope limits what volunteers see (internal/privacy implements it);
	// nil keeps volunteers out of the people pages.
	Scope Scoper
}

// Scoper says what a volunteer may see: a condition on people p (with its
// arguments) selecting the people of their scope, and whether sensitive
// fields (support level, sensitive tags, notes) and exports are granted.
type Scoper interface {
	PeopleScope(ctx context.Context, nationID, userID int64) (where string, args []any, sensitive, export bool, err error)
}

// Handlers serves the people pages.
type Handlers struct{ Deps }

// NewHandlers returns the people handlers.
func NewHandlers(d Deps) *Handlers { return &Handlers{Deps: d} }

// Register adds the routes. Every /admin/{nation}/… route here is also
// listed in servertest.NationRoutes, the cross-nation isolation probe.
//
// Duplicates and merges sit under /people/duplicates/… and
// /people/merges/… with a literal last segment, so that no pattern
// overlaps /people/{id}/… in the standard mux.
func (h *Handlers) Register(mux *http.ServeMux) {
	org := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleOrganizer, fn)
	}
	// Volunteers reach the list and profiles, limited to their scope.
	vol := func(fn func(http.ResponseWriter, *http.Request, *auth.Staff)) http.Handler {
		return h.Guard.Nation(auth.RoleVolunteer, func(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
			if s.Role == auth.RoleVolunteer && h.Scope == nil {
				http.NotFound(w, r)
				return
			}
			fn(w, r, s)
		})
	}
	mux.Handle("GET /admin/{nation}/people", vol(h.list))
	mux.Handle("GET /admin/{nation}/people/new", org(h.newForm))
	mux.Handle("POST /admin/{nation}/people/new", org(h.newSubmit))
	mux.Handle("GET /admin/{nation}/people/{id}", vol(h.profile))
	mux.Handle("GET /admin/{nation}/people/{id}/edit", org(h.editForm))
	mux.Handle("POST /admin/{nation}/people/{id}/edit", org(h.editSubmit))
	mux.Handle("POST /admin/{nation}/people/{id}/tags", org(h.tagAdd))
	mux.Handle("POST /admin/{nation}/people/{id}/tags/remove", org(h.tagRemove))
	mux.Handle("POST /admin/{nation}/people/{id}/notes", org(h.noteAdd))

	mux.Handle("GET /admin/{nation}/people/duplicates", org(h.duplicates))
	mux.Handle("POST /admin/{nation}/people/duplicates/detect", org(h.detect))
	mux.Handle("GET /admin/{nation}/people/duplicates/{dup}/merge", org(h.mergePreview))
	mux.Handle("POST /admin/{nation}/people/duplicates/{dup}/merge", org(h.mergeSubmit))
	mux.Handle("POST /admin/{nation}/people/duplicates/{dup}/dismiss", org(h.dismiss))
	mux.Handle("POST /admin/{nation}/people/merges/{merge}/undo", org(h.undo))

	mux.Handle("GET /admin/{nation}/audit", h.Guard.Nation(auth.RoleAdmin, h.audit))
}

// scope is a volunteer's view of the people: nil for organizers and
// administrators, who see everyone.
type scope struct {
	where     string
	args      []any
	sensitive bool
}

// scopeOf returns the staff member's scope (nil: not a volunteer).
func (h *Handlers) scopeOf(r *http.Request, s *auth.Staff) (*scope, error) {
	if s.Role != auth.RoleVolunteer {
		return nil, nil
	}
	where, args, sensitive, _, err := h.Scope.PeopleScope(r.Context(), s.Nation.ID, s.User.ID)
	if err != nil {
		return nil, err
	}
	return &scope{where: "id IN (SELECT p.id FROM people p WHERE " + where + ")", args: args, sensitive: sensitive}, nil
}

// fail answers with the error's status; internal errors are logged by
// web.Error without request data.
func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.Error(w, r, h.Log, err)
}

// field is one input of a form, in the shape the shared "field" partial
// expects.
type field struct {
	Name, Label, Type, Value, Error, Hint, Autocomplete string
	Required                                            bool
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// selectField is a labelled select with its error.
type selectField struct {
	Name, Label, Error string
	Options            []option
}

// fieldErrors collects translated messages per form field.
type fieldErrors map[string]string

func (e fieldErrors) add(name, msg string) {
	if _, ok := e[name]; !ok {
		e[name] = msg
	}
}

// staffNames maps the nation's staff ids to what to show for them.
func (h *Handlers) staffNames(r *http.Request, s *auth.Staff) (map[int64]string, []auth.Member, error) {
	members, err := h.Auth.Members(r.Context(), s.Nation.ID)
	if err != nil {
		return nil, nil, err
	}
	names := map[int64]string{}
	for _, m := range members {
		if m.Name != "" {
			names[m.UserID] = m.Name
		} else {
			names[m.UserID] = m.Email
		}
	}
	return names, members, nil
}
