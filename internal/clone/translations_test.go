package clone_test

import (
	"context"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/clone"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/servertest"
)

// Cloning copies each page's language and translations, with the row's
// variables filled into every translated text, and a child whose default
// language differs from the template's still serves the template's text
// in the language it was written in.
func TestCloneCopiesTranslations(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		tpl, err := s.App.Nations.Create(ctx, nation.NewNation{Slug: "tpl", Name: "Template", DefaultLang: "en", Languages: []string{"en", "fr", "nl"}})
		if err != nil {
			t.Fatal(err)
		}
		p := &pages.Page{NationID: tpl.ID, Slug: "petition", Type: pages.TypePetition, Status: pages.StatusPublished,
			Title: "{{candidate_name}} for {{constituency}}", Body: "Sign with {{candidate_name}}.",
			Translations: []pages.Translation{{Lang: "fr", Title: "{{candidate_name}} pour {{constituency}}",
				Body: "Signez avec **{{candidate_name}}** ({{nation_name}}).", ThankYou: "Merci de la part de {{candidate_name}} !"}},
			Settings: pages.Settings{Fields: []pages.Field{{Name: "email", Required: true}}, ThankYou: "Thanks from {{candidate_name}}!",
				Consents: []pages.ConsentQuestion{{Channel: "email", Wording: map[string]string{
					"en": "News from {{candidate_name}} by e-mail", "fr": "Les nouvelles de {{candidate_name}} par e-mail"}}}}}
		if ps := p.Validate(tpl.Languages); len(ps) > 0 {
			t.Fatalf("%+v", ps)
		}
		if err := s.App.Pages.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		rows, _, err := clone.ParseCSV(strings.NewReader("slug,name,candidate_name,email,domain,language,constituency\n" +
			"anne,Anne pour Namur,Anne Lefèvre,anne@example.org,,fr,Namur\n" +
			"jan,Jan voor Gent,Jan Peeters,jan@example.org,,nl,Gent\n"))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.App.Cloner.Run(ctx, "tpl", rows, 0)
		if err != nil || len(rep.Created) != 2 {
			t.Fatalf("clone: %+v %v", rep, err)
		}
		anne, _ := s.App.Nations.BySlug(ctx, "anne")
		got, err := s.App.Pages.BySlug(ctx, anne.ID, "petition")
		if err != nil {
			t.Fatal(err)
		}
		fr := got.Translation("fr")
		if got.Lang != "en" || fr == nil || fr.Title != "Anne Lefèvre pour Namur" || fr.Body != "Signez avec **Anne Lefèvre** (Anne pour Namur)." ||
			fr.ThankYou != "Merci de la part de Anne Lefèvre !" || got.Settings.Consents[0].Wording["fr"] != "Les nouvelles de Anne Lefèvre par e-mail" {
			t.Fatalf("cloned page: lang %q translation %+v consents %+v", got.Lang, fr, got.Settings.Consents)
		}
		if strings.Contains(got.Title, "{{") || got.Title != "Anne Lefèvre for Namur" {
			t.Errorf("cloned title %q", got.Title)
		}

		// Anne's site is French first: her visitors get the French text.
		visitor := s.Client()
		if res := visitor.Get("/anne/petition"); !res.Has(`<html lang="fr">`) || !res.Has("<h1>Anne Lefèvre pour Namur</h1>") || !res.Has("<strong>Anne Lefèvre</strong>") {
			t.Errorf("anne's petition: %d", res.Status)
		}
		// Jan's site is Dutch first, and the page has no Dutch text: it is
		// served in English, the language it was written in, marked so.
		if res := visitor.Get("/jan/petition"); !res.Has(`<html lang="en">`) || !res.Has("<h1>Jan Peeters for Gent</h1>") {
			t.Errorf("jan's petition: %d", res.Status)
		}
		if res := visitor.Get("/jan/?lang=fr"); !res.Has(">Jan Peeters pour Gent</a>") {
			t.Errorf("jan's home in French does not list the French title")
		}
		if res := visitor.Get("/jan/?lang=nl"); !res.Has(`<li class="card" lang="en">`) || !res.Has(">Jan Peeters for Gent</a>") {
			t.Errorf("jan's Dutch home does not mark the English title: %s", res.Body)
		}
	})
}
