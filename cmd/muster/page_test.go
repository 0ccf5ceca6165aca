package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/store"
)

func TestPageCreateCommand(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		body := filepath.Join(t.TempDir(), "body.md")
		if err := os.WriteFile(body, []byte("Le **parc** doit rester."), 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := c.run("", "nation", "create", "bxl", "--name", "Bruxelles"); code != 0 {
			t.Fatalf("nation: %s", errOut)
		}
		steps := []struct {
			name     string
			args     []string
			wantCode int
			wantOut  string
			wantErr  string
		}{
			{"petition", []string{"page", "create", "--nation", "bxl", "--type", "petition", "--slug", "parc", "--title", "Sauvons le parc",
				"--goal", "1000", "--body", body, "--tag", "parc", "--tag", "climat", "--publish", "--json"}, 0, `"status":"published"`, ""},
			{"draft", []string{"page", "create", "--nation", "bxl", "--type", "signup", "--slug", "news", "--title", "News"}, 0, "created signup page news (draft)", ""},
			{"same slug", []string{"page", "create", "--nation", "bxl", "--type", "basic", "--slug", "parc", "--title", "X"}, 1, "", `a page "parc" already exists`},
			{"reserved slug", []string{"page", "create", "--nation", "bxl", "--type", "basic", "--slug", "admin", "--title", "X"}, 2, "", "--slug: This address is reserved"},
			{"bad slug", []string{"page", "create", "--nation", "bxl", "--type", "basic", "--slug", "Bad Slug", "--title", "X"}, 2, "", "--slug: Use 2 to 63"},
			{"bad type", []string{"page", "create", "--nation", "bxl", "--type", "blog", "--slug", "x1", "--title", "X"}, 2, "", `unknown --type "blog"`},
			{"no title", []string{"page", "create", "--nation", "bxl", "--type", "basic", "--slug", "x1"}, 2, "", "--title is required"},
			{"negative goal", []string{"page", "create", "--nation", "bxl", "--type", "petition", "--slug", "x2", "--title", "X", "--goal", "-4"}, 2, "", "--goal"},
			{"missing body file", []string{"page", "create", "--nation", "bxl", "--type", "basic", "--slug", "x3", "--title", "X", "--body", "/nonexistent/file.md"}, 2, "", "--body"},
			{"unknown nation", []string{"page", "create", "--nation", "nope", "--type", "basic", "--slug", "x4", "--title", "X"}, 1, "", `no nation "nope"`},
		}
		for _, s := range steps {
			code, out, errOut := c.run("", s.args...)
			if code != s.wantCode {
				t.Errorf("%s: exit %d, want %d (stderr %q)", s.name, code, s.wantCode, errOut)
			}
			if !strings.Contains(out, s.wantOut) {
				t.Errorf("%s: stdout %q lacks %q", s.name, out, s.wantOut)
			}
			if !strings.Contains(errOut, s.wantErr) {
				t.Errorf("%s: stderr %q lacks %q", s.name, errOut, s.wantErr)
			}
			if s.name == "petition" {
				var got map[string]any
				if err := json.Unmarshal([]byte(out), &got); err != nil || got["url"] != "/bxl/parc" || got["type"] != "petition" {
					t.Errorf("--json output %q: %v", out, err)
				}
			}
		}
	})
}

// --lang names the language of --title and --body; --title-LANG and
// --body-LANG add a translation, validated like one made on the web.
func TestPageCreateTranslations(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		dir := t.TempDir()
		write := func(name, text string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		bodyNL, bodyFR := write("nl.md", "Het **park** moet blijven."), write("fr.md", "Le **parc** doit rester.")
		if code, _, errOut := c.run("", "nation", "create", "gent", "--name", "Gent", "--lang", "nl", "--languages", "nl,fr"); code != 0 {
			t.Fatalf("nation: %s", errOut)
		}
		steps := []struct {
			name     string
			args     []string
			wantCode int
			wantErr  string
		}{
			{"translated", []string{"--slug", "park", "--lang", "nl", "--title", "Red het park", "--body", bodyNL,
				"--title-fr", "Sauvons le parc", "--body-fr", bodyFR, "--publish"}, 0, ""},
			{"body without title", []string{"--slug", "p2", "--title", "X", "--body-fr", bodyFR}, 2, "--body-fr needs --title-fr"},
			{"untranslated body", []string{"--slug", "p3", "--title", "X", "--body", bodyNL, "--title-fr", "Y"}, 2, "--body-fr: This field is required."},
			{"language not offered", []string{"--slug", "p4", "--title", "X", "--title-en", "Y"}, 2, "--title-LANG: Choose among the languages of this site."},
			{"unknown --lang", []string{"--slug", "p5", "--title", "X", "--lang", "de"}, 2, "--lang: Choose among the languages of this site."},
			{"translation into the page's own language", []string{"--slug", "p6", "--title", "X", "--lang", "fr", "--title-fr", "Y"}, 2, "--lang:"},
		}
		for _, s := range steps {
			args := append([]string{"page", "create", "--nation", "gent", "--type", "petition"}, s.args...)
			code, _, errOut := c.run("", args...)
			if code != s.wantCode || !strings.Contains(errOut, s.wantErr) {
				t.Errorf("%s: exit %d stderr %q, want %d and %q", s.name, code, errOut, s.wantCode, s.wantErr)
			}
		}
		db, err := store.Open(context.Background(), c.dsnForOpen())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		n, err := nation.NewStore(db).BySlug(context.Background(), "gent")
		if err != nil {
			t.Fatal(err)
		}
		p, err := pages.NewStore(db).BySlug(context.Background(), n.ID, "park")
		if err != nil {
			t.Fatal(err)
		}
		fr := p.Translation("fr")
		if p.Lang != "nl" || fr == nil || fr.Title != "Sauvons le parc" || fr.Body != "Le **parc** doit rester." ||
			p.Settings.Consents[0].Wording["fr"] == "" {
			t.Errorf("stored page: lang %q translations %+v consents %+v", p.Lang, p.Translations, p.Settings.Consents)
		}
	})
}
