package peopleweb

import (
	"net/http"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/people"
)

// auditLimit bounds the lines one audit page shows.
const auditLimit = 500

type auditRow struct {
	At       time.Time
	Actor    string
	Action   string
	Kind     string
	ObjectID int64
	Person   bool // ObjectID is a person: link to the profile
}

type auditPage struct {
	Actors     []option
	From, To   string
	Person     string
	PersonName string
	Rows       []auditRow
	Error      string
	Truncated  bool
}

// audit lists the nation's audit log, newest first, filtered by staff
// member, by day range (in the nation's time zone, both days included) and
// by person — the profile links here as "who looked at this person".
func (h *Handlers) audit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	ctx := r.Context()
	q := r.URL.Query()
	v := s.View(h.Renderer, r)
	d := auditPage{From: q.Get("from"), To: q.Get("to"), Person: q.Get("person")}
	status := http.StatusOK

	loc, err := time.LoadLocation(s.Nation.TimeZone)
	if err != nil || s.Nation.TimeZone == "" {
		loc = time.UTC
	}
	from, to := time.Unix(0, 0), time.Now().Add(24*time.Hour)
	if d.From != "" {
		t, err := time.ParseInLocation("2006-01-02", d.From, loc)
		if err != nil {
			d.Error, status = v.T("people.err.date"), http.StatusUnprocessableEntity
		} else {
			from = t
		}
	}
	if d.To != "" {
		t, err := time.ParseInLocation("2006-01-02", d.To, loc)
		if err != nil {
			d.Error, status = v.T("people.err.date"), http.StatusUnprocessableEntity
		} else {
			to = t.AddDate(0, 0, 1)
		}
	}
	actor, _ := strconv.ParseInt(q.Get("actor"), 10, 64)
	person, _ := strconv.ParseInt(d.Person, 10, 64)

	names, members, err := h.staffNames(r, s)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Actors = append(d.Actors, option{Value: "", Label: v.T("people.audit.anyone"), Selected: actor == 0})
	for _, m := range members {
		d.Actors = append(d.Actors, option{Value: strconv.FormatInt(m.UserID, 10), Label: names[m.UserID], Selected: m.UserID == actor})
	}

	var entries []people.AuditEntry
	if d.Error == "" {
		switch {
		case person > 0:
			// The store filters by object only; actor and time apply here.
			all, err := h.People.AuditByObject(ctx, s.Nation.ID, "person", person, 1000)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			for _, e := range all {
				if (actor == 0 || e.ActorID == actor) && !e.At.Before(from) && e.At.Before(to) {
					entries = append(entries, e)
				}
			}
		case actor > 0:
			entries, err = h.People.AuditByActor(ctx, s.Nation.ID, actor, from, to, auditLimit+1)
		default:
			entries, err = h.People.AuditByTime(ctx, s.Nation.ID, from, to, auditLimit+1)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if len(entries) > auditLimit {
		entries, d.Truncated = entries[:auditLimit], true
	}
	if person > 0 {
		if p, err := h.People.Get(ctx, s.Nation.ID, person); err == nil {
			d.PersonName = displayName(p)
		}
	}
	has := func(k string) bool { return h.Renderer.Bundle().Has(v.Lang, k) }
	for _, e := range entries {
		actorName, ok := names[e.ActorID]
		switch {
		case e.ActorID == 0:
			actorName = v.T("people.audit.system")
		case !ok:
			actorName = "#" + strconv.FormatInt(e.ActorID, 10)
		}
		d.Rows = append(d.Rows, auditRow{At: e.At.In(loc), Actor: actorName, Action: label(v, has, "people.audit.action.", e.Action),
			Kind: e.ObjectKind, ObjectID: e.ObjectID, Person: e.ObjectKind == "person"})
	}
	v.Data = d
	h.Renderer.RenderPrivate(w, r, status, "people_audit", v)
}
