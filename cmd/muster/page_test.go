package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
