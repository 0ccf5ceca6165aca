package segmentweb

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/web"
)

// export downloads the people of a filter as CSV. The export goes in the
// targeting register (with its count) and the audit log (action "export",
// object the register entry), before a byte is sent.
func (h *Handlers) export(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	q := strings.TrimSpace(r.PostForm.Get("q"))
	var within string
	var withinArgs []any
	if s.Role == auth.RoleVolunteer {
		var ok bool
		if within, withinArgs, ok = h.volunteerExport(w, r, s, q); !ok {
			return
		}
	}
	var buf bytes.Buffer
	n, err := h.Segments.ExportListWithin(r.Context(), s.Nation.ID, q, within, withinArgs, &buf)
	if err != nil && s.Role == auth.RoleVolunteer {
		h.fail(w, r, err) // the segments page is not theirs
		return
	}
	if err != nil {
		h.actionFailed(w, r, s, "export", err)
		return
	}
	id, err := h.Segments.RecordExport(r.Context(), s.Nation.ID, s.User.ID, segment.FormatCSV, q, "", n)
	if err == nil {
		err = h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "export", "export", id)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sendCSV(w, "segment", &buf)
}

// volunteerExport applies the export rule to a volunteer (docs/privacy.md,
// "Volunteers"): without the export grant the route does not exist for
// them (404); with it, the rows are limited to their scope, and a filter
// selecting on opinion data (support level, sensitive tags) is refused
// (403) unless they are also granted sensitive fields — who is in the file
// would reveal it.
func (h *Handlers) volunteerExport(w http.ResponseWriter, r *http.Request, s *auth.Staff, q string) (string, []any, bool) {
	if h.Scope == nil {
		http.NotFound(w, r)
		return "", nil, false
	}
	where, args, sensitive, export, err := h.Scope.PeopleScope(r.Context(), s.Nation.ID, s.User.ID)
	if err != nil {
		h.fail(w, r, err)
		return "", nil, false
	}
	if !export {
		http.NotFound(w, r)
		return "", nil, false
	}
	if !sensitive {
		what, err := h.Segments.UsesOpinion(r.Context(), s.Nation.ID, q)
		if err == nil && what != "" {
			err = errs.Forbidden("this filter selects people on %s, political-opinion data you are not granted", what)
		}
		if err != nil {
			h.fail(w, r, err)
			return "", nil, false
		}
	}
	return where, args, true
}

func sendCSV(w http.ResponseWriter, prefix string, buf *bytes.Buffer) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, prefix, time.Now().UTC().Format("20060102-150405")))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = buf.WriteTo(w)
}

// actionFailed shows the segments page again with an action's invalid
// input under that action's form; other errors answer with their status.
func (h *Handlers) actionFailed(w http.ResponseWriter, r *http.Request, s *auth.Staff, action string, err error) {
	if errs.KindOf(err) != errs.KindInvalid {
		h.fail(w, r, err)
		return
	}
	h.renderIndex(w, r, s, http.StatusUnprocessableEntity, map[string]string{action: errs.Message(err)})
}

// tag queues a job that adds (op=add) or removes (op=remove) a tag for
// everyone the filter selects, and shows its progress page.
func (h *Handlers) tag(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	q := strings.TrimSpace(r.PostForm.Get("q"))
	remove := r.PostForm.Get("op") == "remove"
	if _, err := h.Segments.Count(r.Context(), s.Nation.ID, q); err != nil {
		h.actionFailed(w, r, s, "tag", err)
		return
	}
	name, key := people.NormaliseTag(r.PostForm.Get("tag"))
	if key == "" {
		v := s.View(h.Renderer, r)
		h.renderIndex(w, r, s, http.StatusUnprocessableEntity, map[string]string{"tag": v.T("segments.err.tag")})
		return
	}
	j, err := h.Jobs.Enqueue(r.Context(), jobs.Params{NationID: s.Nation.ID, Kind: KindTag,
		Args: TagArgs{Filter: q, Tag: name, Remove: remove, Actor: s.User.ID}})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action := "segment.tag"
	if remove {
		action = "segment.untag"
	}
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, action, "job", j.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s/jobs/%d", base(s), j.ID), http.StatusSeeOther)
}

// jobPage is the data of a tag job's progress page.
type jobPage struct {
	Job      *jobs.Job
	Args     TagArgs
	Percent  int64
	Finished bool
	Actor    string
}

// jobShow shows a tag job's progress; it can be left and revisited, and
// segments.js reloads it while the job runs.
func (h *Handlers) jobShow(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return
	}
	j, err := h.Jobs.Get(r.Context(), s.Nation.ID, id)
	if err != nil || j.Kind != KindTag {
		http.NotFound(w, r)
		return
	}
	p := &jobPage{Job: j, Finished: j.State.Finished()}
	if err := j.Decode(&p.Args); err != nil {
		h.fail(w, r, err)
		return
	}
	if j.ProgressTotal > 0 {
		p.Percent = j.ProgressDone * 100 / j.ProgressTotal
	} else if j.State == jobs.StateSucceeded {
		p.Percent = 100
	}
	p.Actor = h.staffNames(r.Context(), s.Nation.ID)[p.Args.Actor]
	v := s.View(h.Renderer, r)
	v.Data = p
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "segments_job", v)
}

// audience downloads the audience file of a filter for an ad platform
// (administrators only; see segment.AudienceExport for the rules).
func (h *Handlers) audience(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	var buf bytes.Buffer
	_, err := h.Segments.AudienceExport(r.Context(), s.Nation.ID, r.PostForm.Get("q"), r.PostForm.Get("purpose"), s.User.ID, &buf)
	if err != nil {
		h.actionFailed(w, r, s, "audience", err)
		return
	}
	sendCSV(w, "audience", &buf)
}

// registerPage is the data of the targeting register page.
type registerPage struct {
	Entries   []segment.RegisterEntry
	Names     map[int64]string
	Sensitive []string
	PrevURL   string
	NextURL   string
}

func (h *Handlers) register(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	ctx := r.Context()
	page := pageParam(r)
	entries, err := h.Segments.Register(ctx, s.Nation.ID, pageSize+1, (page-1)*pageSize)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sens, err := h.Segments.SensitiveTags(ctx, s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := &registerPage{Names: h.staffNames(ctx, s.Nation.ID)}
	if len(entries) > pageSize {
		entries = entries[:pageSize]
		p.NextURL = fmt.Sprintf("%s/register?page=%d", base(s), page+1)
	}
	if page > 1 {
		p.PrevURL = fmt.Sprintf("%s/register?page=%d", base(s), page-1)
	}
	p.Entries = entries
	for _, name := range sens {
		p.Sensitive = append(p.Sensitive, name)
	}
	sortStrings(p.Sensitive)
	v := s.View(h.Renderer, r)
	switch r.URL.Query().Get("done") {
	case "marked":
		v.Flash = v.T("segments.register.marked")
	case "unmarked":
		v.Flash = v.T("segments.register.unmarked")
	}
	if e := r.URL.Query().Get("error"); e == "tag" {
		v.Errors = map[string]string{"tag": v.T("segments.err.no_tag")}
	}
	v.Data = p
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "segments_register", v)
}

// sensitive marks a tag as political-opinion data (or unmarks it).
func (h *Handlers) sensitive(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	on := r.PostForm.Get("sensitive") == "yes"
	err := h.Segments.SetTagSensitive(r.Context(), s.Nation.ID, r.PostForm.Get("tag"), on)
	if errs.KindOf(err) == errs.KindNotFound {
		http.Redirect(w, r, base(s)+"/register?"+url.Values{"error": {"tag"}}.Encode(), http.StatusSeeOther)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	done := "unmarked"
	if on {
		done = "marked"
	}
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "tag."+done, "nation", s.Nation.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, base(s)+"/register?done="+done, http.StatusSeeOther)
}
