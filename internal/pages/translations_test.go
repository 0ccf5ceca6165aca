package pages_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

const (
	wordingEN  = "Yes, e-mail me the campaign's news."
	wordingFR2 = "Oui, envoyez-moi les nouvelles de la campagne par e-mail."
	hostile    = `<script>alert(1)</script>"><img src=x onerror=alert(1)>`
)

func TestTranslationsAreStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "gent", Name: "Gent", DefaultLang: "nl", Languages: []string{"nl", "fr", "en"}})
		if err != nil {
			t.Fatal(err)
		}
		st := pages.NewStore(db)
		p := &pages.Page{NationID: n.ID, Type: pages.TypeSignup, Slug: "nieuws", Title: "Nieuwsbrief", Body: "Schrijf je in.", Lang: "nl",
			Translations: []pages.Translation{
				{Lang: "fr", Title: "Lettre d'info", Body: "Inscrivez-vous.", ThankYou: "Merci !"},
				{Lang: "en", Title: " Newsletter ", Body: "Sign up."},
			},
			Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}}, ThankYou: "Bedankt!",
				Consents: []pages.ConsentQuestion{{Channel: "email", Wording: map[string]string{"nl": "Ja", "fr": "Oui", "en": "Yes"}}}}}
		// The English translation lacks the thank-you text the page has.
		if ps := p.Validate(n.Languages); len(ps) != 1 || ps[0].Field != "thank_you_en" || ps[0].Code != "required" {
			t.Fatalf("problems %+v, want thank_you_en required", ps)
		}
		p.Translations[0].ThankYou, p.Translation("en").ThankYou = "Merci !", "Thanks!"
		if ps := p.Validate(n.Languages); len(ps) != 0 {
			t.Fatalf("problems %+v", ps)
		}
		if got := p.Translations[0].Lang + "," + p.Translations[1].Lang; got != "en,fr" {
			t.Errorf("translations ordered %s, want en,fr", got)
		}
		if err := st.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := st.BySlug(ctx, n.ID, "nieuws")
		if err != nil {
			t.Fatal(err)
		}
		if got.Lang != "nl" || len(got.Translations) != 2 || got.Translation("fr").Title != "Lettre d'info" ||
			got.Translation("fr").ThankYou != "Merci !" || got.Translation("en").Title != "Newsletter" {
			t.Fatalf("stored page: lang %q translations %+v", got.Lang, got.Translations)
		}
		if langs := strings.Join(got.Langs(n.DefaultLang, n.Languages), ","); langs != "nl,en,fr" {
			t.Errorf("Langs = %s, want nl,en,fr", langs)
		}
		fr := got.In("fr", n.DefaultLang)
		if fr.Title != "Lettre d'info" || fr.Body != "Inscrivez-vous." || fr.Settings.ThankYou != "Merci !" || got.Title != "Nieuwsbrief" {
			t.Errorf("In(fr) = %q %q %q; original title %q", fr.Title, fr.Body, fr.Settings.ThankYou, got.Title)
		}
		if de := got.In("de", n.DefaultLang); de != got {
			t.Error("a language without translation is not served in the page's own")
		}

		// Removing a translation drops its consent wording too.
		got.RemoveTranslation("en")
		if err := st.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		again, err := st.ByID(ctx, n.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Translations) != 1 || again.Translation("en") != nil || again.Settings.Consents[0].Wording["en"] != "" || again.Settings.Consents[0].Wording["fr"] != "Oui" {
			t.Errorf("after removing en: %+v %+v", again.Translations, again.Settings.Consents)
		}
		list, err := st.List(ctx, n.ID, false)
		if err != nil || len(list) != 1 || list[0].Translation("fr") == nil {
			t.Errorf("List: %v %+v", err, list)
		}

		// A translation into the page's own language, or a language the
		// nation does not offer, is refused.
		bad := *again
		bad.Translations = []pages.Translation{{Lang: "nl", Title: "X", Body: "Y", ThankYou: "Z"}}
		if ps := bad.Validate(n.Languages); !ps.Has("lang") {
			t.Errorf("translation into the own language: %+v", ps)
		}
		bad.Translations = []pages.Translation{{Lang: "de", Title: "X", Body: "Y", ThankYou: "Z"}}
		if ps := bad.Validate(n.Languages); !ps.Has("translations") {
			t.Errorf("translation into German: %+v", ps)
		}
	})
}

// english makes an English-first nation that also speaks French and Dutch,
// with a petition written in English and translated into French.
func english(t *testing.T, s *servertest.Server) (*nation.Nation, *pages.Page) {
	t.Helper()
	n, err := s.App.Nations.Create(context.Background(), nation.NewNation{Slug: "camp", Name: "Campaign", DefaultLang: "en", Languages: []string{"en", "fr", "nl"}})
	if err != nil {
		t.Fatal(err)
	}
	p := &pages.Page{NationID: n.ID, Type: pages.TypePetition, Slug: "park", Lang: "en", Status: pages.StatusPublished,
		Title: "Save the park", Body: "The **park** must stay.",
		Translations: []pages.Translation{{Lang: "fr", Title: "Sauvez le parc", Body: "Le **parc** doit rester.", ThankYou: "Merci, vraiment !"}},
		Settings: pages.Settings{Fields: []pages.Field{{Name: "first_name"}, {Name: "email", Required: true}},
			ThankYou: "Thank you, really!",
			Consents: []pages.ConsentQuestion{{Channel: "email", Wording: map[string]string{"en": wordingEN, "fr": wordingFR2}}}}}
	if ps := p.Validate(n.Languages); len(ps) > 0 {
		t.Fatalf("page: %+v", ps)
	}
	if err := s.App.Pages.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return n, p
}

func TestTranslatedPageIsServedInTheNegotiatedLanguage(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		english(t, s)
		// A page written in French with a Dutch translation, in the same
		// English-first nation: without a match it falls back to French.
		bxl := bilingual(t, s, "bxl")
		petition(t, s, bxl, "parc")

		for _, tc := range []struct {
			name, path, accept, cookie string
			wantLang, wantTitle        string
			wantText, notText          []string
		}{
			{"French browser", "/camp/park", "fr-BE,fr;q=0.9", "", "fr", "Sauvez le parc",
				[]string{"<strong>parc</strong>", html.EscapeString(wordingFR2), `<meta property="og:title" content="Sauvez le parc">`, `hreflang="en"`, `hreflang="fr"`},
				[]string{html.EscapeString(wordingEN), "Save the park", `hreflang="nl"`}},
			{"English browser", "/camp/park", "en", "", "en", "Save the park",
				[]string{html.EscapeString(wordingEN)}, []string{html.EscapeString(wordingFR2)}},
			{"Dutch browser: no translation, nation default", "/camp/park", "nl", "", "en", "Save the park", nil, []string{"Sauvez"}},
			{"?lang= beats the browser", "/camp/park?lang=fr", "en", "", "fr", "Sauvez le parc", nil, nil},
			{"remembered choice", "/camp/park", "en", "fr", "fr", "Sauvez le parc", nil, nil},
			{"untranslated ?lang= is ignored", "/camp/park?lang=nl", "fr", "", "fr", "Sauvez le parc", nil, nil},
			{"German browser: page's own language", "/bxl/parc", "de", "", "fr", "Sauvons le parc", nil, []string{"Red het park"}},
			{"Dutch browser: Dutch translation", "/bxl/parc", "nl", "", "nl", "Red het park",
				[]string{"<strong>park</strong>", html.EscapeString(wordingNL)}, []string{html.EscapeString(wordingFR), `hreflang="en"`}},
			{"English browser: not translated, page's own", "/bxl/parc", "en", "", "fr", "Sauvons le parc", nil, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := s.Client()
				c.Lang = tc.accept
				req, _ := http.NewRequest(http.MethodGet, s.URL+tc.path, nil)
				if tc.cookie != "" {
					req.AddCookie(&http.Cookie{Name: "muster_lang", Value: tc.cookie})
				}
				res := c.Do(req)
				if res.Status != http.StatusOK {
					t.Fatalf("status %d", res.Status)
				}
				if !res.Has(`<html lang="` + tc.wantLang + `">`) {
					t.Errorf("not served with <html lang=%q>", tc.wantLang)
				}
				if !res.Has("<h1>" + tc.wantTitle + "</h1>") {
					t.Errorf("title %q not shown", tc.wantTitle)
				}
				for _, want := range tc.wantText {
					if !res.Has(want) {
						t.Errorf("page lacks %s", want)
					}
				}
				for _, bad := range tc.notText {
					if res.Has(bad) {
						t.Errorf("page has %s", bad)
					}
				}
			})
		}
	})
}

func TestFrenchSubmissionRecordsFrenchWording(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n, p := english(t, s)
		ppl := people.NewStore(s.DB)
		for _, tc := range []struct {
			name, accept, postLang, email, wantLang, wantWording, wantThanks string
		}{
			{"French", "fr", "fr", "marie@example.org", "fr", wordingFR2, "Merci, vraiment !"},
			{"English", "en", "en", "mary@example.org", "en", wordingEN, "Thank you, really!"},
			// Dutch is not offered by the page: the form was shown in
			// English (the nation's default), and that is what is recorded.
			{"Dutch", "nl", "nl", "mies@example.org", "en", wordingEN, "Thank you, really!"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := s.Client()
				c.IP, c.Lang = "198.51.100."+strconv.Itoa(len(tc.email)), tc.accept
				res := c.PostForm("/camp/park", url.Values{"first_name": {"A"}, "email": {tc.email}, "consent_email": {"yes"}, "lang": {tc.postLang}})
				if res.Status != http.StatusSeeOther || res.Location != "/camp/park/thanks?lang="+tc.wantLang {
					t.Fatalf("sign: %d to %q", res.Status, res.Location)
				}
				thanks := c.Get(res.Location)
				if !thanks.Has(`<html lang="`+tc.wantLang+`">`) || !thanks.Has(html.EscapeString(tc.wantThanks)) {
					t.Errorf("thank-you page in %s lacks %q", tc.wantLang, tc.wantThanks)
				}
				person := personByEmail(t, s, n, tc.email)
				if person.Language != tc.wantLang {
					t.Errorf("person language %q, want %q", person.Language, tc.wantLang)
				}
				hist, err := ppl.ConsentHistory(ctx, n.ID, person.ID)
				if err != nil || len(hist) != 1 {
					t.Fatalf("consents %+v %v", hist, err)
				}
				if hist[0].WordingHash != people.WordingHash(tc.wantWording) {
					t.Errorf("recorded wording hash %s, want that of %q", hist[0].WordingHash, tc.wantWording)
				}
			})
		}
		signers, err := s.App.Pages.RecentSigners(ctx, n.ID, p.ID, false, 10)
		if err != nil || len(signers) != 3 {
			t.Fatalf("signers %+v %v", signers, err)
		}
		langs := map[string]int{}
		for _, sg := range signers {
			langs[sg.Lang]++
		}
		if langs["fr"] != 1 || langs["en"] != 2 {
			t.Errorf("signature languages %v, want fr:1 en:2", langs)
		}
	})
}

func TestStaffTranslatePage(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n, p := english(t, s)
		s.CreateUser("org@example.org", n, auth.RoleOrganizer)
		staff := s.Client()
		staff.Lang = "en"
		staff.Login("org@example.org", servertest.Password)
		id := strconv.FormatInt(p.ID, 10)
		base := "/admin/camp/pages/" + id

		edit := staff.Get(base + "/edit")
		for _, want := range []string{`href="` + base + `/translations/fr"`, `href="` + base + `/translations/nl"`, "Translate into Nederlands",
			`name="consent_email_en"`, `name="consent_email_fr"`, `<option value="en" selected>`} {
			if !edit.Has(want) {
				t.Errorf("edit page lacks %s", want)
			}
		}
		if edit.Has(`name="consent_email_nl"`) {
			t.Error("edit page asks a wording for an untranslated language")
		}
		for _, bad := range []string{"/translations/en", "/translations/de", "/translations/xx"} {
			if res := staff.Get(base + bad); res.Status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", bad, res.Status)
			}
		}

		// A Dutch translation: every text is needed, errors next to fields.
		form := staff.Get(base + "/translations/nl")
		if form.Status != 200 || !form.Has(`name="title_nl"`) || !form.Has(`name="consent_email_nl"`) || !form.Has(html.EscapeString(wordingEN)) {
			t.Fatalf("translation form: %d", form.Status)
		}
		res := staff.PostForm(base+"/translations/nl", url.Values{"title_nl": {"Red het park"}, "body_nl": {""}, "thank_you_nl": {"Dank je!"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has(`value="Red het park"`) || !res.Has("This field is required.") ||
			!res.Has(`id="f-body_nl"`) {
			t.Fatalf("incomplete translation: %d %s", res.Status, res.Body)
		}
		res = staff.PostForm(base+"/translations/nl", url.Values{"title_nl": {hostile}, "body_nl": {"Het **park** <script>x</script>"},
			"thank_you_nl": {"Dank je!"}, "consent_email_nl": {"Ja, mail me."}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("save translation: %d %s", res.Status, res.Body)
		}
		if res := staff.Get(res.Location); !res.Has("The translation was saved.") || res.Has("<script>alert") || !res.Has(html.EscapeString(hostile)) {
			t.Errorf("after save: %d", res.Status)
		}
		stored, _ := s.App.Pages.ByID(ctx, n.ID, p.ID)
		if tr := stored.Translation("nl"); tr == nil || tr.Title != hostile || stored.Settings.Consents[0].Wording["nl"] != "Ja, mail me." {
			t.Fatalf("stored: %+v %+v", stored.Translations, stored.Settings.Consents)
		}

		// The hostile title is served escaped wherever it shows.
		visitor := s.Client()
		visitor.Lang = "nl"
		for _, path := range []string{"/camp/park", "/camp/", "/camp/park/thanks"} {
			res := visitor.Get(path)
			if res.Status != 200 || !res.Has(`<html lang="nl">`) {
				t.Errorf("%s: %d, not in Dutch", path, res.Status)
			}
			for _, bad := range []string{"<script>alert", "<img src=x", "<script>x"} {
				if res.Has(bad) {
					t.Errorf("%s shows %q unescaped", path, bad)
				}
			}
			if !res.Has(html.EscapeString("<script>alert(1)</script>")) && !res.Has("\\u003cscript") && !res.Has("%3Cscript") {
				t.Errorf("%s does not show the translated title", path)
			}
		}

		// The default language cannot become a translated one.
		res = staff.PostForm(base+"/edit", url.Values{"type": {"petition"}, "slug": {"park"}, "title": {"Save the park"}, "lang": {"nl"},
			"ask_email": {"yes"}, "consent_email_nl": {"Ja"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("The page has a translation into this language; remove it first.") {
			t.Errorf("default language onto a translation: %d", res.Status)
		}
		// Saving the page keeps its translations and their wordings.
		res = staff.PostForm(base+"/edit", url.Values{"type": {"petition"}, "slug": {"park"}, "title": {"Save the park!"}, "lang": {"en"},
			"body": {"The park must stay."}, "thank_you": {"Thanks"}, "ask_email": {"yes"}, "req_email": {"yes"},
			"consent_email_en": {wordingEN}, "consent_email_fr": {wordingFR2}, "consent_email_nl": {"Ja, mail me."}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("save page: %d %s", res.Status, res.Body)
		}
		stored, _ = s.App.Pages.ByID(ctx, n.ID, p.ID)
		if stored.Title != "Save the park!" || len(stored.Translations) != 2 || stored.Settings.Consents[0].Wording["fr"] != wordingFR2 {
			t.Errorf("after saving the page: %q %+v %+v", stored.Title, stored.Translations, stored.Settings.Consents)
		}

		// Removing the Dutch translation: Dutch visitors get English again.
		if res := staff.PostForm(base+"/translations/nl/delete", nil); res.Status != http.StatusSeeOther {
			t.Fatalf("remove: %d", res.Status)
		}
		if res := s.Client().Get("/camp/park?lang=nl"); !res.Has(`<html lang="en">`) || !res.Has("Save the park!") {
			t.Errorf("after removing nl: %s", res.Body)
		}
		stored, _ = s.App.Pages.ByID(ctx, n.ID, p.ID)
		if stored.Translation("nl") != nil || stored.Settings.Consents[0].Wording["nl"] != "" {
			t.Errorf("nl not removed: %+v", stored)
		}
	})
}
