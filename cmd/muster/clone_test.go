package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNationCloneCommand(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		dir := t.TempDir()
		write := func(name, text string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		body := write("body.md", "Vote {{candidate_name}} in {{constituency}}.")
		good := write("good.csv", "slug,name,candidate_name,email,constituency\nc-one,One,Ann One,ann@example.org,North\nc-two,Two,Ben Two,ben@example.org,South\n")
		mixed := write("mixed.csv", "slug,name,candidate_name,email\nc-three,Three,Cy,cy@example.org\nc-four,Four,Di,not-an-address\n")
		if code, _, errOut := c.run("", "nation", "create", "tpl", "--name", "Template"); code != 0 {
			t.Fatalf("nation: %s", errOut)
		}
		if code, _, errOut := c.run("", "page", "create", "--nation", "tpl", "--type", "basic", "--slug", "about", "--title", "{{candidate_name}}", "--body", body, "--publish"); code != 0 {
			t.Fatalf("page: %s", errOut)
		}

		code, out, errOut := c.run("", "nation", "clone", "--from", "tpl", "--csv", good, "--json")
		if code != 0 {
			t.Fatalf("clone: exit %d, %s", code, errOut)
		}
		var rep struct {
			Created []struct {
				Slug       string
				InviteLink string `json:"invite_link"`
			}
			Skipped  []struct{ Slug string }
			Rejected []struct {
				Line   int
				Reason string
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Created) != 2 || !strings.Contains(rep.Created[0].InviteLink, "/invite/") {
			t.Fatalf("--json: %q %v", out, err)
		}

		// Again: both skipped, exit 0, plain text.
		code, out, _ = c.run("", "nation", "clone", "--from", "tpl", "--csv", good)
		if code != 0 || !strings.Contains(out, "0 created, 2 skipped, 0 rejected") {
			t.Errorf("re-run: exit %d, %q", code, out)
		}

		// A bad row: reported on stderr with file and line, the rest made, exit 1.
		code, out, errOut = c.run("", "nation", "clone", "--from", "tpl", "--csv", mixed)
		if code != 1 || !strings.Contains(out, "created c-three") || !strings.Contains(errOut, "mixed.csv:3:") {
			t.Errorf("mixed: exit %d, out %q, err %q", code, out, errOut)
		}
		code, out, _ = c.run("", "nation", "list", "--json")
		if code != 0 || !strings.Contains(out, `"slug":"c-three","name":"Three","parent":"tpl"`) {
			t.Errorf("list: %s", out)
		}

		for _, tc := range []struct {
			args []string
			code int
			err  string
		}{
			{[]string{"--from", "tpl"}, 2, "--from and --csv are required"},
			{[]string{"--from", "nope", "--csv", good}, 2, `template nation "nope" does not exist`},
			{[]string{"--from", "tpl", "--csv", filepath.Join(dir, "missing.csv")}, 2, "missing.csv"},
			{[]string{"--from", "tpl", "--csv", write("bad.csv", "slug,name\nx,y\n")}, 2, `bad.csv: line 1: missing column "candidate_name"`},
		} {
			code, _, errOut := c.run("", append([]string{"nation", "clone"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.err) {
				t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.err)
			}
		}
	})
}
