package importer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/muster-org/muster/internal/people"
)

// A field is one destination in people.Record, named in snake_case as it is
// written in --map COLUMN=FIELD. set receives a trimmed, non-empty value.
//
// Scalar setters only fill an empty slot: when two columns feed one field
// (NationBuilder's primary_city and home_city, or a file with two "Email"
// columns), the first by binding priority wins and the others are ignored;
// list fields (emails, tags) append.
type field struct {
	name string
	set  func(r *people.Record, v string) error
}

// fields lists every destination, in the order they are documented.
func fields() []field {
	fs := []field{
		str("nationbuilder_id", func(r *people.Record) *string { return &r.NationBuilderID }),
		str("civicrm_id", func(r *people.Record) *string { return &r.CiviCRMID }),
		str("external_id", func(r *people.Record) *string { return &r.ExternalID }),
		str("prefix", func(r *people.Record) *string { return &r.Prefix }),
		str("first_name", func(r *people.Record) *string { return &r.FirstName }),
		str("middle_name", func(r *people.Record) *string { return &r.MiddleName }),
		str("last_name", func(r *people.Record) *string { return &r.LastName }),
		{"email", func(r *people.Record, v string) error { addEmail(r, v); return nil }},
		str("phone", func(r *people.Record) *string { return &r.Phone }),
		str("mobile", func(r *people.Record) *string { return &r.Mobile }),
		str("work_phone", func(r *people.Record) *string { return &r.Work }),
		str("birth_date", func(r *people.Record) *string { return &r.BirthDate }),
		str("gender", func(r *people.Record) *string { return &r.Gender }),
		str("language", func(r *people.Record) *string { return &r.Language }),
		str("support_level", func(r *people.Record) *string { return &r.SupportLevel }),
		str("relationship", func(r *people.Record) *string { return &r.Relationship }),
		str("membership_status", func(r *people.Record) *string { return &r.Membership.Status }),
		str("membership_started_at", func(r *people.Record) *string { return &r.Membership.StartedAt }),
		str("membership_ends_at", func(r *people.Record) *string { return &r.Membership.EndsAt }),
		{"tags", func(r *people.Record, v string) error { addTags(r, v); return nil }},
		{"note", func(r *people.Record, v string) error {
			if r.Note == "" {
				r.Note = v
			} else {
				r.Note += "\n" + v
			}
			return nil
		}},
		{"volunteer", func(r *people.Record, v string) error {
			yes, err := parseBool(v)
			if err != nil {
				return err
			}
			if yes {
				addTag(r, "volunteer")
			}
			return nil
		}},
		consent("email_opt_in", "email", false),
		consent("mobile_opt_in", "sms", false),
		consent("do_not_email", "email", true),
		consent("do_not_sms", "sms", true),
		consent("do_not_phone", "phone", true),
		consent("do_not_mail", "post", true),
		consent("no_bulk_email", "email", true),
	}
	for _, a := range []struct {
		prefix string
		get    func(r *people.Record) *people.Address
	}{
		{"", func(r *people.Record) *people.Address { return &r.Home }},
		{"mailing_", func(r *people.Record) *people.Address { return &r.Mailing }},
		{"work_", func(r *people.Record) *people.Address { return &r.Work_ }},
	} {
		get := a.get
		fs = append(fs,
			str(a.prefix+"address1", func(r *people.Record) *string { return &get(r).Line1 }),
			str(a.prefix+"address2", func(r *people.Record) *string { return &get(r).Line2 }),
			str(a.prefix+"city", func(r *people.Record) *string { return &get(r).City }),
			str(a.prefix+"postcode", func(r *people.Record) *string { return &get(r).Postcode }),
			str(a.prefix+"region", func(r *people.Record) *string { return &get(r).Region }),
			str(a.prefix+"country", func(r *people.Record) *string { return &get(r).Country }),
			coord(a.prefix+"lat", func(r *people.Record) **float64 { return &get(r).Lat }, 90),
			coord(a.prefix+"lng", func(r *people.Record) **float64 { return &get(r).Lng }, 180),
		)
	}
	return fs
}

// FieldNames lists the names accepted on the right of --map COLUMN=FIELD,
// besides custom.NAME for a nation's custom field.
func FieldNames() []string {
	var names []string
	for _, f := range fields() {
		names = append(names, f.name)
	}
	return names
}

// lookupField finds a destination by its --map name; "custom.NAME" and
// "field.NAME" (the filter language's spelling) address custom fields.
func lookupField(name string) (field, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, p := range []string{"custom.", "field."} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return field{name: "custom." + rest, set: func(r *people.Record, v string) error {
				if r.Custom == nil {
					r.Custom = map[string]string{}
				}
				if _, ok := r.Custom[rest]; !ok {
					r.Custom[rest] = v
				}
				return nil
			}}, true
		}
	}
	for _, f := range fields() {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func str(name string, get func(r *people.Record) *string) field {
	return field{name: name, set: func(r *people.Record, v string) error {
		if p := get(r); *p == "" {
			*p = v
		}
		return nil
	}}
}

func coord(name string, get func(r *people.Record) **float64, limit float64) field {
	return field{name: name, set: func(r *people.Record, v string) error {
		f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
		if err != nil || f < -limit || f > limit {
			return fmt.Errorf("%q is not a coordinate", v)
		}
		if p := get(r); *p == nil {
			*p = &f
		}
		return nil
	}}
}

// consent turns an opt-in or do-not column into a consent ledger entry.
//
// The rule, chosen so that an import can never make someone contactable who
// was not, and always carries a withdrawal forward:
//   - opt-in columns (NationBuilder email_opt_in, mobile_opt_in): true →
//     granted with lawful basis "consent"; an explicit false → withdrawn,
//     because the source of truth says the person may not be contacted on
//     that channel (NationBuilder does not tell "never opted in" from
//     "unsubscribed", and honouring a possible unsubscribe is the safe
//     reading); an empty cell → nothing recorded.
//   - do-not columns (CiviCRM "Do Not Email", "Do Not SMS", "Do Not Phone",
//     "Do Not Mail", "No Bulk Emails (User Opt Out)"): true → withdrawn;
//     false or empty → nothing, since "not forbidden" is not consent.
//
// A value that is not a recognisable yes/no rejects the row: guessing
// consent is not acceptable.
func consent(name, channel string, negative bool) field {
	return field{name: name, set: func(r *people.Record, v string) error {
		yes, err := parseBool(v)
		if err != nil {
			return err
		}
		granted := yes != negative
		if negative && !yes {
			return nil
		}
		for _, c := range r.Consents {
			if c.Channel == channel {
				// Two columns about one channel: a withdrawal wins.
				if !granted {
					for i := range r.Consents {
						if r.Consents[i].Channel == channel {
							r.Consents[i].Granted = false
						}
					}
				}
				return nil
			}
		}
		r.Consents = append(r.Consents, people.ConsentInput{Channel: channel, Granted: granted, Basis: "consent"})
		return nil
	}}
}

// parseBool reads the yes/no spellings of NationBuilder, CiviCRM, spreadsheet
// software and people, in English, French and Dutch.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "t", "yes", "y", "x", "oui", "o", "vrai", "ja", "j", "waar", "on":
		return true, nil
	case "0", "false", "f", "no", "n", "non", "faux", "nee", "onwaar", "off", "-":
		return false, nil
	}
	return false, fmt.Errorf("%q is not yes or no", v)
}

func addEmail(r *people.Record, v string) {
	for _, e := range r.Emails {
		if strings.EqualFold(strings.TrimSpace(e), v) {
			return
		}
	}
	r.Emails = append(r.Emails, v)
}

// addTags splits a tag list on commas (NationBuilder's tag_list, CiviCRM's
// Tags and Groups columns) and appends the tags not yet present.
func addTags(r *people.Record, v string) {
	for t := range strings.SplitSeq(v, ",") {
		addTag(r, t)
	}
}

func addTag(r *people.Record, t string) {
	t = strings.TrimSpace(t)
	if t == "" || slices.Contains(r.Tags, t) {
		return
	}
	r.Tags = append(r.Tags, t)
}

// normKey folds a column header for comparison: lower case, accents removed,
// only letters and digits kept, so "Prénom", "prenom" and "PRE NOM" agree and
// "E-mail", "Email" and "e_mail" too.
func normKey(h string) string {
	var b strings.Builder
	for _, c := range norm.NFD.String(h) {
		switch {
		case unicode.Is(unicode.Mn, c):
		case unicode.IsLetter(c) || unicode.IsDigit(c):
			b.WriteRune(unicode.ToLower(c))
		}
	}
	return b.String()
}
