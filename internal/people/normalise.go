package people

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/muster-org/muster/internal/errs"
)

// The normalisers turn values as received (import cells, form fields) into
// the stored form. Each returns an *errs.Error naming the field when the
// value is unusable, so that a caller can reject just that field.

// NormaliseName trims a name part and collapses runs of white space (tabs,
// no-break spaces, newlines) into one space.
func NormaliseName(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || r == '\u00a0' {
			space = b.Len() > 0
			continue
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NormaliseEmail checks the syntax of an e-mail address and returns the
// display form (trimmed, as typed) and the matching form (lower-cased).
// An empty input gives two empty strings and no error. The check is
// deliberately pragmatic: one @, a non-empty local part of at most 64 bytes,
// a domain of dot-separated labels with at least one dot, no spaces, no
// brackets or quotes, at most 254 bytes in all.
func NormaliseEmail(s string) (display, norm string, err error) {
	display = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "<>"))
	display = strings.TrimPrefix(display, "mailto:")
	if display == "" {
		return "", "", nil
	}
	bad := func(why string) (string, string, error) {
		return "", "", errs.InvalidField("email", "malformed e-mail address: %s", why)
	}
	if len(display) > 254 || !utf8.ValidString(display) {
		return bad("too long or not text")
	}
	at := strings.LastIndexByte(display, '@')
	if at <= 0 || at == len(display)-1 {
		return bad("it needs one @ between a name and a domain")
	}
	local, domain := display[:at], display[at+1:]
	if len(local) > 64 {
		return bad("the part before @ is too long")
	}
	for _, r := range display {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return bad("it contains a space or a character not allowed")
		}
	}
	if strings.Contains(local, "@") {
		return bad("it has more than one @")
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return bad("misplaced dot before @")
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return bad("the domain has no dot")
	}
	for _, l := range labels {
		if l == "" || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return bad("the domain is malformed")
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return bad("the domain is malformed")
			}
		}
	}
	return display, strings.ToLower(display), nil
}

// Phone is a telephone number as typed plus its E.164 form. Invalid is true
// when the number could not be parsed: it is then kept as typed, flagged,
// and never used for matching.
type Phone struct {
	Raw     string
	E164    string
	Invalid bool
}

// NormalisePhone parses a number with the nation's default country (ISO
// 3166-1 alpha-2, e.g. "BE"). Numbers in international form (+32…, 0032…)
// parse whatever the country; with no default country, only those are
// accepted. Numbers that do not parse, or are not valid numbers for their
// country, come back flagged Invalid with the raw text kept.
func NormalisePhone(raw, country string) Phone {
	raw = NormaliseName(raw)
	if raw == "" {
		return Phone{}
	}
	p := Phone{Raw: raw}
	if len(raw) > 40 {
		p.Invalid = true
		return p
	}
	s := raw
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	region := strings.ToUpper(strings.TrimSpace(country))
	if !strings.HasPrefix(s, "+") && region == "" {
		p.Invalid = true
		return p
	}
	if region == "" {
		region = "ZZ"
	}
	if e, ok := fastE164(s, region); ok {
		p.E164 = e
		return p
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		p.Invalid = true
		return p
	}
	p.E164 = phonenumbers.Format(num, phonenumbers.E164)
	return p
}

// NormaliseDate accepts a calendar date and returns it as YYYY-MM-DD.
//
// Accepted forms:
//   - ISO: 1980-04-23, also with a time after it (1980-04-23T00:00:00Z,
//     "1980-04-23 00:00:00"), as NationBuilder exports born_at;
//   - day first: 23/04/1980, 23-04-1980, 23.04.1980 (one- or two-digit day
//     and month), the European convention;
//   - month first (US, some NationBuilder exports): 04/23/1980, accepted only
//     when the first number cannot be a month's day-first reading, i.e. the
//     second number is above 12.
//
// Rejected: two-digit years (which century?), years before 1850 or after
// 2200, impossible dates (31/02/1980), and anything else.
func NormaliseDate(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	bad := errs.InvalidField("birth_date", "unrecognised date %q: use YYYY-MM-DD or DD/MM/YYYY", clip(s, 40))
	if len(s) >= 10 && s[4] == '-' && s[7] == '-' {
		if len(s) > 10 && s[10] != 'T' && s[10] != ' ' {
			return "", bad
		}
		y, m, d, ok := atoi3(s[0:4], s[5:7], s[8:10])
		if !ok {
			return "", bad
		}
		return formatDate(y, m, d, bad)
	}
	sep := strings.IndexAny(s, "/-.")
	if sep < 0 {
		return "", bad
	}
	parts := strings.Split(s, string(s[sep]))
	if len(parts) != 3 || len(parts[0]) == 0 || len(parts[0]) > 2 || len(parts[1]) == 0 || len(parts[1]) > 2 || len(parts[2]) != 4 {
		return "", bad
	}
	a, b, y, ok := atoi3(parts[0], parts[1], parts[2])
	if !ok {
		return "", bad
	}
	d, m := a, b
	if b > 12 && a <= 12 && s[sep] == '/' {
		d, m = b, a // month first: only reading that makes sense
	}
	return formatDate(y, m, d, bad)
}

func formatDate(y, m, d int, bad error) (string, error) {
	if y < 1850 || y > 2200 || m < 1 || m > 12 || d < 1 {
		return "", bad
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d || int(t.Month()) != m {
		return "", bad
	}
	return t.Format("2006-01-02"), nil
}

func atoi3(a, b, c string) (int, int, int, bool) {
	x, ok1 := digits(a)
	y, ok2 := digits(b)
	z, ok3 := digits(c)
	return x, y, z, ok1 && ok2 && ok3
}

func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// genderWords maps the words sources use, in English, French and Dutch, to
// the stored code.
var genderWords = map[string]string{
	"f": "f", "female": "f", "woman": "f", "w": "f", "femme": "f", "féminin": "f", "feminin": "f",
	"vrouw": "f", "v": "f", "vrouwelijk": "f", "mrs": "f", "ms": "f", "mme": "f",
	"m": "m", "male": "m", "man": "m", "homme": "m", "h": "m", "masculin": "m", "mannelijk": "m",
	"mr": "m",
	"x":  "x", "o": "x", "other": "x", "non-binary": "x", "nonbinary": "x", "non binary": "x",
	"autre": "x", "non-binaire": "x", "ander": "x", "anders": "x", "non-binair": "x", "divers": "x",
	"u": "", "unknown": "", "inconnu": "", "onbekend": "", "?": "", "-": "",
}

// NormaliseGender maps a gender word (en/fr/nl, any case) to f, m, x or ""
// (unknown). Unrecognised words are an error.
func NormaliseGender(s string) (string, error) {
	w := strings.ToLower(NormaliseName(s))
	w = strings.TrimSuffix(w, ".")
	if w == "" {
		return "", nil
	}
	if g, ok := genderWords[w]; ok {
		return g, nil
	}
	return "", errs.InvalidField("gender", "unknown gender %q: use f, m or x", clip(s, 30))
}

// NormaliseSupportLevel parses a support level: 1 (strong support) to 5
// (strong opposition); empty means unknown and gives 0.
func NormaliseSupportLevel(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	s = strings.TrimSuffix(s, ".0")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 5 {
		return 0, errs.InvalidField("support_level", "unknown support level %q: use 1 (strong support) to 5 (strong opposition)", clip(s, 20))
	}
	return n, nil
}

// Relationships are the relationships to the organisation (GDPR Art. 9(2)(d)).
var Relationships = []string{"member", "former_member", "regular_contact", "other"}

// NormaliseRelationship maps "Former member", "former-member", … to the
// stored code; empty stays empty.
func NormaliseRelationship(s string) (string, error) {
	w := strings.ToLower(NormaliseName(s))
	w = strings.NewReplacer(" ", "_", "-", "_").Replace(w)
	if w == "" {
		return "", nil
	}
	for _, r := range Relationships {
		if w == r {
			return r, nil
		}
	}
	return "", errs.InvalidField("relationship", "unknown relationship %q: use member, former_member, regular_contact or other", clip(s, 30))
}

// NormaliseTag trims and collapses a tag name and returns it with its
// matching key (lower-cased). Tags longer than 100 characters are cut.
func NormaliseTag(s string) (name, key string) {
	name = NormaliseName(s)
	if utf8.RuneCountInString(name) > 100 {
		name = string([]rune(name)[:100])
	}
	return name, strings.ToLower(name)
}

// Channels and bases of the consent ledger.
var (
	Channels = []string{"email", "sms", "phone", "post", "ads", "push"}
	Bases    = []string{"consent", "membership", "legitimate_interest", "legal_obligation"}
)

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
