package pages_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// bilingual makes a French and Dutch nation like a Brussels party.
func bilingual(t *testing.T, s *servertest.Server, slug string) *nation.Nation {
	t.Helper()
	n, err := s.App.Nations.Create(context.Background(), nation.NewNation{Slug: slug, Name: "Nation " + slug, DefaultLang: "fr", Languages: []string{"fr", "nl", "en"}, Country: "BE"})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const wordingFR = "Oui, je veux recevoir les nouvelles de la campagne par e-mail."
const wordingNL = "Ja, ik wil het nieuws van de campagne per e-mail ontvangen."

// petition creates a published petition in French with its Dutch
// translation, tags, points, an e-mail consent question in French and
// Dutch and the public list offered.
func petition(t *testing.T, s *servertest.Server, n *nation.Nation, slug string) *pages.Page {
	t.Helper()
	p := &pages.Page{NationID: n.ID, Type: pages.TypePetition, Slug: slug, Title: "Sauvons le parc", Body: "Le **parc** doit rester.",
		Target: "Le collège communal", Goal: 100, Status: pages.StatusPublished, Lang: "fr",
		Translations: []pages.Translation{{Lang: "nl", Title: "Red het park", Body: "Het **park** moet blijven."}},
		Settings: pages.Settings{
			Fields:        []pages.Field{{Name: "first_name", Required: true}, {Name: "last_name"}, {Name: "email", Required: true}, {Name: "postcode"}, {Name: "city"}, {Name: "comment"}},
			Tags:          []string{"parc", "pétition"},
			Points:        5,
			Consents:      []pages.ConsentQuestion{{Channel: "email", Wording: map[string]string{"fr": wordingFR, "nl": wordingNL}}},
			PublicSigners: true,
		}}
	if ps := p.Validate(n.Languages); len(ps) > 0 {
		t.Fatalf("petition: %+v", ps)
	}
	if err := s.App.Pages.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func personByEmail(t *testing.T, s *servertest.Server, n *nation.Nation, email string) *people.Person {
	t.Helper()
	ps := people.NewStore(s.DB)
	found, err := ps.Search(context.Background(), n.ID, email, people.Page{})
	if err != nil || len(found) != 1 {
		t.Fatalf("people matching %s: %d (%v), want 1", email, len(found), err)
	}
	p, err := ps.Get(context.Background(), n.ID, found[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var countRE = regexp.MustCompile(`id="signature-count">([^<]*)<`)

func count(t *testing.T, body string) string {
	t.Helper()
	m := countRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no signature count in page")
	}
	return m[1]
}

func TestPetitionSignatureEndToEnd(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := bilingual(t, s, "bxl")
		p := petition(t, s, n, "parc")
		c := s.Client()
		c.IP, c.Lang = "198.51.100.7", "fr-BE"

		page := c.Get("/bxl/parc")
		if page.Status != 200 || !page.Has(`<html lang="fr">`) || !page.Has("<strong>parc</strong>") || count(t, page.Body) != "0" {
			t.Fatalf("petition page: %d, count %q", page.Status, count(t, page.Body))
		}
		for _, name := range []string{"first_name", "last_name", "email", "postcode", "city", "comment", "consent_email", "lang", "website"} {
			if !page.Has(`name="` + name + `"`) {
				t.Errorf("form lacks field %s", name)
			}
		}
		if !page.Has(html.EscapeString(wordingFR)) || page.Has(html.EscapeString(wordingNL)) {
			t.Error("consent question not shown in French only")
		}
		if strings.Contains(page.Body, `value="yes" checked`) {
			t.Error("a checkbox is ticked in advance")
		}

		form := url.Values{"first_name": {"Amélie"}, "last_name": {"Secret-Nom"}, "email": {"Amelie@Example.org"}, "postcode": {"1000"},
			"city": {"Bruxelles"}, "comment": {"Vive le parc"}, "consent_email": {"yes"}, "show_publicly": {"yes"}, "lang": {"fr"}}
		res := c.PostForm("/bxl/parc", form)
		if res.Status != http.StatusSeeOther || res.Location != "/bxl/parc/thanks?lang=fr" {
			t.Fatalf("sign: %d to %q", res.Status, res.Location)
		}
		thanks := c.Get(res.Location)
		if thanks.Status != 200 || count(t, thanks.Body) != "1" {
			t.Fatalf("thanks: %d count %q", thanks.Status, count(t, thanks.Body))
		}
		for _, want := range []string{"Merci !", "mailto:?subject=Sauvons%20le%20parc", "https://www.facebook.com/sharer/sharer.php?u=", "Amélie, Bruxelles"} {
			if !thanks.Has(want) {
				t.Errorf("thanks page lacks %q", want)
			}
		}
		if thanks.Has("<script") {
			t.Error("thanks page loads a script")
		}
		for _, secret := range []string{"Secret-Nom", "Amelie@Example.org", "amelie@example.org"} {
			if thanks.Has(secret) || c.Get("/bxl/parc").Has(secret) {
				t.Errorf("public pages show %q of a signer", secret)
			}
		}

		person := personByEmail(t, s, n, "amelie@example.org")
		if person.FirstName != "Amélie" || person.Home.City != "Bruxelles" || person.Language != "fr" || person.Points != 5 {
			t.Errorf("person: %+v", person)
		}
		if strings.Join(person.Tags, ",") != "parc,pétition" {
			t.Errorf("tags %v", person.Tags)
		}
		ppl := people.NewStore(s.DB)
		hist, err := ppl.ConsentHistory(ctx, n.ID, person.ID)
		if err != nil || len(hist) != 1 || hist[0].Channel != "email" || !hist[0].Granted() || hist[0].Source.IP != "198.51.100.7" || hist[0].Source.Ref != "parc" {
			t.Fatalf("consent ledger: %+v %v", hist, err)
		}
		if w, _ := ppl.ConsentWording(ctx, n.ID, hist[0].WordingHash); w != wordingFR {
			t.Errorf("recorded wording %q, want the French one shown", w)
		}
		signedActs := func() int {
			acts, _ := ppl.Timeline(ctx, n.ID, person.ID, 50)
			k := 0
			for _, a := range acts {
				if a.Type == "signed" && a.Source.Ref == "parc" && a.Source.Kind == "form" {
					k++
				}
			}
			return k
		}
		if signedActs() != 1 {
			t.Errorf("signed activities: %d, want 1", signedActs())
		}
		if ok, _ := s.App.Pages.Signed(ctx, n.ID, p.ID, person.ID); !ok {
			t.Error("no signature row")
		}

		// Signing again (another device, same e-mail) counts once.
		again := s.Client()
		again.IP = "198.51.100.8"
		if res := again.PostForm("/bxl/parc", url.Values{"first_name": {"Amélie"}, "email": {"amelie@example.org"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("second signature: %d", res.Status)
		}
		if got := count(t, again.Get("/bxl/parc/thanks").Body); got != "1" {
			t.Errorf("count after signing twice = %s, want 1", got)
		}
		if signedActs() != 1 {
			t.Errorf("signing twice added an activity")
		}
		if pp := personByEmail(t, s, n, "amelie@example.org"); pp.Points != 5 {
			t.Errorf("points after signing twice: %d, want 5", pp.Points)
		}
		// A second signer raises the count.
		if res := again.PostForm("/bxl/parc", url.Values{"first_name": {"Bram"}, "email": {"bram@example.org"}, "lang": {"nl"}}); res.Status != http.StatusSeeOther {
			t.Fatal(res.Status)
		}
		if got := count(t, again.Get("/bxl/parc").Body); got != "2" {
			t.Errorf("count = %s, want 2", got)
		}
		if n, _ := s.App.Pages.SignatureCount(ctx, n.ID, p.ID); n != 2 {
			t.Errorf("SignatureCount = %d", n)
		}
		// Bram did not ask to be listed.
		if again.Get("/bxl/parc").Has("Bram") {
			t.Error("a signer who did not opt in is listed publicly")
		}
	})
}

func TestValidationErrorsInFrench(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := bilingual(t, s, "bxl")
		petition(t, s, n, "parc")
		c := s.Client()
		c.IP = "203.0.113.5"
		res := c.PostForm("/bxl/parc", url.Values{"first_name": {""}, "email": {"pas-une-adresse"}, "city": {"Ixelles <b>"}, "lang": {"fr"}, "consent_email": {"yes"}})
		if res.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422", res.Status)
		}
		for _, want := range []string{
			`<p class="error" id="f-first_name-error">Ce champ est obligatoire.</p>`,
			`<p class="error" id="f-email-error">Indiquez une adresse e-mail valide, par exemple nom@exemple.be.</p>`,
			`value="pas-une-adresse"`, `value="Ixelles &lt;b&gt;"`, `aria-invalid="true"`,
			`id="f-consent-email" name="consent_email" value="yes" checked`,
			"Veuillez corriger les champs signalés ci-dessous.",
		} {
			if !res.Has(want) {
				t.Errorf("422 page lacks %s", want)
			}
		}
		if res.Has(`id="f-city-error"`) {
			t.Error("a valid field is marked in error")
		}
		long := strings.Repeat("é", 101)
		res = c.PostForm("/bxl/parc", url.Values{"first_name": {long}, "email": {"ok@example.org"}, "lang": {"nl"}})
		if res.Status != 422 || !res.Has(`<html lang="nl">`) || !res.Has("Gebruik hoogstens 100 tekens.") {
			t.Errorf("too long in Dutch: %d", res.Status)
		}
		if n, _ := people.NewStore(s.DB).Search(context.Background(), n.ID, "ok@example.org", people.Page{}); len(n) != 0 {
			t.Error("an invalid submission created a person")
		}
	})
}

func TestHoneypotRateLimitAndOversizedBody(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := bilingual(t, s, "bxl")
		p := petition(t, s, n, "parc")
		bot := s.Client()
		bot.IP = "192.0.2.10"
		for i := range 30 {
			res := bot.PostForm("/bxl/parc", url.Values{"first_name": {"Bot"}, "email": {"bot" + strconv.Itoa(i) + "@example.org"}, "website": {"http://spam.example"}})
			if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Location, "/bxl/parc/thanks") {
				t.Fatalf("honeypot %d: %d %q, want a pretend success", i, res.Status, res.Location)
			}
		}
		if got, _ := people.NewStore(s.DB).Search(ctx, n.ID, "bot", people.Page{}); len(got) != 0 {
			t.Errorf("honeypot submissions created %d people", len(got))
		}
		if c, _ := s.App.Pages.SignatureCount(ctx, n.ID, p.ID); c != 0 {
			t.Errorf("honeypot submissions signed: %d", c)
		}
		bot.Lang = "nl"
		res := bot.PostForm("/bxl/parc", url.Values{"first_name": {"Bot"}, "email": {"bot@example.org"}})
		if res.Status != http.StatusTooManyRequests || !res.Has("Te veel pogingen") || res.Header.Get("Retry-After") == "" || !res.Has(`href="/static/public.css"`) {
			t.Fatalf("31st post from one address: %d, want a themed Dutch 429", res.Status)
		}
		// Someone else behind another address is not affected.
		other := s.Client()
		other.IP = "192.0.2.11"
		if res := other.PostForm("/bxl/parc", url.Values{"first_name": {"Ann"}, "email": {"ann@example.org"}}); res.Status != http.StatusSeeOther {
			t.Errorf("another address: %d", res.Status)
		}

		big := s.Client()
		big.IP, big.Lang = "192.0.2.12", "fr"
		res = big.PostForm("/bxl/parc", url.Values{"first_name": {"X"}, "email": {"x@example.org"}, "comment": {strings.Repeat("a", 300<<10)}})
		if res.Status != http.StatusRequestEntityTooLarge || !res.Has("Trop de texte") {
			t.Errorf("oversized body: %d, want a themed 413", res.Status)
		}
		res = big.PostForm("/bxl/parc", url.Values{"first_name": {"X"}, "email": {"x@example.org"}, "comment": {strings.Repeat("a", 2<<20)}})
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("body over the server cap: %d, want 413", res.Status)
		}
	})
}

// The naughty strings go through every public form field; no answer is a
// 5xx, and nothing comes back unescaped on the form, the thank-you page,
// the public list of signers or the staff pages.
func TestHostileStrings(t *testing.T) {
	naughty := []string{
		`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`, `' OR '1'='1'; DROP TABLE people; --`,
		`javascript:alert(1)`, "😀👍🏽 émoji", "مرحبا بالعالم", "\u202eRTL override", `{{.Secret}}`, "%s%n%x",
		"tab\tand\nnewline", strings.Repeat("x", 10_000), "\x00nul", "\xff\xfe invalid utf8",
	}
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := bilingual(t, s, "bxl")
		p := petition(t, s, n, "parc")
		p.Settings.Fields = nil
		for _, f := range pages.FormFields {
			p.Settings.Fields = append(p.Settings.Fields, pages.Field{Name: f})
		}
		if err := s.App.Pages.Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		staff := s.Client()
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		staff.Login("org@example.org", servertest.Password)

		unescaped := func(where, body string) {
			t.Helper()
			for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(1)>"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s shows %q unescaped", where, bad)
				}
			}
		}
		for i, str := range naughty {
			c := s.Client()
			c.IP = "10.0.0." + strconv.Itoa(i+1)
			// Every field hostile, e-mail included: a 422 that refills the form.
			form := url.Values{"show_publicly": {"yes"}, "lang": {str}, "consent_email": {str}, "topics": {str}, "interests": {str}}
			for _, f := range pages.FormFields {
				form.Set(f, str)
			}
			res := c.PostForm("/bxl/parc", form)
			if res.Status >= 500 || (res.Status != 422 && res.Status != 303) {
				t.Errorf("string %d, all fields: status %d", i, res.Status)
			}
			unescaped("the refilled form", res.Body)
			// Then with a valid e-mail and birth date, so that what can be stored is.
			for _, f := range pages.FormFields {
				if len([]rune(str)) > pages.MaxLen[f] {
					form.Set(f, "ok")
				}
			}
			form.Set("email", "hostile"+strconv.Itoa(i)+"@example.org")
			form.Del("birth_date")
			form.Del("phone")
			form.Del("mobile")
			res = c.PostForm("/bxl/parc", form)
			if res.Status >= 500 {
				t.Errorf("string %d: status %d", i, res.Status)
			}
			if res.Status == 303 {
				unescaped("the thank-you page", c.Get(res.Location).Body)
			} else {
				unescaped("the refilled form", res.Body)
			}
		}
		unescaped("the petition page", s.Client().Get("/bxl/parc").Body)
		for _, path := range []string{"/admin/bxl/pages", "/admin/bxl/pages/" + strconv.FormatInt(p.ID, 10) + "/edit",
			"/admin/bxl/pages/" + strconv.FormatInt(p.ID, 10) + "/preview"} {
			res := staff.Get(path)
			if res.Status != 200 {
				t.Errorf("%s: %d", path, res.Status)
			}
			unescaped(path, res.Body)
		}
		// Something was stored as typed, and shown escaped to staff.
		edit := staff.Get("/admin/bxl/pages/" + strconv.FormatInt(p.ID, 10) + "/edit")
		if !edit.Has(html.EscapeString(`' OR '1'='1'; DROP TABLE people; --`)) || !edit.Has("😀👍🏽 émoji") || !edit.Has("مرحبا بالعالم") {
			t.Error("hostile comments were not stored as typed")
		}
	})
}

func TestStaffCRUDAndPublish(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		n := bilingual(t, s, "bxl")
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		s.CreateUser("vol@example.org", n, auth.RoleVolunteer)
		c := s.Client()
		c.Lang = "en"
		c.Login("org@example.org", servertest.Password)

		if res := c.Get("/admin/bxl/pages"); res.Status != 200 || !res.Has("There are no pages yet.") {
			t.Fatalf("empty list: %d", res.Status)
		}
		newForm := c.Get("/admin/bxl/pages/new?type=petition")
		if newForm.Status != 200 || !newForm.Has(`name="consent_email_fr"`) || !newForm.Has("Oui, je souhaite recevoir") {
			t.Fatalf("new form: %d (defaults with French consent wording expected)", newForm.Status)
		}
		form := url.Values{"type": {"petition"}, "slug": {"admin"}, "title": {""}, "share_image": {"http://tracker.example/x.png"}, "redirect": {"javascript:alert(1)"}}
		res := c.PostForm("/admin/bxl/pages/new", form)
		if res.Status != 422 {
			t.Fatalf("invalid page: %d", res.Status)
		}
		for _, want := range []string{"This address is reserved; choose another.", "This field is required.", "A form must ask for an e-mail address or a phone number.", "or a secure web address"} {
			if !res.Has(want) {
				t.Errorf("422 lacks %q", want)
			}
		}
		form = url.Values{"type": {"petition"}, "slug": {"parc"}, "title": {"Save the <park>"}, "body": {"Hello <script>alert(1)</script> **world**"},
			"goal": {"500"}, "ask_first_name": {"yes"}, "req_first_name": {"yes"}, "ask_email": {"yes"}, "req_email": {"yes"},
			"consent_email_fr": {wordingFR}, "consent_email_en": {"Yes, e-mail me."}, "tags": {"parc, climat"}, "points": {"3"},
			"public_signers": {"yes"}, "supports_party": {"yes"}, "target": {"The council"}}
		res = c.PostForm("/admin/bxl/pages/new", form)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		edit := c.Get(res.Location)
		if edit.Status != 200 || !edit.Has("The page was created as a draft.") || !edit.Has(`value="Save the &lt;park&gt;"`) {
			t.Fatalf("edit after create: %d", edit.Status)
		}
		list, _ := s.App.Pages.List(context.Background(), n.ID, false)
		if len(list) != 1 || list[0].Goal != 500 || !list[0].SupportsParty || list[0].Settings.Points != 3 || len(list[0].Settings.Tags) != 2 || list[0].Published() {
			t.Fatalf("stored page: %+v", list[0])
		}
		id := strconv.FormatInt(list[0].ID, 10)
		if res := c.PostForm("/admin/bxl/pages/new", form); res.Status != 422 || !res.Has("Another page already uses this address.") {
			t.Errorf("duplicate slug: %d", res.Status)
		}

		visitor := s.Client()
		if res := visitor.Get("/bxl/parc"); res.Status != 404 || !res.Has(`href="/static/public.css"`) {
			t.Errorf("draft is public: %d", res.Status)
		}
		prev := c.Get("/admin/bxl/pages/" + id + "/preview")
		if prev.Status != 200 || !prev.Has("Save the &lt;park&gt;") || !prev.Has("<strong>world</strong>") || prev.Has("<script>alert") || !prev.Has("disabled") {
			t.Errorf("preview: %d", prev.Status)
		}
		if res := c.PostForm("/admin/bxl/pages/"+id+"/publish", nil); res.Status != 303 {
			t.Fatalf("publish: %d", res.Status)
		}
		if res := visitor.Get("/bxl/parc?lang=fr"); res.Status != 200 || !res.Has(html.EscapeString(wordingFR)) {
			t.Errorf("published page: %d", res.Status)
		}
		if home := visitor.Get("/bxl/"); !home.Has(`<a href="/bxl/parc">Save the &lt;park&gt;</a>`) {
			t.Error("home page does not list the published page")
		}
		if res := c.Get("/admin/bxl/pages"); !res.Has("Published") || !res.Has("Unpublish") {
			t.Error("list does not show the page as published")
		}

		form.Set("title", "Save the park now")
		form.Set("slug", "parc-2")
		if res := c.PostForm("/admin/bxl/pages/"+id+"/edit", form); res.Status != 303 {
			t.Fatalf("edit: %d", res.Status)
		}
		if res := visitor.Get("/bxl/parc-2"); res.Status != 200 || !res.Has("Save the park now") {
			t.Errorf("renamed page: %d", res.Status)
		}
		if res := c.PostForm("/admin/bxl/pages/"+id+"/unpublish", nil); res.Status != 303 {
			t.Fatal(res.Status)
		}
		if res := visitor.Get("/bxl/parc-2"); res.Status != 404 {
			t.Errorf("unpublished page: %d", res.Status)
		}
		if res := c.PostForm("/admin/bxl/pages/"+id+"/delete", nil); res.Status != 422 || !res.Has("Tick the box to confirm.") {
			t.Errorf("delete without confirmation: %d", res.Status)
		}
		if res := c.PostForm("/admin/bxl/pages/"+id+"/delete", url.Values{"confirm": {"yes"}}); res.Status != 303 {
			t.Errorf("delete: %d", res.Status)
		}
		if res := c.Get("/admin/bxl/pages/" + id + "/edit"); res.Status != 404 {
			t.Errorf("deleted page: %d", res.Status)
		}

		// Topics.
		if res := c.PostForm("/admin/bxl/topics", url.Values{"slug": {"climat"}, "name_fr": {"Climat"}, "name_nl": {"Klimaat"}}); res.Status != 303 {
			t.Fatalf("topic: %d", res.Status)
		}
		if res := c.PostForm("/admin/bxl/topics", url.Values{"slug": {"climat"}}); res.Status != 422 || !res.Has("Another topic already uses this short name.") {
			t.Errorf("duplicate topic: %d", res.Status)
		}
		if res := c.Get("/admin/bxl/topics"); !res.Has("Klimaat") {
			t.Error("topics page lacks the topic")
		}

		// Volunteers are not page editors.
		v := s.Client()
		v.Login("vol@example.org", servertest.Password)
		if res := v.Get("/admin/bxl/pages"); res.Status != 404 {
			t.Errorf("volunteer sees pages: %d", res.Status)
		}
	})
}

func TestTopicsVolunteerAndHome(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n := bilingual(t, s, "bxl")
		for _, slug := range []string{"climat", "mobilite"} {
			if err := s.App.Pages.CreateTopic(ctx, n.ID, &pages.Topic{Slug: slug, Names: map[string]string{"fr": "Sujet " + slug}}); err != nil {
				t.Fatal(err)
			}
		}
		mk := func(p *pages.Page) {
			p.NationID, p.Status = n.ID, pages.StatusPublished
			if ps := p.Validate(n.Languages); len(ps) > 0 {
				t.Fatalf("%+v", ps)
			}
			if err := s.App.Pages.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		mk(&pages.Page{Type: pages.TypeTopics, Slug: "sujets", Title: "Vos sujets", Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}}}})
		mk(&pages.Page{Type: pages.TypeVolunteer, Slug: "aider", Title: "Aider", Settings: pages.Settings{
			Fields: []pages.Field{{Name: "email", Required: true}, {Name: "mobile"}}, Interests: []string{"porte-à-porte", "tractage"}, Skills: []string{"graphisme"}, Points: 2}})
		mk(&pages.Page{Type: pages.TypeHome, Slug: "accueil", Title: "Accueil", Body: "Bienvenue chez **nous**"})

		c := s.Client()
		c.IP = "10.1.1.1"
		if res := c.Get("/bxl/sujets?lang=fr"); !res.Has("Sujet climat") || !res.Has(`name="topics" value="mobilite"`) {
			t.Errorf("topics page: %d", res.Status)
		}
		if res := c.PostForm("/bxl/sujets", url.Values{"email": {"t@example.org"}, "topics": {"climat", "inconnu"}}); res.Status != 303 {
			t.Fatalf("topics submit: %d", res.Status)
		}
		person := personByEmail(t, s, n, "t@example.org")
		subs, err := s.App.Pages.Subscriptions(ctx, n.ID, person.ID)
		if err != nil || strings.Join(subs, ",") != "climat" {
			t.Errorf("subscriptions %v %v", subs, err)
		}
		res := c.PostForm("/bxl/aider", url.Values{"email": {"v@example.org"}, "mobile": {"0470 12 34 56"}, "interests": {"tractage", "piratage"}, "skills": {"graphisme"}})
		if res.Status != 303 {
			t.Fatalf("volunteer: %d %s", res.Status, res.Body)
		}
		vol := personByEmail(t, s, n, "v@example.org")
		if strings.Join(vol.Tags, ",") != "graphisme,tractage" || vol.Mobile.E164 != "+32470123456" || vol.Points != 2 {
			t.Errorf("volunteer person: tags %v mobile %+v points %d", vol.Tags, vol.Mobile, vol.Points)
		}
		if res := c.PostForm("/bxl/aider", url.Values{"email": {"w@example.org"}, "mobile": {"12"}}); res.Status != 422 || !res.Has(`id="f-mobile-error"`) {
			t.Errorf("bad mobile: %d", res.Status)
		}
		home := c.Get("/bxl/?lang=fr")
		if !home.Has("Bienvenue chez <strong>nous</strong>") || !home.Has(`href="/bxl/aider"`) || home.Has(`href="/bxl/accueil"`) {
			t.Error("home page lacks its text or lists the home text as a page")
		}
		if res := c.Get("/bxl/accueil"); res.Status != 404 {
			t.Errorf("home text served as a page: %d", res.Status)
		}
		if res := c.Get("/nowhere/aider"); res.Status != 404 {
			t.Errorf("unknown nation: %d", res.Status)
		}
	})
}
