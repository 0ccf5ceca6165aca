package people

import (
	"errors"
	"math"
	"regexp"
	"strings"

	"github.com/muster-org/muster/internal/errs"
)

// prepared is a record after normalisation: the values it brings, in the
// column layout of people, plus everything that lives in side tables.
type prepared struct {
	v        vals
	emails   []emailIn // valid, distinct, in the record's order (first = primary)
	tags     []tagIn
	consents []ConsentInput
	custom   map[string]string
	addrs    map[string]addrVals // mailing, work
	note     string

	reject    error   // the record as a whole is refused
	fieldErrs []error // refused fields; the rest stands
}

type emailIn struct{ display, norm string }

type tagIn struct{ name, key string }

// addrVals are line1, line2, city, postcode, region, country, lat, lng.
type addrVals [8]string

func (a addrVals) empty() bool {
	for _, s := range a {
		if s != "" {
			return false
		}
	}
	return true
}

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})?$`)

// prepare normalises a record. country is the nation's default country for
// phone numbers; extraTags are added to every record.
func prepare(r *Record, country string, extraTags []string) prepared {
	var p prepared
	bad := func(err error) { p.fieldErrs = append(p.fieldErrs, err) }

	p.v[cPrefix] = clipRunes(NormaliseName(r.Prefix), 50)
	p.v[cFirst] = clipRunes(NormaliseName(r.FirstName), 200)
	p.v[cMiddle] = clipRunes(NormaliseName(r.MiddleName), 200)
	p.v[cLast] = clipRunes(NormaliseName(r.LastName), 200)

	seen := map[string]bool{}
	for _, e := range r.Emails {
		d, n, err := NormaliseEmail(e)
		if err != nil {
			bad(err)
			continue
		}
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		p.emails = append(p.emails, emailIn{d, n})
	}
	if len(p.emails) > 0 {
		p.v[cEmail], p.v[cEmailNorm] = p.emails[0].display, p.emails[0].norm
	}

	setPhone := func(raw string, c int) {
		ph := NormalisePhone(raw, country)
		p.v[c], p.v[c+1] = ph.Raw, ph.E164
		if ph.Invalid {
			p.v[c+2] = "1"
		}
	}
	setPhone(r.Phone, cPhone)
	setPhone(r.Mobile, cMobile)
	setPhone(r.Work, cWork)

	if d, err := NormaliseDate(r.BirthDate); err != nil {
		bad(err)
	} else {
		p.v[cBirth] = d
	}
	if g, err := NormaliseGender(r.Gender); err != nil {
		bad(err)
	} else {
		p.v[cGender] = g
	}
	if l := strings.ToLower(strings.TrimSpace(r.Language)); l != "" {
		l = strings.ReplaceAll(l, "_", "-")
		if languagePattern.MatchString(l) {
			p.v[cLanguage] = l
		} else {
			bad(errs.InvalidField("language", "unknown language code %q", clip(r.Language, 20)))
		}
	}
	if a, err := normaliseAddress(r.Home, "home"); err != nil {
		bad(err)
	} else {
		copy(p.v[cHomeLine1:cHomeLng+1], a[:])
	}
	for kind, addr := range map[string]Address{"mailing": r.Mailing, "work": r.Work_} {
		a, err := normaliseAddress(addr, kind)
		if err != nil {
			bad(err)
			continue
		}
		if !a.empty() {
			if p.addrs == nil {
				p.addrs = map[string]addrVals{}
			}
			p.addrs[kind] = a
		}
	}
	if n, err := NormaliseSupportLevel(r.SupportLevel); err != nil {
		bad(err)
	} else if n > 0 {
		p.v[cSupport] = string(rune('0' + n))
	}
	if rel, err := NormaliseRelationship(r.Relationship); err != nil {
		bad(err)
	} else {
		p.v[cRelationship] = rel
	}
	p.v[cMemberStatus] = clipRunes(strings.ToLower(NormaliseName(r.Membership.Status)), 50)
	for c, s := range map[int]string{cMemberStarted: r.Membership.StartedAt, cMemberEnds: r.Membership.EndsAt} {
		d, err := NormaliseDate(s)
		if err != nil {
			bad(renameField(err, "membership"))
			continue
		}
		p.v[c] = d
	}
	p.v[cNBID] = clipRunes(NormaliseName(r.NationBuilderID), 100)
	p.v[cCiviID] = clipRunes(NormaliseName(r.CiviCRMID), 100)
	p.v[cExtID] = clipRunes(NormaliseName(r.ExternalID), 200)
	p.v[cNameKey] = nameKey(&p.v)

	tagSeen := map[string]bool{}
	for _, list := range [][]string{r.Tags, extraTags} {
		for _, t := range list {
			name, key := NormaliseTag(t)
			if key == "" || tagSeen[key] {
				continue
			}
			tagSeen[key] = true
			p.tags = append(p.tags, tagIn{name, key})
		}
	}
	for _, c := range r.Consents {
		if err := validConsent(&c); err != nil {
			bad(err)
			continue
		}
		p.consents = append(p.consents, c)
	}
	if len(r.Custom) > 0 {
		p.custom = r.Custom
	}
	p.note = strings.TrimSpace(r.Note)

	if p.v[cFirst] == "" && p.v[cLast] == "" && len(p.emails) == 0 && p.v[cPhoneE164] == "" &&
		p.v[cMobileE164] == "" && p.v[cWorkE164] == "" && p.v[cNBID] == "" && p.v[cCiviID] == "" && p.v[cExtID] == "" {
		p.reject = errs.Invalid("no identity: the record has no name, valid e-mail, valid phone or external id")
	}
	return p
}

func normaliseAddress(a Address, kind string) (addrVals, error) {
	var v addrVals
	v[0] = clipRunes(NormaliseName(a.Line1), 200)
	v[1] = clipRunes(NormaliseName(a.Line2), 200)
	v[2] = clipRunes(NormaliseName(a.City), 100)
	v[3] = clipRunes(strings.ToUpper(NormaliseName(a.Postcode)), 20)
	v[4] = clipRunes(NormaliseName(a.Region), 100)
	v[5] = clipRunes(strings.ToUpper(NormaliseName(a.Country)), 60)
	if (a.Lat == nil) != (a.Lng == nil) {
		return addrVals{}, errs.InvalidField(kind+"_address", "latitude and longitude go together")
	}
	if a.Lat != nil {
		lat, lng := *a.Lat, *a.Lng
		if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || lng < -180 || lng > 180 {
			return addrVals{}, errs.InvalidField(kind+"_address", "coordinates out of range")
		}
		v[6], v[7] = formatFloat(lat), formatFloat(lng)
	}
	return v, nil
}

func validConsent(c *ConsentInput) error {
	c.Channel = strings.ToLower(strings.TrimSpace(c.Channel))
	c.Basis = strings.ToLower(strings.TrimSpace(c.Basis))
	if c.Basis == "" {
		c.Basis = "consent"
	}
	if !contains(Channels, c.Channel) {
		return errs.InvalidField("consent", "unknown consent channel %q", clip(c.Channel, 20))
	}
	if !contains(Bases, c.Basis) {
		return errs.InvalidField("consent", "unknown lawful basis %q", clip(c.Basis, 30))
	}
	return nil
}

func renameField(err error, name string) error {
	var e *errs.Error
	if errors.As(err, &e) {
		c := *e
		c.Field = name
		return &c
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func clipRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

func lower(s string) string { return strings.ToLower(s) }
