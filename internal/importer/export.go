package importer

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// ExportColumns are the columns of an export, named as NationBuilder names
// them so that the file imports back into NationBuilder (and into Muster,
// as format nationbuilder). muster_id is Muster's own id.
func ExportColumns() []string {
	return []string{
		"muster_id", "nationbuilder_id", "civicrm_id", "external_id",
		"prefix", "first_name", "middle_name", "last_name",
		"email", "email2", "email3", "email4", "email_opt_in",
		"phone_number", "mobile_number", "work_phone_number", "mobile_opt_in",
		"born_at", "sex", "language", "support_level", "tag_list",
		"primary_address1", "primary_address2", "primary_city", "primary_state", "primary_zip", "primary_country_code", "primary_lat", "primary_lng",
		"mailing_address1", "mailing_address2", "mailing_city", "mailing_state", "mailing_zip", "mailing_country_code",
		"work_address1", "work_address2", "work_city", "work_state", "work_zip", "work_country_code",
		"membership_status", "membership_started_at", "membership_expires_at",
		"created_at", "updated_at",
	}
}

// ExportOptions tune an export.
type ExportOptions struct {
	Format  string // csv (default) or json
	ActorID int64  // staff member exporting, 0 for the command line
	// Where, when set, is an SQL condition over "people p" choosing who is
	// exported, with Args for its placeholders: a filter compiled by
	// segment.Compile, which already holds the nation scope and leaves out
	// merged-away people. Empty exports every live person of the nation.
	Where string
	Args  []any
}

// Export writes the chosen people of a nation to w as CSV or a JSON array,
// after recording the export in the audit log (an export discloses personal
// data even if it fails halfway). It returns the number of people written.
//
// It streams: one query ordered by person id reads each person with their
// side data aggregated per row (see exportQuery), and each row is written
// as it arrives, so memory stays flat whatever the nation's size.
func Export(ctx context.Context, db *store.DB, nationID int64, w io.Writer, opts ExportOptions) (int, error) {
	cols := ExportColumns()
	var write func([]string) error
	var end func() error
	switch strings.ToLower(opts.Format) {
	case "", "csv":
		cw := csv.NewWriter(w)
		write = func(row []string) error { return cw.Write(row) }
		end = func() error { cw.Flush(); return cw.Error() }
		if err := cw.Write(cols); err != nil {
			return 0, fmt.Errorf("importer: export: %w", err)
		}
	case "json":
		first := true
		write = func(row []string) error {
			obj := make(map[string]string, len(row))
			for i, c := range cols {
				if row[i] != "" {
					obj[c] = row[i]
				}
			}
			b, err := json.Marshal(obj)
			if err != nil {
				return err
			}
			sep := ",\n"
			if first {
				sep, first = "[\n", false
			}
			_, err = io.WriteString(w, sep+string(b))
			return err
		}
		end = func() error {
			closing := "\n]\n"
			if first {
				closing = "[]\n"
			}
			_, err := io.WriteString(w, closing)
			return err
		}
	default:
		return 0, errs.Invalid("export format must be csv or json")
	}
	if err := people.NewStore(db).Audit(ctx, nationID, opts.ActorID, "people.export", "export", 0); err != nil {
		return 0, err
	}
	n := 0
	err := EachExported(ctx, db, nationID, opts.Where, opts.Args, func(p *people.Person, cs map[string]people.Consent) error {
		n++
		return write(exportRow(p, cs))
	})
	if err == nil {
		err = end()
	}
	if err != nil {
		return n, fmt.Errorf("importer: export: %w", err)
	}
	return n, nil
}

// sep separates the values aggregated into one column of the export query
// (tags, further e-mails); control characters cannot occur in a tag name
// or a valid e-mail address.
const sep = "\x1f"

// exportQuery reads people with what an export row needs, one row per
// person, in id order. The side tables are folded into the row: further
// e-mails and tags by string_agg (PostgreSQL, and SQLite since 3.44) in
// correlated subqueries, the current e-mail and SMS consent as the latest
// ledger entry of the channel (by time, then id, as people.CurrentConsents
// derives it), and mailing and work addresses by a join on their key.
// Every subquery walks an index that starts (nation_id, person_id), so the
// cost per person is a few index probes and nothing is sorted in memory
// but the small aggregates.
const exportQuery = `SELECT p.id, p.nationbuilder_id, p.civicrm_id, p.external_id,
	p.prefix, p.first_name, p.middle_name, p.last_name, p.email,
	COALESCE((SELECT string_agg(e.email_norm || ? || e.email, ?) FROM person_emails e
		WHERE e.nation_id = p.nation_id AND e.person_id = p.id AND e.is_primary = 0), ''),
	COALESCE((SELECT c.status FROM consents c WHERE c.nation_id = p.nation_id AND c.person_id = p.id AND c.channel = 'email'
		ORDER BY c.at DESC, c.id DESC LIMIT 1), ''),
	COALESCE((SELECT c.status FROM consents c WHERE c.nation_id = p.nation_id AND c.person_id = p.id AND c.channel = 'sms'
		ORDER BY c.at DESC, c.id DESC LIMIT 1), ''),
	p.phone, p.mobile, p.work_phone, p.birth_date, p.gender, p.language, COALESCE(p.support_level_enc, ''),
	COALESCE((SELECT string_agg(t.name, ?) FROM taggings g JOIN tags t ON t.nation_id = g.nation_id AND t.id = g.tag_id
		WHERE g.nation_id = p.nation_id AND g.person_id = p.id), ''),
	p.home_line1, p.home_line2, p.home_city, p.home_region, p.home_postcode, p.home_country, p.home_lat, p.home_lng,
	COALESCE(m.line1, ''), COALESCE(m.line2, ''), COALESCE(m.city, ''), COALESCE(m.region, ''), COALESCE(m.postcode, ''), COALESCE(m.country, ''),
	COALESCE(k.line1, ''), COALESCE(k.line2, ''), COALESCE(k.city, ''), COALESCE(k.region, ''), COALESCE(k.postcode, ''), COALESCE(k.country, ''),
	p.membership_status, p.membership_started, p.membership_ends, p.created_at, p.updated_at
FROM people p
LEFT JOIN person_addresses m ON m.nation_id = p.nation_id AND m.person_id = p.id AND m.kind = 'mailing'
LEFT JOIN person_addresses k ON k.nation_id = p.nation_id AND k.person_id = p.id AND k.kind = 'work'
WHERE `

// EachExported calls fn for every live, unrestricted person of the nation
// that the condition where (over "people p", see ExportOptions.Where; empty for
// everyone) selects, in id order, with the fields an export shows and the
// current e-mail and SMS consents. Person carries no custom values, other
// phones or timeline. Rows are read one at a time from one query.
func EachExported(ctx context.Context, db *store.DB, nationID int64, where string, args []any, fn func(*people.Person, map[string]people.Consent) error) error {
	// Restricted people (GDPR Art. 18) are never in a bulk export: their
	// data may only be stored. A person's own copy of their data (subject
	// access) is made by `muster person export` / internal/privacy, which
	// does not come through here.
	if where == "" {
		where, args = "p.nation_id = ? AND p.merged_into = 0 AND p.restricted = 0", []any{nationID}
	} else {
		// The compiled filter scopes by nation and leaves out restricted
		// people itself; the extra conditions make that a fact of this
		// query rather than a promise.
		where = "p.nation_id = ? AND p.restricted = 0 AND (" + where + ")"
		args = append([]any{nationID}, args...)
	}
	// The support level is stored sealed under the nation's key.
	key, err := crypt.ReadKeyOf(ctx, db, nationID)
	if err != nil {
		return fmt.Errorf("importer: export: nation key: %w", err)
	}
	all := append([]any{"\x1e", sep, sep}, args...)
	rows, err := db.Query(ctx, exportQuery+where+" ORDER BY p.id", all...)
	if err != nil {
		return fmt.Errorf("importer: export query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p people.Person
		var emails, emailOpt, smsOpt, tags, support string
		var lat, lng sql.NullFloat64
		var created, updated int64
		mail, work := people.Address{}, people.Address{}
		err := rows.Scan(&p.ID, &p.NationBuilderID, &p.CiviCRMID, &p.ExternalID,
			&p.Prefix, &p.FirstName, &p.MiddleName, &p.LastName, &p.Email,
			&emails, &emailOpt, &smsOpt,
			&p.Phone.Raw, &p.Mobile.Raw, &p.WorkPhone.Raw, &p.BirthDate, &p.Gender, &p.Language, &support,
			&tags,
			&p.Home.Line1, &p.Home.Line2, &p.Home.City, &p.Home.Region, &p.Home.Postcode, &p.Home.Country, &lat, &lng,
			&mail.Line1, &mail.Line2, &mail.City, &mail.Region, &mail.Postcode, &mail.Country,
			&work.Line1, &work.Line2, &work.City, &work.Region, &work.Postcode, &work.Country,
			&p.Membership.Status, &p.Membership.StartedAt, &p.Membership.EndsAt, &created, &updated)
		if err != nil {
			return fmt.Errorf("importer: export row: %w", err)
		}
		p.NationID = nationID
		if p.SupportLevel, err = key.OpenSupport(support); err != nil {
			return fmt.Errorf("importer: export row: %w", err)
		}
		p.CreatedAt, p.UpdatedAt = store.Time(created), store.Time(updated)
		if lat.Valid && lng.Valid {
			p.Home.Lat, p.Home.Lng = &lat.Float64, &lng.Float64
		}
		p.Addresses = map[string]people.Address{"mailing": mail, "work": work}
		p.Emails = splitEmails(p.Email, emails)
		if tags != "" {
			p.Tags = strings.Split(tags, sep)
			for i := range p.Tags { // sensitive tags' names are sealed
				p.Tags[i] = key.OpenTag(p.Tags[i])
			}
			slices.SortFunc(p.Tags, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		}
		cs := map[string]people.Consent{}
		if emailOpt != "" {
			cs["email"] = people.Consent{Channel: "email", Status: emailOpt}
		}
		if smsOpt != "" {
			cs["sms"] = people.Consent{Channel: "sms", Status: smsOpt}
		}
		if err := fn(&p, cs); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("importer: export query: %w", err)
	}
	return nil
}

// splitEmails rebuilds a person's e-mail list as people.Store.Get orders
// it: the primary first, then the others by normalised address. others is
// the aggregate of "norm\x1eaddress" entries joined by sep.
func splitEmails(primary, others string) []people.EmailEntry {
	var out []people.EmailEntry
	if primary != "" {
		out = append(out, people.EmailEntry{Address: primary, Primary: true})
	}
	if others == "" {
		return out
	}
	type pair struct{ norm, addr string }
	var ps []pair
	for _, e := range strings.Split(others, sep) {
		norm, addr, _ := strings.Cut(e, "\x1e")
		ps = append(ps, pair{norm, addr})
	}
	slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.norm, b.norm) })
	for _, p := range ps {
		out = append(out, people.EmailEntry{Address: p.addr})
	}
	return out
}

func exportRow(p *people.Person, cs map[string]people.Consent) []string {
	row := make([]string, 0, len(ExportColumns()))
	emails := make([]string, 4)
	i := 0
	for _, e := range p.Emails {
		if i < 4 {
			emails[i] = e.Address
			i++
		}
	}
	if p.Email != "" {
		emails[0] = p.Email
	}
	optIn := func(ch string) string {
		c, ok := cs[ch]
		if !ok {
			return ""
		}
		return strconv.FormatBool(c.Granted())
	}
	support := ""
	if p.SupportLevel > 0 {
		support = strconv.Itoa(p.SupportLevel)
	}
	row = append(row, strconv.FormatInt(p.ID, 10), p.NationBuilderID, p.CiviCRMID, p.ExternalID,
		p.Prefix, p.FirstName, p.MiddleName, p.LastName)
	row = append(row, emails...)
	row = append(row, optIn("email"),
		p.Phone.Raw, p.Mobile.Raw, p.WorkPhone.Raw, optIn("sms"),
		p.BirthDate, nbSex(p.Gender), p.Language, support, strings.Join(p.Tags, ", "))
	row = append(row, p.Home.Line1, p.Home.Line2, p.Home.City, p.Home.Region, p.Home.Postcode, p.Home.Country, coordText(p.Home.Lat), coordText(p.Home.Lng))
	for _, kind := range []string{"mailing", "work"} {
		a := p.Addresses[kind]
		row = append(row, a.Line1, a.Line2, a.City, a.Region, a.Postcode, a.Country)
	}
	row = append(row, p.Membership.Status, p.Membership.StartedAt, p.Membership.EndsAt,
		p.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), p.UpdatedAt.UTC().Format("2006-01-02T15:04:05Z"))
	return row
}

// nbSex writes Muster's f/m/x as NationBuilder's F/M/O.
func nbSex(g string) string {
	switch g {
	case "f":
		return "F"
	case "m":
		return "M"
	case "x":
		return "O"
	}
	return ""
}

func coordText(f *float64) string {
	if f == nil {
		return ""
	}
	return strconv.FormatFloat(*f, 'f', -1, 64)
}
