package people

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Person is a stored person with everything attached to the profile.
type Person struct {
	ID, NationID                            int64
	Prefix, FirstName, MiddleName, LastName string

	Email  string       // primary, as typed
	Emails []EmailEntry // all, primary first

	Phone, Mobile, WorkPhone Phone   // one primary per kind
	OtherPhones              []Phone // kept from merges

	BirthDate string // YYYY-MM-DD or ""
	Gender    string // f, m, x or ""
	Language  string

	Home      Address
	Addresses map[string]Address // mailing, work

	SupportLevel int // 1..5, 0 unknown
	Relationship string
	Membership   Membership

	NationBuilderID, CiviCRMID, ExternalID string

	Tags   []string          // names, sorted
	Custom map[string]string // custom field name → stored value
	Points int64

	// MergedInto is the survivor's id when this person was merged away.
	MergedInto int64

	CreatedAt, UpdatedAt, LastActivityAt time.Time
}

// EmailEntry is one of a person's e-mail addresses.
type EmailEntry struct {
	Address string
	Primary bool
}

// Get returns a person of the nation with e-mails, phones, addresses, tags
// and custom values. A merged-away person is returned with MergedInto set.
func (s *Store) Get(ctx context.Context, nationID, id int64) (*Person, error) {
	var v vals
	var ns [numCols]sql.NullString
	var p Person
	var created, updated, last int64
	dest := []any{}
	for i := range ns {
		dest = append(dest, &ns[i])
	}
	dest = append(dest, &p.Points, &p.MergedInto, &created, &updated, &last)
	err := s.db.QueryRow(ctx, `SELECT `+strings.TrimPrefix(personSelect, "id, ")+`, points, merged_into, created_at, updated_at, last_activity_at
		FROM people WHERE nation_id = ? AND id = ?`, nationID, id).Scan(dest...)
	if isNoRows(err) {
		return nil, errs.NotFound("no such person")
	}
	if err != nil {
		return nil, wrap("get person", err)
	}
	for i := range ns {
		v[i] = ns[i].String
	}
	p.ID, p.NationID = id, nationID
	p.fromVals(&v)
	if p.SupportLevel, err = s.openSupport(ctx, nationID, v[cSupport]); err != nil {
		return nil, err
	}
	p.CreatedAt, p.UpdatedAt, p.LastActivityAt = store.Time(created), store.Time(updated), store.Time(last)

	if err := s.attach(ctx, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Person) fromVals(v *vals) {
	p.Prefix, p.FirstName, p.MiddleName, p.LastName = v[cPrefix], v[cFirst], v[cMiddle], v[cLast]
	p.Email = v[cEmail]
	p.Phone = Phone{v[cPhone], v[cPhoneE164], v[cPhoneInvalid] == "1"}
	p.Mobile = Phone{v[cMobile], v[cMobileE164], v[cMobileInvalid] == "1"}
	p.WorkPhone = Phone{v[cWork], v[cWorkE164], v[cWorkInvalid] == "1"}
	p.BirthDate, p.Gender, p.Language = v[cBirth], v[cGender], v[cLanguage]
	p.Home = addressOf(addrVals(v[cHomeLine1 : cHomeLng+1]))
	p.Relationship = v[cRelationship]
	p.Membership = Membership{v[cMemberStatus], v[cMemberStarted], v[cMemberEnds]}
	p.NationBuilderID, p.CiviCRMID, p.ExternalID = v[cNBID], v[cCiviID], v[cExtID]
}

func addressOf(a addrVals) Address {
	out := Address{Line1: a[0], Line2: a[1], City: a[2], Postcode: a[3], Region: a[4], Country: a[5]}
	if a[6] != "" && a[7] != "" {
		lat, _ := strconv.ParseFloat(a[6], 64)
		lng, _ := strconv.ParseFloat(a[7], 64)
		out.Lat, out.Lng = &lat, &lng
	}
	return out
}

// attach reads the side tables of a profile.
func (s *Store) attach(ctx context.Context, p *Person) error {
	n, id := p.NationID, p.ID
	err := s.each(ctx, `SELECT email, is_primary FROM person_emails WHERE nation_id = ? AND person_id = ? ORDER BY is_primary DESC, email_norm`,
		[]any{n, id}, func(r *sql.Rows) error {
			var e EmailEntry
			var prim int
			err := r.Scan(&e.Address, &prim)
			e.Primary = prim == 1
			p.Emails = append(p.Emails, e)
			return err
		})
	if err != nil {
		return wrap("get e-mails", err)
	}
	err = s.each(ctx, `SELECT raw, e164, invalid FROM person_phones WHERE nation_id = ? AND person_id = ? ORDER BY id`,
		[]any{n, id}, func(r *sql.Rows) error {
			var ph Phone
			var inv int
			err := r.Scan(&ph.Raw, &ph.E164, &inv)
			ph.Invalid = inv == 1
			p.OtherPhones = append(p.OtherPhones, ph)
			return err
		})
	if err != nil {
		return wrap("get phones", err)
	}
	p.Addresses = map[string]Address{}
	err = s.each(ctx, `SELECT kind, line1, line2, city, postcode, region, country, lat, lng FROM person_addresses
		WHERE nation_id = ? AND person_id = ?`, []any{n, id}, func(r *sql.Rows) error {
		var kind string
		var a [8]sql.NullString
		if err := r.Scan(&kind, &a[0], &a[1], &a[2], &a[3], &a[4], &a[5], &a[6], &a[7]); err != nil {
			return err
		}
		var v addrVals
		for i := range a {
			v[i] = a[i].String
		}
		p.Addresses[kind] = addressOf(v)
		return nil
	})
	if err != nil {
		return wrap("get addresses", err)
	}
	var sealedTags []int // indexes in p.Tags of names sealed (tags_sealed.go)
	err = s.each(ctx, `SELECT t.name, t.sensitive FROM taggings g JOIN tags t ON t.nation_id = g.nation_id AND t.id = g.tag_id
		WHERE g.nation_id = ? AND g.person_id = ?`, []any{n, id}, func(r *sql.Rows) error {
		var name string
		var sens int64
		err := r.Scan(&name, &sens)
		if sens != 0 {
			sealedTags = append(sealedTags, len(p.Tags))
		}
		p.Tags = append(p.Tags, name)
		return err
	})
	if err == nil {
		err = s.openTags(ctx, n, p.Tags, sealedTags)
	}
	if err != nil {
		return wrap("get tags", err)
	}
	sort.Slice(p.Tags, func(i, j int) bool { return strings.ToLower(p.Tags[i]) < strings.ToLower(p.Tags[j]) })
	p.Custom = map[string]string{}
	err = s.each(ctx, `SELECT f.name, v.value FROM custom_values v JOIN custom_fields f ON f.nation_id = v.nation_id AND f.id = v.field_id
		WHERE v.nation_id = ? AND v.person_id = ?`, []any{n, id}, func(r *sql.Rows) error {
		var name, val string
		err := r.Scan(&name, &val)
		p.Custom[name] = val
		return err
	})
	return wrap("get custom values", err)
}

func (s *Store) each(ctx context.Context, q string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Activity is one entry of a person's timeline.
type Activity struct {
	ID       int64
	PersonID int64
	Type     string // imported, created, updated, tagged, merged, unmerged, note, …
	Source   Source
	Fields   []string // the fields this touch set (provenance)
	Details  string
	At       time.Time
}

// Timeline returns the person's activities, newest first.
func (s *Store) Timeline(ctx context.Context, nationID, personID int64, limit int) ([]Activity, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	var out []Activity
	err := s.each(ctx, `SELECT id, person_id, type, source_kind, source_ref, source_line, source_user, fields, details, at
		FROM activities WHERE nation_id = ? AND person_id = ? ORDER BY at DESC, id DESC LIMIT ?`,
		[]any{nationID, personID, limit}, func(r *sql.Rows) error {
			var a Activity
			var f string
			var at int64
			err := r.Scan(&a.ID, &a.PersonID, &a.Type, &a.Source.Kind, &a.Source.Ref, &a.Source.Line, &a.Source.UserID, &f, &a.Details, &at)
			if f != "" {
				a.Fields = strings.Split(f, ",")
			}
			a.At = store.Time(at)
			a.Source.At = a.At
			out = append(out, a)
			return err
		})
	if err != nil {
		return nil, wrap("timeline", err)
	}
	return out, s.openNotes(ctx, nationID, out)
}

// Provenance is where and when a field of a person got its value.
type Provenance struct {
	Field  string
	Source Source
	At     time.Time
}

// Provenance returns, for each field of the person that a recorded touch
// set, the latest touch that set it (GDPR Art. 15(1)(g)).
func (s *Store) Provenance(ctx context.Context, nationID, personID int64) (map[string]Provenance, error) {
	acts, err := s.Timeline(ctx, nationID, personID, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]Provenance{}
	for _, a := range acts { // newest first: the first seen wins
		for _, f := range a.Fields {
			if _, ok := out[f]; !ok {
				out[f] = Provenance{Field: f, Source: a.Source, At: a.At}
			}
		}
	}
	return out, nil
}

// Page selects a page of a list.
type Page struct {
	Offset, Limit int
}

func (p Page) limit() int {
	if p.Limit <= 0 || p.Limit > 500 {
		return 50
	}
	return p.Limit
}

// PersonSummary is a line of a people list.
type PersonSummary struct {
	ID                   int64
	FirstName, LastName  string
	Email, Mobile, Phone string
	Postcode, City       string
	UpdatedAt            time.Time
}

// Search finds people of the nation by name, e-mail or phone (the rules of
// MatchCondition), ordered by last then first name.
func (s *Store) Search(ctx context.Context, nationID int64, query string, page Page) ([]PersonSummary, error) {
	where := []string{"nation_id = ?", "merged_into = 0"}
	args := []any{nationID}
	if cond, cargs := MatchCondition(s.db.Engine, nationID, query); cond != "" {
		where = append(where, cond)
		args = append(args, cargs...)
	}
	args = append(args, page.limit(), max(page.Offset, 0))
	var out []PersonSummary
	err := s.each(ctx, `SELECT id, first_name, last_name, email, mobile, phone, home_postcode, home_city, updated_at
		FROM people WHERE `+strings.Join(where, " AND ")+` ORDER BY LOWER(last_name), LOWER(first_name), id LIMIT ? OFFSET ?`,
		args, func(r *sql.Rows) error {
			var p PersonSummary
			var up int64
			err := r.Scan(&p.ID, &p.FirstName, &p.LastName, &p.Email, &p.Mobile, &p.Phone, &p.Postcode, &p.City, &up)
			p.UpdatedAt = store.Time(up)
			out = append(out, p)
			return err
		})
	return out, wrap("search", err)
}

func digitsOnly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if r != '+' && r != '-' && r != '.' && r != '/' && r != '(' && r != ')' {
			return ""
		}
	}
	return b.String()
}

func (s *Store) mustExist(ctx context.Context, nationID, personID int64) error {
	var one int
	err := s.db.QueryRowWriter(ctx, `SELECT 1 FROM people WHERE nation_id = ? AND id = ? AND merged_into = 0`, nationID, personID).Scan(&one)
	if isNoRows(err) {
		return errs.NotFound("no such person")
	}
	return wrap("find person", err)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func joinCols(cols []string) string { return strings.Join(cols, ", ") }
