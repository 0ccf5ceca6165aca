package people

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// slowE164 is NormalisePhone's answer through the full parser only.
func slowE164(s, region string) (string, bool) {
	num, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// checkFast fails when fastE164 answers and the full parser disagrees.
func checkFast(t *testing.T, s, region string) (hit bool) {
	t.Helper()
	got, ok := fastE164(s, region)
	if !ok {
		return false
	}
	want, valid := slowE164(s, region)
	if !valid || got != want {
		t.Fatalf("fastE164(%q, %q) = %q; full parser says %q (valid %v)", s, region, got, want, valid)
	}
	return true
}

// TestFastE164MatchesParse mutates example numbers of every type of every
// fast-path country, in international and national forms, and checks the
// fast path against the full parser whenever it answers.
func TestFastE164MatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	types := []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE, phonenumbers.TOLL_FREE,
		phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.VOIP, phonenumbers.PERSONAL_NUMBER,
		phonenumbers.PAGER, phonenumbers.UAN, phonenumbers.VOICEMAIL}
	hits := 0
	for cc, region := range fastCallingCodes {
		for _, typ := range types {
			ex := phonenumbers.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			nat := strconv.FormatUint(ex.GetNationalNumber(), 10)
			for range 300 {
				b := []byte(nat)
				for k := range 1 + rng.IntN(4) {
					b[len(b)-1-k%len(b)] = byte('0' + rng.IntN(10))
				}
				if rng.IntN(5) == 0 && len(b) > 4 { // other lengths too
					b = b[:len(b)-1]
				} else if rng.IntN(5) == 0 {
					b = append(b, byte('0'+rng.IntN(10)))
				}
				m := string(b)
				for _, form := range []struct{ s, region string }{
					{"+" + strconv.Itoa(cc) + m, "ZZ"},
					{"+" + strconv.Itoa(cc) + " " + spaced(m), region},
					{"+" + strconv.Itoa(cc) + " (0)" + m, region},
					{"0" + spaced(m), region},
					{"0" + m, "BE"},
					{"1" + m, region},
					{m, region},
				} {
					if checkFast(t, form.s, form.region) {
						hits++
					}
				}
			}
		}
	}
	if hits < 10000 {
		t.Fatalf("fast path answered only %d times: the test no longer exercises it", hits)
	}
	for _, s := range []string{"+32 471 23 45 67", "0471/23.45.67", "+33 6 12 34 56 78", "+1 (202) 555-0143"} {
		if !checkFast(t, s, "BE") {
			t.Errorf("fastE164(%q) did not answer", s)
		}
	}
}

func spaced(s string) string {
	var b []byte
	for i := range len(s) {
		if i > 0 && i%2 == 0 {
			b = append(b, ' ')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// FuzzFastE164 checks that the fast path never disagrees with the parser.
func FuzzFastE164(f *testing.F) {
	for _, s := range []string{"+32 471 23 45 67", "0471 23 45 67", "+1 202-555-0143", "+44 20 7946 0958", "+352 621 123 456", "0032471234567"} {
		f.Add(s, "BE")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		if len(s) > 40 {
			return
		}
		checkFast(t, s, region)
	})
}
