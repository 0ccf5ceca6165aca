package peopleweb

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/web"
)

// maxText bounds a name or address part typed by staff.
const maxText = 200

// input is a person form after validation: normalised values ready to store.
type input struct {
	Prefix, First, Middle, Last string
	Emails                      []emailIn // primary first; may be empty
	Phone, Mobile, Work         people.Phone
	BirthDate, Gender, Language string
	Home                        people.Address // without coordinates
	Support                     int
	Relationship                string
}

type emailIn struct{ Display, Norm string }

// formValues are the raw values of a person form, keyed by input name.
type formValues map[string]string

// formFromPerson fills the form with a stored person, for the edit page.
func formFromPerson(p *people.Person) formValues {
	var others []string
	for _, e := range p.Emails {
		if !e.Primary {
			others = append(others, e.Address)
		}
	}
	f := formValues{
		"prefix": p.Prefix, "first_name": p.FirstName, "middle_name": p.MiddleName, "last_name": p.LastName,
		"email": p.Email, "other_emails": strings.Join(others, "\n"),
		"phone": p.Phone.Raw, "mobile": p.Mobile.Raw, "work_phone": p.WorkPhone.Raw,
		"birth_date": p.BirthDate, "gender": p.Gender, "language": p.Language,
		"home_line1": p.Home.Line1, "home_line2": p.Home.Line2, "home_postcode": p.Home.Postcode,
		"home_city": p.Home.City, "home_region": p.Home.Region, "home_country": p.Home.Country,
		"relationship": p.Relationship,
	}
	if p.SupportLevel > 0 {
		f["support_level"] = strconv.Itoa(p.SupportLevel)
	}
	return f
}

// formFromPost reads the posted person form.
func formFromPost(post url.Values) formValues {
	f := formValues{}
	for _, k := range formKeys {
		f[k] = post.Get(k)
	}
	return f
}

var formKeys = []string{"prefix", "first_name", "middle_name", "last_name", "email", "other_emails",
	"phone", "mobile", "work_phone", "birth_date", "gender", "language",
	"home_line1", "home_line2", "home_postcode", "home_city", "home_region", "home_country",
	"support_level", "relationship"}

// validate checks and normalises a person form. country is the nation's
// default country for phone numbers; cur is the person being edited (nil
// for a new one): a phone number left as it was is kept even when it never
// parsed, since staff may not know a better one.
func validate(v *web.View, f formValues, country string, cur *people.Person) (input, fieldErrors) {
	fe := fieldErrors{}
	var in input
	text := func(name string) string {
		s := people.NormaliseName(f[name])
		if utf8.RuneCountInString(s) > maxText {
			fe.add(name, v.T("people.err.too_long", maxText))
		}
		return s
	}
	in.Prefix, in.First, in.Middle, in.Last = text("prefix"), text("first_name"), text("middle_name"), text("last_name")

	seen := map[string]bool{}
	if d, n, err := people.NormaliseEmail(f["email"]); err != nil {
		fe.add("email", v.T("people.err.email"))
	} else if n != "" {
		in.Emails = append(in.Emails, emailIn{d, n})
		seen[n] = true
	}
	for _, raw := range strings.FieldsFunc(f["other_emails"], func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' }) {
		d, n, err := people.NormaliseEmail(raw)
		if err != nil {
			fe.add("other_emails", v.T("people.err.email_in_list", strings.TrimSpace(raw)))
			continue
		}
		if n != "" && !seen[n] {
			seen[n] = true
			in.Emails = append(in.Emails, emailIn{d, n})
		}
	}
	if len(in.Emails) > 20 {
		fe.add("other_emails", v.T("people.err.too_many_emails", 20))
	}

	phone := func(name string, old people.Phone) people.Phone {
		raw := strings.TrimSpace(f[name])
		if raw == "" {
			return people.Phone{}
		}
		if raw == old.Raw {
			return old
		}
		p := people.NormalisePhone(raw, country)
		if p.Invalid {
			fe.add(name, v.T("people.err.phone"))
		}
		return p
	}
	var old people.Person
	if cur != nil {
		old = *cur
	}
	in.Phone, in.Mobile, in.Work = phone("phone", old.Phone), phone("mobile", old.Mobile), phone("work_phone", old.WorkPhone)

	if b := strings.TrimSpace(f["birth_date"]); b != "" {
		d, err := people.NormaliseDate(b)
		if err != nil {
			fe.add("birth_date", v.T("people.err.date"))
		}
		in.BirthDate = d
	}
	g := f["gender"]
	if g != "" && g != "f" && g != "m" && g != "x" {
		fe.add("gender", v.T("people.err.choice"))
	}
	in.Gender = g
	in.Language = f["language"]
	if in.Language != "" && !slices.Contains(i18n.Languages, in.Language) && in.Language != old.Language {
		fe.add("language", v.T("people.err.choice"))
	}

	in.Home = people.Address{Line1: text("home_line1"), Line2: text("home_line2"), Postcode: text("home_postcode"),
		City: text("home_city"), Region: text("home_region"), Country: strings.ToUpper(text("home_country"))}
	if c := in.Home.Country; c != "" && (len(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') {
		fe.add("home_country", v.T("people.err.country"))
	}

	if sl, err := people.NormaliseSupportLevel(f["support_level"]); err != nil {
		fe.add("support_level", v.T("people.err.choice"))
	} else {
		in.Support = sl
	}
	if rel, err := people.NormaliseRelationship(f["relationship"]); err != nil {
		fe.add("relationship", v.T("people.err.choice"))
	} else {
		in.Relationship = rel
	}

	hasExternal := cur != nil && (cur.NationBuilderID != "" || cur.CiviCRMID != "" || cur.ExternalID != "")
	if len(fe) == 0 && in.First == "" && in.Last == "" && len(in.Emails) == 0 &&
		in.Phone.Raw == "" && in.Mobile.Raw == "" && in.Work.Raw == "" && !hasExternal {
		fe.add("first_name", v.T("people.err.identity"))
	}
	return in, fe
}

// personForm is the page data of the edit and new-person forms.
type personForm struct {
	Title, Action, Cancel string
	Names                 []field
	Email                 field
	OtherEmails           field
	Phones                []field
	BirthDate             field
	Gender, Language      selectField
	Support, Relationship selectField
	Address               []field
	Error                 string
	Existing              int64 // a person the new record matches, if any
}

func buildForm(v *web.View, f formValues, fe fieldErrors) personForm {
	txt := func(name, typ, autocomplete string) field {
		return field{Name: name, Label: v.T("people.field." + name), Type: typ, Value: f[name], Error: fe[name], Autocomplete: autocomplete}
	}
	sel := func(name string, values []string, labelOf func(string) string) selectField {
		cur := f[name]
		sf := selectField{Name: name, Label: v.T("people.field." + name), Error: fe[name]}
		sf.Options = append(sf.Options, option{Value: "", Label: v.T("people.unknown"), Selected: cur == ""})
		found := cur == ""
		for _, val := range values {
			sf.Options = append(sf.Options, option{Value: val, Label: labelOf(val), Selected: val == cur})
			found = found || val == cur
		}
		if !found { // a stored value the form does not offer stays selectable
			sf.Options = append(sf.Options, option{Value: cur, Label: cur, Selected: true})
		}
		return sf
	}
	pf := personForm{
		Names: []field{txt("prefix", "text", "honorific-prefix"), txt("first_name", "text", "off"),
			txt("middle_name", "text", "off"), txt("last_name", "text", "off")},
		Email:       txt("email", "email", "off"),
		OtherEmails: field{Name: "other_emails", Label: v.T("people.field.other_emails"), Value: f["other_emails"], Error: fe["other_emails"], Hint: v.T("people.hint.other_emails")},
		Phones:      []field{txt("phone", "tel", "off"), txt("mobile", "tel", "off"), txt("work_phone", "tel", "off")},
		BirthDate:   txt("birth_date", "text", "off"),
		Address: []field{txt("home_line1", "text", "off"), txt("home_line2", "text", "off"), txt("home_postcode", "text", "off"),
			txt("home_city", "text", "off"), txt("home_region", "text", "off"), txt("home_country", "text", "off")},
		Gender:       sel("gender", []string{"f", "m", "x"}, func(s string) string { return v.T("people.gender." + s) }),
		Language:     sel("language", i18n.Languages, languageName),
		Support:      sel("support_level", []string{"1", "2", "3", "4", "5"}, func(s string) string { return v.T("people.support." + s) }),
		Relationship: sel("relationship", people.Relationships, func(s string) string { return v.T("people.relationship." + s) }),
	}
	pf.BirthDate.Hint = v.T("people.hint.birth_date")
	pf.Address[5].Hint = v.T("people.hint.country")
	if len(fe) > 0 {
		pf.Error = v.T("people.err.form")
	}
	return pf
}

func languageName(l string) string {
	if n, ok := i18n.Names[l]; ok {
		return n
	}
	return l
}
