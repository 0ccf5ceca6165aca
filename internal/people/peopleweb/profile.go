package peopleweb

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/web"
)

type profilePage struct {
	P            *people.Person
	Name         string
	Gender       string
	Language     string
	Support      string
	Relationship string
	Phones       []phoneRow
	Addresses    []addressRow
	Custom       []customRow
	Consents     []consentRow
	Timeline     []activityRow
	Provenance   []provenanceRow
	Merges       []mergeRow
	Tag          field
	Note         field
	Notice       string
	Error        string
	IsAdmin      bool
	// ReadOnly is a volunteer's view: no edit, tag or note forms.
	ReadOnly bool
}

type phoneRow struct {
	Label, Raw, E164 string
	Invalid          bool
}

type addressRow struct {
	Label string
	A     people.Address
}

type customRow struct{ Name, Value string }

type consentRow struct {
	Channel string
	Current *consentEntry
	History []consentEntry
}

type consentEntry struct {
	Granted                        bool
	Status, Basis, Source, Wording string
	At                             time.Time
}

type activityRow struct {
	Type, Source, Details string
	Fields                []string
	At                    time.Time
}

type provenanceRow struct {
	Field, Source string
	At            time.Time
}

type mergeRow struct {
	people.MergeRecord
	Actor   string
	CanUndo bool
}

// label translates prefix+code when the catalog has it, else shows the code:
// codes written by newer features (activity types, …) still read sensibly.
func label(v *web.View, bundleHas func(string) bool, prefix, code string) string {
	if code == "" {
		return ""
	}
	if bundleHas(prefix + code) {
		return v.T(prefix + code)
	}
	return code
}

// sourceText describes where a datum came from, for the timeline,
// provenance and consent history.
func sourceText(v *web.View, src people.Source, staff map[int64]string) string {
	switch src.Kind {
	case "import":
		if src.Line > 0 {
			return v.T("people.source.import_line", src.Ref, src.Line)
		}
		return v.T("people.source.import", src.Ref)
	case "staff":
		name, ok := staff[src.UserID]
		if !ok {
			name = "#" + strconv.FormatInt(src.UserID, 10)
		}
		return v.T("people.source.staff", name)
	case "form":
		return v.T("people.source.form", src.Ref)
	case "api":
		return v.T("people.source.api")
	case "":
		return v.T("people.source.unknown")
	}
	return strings.TrimSpace(src.Kind + " " + src.Ref)
}

func displayName(p *people.Person) string {
	var parts []string
	for _, s := range []string{p.Prefix, p.FirstName, p.MiddleName, p.LastName} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		if p.Email != "" {
			return p.Email
		}
		return "#" + strconv.FormatInt(p.ID, 10)
	}
	return strings.Join(parts, " ")
}

// profileView builds the profile page; fe holds errors of the tag and note
// forms, which post back here.
func (h *Handlers) profileView(r *http.Request, s *auth.Staff, p *people.Person, fe fieldErrors) (*web.View, error) {
	ctx := r.Context()
	n := s.Nation.ID
	v := s.View(h.Renderer, r)
	has := func(k string) bool { return h.Renderer.Bundle().Has(v.Lang, k) }
	staff, _, err := h.staffNames(r, s)
	if err != nil {
		return nil, err
	}
	d := profilePage{
		P: p, Name: displayName(p), IsAdmin: s.Role == auth.RoleAdmin,
		Gender:       label(v, has, "people.gender.", p.Gender),
		Language:     languageName(p.Language),
		Relationship: label(v, has, "people.relationship.", p.Relationship),
		Tag:          field{Name: "tag", Label: v.T("people.tags.add_label"), Type: "text", Error: fe["tag"]},
		Note:         field{Name: "note", Label: v.T("people.notes.label"), Error: fe["note"]},
	}
	// A volunteer without the grant never sees opinion data: support
	// level, sensitive tags, notes, and the details of timeline entries
	// (which may name a tag or a changed value).
	hide := false
	if s.Role == auth.RoleVolunteer {
		d.ReadOnly = true
		sc, err := h.scopeOf(r, s)
		if err != nil {
			return nil, err
		}
		if hide = !sc.sensitive; hide {
			if d.P, err = h.withoutSensitiveTags(r, s, p); err != nil {
				return nil, err
			}
		}
	}
	if p.SupportLevel > 0 && !hide {
		d.Support = v.T("people.support." + strconv.Itoa(p.SupportLevel))
	}
	if len(fe) > 0 {
		d.Error = v.T("people.err.form")
		d.Tag.Value = r.PostForm.Get("tag")
		d.Note.Value = r.PostForm.Get("note")
	}
	if done := r.URL.Query().Get("done"); done != "" && has("people.done."+done) {
		d.Notice = v.T("people.done." + done)
	}

	for _, ph := range []struct {
		key string
		p   people.Phone
	}{{"phone", p.Phone}, {"mobile", p.Mobile}, {"work_phone", p.WorkPhone}} {
		if ph.p.Raw != "" {
			d.Phones = append(d.Phones, phoneRow{v.T("people.field." + ph.key), ph.p.Raw, ph.p.E164, ph.p.Invalid})
		}
	}
	for _, ph := range p.OtherPhones {
		d.Phones = append(d.Phones, phoneRow{v.T("people.field.other_phone"), ph.Raw, ph.E164, ph.Invalid})
	}
	if p.Home != (people.Address{}) {
		d.Addresses = append(d.Addresses, addressRow{v.T("people.field.home_address"), p.Home})
	}
	for _, kind := range []string{"mailing", "work"} {
		if a, ok := p.Addresses[kind]; ok {
			d.Addresses = append(d.Addresses, addressRow{v.T("people.field." + kind + "_address"), a})
		}
	}

	defs, err := h.People.CustomFields(ctx, n)
	if err != nil {
		return nil, err
	}
	for _, f := range defs {
		if val, ok := p.Custom[f.Name]; ok {
			d.Custom = append(d.Custom, customRow{f.Name, val})
		}
	}

	if d.Consents, err = h.consents(r, s, p.ID, v, staff); err != nil {
		return nil, err
	}

	acts, err := h.People.Timeline(ctx, n, p.ID, 200)
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		if hide && a.Type == "note" {
			continue
		}
		if hide {
			a.Details = ""
		}
		row := activityRow{Type: label(v, has, "people.activity.", a.Type), Source: sourceText(v, a.Source, staff), Details: a.Details, At: a.At}
		for _, f := range a.Fields {
			row.Fields = append(row.Fields, fieldLabel(v, has, f))
		}
		d.Timeline = append(d.Timeline, row)
	}

	prov, err := h.People.Provenance(ctx, n, p.ID)
	if err != nil {
		return nil, err
	}
	for f, pv := range prov {
		if hide && f == "support_level" {
			continue
		}
		d.Provenance = append(d.Provenance, provenanceRow{Field: fieldLabel(v, has, f), Source: sourceText(v, pv.Source, staff), At: pv.At})
	}
	sort.Slice(d.Provenance, func(i, j int) bool { return d.Provenance[i].Field < d.Provenance[j].Field })

	merges, err := h.People.Merges(ctx, n, p.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range merges {
		d.Merges = append(d.Merges, mergeRow{MergeRecord: m, Actor: staff[m.ActorID],
			CanUndo: m.UndoneAt.IsZero() && time.Since(m.At) < people.UndoWindow})
	}
	v.Data = d
	return v, nil
}

// consents groups the ledger per channel: the current entry (the latest)
// and the history, newest first, each with its wording.
func (h *Handlers) consents(r *http.Request, s *auth.Staff, personID int64, v *web.View, staff map[int64]string) ([]consentRow, error) {
	ctx := r.Context()
	has := func(k string) bool { return h.Renderer.Bundle().Has(v.Lang, k) }
	hist, err := h.People.ConsentHistory(ctx, s.Nation.ID, personID)
	if err != nil {
		return nil, err
	}
	current, err := h.People.CurrentConsents(ctx, s.Nation.ID, personID)
	if err != nil {
		return nil, err
	}
	wordings := map[string]string{}
	byChannel := map[string][]consentEntry{}
	for i := len(hist) - 1; i >= 0; i-- { // newest first
		c := hist[i]
		e := consentEntry{Granted: c.Granted(), Status: label(v, has, "people.consent.status.", c.Status),
			Basis: label(v, has, "people.consent.basis.", c.Basis), Source: sourceText(v, c.Source, staff), At: c.At}
		if c.WordingHash != "" {
			w, ok := wordings[c.WordingHash]
			if !ok {
				if w, err = h.People.ConsentWording(ctx, s.Nation.ID, c.WordingHash); err != nil {
					return nil, err
				}
				wordings[c.WordingHash] = w
			}
			e.Wording = w
		}
		byChannel[c.Channel] = append(byChannel[c.Channel], e)
	}
	var out []consentRow
	for _, ch := range people.Channels {
		row := consentRow{Channel: label(v, has, "people.channel.", ch), History: byChannel[ch]}
		if cur, ok := current[ch]; ok {
			// The current entry is the newest of the channel's history.
			for i := range row.History {
				if row.History[i].At.Equal(cur.At) {
					row.Current = &row.History[i]
					break
				}
			}
		}
		out = append(out, row)
	}
	return out, nil
}

// fieldLabel names a provenance field ("home_address", "custom.Ward").
func fieldLabel(v *web.View, has func(string) bool, f string) string {
	if name, ok := strings.CutPrefix(f, "custom."); ok {
		return name
	}
	return label(v, has, "people.field.", f)
}

// loadPerson reads the {id} person of the staff member's nation; a person
// of any other nation, or none, is 404.
func (h *Handlers) loadPerson(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*people.Person, bool) {
	id, ok := web.PathID(w, r, "id")
	if !ok {
		return nil, false
	}
	p, err := h.People.Get(r.Context(), s.Nation.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	return p, true
}

func (h *Handlers) profileURL(s *auth.Staff, id int64) string {
	return fmt.Sprintf("/admin/%s/people/%d", s.Nation.Slug, id)
}

// profile shows a person and records the view in the audit log (who looked
// at whom is itself something a data subject may ask about). A person merged
// away leads to the survivor.
func (h *Handlers) profile(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadPerson(w, r, s)
	if !ok {
		return
	}
	if p.MergedInto != 0 {
		http.Redirect(w, r, h.profileURL(s, p.MergedInto), http.StatusSeeOther)
		return
	}
	// A volunteer sees only the people of their scope; others do not exist.
	if sc, err := h.scopeOf(r, s); err != nil {
		h.fail(w, r, err)
		return
	} else if sc != nil {
		var n int
		if err := h.DB.QueryRow(r.Context(), `SELECT COUNT(*) FROM people WHERE nation_id = ? AND id = ? AND `+sc.where,
			append([]any{s.Nation.ID, p.ID}, sc.args...)...).Scan(&n); err != nil {
			h.fail(w, r, err)
			return
		}
		if n == 0 {
			http.NotFound(w, r)
			return
		}
	}
	if err := h.People.Audit(r.Context(), s.Nation.ID, s.User.ID, "person.view", "person", p.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	v, err := h.profileView(r, s, p, nil)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "people_profile", v)
}

// withoutSensitiveTags returns a copy of the person without the tags marked
// sensitive (political opinion), for volunteers without the grant.
func (h *Handlers) withoutSensitiveTags(r *http.Request, s *auth.Staff, p *people.Person) (*people.Person, error) {
	// Sensitive tags' rows are sealed (crypt.MarkTag): compare plain keys.
	k, err := crypt.ReadKeyOf(r.Context(), h.DB, s.Nation.ID)
	if err != nil {
		return nil, fmt.Errorf("peopleweb: nation key: %w", err)
	}
	tags, err := crypt.Tags(r.Context(), h.DB, k, s.Nation.ID)
	if err != nil {
		return nil, fmt.Errorf("peopleweb: sensitive tags: %w", err)
	}
	sensitive := map[string]bool{}
	for _, t := range tags {
		if t.Sensitive {
			sensitive[t.Key] = true
		}
	}
	cp := *p
	cp.Tags = nil
	for _, t := range p.Tags {
		if _, key := people.NormaliseTag(t); !sensitive[key] {
			cp.Tags = append(cp.Tags, t)
		}
	}
	cp.SupportLevel = 0
	return &cp, nil
}
