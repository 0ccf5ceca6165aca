package people

import (
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// fastCallingCodes are the calling codes whose national-prefix rule is the
// plain trunk prefix (or none), so that a number written with only digits
// and separators reads the same to fastE164 as to phonenumbers.Parse. The
// equivalence is checked by TestFastE164MatchesParse and FuzzFastE164.
// Numbers of other countries take the full parser.
var fastCallingCodes = map[int]string{
	1: "US", 31: "NL", 32: "BE", 33: "FR", 34: "ES", 41: "CH", 43: "AT", 44: "GB",
	45: "DK", 46: "SE", 47: "NO", 48: "PL", 49: "DE", 351: "PT", 352: "LU", 353: "IE",
}

// fastE164 is the common case of phone parsing without phonenumbers.Parse,
// whose regular expressions (extension search above all) cost ~15 µs a
// number — most of a bulk import's CPU. It handles "+CC digits" and
// national "0 digits" forms, with spaces, dashes, dots, slashes and
// brackets as separators, for the calling codes above; it answers only when
// the number is VALID (so never disagrees about validity in the parser's
// disfavour) and ok is false for everything else, which then goes through
// the full parser. s is the number with "00" already turned into "+".
func fastE164(s, region string) (e164 string, ok bool) {
	var digits [24]byte
	n := 0
	plus := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return "", false
			}
			digits[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	d := string(digits[:n])
	var cc int
	var national string
	if plus {
		if n == 0 || d[0] == '0' {
			return "", false // no calling code starts with 0
		}
		for k := 1; k <= 3 && k < len(d); k++ {
			code, _ := strconv.Atoi(d[:k])
			if _, known := fastCallingCodes[code]; known {
				cc, national = code, d[k:]
				break
			}
		}
		if cc == 0 {
			return "", false
		}
		// A trunk prefix after the country code ("+32 0471…") is the
		// parser's business.
		if ndd := phonenumbers.GetNddPrefixForRegion(fastCallingCodes[cc], true); ndd != "" && len(national) >= len(ndd) && national[:len(ndd)] == ndd {
			return "", false
		}
	} else {
		cc = phonenumbers.GetCountryCodeForRegion(region)
		if fastCallingCodes[cc] != region {
			return "", false
		}
		ndd := phonenumbers.GetNddPrefixForRegion(region, true)
		if ndd == "" || len(d) <= len(ndd) || d[:len(ndd)] != ndd {
			return "", false
		}
		national = d[len(ndd):]
	}
	if len(national) < 4 || len(national) > 15 || national[0] == '0' {
		return "", false
	}
	nn, err := strconv.ParseUint(national, 10, 64)
	if err != nil {
		return "", false
	}
	code := int32(cc)
	num := &phonenumbers.PhoneNumber{CountryCode: &code, NationalNumber: &nn}
	if !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return "+" + strconv.Itoa(cc) + national, true
}
