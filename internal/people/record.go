// Package people owns the person: the model, normalisation of e-mails,
// phones, dates and names, matching and merging, tags, custom fields, the
// activity timeline with provenance, the consent ledger and the audit log.
package people

import "time"

// Record is one incoming description of a person, from any source: an
// import row, a public form, staff entry or the API. Fields are as received
// (already split into parts); the people store normalises and matches them.
// Empty strings mean "not given".
type Record struct {
	// External ids, strongest match first.
	NationBuilderID string
	CiviCRMID       string
	ExternalID      string

	Prefix, FirstName, MiddleName, LastName string

	Emails []string // first is primary
	Phone  string   // landline
	Mobile string
	Work   string // work phone

	BirthDate string // as received: ISO, dd/mm/yyyy or NationBuilder forms
	Gender    string // f, m, x, or the source's words (female, M, …)
	Language  string

	Home    Address
	Mailing Address
	Work_   Address // work address

	SupportLevel string // 1..5 or empty
	Relationship string // member, former_member, regular_contact, other
	Membership   Membership

	Tags   []string
	Custom map[string]string // custom field name → value as received
	Note   string

	// Consents given with this record, e.g. NationBuilder email_opt_in.
	Consents []ConsentInput
}

// Address is a postal address with optional coordinates.
type Address struct {
	Line1, Line2, City, Postcode, Region, Country string
	Lat, Lng                                      *float64
}

// Membership describes a member's status and dates.
type Membership struct {
	Status    string
	StartedAt string
	EndsAt    string
}

// ConsentInput is a consent statement carried by an incoming record.
type ConsentInput struct {
	Channel string // email, sms, phone, post, ads, push
	Granted bool
	Basis   string // consent, membership, legitimate_interest, legal_obligation
	Wording string // the exact text shown, if any
}

// Source says where a record came from, for the timeline and provenance.
type Source struct {
	Kind   string // import, form, staff, api
	Ref    string // import file name, page slug, …
	Line   int    // import line number
	UserID int64  // staff member, when Kind is staff
	IP     string // for consent evidence on forms; never logged
	At     time.Time
}
