package peopleweb

import (
	"slices"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/web"
)

// FuzzValidate feeds the person form arbitrary values: validation never
// panics, and a form it accepts describes a person that, written back into
// the form, is accepted again unchanged (so saving twice changes nothing).
func FuzzValidate(f *testing.F) {
	f.Add("Jan", "Peeters", "jan@example.org", "a@b.be\nc@d.nl", "+32 470 12 34 56", "23/04/1980", "m", "9000", "be", "2", "member")
	f.Add("<script>", "O'Brien \u202e🎉", "", "", "", "", "", "", "", "", "")
	f.Add("", "", "bad", "x,,y;", "12", "31/02/1980", "q", "", "BEL", "9", "boss")
	f.Fuzz(func(t *testing.T, first, last, email, others, mobile, birth, gender, postcode, country, support, rel string) {
		v := &web.View{Lang: "en"}
		form := formValues{"first_name": first, "last_name": last, "email": email, "other_emails": others, "mobile": mobile,
			"birth_date": birth, "gender": gender, "home_postcode": postcode, "home_country": country,
			"support_level": support, "relationship": rel}
		in, fe := validate(v, form, "BE", nil)
		if len(fe) > 0 {
			return
		}
		p := &people.Person{FirstName: in.First, LastName: in.Last, Mobile: in.Mobile, BirthDate: in.BirthDate,
			Gender: in.Gender, Home: in.Home, SupportLevel: in.Support, Relationship: in.Relationship}
		for i, e := range in.Emails {
			if i == 0 {
				p.Email = e.Display
			}
			p.Emails = append(p.Emails, people.EmailEntry{Address: e.Display, Primary: i == 0})
		}
		again, fe := validate(v, formFromPerson(p), "BE", p)
		if len(fe) > 0 {
			t.Fatalf("stored values refused on the second round: %v", fe)
		}
		if ch := changedFields(p, again); len(ch) > 0 {
			t.Fatalf("second save would change %v", ch)
		}
		for _, e := range in.Emails {
			if e.Norm != strings.ToLower(e.Norm) {
				t.Fatalf("e-mail key %q not lower-cased", e.Norm)
			}
		}
		if in.Gender != "" && !slices.Contains([]string{"f", "m", "x"}, in.Gender) {
			t.Fatalf("gender %q accepted", in.Gender)
		}
	})
}
