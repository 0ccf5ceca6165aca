package peopleweb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/web"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

func (h *Handlers) renderForm(w http.ResponseWriter, r *http.Request, s *auth.Staff, status int, p *people.Person, f formValues, fe fieldErrors, existing int64) {
	v := s.View(h.Renderer, r)
	pf := buildForm(v, f, fe)
	pf.Existing = existing
	if p == nil {
		pf.Title = v.T("people.new.title")
		pf.Action = "/admin/" + s.Nation.Slug + "/people/new"
		pf.Cancel = "/admin/" + s.Nation.Slug + "/people"
	} else {
		pf.Title = v.T("people.edit.title", displayName(p))
		pf.Action = h.profileURL(s, p.ID) + "/edit"
		pf.Cancel = h.profileURL(s, p.ID)
	}
	v.Data = pf
	h.Renderer.RenderPrivate(w, r, status, "people_form", v)
}

func (h *Handlers) editForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadLive(w, r, s)
	if !ok {
		return
	}
	h.renderForm(w, r, s, http.StatusOK, p, formFromPerson(p), nil, 0)
}

// loadLive is loadPerson for pages that change a person: a person merged
// away cannot be changed (404, as the profile leads to the survivor).
func (h *Handlers) loadLive(w http.ResponseWriter, r *http.Request, s *auth.Staff) (*people.Person, bool) {
	p, ok := h.loadPerson(w, r, s)
	if ok && p.MergedInto != 0 {
		http.NotFound(w, r)
		return nil, false
	}
	return p, ok
}

// editSubmit validates the whole form before writing anything; invalid
// input is shown again with a message next to each field at fault (422)
// and nothing is changed.
func (h *Handlers) editSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadLive(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	v := s.View(h.Renderer, r)
	f := formFromPost(r.PostForm)
	in, fe := validate(v, f, s.Nation.Country, p)
	if len(fe) > 0 {
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, p, f, fe, 0)
		return
	}
	changed := changedFields(p, in)
	if len(changed) == 0 {
		http.Redirect(w, r, h.profileURL(s, p.ID)+"?done=unchanged", http.StatusSeeOther)
		return
	}
	err := h.update(r.Context(), s, p, in, changed)
	var taken *emailTaken
	if errors.As(err, &taken) {
		fe.add(taken.field, v.T("people.err.email_taken", taken.address))
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, p, f, fe, taken.personID)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.profileURL(s, p.ID)+"?done=saved", http.StatusSeeOther)
}

// changedFields lists, with the names the timeline's provenance uses, the
// fields whose value the form changes.
func changedFields(p *people.Person, in input) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("prefix", p.Prefix != in.Prefix)
	add("first_name", p.FirstName != in.First)
	add("middle_name", p.MiddleName != in.Middle)
	add("last_name", p.LastName != in.Last)
	primary := ""
	if len(in.Emails) > 0 {
		primary = in.Emails[0].Display
	}
	add("email", p.Email != primary)
	var before, after []string
	for _, e := range p.Emails {
		before = append(before, strings.ToLower(e.Address))
	}
	for _, e := range in.Emails {
		after = append(after, e.Norm)
	}
	add("emails", !sameSet(before, after))
	add("phone", p.Phone.Raw != in.Phone.Raw)
	add("mobile", p.Mobile.Raw != in.Mobile.Raw)
	add("work_phone", p.WorkPhone.Raw != in.Work.Raw)
	add("birth_date", p.BirthDate != in.BirthDate)
	add("gender", p.Gender != in.Gender)
	add("language", p.Language != in.Language)
	home := p.Home
	home.Lat, home.Lng = nil, nil
	add("home_address", home != in.Home)
	add("support_level", p.SupportLevel != in.Support)
	add("relationship", p.Relationship != in.Relationship)
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, s := range a {
		m[s] = true
	}
	for _, s := range b {
		if !m[s] {
			return false
		}
	}
	return true
}

// emailTaken says an address of the form belongs to another person of the
// nation (e-mails are unique per nation: they are the matching key).
type emailTaken struct {
	field, address string
	personID       int64
}

func (e *emailTaken) Error() string { return "peopleweb: e-mail belongs to another person" }

// update writes an edit in one transaction: the people row, the set of
// e-mails, an "updated" activity naming the changed fields (their
// provenance: staff member and time) and an audit line "person.update".
//
// people.Store has no update-by-id yet (Upsert matches by identity, which
// an edit may be changing), so this is a targeted UPDATE of the columns the
// form owns; name_key is kept as the store computes it, and coordinates are
// dropped when the home address changes since they would no longer match.
func (h *Handlers) update(ctx context.Context, s *auth.Staff, p *people.Person, in input, changed []string) error {
	n := s.Nation.ID
	now := time.Now().UnixMilli()
	lat, lng := any(nil), any(nil)
	if p.Home.Lat != nil && p.Home.Lng != nil && !contains(changed, "home_address") {
		lat, lng = *p.Home.Lat, *p.Home.Lng
	}
	// The support level is stored sealed under the nation's key
	// (internal/crypt); the key is fetched before the transaction.
	key, err := crypt.NationKeyOf(ctx, h.DB, n)
	if err != nil {
		return fmt.Errorf("peopleweb: nation key: %w", err)
	}
	var support any
	if in.Support > 0 {
		support = key.SealSupport(in.Support)
	}
	email, emailNorm := "", ""
	if len(in.Emails) > 0 {
		email, emailNorm = in.Emails[0].Display, in.Emails[0].Norm
	}
	nameKey := ""
	if in.First != "" && in.Last != "" && in.Home.Postcode != "" {
		nameKey = strings.ToLower(in.First) + "|" + strings.ToLower(in.Last) + "|" + strings.ToLower(in.Home.Postcode)
	}
	err = h.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := mustBeLive(ctx, tx, n, p.ID); err != nil {
			return err
		}
		for i, e := range in.Emails {
			var owner int64
			err := tx.QueryRow(ctx, `SELECT person_id FROM person_emails WHERE nation_id = ? AND email_norm = ?`, n, e.Norm).Scan(&owner)
			if err == nil && owner != p.ID {
				fieldName := "email"
				if i > 0 {
					fieldName = "other_emails"
				}
				return &emailTaken{field: fieldName, address: e.Display, personID: owner}
			}
		}
		_, err := tx.Exec(ctx, `UPDATE people SET prefix = ?, first_name = ?, middle_name = ?, last_name = ?,
			email = ?, email_norm = ?,
			phone = ?, phone_e164 = ?, phone_invalid = ?, mobile = ?, mobile_e164 = ?, mobile_invalid = ?,
			work_phone = ?, work_phone_e164 = ?, work_phone_invalid = ?,
			birth_date = ?, gender = ?, language = ?,
			home_line1 = ?, home_line2 = ?, home_city = ?, home_postcode = ?, home_region = ?, home_country = ?,
			home_lat = ?, home_lng = ?, support_level_enc = ?, relationship = ?, name_key = ?,
			updated_at = ?, last_activity_at = ?
			WHERE nation_id = ? AND id = ?`,
			in.Prefix, in.First, in.Middle, in.Last, email, emailNorm,
			in.Phone.Raw, in.Phone.E164, store.Bool(in.Phone.Invalid), in.Mobile.Raw, in.Mobile.E164, store.Bool(in.Mobile.Invalid),
			in.Work.Raw, in.Work.E164, store.Bool(in.Work.Invalid),
			in.BirthDate, in.Gender, in.Language,
			in.Home.Line1, in.Home.Line2, in.Home.City, in.Home.Postcode, in.Home.Region, in.Home.Country,
			lat, lng, support, in.Relationship, nameKey, now, now, n, p.ID)
		if err != nil {
			return fmt.Errorf("peopleweb: update person: %w", err)
		}
		if err := writeEmails(ctx, tx, n, p.ID, in.Emails, now); err != nil {
			return err
		}
		if err := addActivity(ctx, tx, n, p.ID, "updated", s.User.ID, strings.Join(changed, ","), "", now); err != nil {
			return err
		}
		return addAudit(ctx, tx, n, s.User.ID, "person.update", p.ID, now)
	})
	return err
}

// writeEmails makes the person's e-mails exactly list (primary first).
func writeEmails(ctx context.Context, tx *store.Tx, nationID, personID int64, list []emailIn, now int64) error {
	keep := map[string]bool{}
	for _, e := range list {
		keep[e.Norm] = true
	}
	rows, err := tx.Query(ctx, `SELECT email_norm FROM person_emails WHERE nation_id = ? AND person_id = ?`, nationID, personID)
	if err != nil {
		return fmt.Errorf("peopleweb: read e-mails: %w", err)
	}
	var drop []string
	for rows.Next() {
		var norm string
		if err := rows.Scan(&norm); err != nil {
			rows.Close()
			return fmt.Errorf("peopleweb: read e-mails: %w", err)
		}
		if !keep[norm] {
			drop = append(drop, norm)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("peopleweb: read e-mails: %w", err)
	}
	for _, norm := range drop {
		if _, err := tx.Exec(ctx, `DELETE FROM person_emails WHERE nation_id = ? AND email_norm = ? AND person_id = ?`, nationID, norm, personID); err != nil {
			return fmt.Errorf("peopleweb: drop e-mail: %w", err)
		}
	}
	for i, e := range list {
		// The WHERE keeps a concurrent writer's address theirs: then no row
		// changes and the edit is refused rather than taking it over.
		res, err := tx.Exec(ctx, `INSERT INTO person_emails (nation_id, email_norm, person_id, email, is_primary, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (nation_id, email_norm) DO UPDATE SET email = excluded.email, is_primary = excluded.is_primary
			WHERE person_emails.person_id = excluded.person_id`,
			nationID, e.Norm, personID, e.Display, store.Bool(i == 0), now)
		if err != nil {
			return fmt.Errorf("peopleweb: write e-mail: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Conflict("an e-mail address of this person was just given to someone else")
		}
	}
	return nil
}

// mustBeLive checks, inside tx, that the person exists in the nation and
// was not merged away.
func mustBeLive(ctx context.Context, tx *store.Tx, nationID, personID int64) error {
	var merged int64
	err := tx.QueryRow(ctx, `SELECT merged_into FROM people WHERE nation_id = ? AND id = ?`, nationID, personID).Scan(&merged)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && merged != 0) {
		return errs.NotFound("no such person")
	}
	if err != nil {
		return fmt.Errorf("peopleweb: find person: %w", err)
	}
	return nil
}

// addActivity appends a timeline entry whose source is the staff member,
// and notes the person in the change log: every staff write goes through
// here, and the segment index of every process must see it.
func addActivity(ctx context.Context, tx *store.Tx, nationID, personID int64, typ string, userID int64, fields, details string, now int64) error {
	id, err := tx.NextID(ctx, nationID, "activities")
	if err != nil {
		return fmt.Errorf("peopleweb: activity id: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO activities (nation_id, id, person_id, type, source_kind, source_ref, source_line, source_user, fields, details, at)
		VALUES (?, ?, ?, ?, 'staff', '', 0, ?, ?, ?, ?)`, nationID, id, personID, typ, userID, fields, details, now)
	if err != nil {
		return fmt.Errorf("peopleweb: add activity: %w", err)
	}
	return changes.Record(ctx, tx, nationID, personID)
}

// addAudit appends an audit line in the same transaction as the change it
// records, so neither exists without the other.
func addAudit(ctx context.Context, tx *store.Tx, nationID, actorID int64, action string, personID, now int64) error {
	id, err := tx.NextID(ctx, nationID, "audit_log")
	if err != nil {
		return fmt.Errorf("peopleweb: audit id: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (nation_id, id, at, actor_id, action, object_kind, object_id) VALUES (?, ?, ?, ?, ?, 'person', ?)`,
		nationID, id, now, actorID, action, personID)
	if err != nil {
		return fmt.Errorf("peopleweb: audit: %w", err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (h *Handlers) newForm(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.renderForm(w, r, s, http.StatusOK, nil, formValues{}, nil, 0)
}

// newSubmit creates a person through the store's upsert, so that the new
// record is normalised, matched and recorded exactly as any other source's.
// A record that would match someone already there is not merged silently:
// the form says so and links to that person.
func (h *Handlers) newSubmit(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	ctx := r.Context()
	v := s.View(h.Renderer, r)
	f := formFromPost(r.PostForm)
	in, fe := validate(v, f, s.Nation.Country, nil)
	if len(fe) > 0 {
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, nil, f, fe, 0)
		return
	}
	rec := people.Record{
		Prefix: in.Prefix, FirstName: in.First, MiddleName: in.Middle, LastName: in.Last,
		Phone: in.Phone.Raw, Mobile: in.Mobile.Raw, Work: in.Work.Raw,
		BirthDate: in.BirthDate, Gender: in.Gender, Language: in.Language,
		Home: in.Home, Relationship: in.Relationship,
	}
	for _, e := range in.Emails {
		rec.Emails = append(rec.Emails, e.Display)
	}
	if in.Support > 0 {
		rec.SupportLevel = strconv.Itoa(in.Support)
	}
	src := people.Source{Kind: "staff", UserID: s.User.ID}
	dry, err := h.People.Upsert(ctx, s.Nation.ID, rec, src, people.UpsertOptions{DryRun: true})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch dry.Outcome {
	case people.Rejected:
		fe.add("first_name", errs.Message(dry.Err))
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, nil, f, fe, 0)
		return
	case people.Updated, people.Unchanged:
		fe.add("email", v.T("people.err.exists"))
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, nil, f, fe, dry.PersonID)
		return
	}
	res, err := h.People.Upsert(ctx, s.Nation.ID, rec, src, people.UpsertOptions{})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if res.Outcome != people.Created {
		// Someone matching was created between the two calls.
		fe.add("email", v.T("people.err.exists"))
		h.renderForm(w, r, s, http.StatusUnprocessableEntity, nil, f, fe, res.PersonID)
		return
	}
	if err := h.People.Audit(ctx, s.Nation.ID, s.User.ID, "person.create", "person", res.PersonID); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.profileURL(s, res.PersonID)+"?done=created", http.StatusSeeOther)
}
