package people

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// Store reads and writes the people of every nation. Every method takes the
// nation id and scopes every statement by it: a person of one nation is
// never matched, read or changed through another.
type Store struct {
	db  *store.DB
	now func() time.Time
	// suppressKey keys erasure suppression hashes (see suppress.go); nil
	// turns the check off.
	suppressKey []byte
}

// NewStore returns a Store on db.
func NewStore(db *store.DB) *Store {
	return &Store{db: db, now: time.Now}
}

// Outcome is what an upsert did with one record.
type Outcome int

const (
	// Rejected: the record was refused as a whole (RowResult.Err says why);
	// nothing of it was written.
	Rejected Outcome = iota
	// Created: no one matched; a new person was created.
	Created
	// Updated: the record matched a person (RowResult.MatchedBy says how)
	// and changed something: a field, a tag, a consent, an e-mail.
	Updated
	// Unchanged: the record matched a person and brought nothing new.
	// Re-importing the same file gives only Unchanged rows.
	Unchanged
)

func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Unchanged:
		return "unchanged"
	default:
		return "rejected"
	}
}

// UpsertOptions tune an upsert.
type UpsertOptions struct {
	// Overwrite replaces conflicting non-empty values with the record's;
	// without it they are kept and only blanks are filled.
	Overwrite bool
	// Tags are added to every record of the batch (the importer's --tag).
	Tags []string
	// Source is used for records whose own Source is the zero value.
	Source Source
	// DryRun computes the outcomes and rolls everything back.
	DryRun bool
	// Then, when set, runs inside the batch's transaction once the people
	// are written, with their results; its error rolls the batch back.
	// Callers that record something per person (a signature, a form
	// submission) use it to commit once instead of twice. The people it
	// returns are added to the change log with the batch's.
	Then func(ctx context.Context, tx *store.Tx, results []RowResult) (touched []int64, err error)
	// Keys, for a bulk import, skips the database look-ups of keys no one
	// has (see KeyFilter); the batches of one import share it, in turn.
	Keys *KeyFilter
	// Timings, when set, adds up the time of each stage of the batch
	// (look-ups, matching, each table's writes, commit): `muster bench
	// import` prints them.
	Timings *Timings
}

// RowResult is the outcome for one record, in the order of the records.
type RowResult struct {
	Outcome  Outcome
	PersonID int64 // 0 when Rejected (and on dry runs for Created)
	// MatchedBy names the rule that matched for Updated/Unchanged:
	// "nationbuilder_id", "civicrm_id", "external_id", "email", "phone",
	// or "batch" when an earlier record of the same batch created the person
	// (the key that matched it is then also given, e.g. "batch:email").
	MatchedBy string
	// Err is set when Rejected: an *errs.Error (errs.FieldOf names the field).
	Err error
	// FieldErrors lists fields of an accepted record that were refused
	// (malformed e-mail, date, unknown support level, …); each is an
	// *errs.Error naming its field. The rest of the row was applied.
	FieldErrors []error
	// DuplicateOf is set when the record created a person that has the same
	// first name, last name and postcode as another: a duplicate was proposed
	// (never merged automatically).
	DuplicateOf int64
}

// colKind says how a people column is typed in SQL; in memory every column
// is a string ("" for NULL numbers).
type colKind int

const (
	kText      colKind = iota
	kInt               // INTEGER NOT NULL 0/1
	kNullInt           // INTEGER NULL
	kNullFloat         // DOUBLE NULL
)

type column struct {
	name string
	kind colKind
}

// personCols are the people columns the upsert and merge engines handle,
// in a fixed order; the c* constants index them.
var personCols = [...]column{
	{"prefix", kText}, {"first_name", kText}, {"middle_name", kText}, {"last_name", kText},
	{"email", kText}, {"email_norm", kText},
	{"phone", kText}, {"phone_e164", kText}, {"phone_invalid", kInt},
	{"mobile", kText}, {"mobile_e164", kText}, {"mobile_invalid", kInt},
	{"work_phone", kText}, {"work_phone_e164", kText}, {"work_phone_invalid", kInt},
	{"birth_date", kText}, {"gender", kText}, {"language", kText},
	{"home_line1", kText}, {"home_line2", kText}, {"home_city", kText}, {"home_postcode", kText},
	{"home_region", kText}, {"home_country", kText}, {"home_lat", kNullFloat}, {"home_lng", kNullFloat},
	{"support_level_enc", kText}, {"relationship", kText}, // sealed (internal/crypt): see sealed.go
	{"membership_status", kText}, {"membership_started", kText}, {"membership_ends", kText},
	{"nationbuilder_id", kText}, {"civicrm_id", kText}, {"external_id", kText},
	{"name_key", kText},
}

const (
	cPrefix = iota
	cFirst
	cMiddle
	cLast
	cEmail
	cEmailNorm
	cPhone
	cPhoneE164
	cPhoneInvalid
	cMobile
	cMobileE164
	cMobileInvalid
	cWork
	cWorkE164
	cWorkInvalid
	cBirth
	cGender
	cLanguage
	cHomeLine1
	cHomeLine2
	cHomeCity
	cHomePostcode
	cHomeRegion
	cHomeCountry
	cHomeLat
	cHomeLng
	cSupport
	cRelationship
	cMemberStatus
	cMemberStarted
	cMemberEnds
	cNBID
	cCiviID
	cExtID
	cNameKey
	numCols
)

type vals [numCols]string

// field is a logical person field: one or more columns that are compared,
// filled and overwritten together, and that provenance names.
type field struct {
	name string
	cols []int
	// key is the column whose value decides equality; -1 compares all.
	key int
}

var fields = []field{
	{"prefix", []int{cPrefix}, -1},
	{"first_name", []int{cFirst}, -1},
	{"middle_name", []int{cMiddle}, -1},
	{"last_name", []int{cLast}, -1},
	{"email", []int{cEmail, cEmailNorm}, cEmailNorm},
	{"phone", []int{cPhone, cPhoneE164, cPhoneInvalid}, -2},
	{"mobile", []int{cMobile, cMobileE164, cMobileInvalid}, -2},
	{"work_phone", []int{cWork, cWorkE164, cWorkInvalid}, -2},
	{"birth_date", []int{cBirth}, -1},
	{"gender", []int{cGender}, -1},
	{"language", []int{cLanguage}, -1},
	{"home_address", []int{cHomeLine1, cHomeLine2, cHomeCity, cHomePostcode, cHomeRegion, cHomeCountry, cHomeLat, cHomeLng}, -1},
	{"support_level", []int{cSupport}, -1},
	{"relationship", []int{cRelationship}, -1},
	{"membership", []int{cMemberStatus, cMemberStarted, cMemberEnds}, -1},
	{"nationbuilder_id", []int{cNBID}, -1},
	{"civicrm_id", []int{cCiviID}, -1},
	{"external_id", []int{cExtID}, -1},
}

// empty reports whether the field holds nothing.
func (f field) empty(v *vals) bool {
	for _, c := range f.cols {
		if personCols[c].kind == kInt {
			continue // flags are not data
		}
		if v[c] != "" {
			return false
		}
	}
	return true
}

// equal reports whether two values of the field are the same datum: phones
// by E.164 when both parse (else as typed), e-mail by its normalised form.
func (f field) equal(a, b *vals) bool {
	switch {
	case f.key >= 0:
		return a[f.key] == b[f.key]
	case f.key == -2:
		raw, e164 := f.cols[0], f.cols[1]
		if a[e164] != "" && b[e164] != "" {
			return a[e164] == b[e164]
		}
		return a[raw] == b[raw]
	}
	for _, c := range f.cols {
		if a[c] != b[c] {
			return false
		}
	}
	return true
}

func (f field) copy(dst, src *vals) {
	for _, c := range f.cols {
		dst[c] = src[c]
	}
}

// sqlArg converts an in-memory column value to its SQL argument.
func sqlArg(c int, v string) any {
	switch personCols[c].kind {
	case kInt:
		if v == "1" {
			return 1
		}
		return 0
	case kNullInt:
		if v == "" {
			return nil
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	case kNullFloat:
		if v == "" {
			return nil
		}
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return v
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// nameKey is the name+postcode duplicate key; empty unless all three parts
// are present.
func nameKey(v *vals) string {
	if v[cFirst] == "" || v[cLast] == "" || v[cHomePostcode] == "" {
		return ""
	}
	return lower(v[cFirst]) + "|" + lower(v[cLast]) + "|" + lower(v[cHomePostcode])
}

func millisOr(t time.Time, now time.Time) int64 {
	if t.IsZero() {
		return now.UnixMilli()
	}
	return t.UnixMilli()
}

func wrap(action string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("people: %s: %w", action, err)
}

// countryOf returns the nation's default country for phone numbers.
func (s *Store) countryOf(ctx context.Context, q querier, nationID int64) (string, error) {
	var c string
	if err := q.QueryRow(ctx, `SELECT country FROM nations WHERE id = ?`, nationID).Scan(&c); err != nil {
		return "", wrap("read nation country", err)
	}
	return c, nil
}
