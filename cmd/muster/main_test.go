package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// cli runs a muster command in-process against a database and returns its
// exit code and output.
type cli struct {
	t   *testing.T
	dsn []string // --data DIR or --database URL
}

func newCLI(t *testing.T, engine store.Engine) *cli {
	dsn := storetest.DSN(t, engine)
	if engine == store.SQLite {
		return &cli{t: t, dsn: []string{"--data", strings.TrimSuffix(dsn, "/muster.db")}}
	}
	return &cli{t: t, dsn: []string{"--database", dsn}}
}

func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	full := append(append([]string{}, args...), c.dsn...)
	code = run(context.Background(), e, full)
	return code, out.String(), errb.String()
}

func eachEngine(t *testing.T, fn func(t *testing.T, c *cli)) {
	for _, e := range storetest.Engines(t) {
		t.Run(string(e), func(t *testing.T) { fn(t, newCLI(t, e)) })
	}
}

func TestNationAndUserCommands(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		steps := []struct {
			name     string
			stdin    string
			args     []string
			wantCode int
			wantOut  string // substring of stdout
			wantErr  string // substring of stderr
		}{
			{"create", "", []string{"nation", "create", "ps-liege", "--name", "PS Liège", "--json"}, 0, `"slug":"ps-liege"`, ""},
			{"child", "", []string{"nation", "create", "ps-liege-1", "--name", "Candidate 1", "--parent", "ps-liege"}, 0, "created nation ps-liege-1", ""},
			{"duplicate slug", "", []string{"nation", "create", "ps-liege", "--name", "Again"}, 1, "", `already exists`},
			{"bad slug", "", []string{"nation", "create", "PS_Liege", "--name", "X"}, 2, "", `invalid slug "PS_Liege"`},
			{"reserved slug", "", []string{"nation", "create", "admin", "--name", "X"}, 2, "", `slug "admin" is reserved`},
			{"one-letter slug", "", []string{"nation", "create", "a", "--name", "X"}, 2, "", "invalid slug"},
			{"missing name", "", []string{"nation", "create", "ok-slug"}, 2, "", "--name is required"},
			{"unknown parent", "", []string{"nation", "create", "orphan", "--name", "O", "--parent", "nope"}, 2, "", `parent nation "nope" does not exist`},
			{"unknown flag", "", []string{"nation", "create", "x1", "--nmae", "X"}, 2, "", "flag provided but not defined"},
			{"user", "a-long-password\n", []string{"user", "create", "--nation", "ps-liege", "--email", "Ana@Example.org", "--role", "admin", "--password-stdin", "--json"}, 0, `"email":"ana@example.org"`, ""},
			{"user again elsewhere", "a-long-password\n", []string{"user", "create", "--nation", "ps-liege-1", "--email", "ana@example.org", "--role", "organizer", "--password-stdin"}, 0, "added existing", ""},
			{"user wrong password", "another-password\n", []string{"user", "create", "--nation", "ps-liege-1", "--email", "ana@example.org", "--role", "admin", "--password-stdin"}, 1, "", "another password"},
			{"short password", "short\n", []string{"user", "create", "--nation", "ps-liege", "--email", "b@example.org", "--role", "admin", "--password-stdin"}, 2, "", "at least 10 characters"},
			{"bad role", "a-long-password\n", []string{"user", "create", "--nation", "ps-liege", "--email", "b@example.org", "--role", "boss", "--password-stdin"}, 2, "", `unknown role "boss"`},
			{"no password flag", "", []string{"user", "create", "--nation", "ps-liege", "--email", "b@example.org", "--role", "admin"}, 2, "", "--password-stdin is required"},
			{"unknown nation", "a-long-password\n", []string{"user", "create", "--nation", "nope", "--email", "b@example.org", "--role", "admin", "--password-stdin"}, 1, "", `no nation "nope"`},
			{"bad email", "a-long-password\n", []string{"user", "create", "--nation", "ps-liege", "--email", "not-an-email", "--role", "admin", "--password-stdin"}, 2, "", "not a valid e-mail"},
			{"unknown command", "", []string{"frobnicate"}, 2, "", "unknown command"},
		}
		for _, s := range steps {
			code, out, errOut := c.run(s.stdin, s.args...)
			if code != s.wantCode {
				t.Errorf("%s: exit %d, want %d (stderr %q)", s.name, code, s.wantCode, errOut)
			}
			if !strings.Contains(out, s.wantOut) {
				t.Errorf("%s: stdout %q lacks %q", s.name, out, s.wantOut)
			}
			if !strings.Contains(errOut, s.wantErr) {
				t.Errorf("%s: stderr %q lacks %q", s.name, errOut, s.wantErr)
			}
			if s.wantCode != 0 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 && !strings.Contains(errOut, "Usage") {
				t.Errorf("%s: error is more than one line: %q", s.name, errOut)
			}
		}

		code, out, _ := c.run("", "nation", "list", "--json")
		if code != 0 {
			t.Fatalf("nation list exit %d", code)
		}
		var list struct {
			Nations []struct {
				Slug, Parent string
				Languages    []string
			}
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("nation list --json: %v: %q", err, out)
		}
		if len(list.Nations) != 2 || list.Nations[1].Slug != "ps-liege-1" || list.Nations[1].Parent != "ps-liege" {
			t.Fatalf("nation list = %+v", list.Nations)
		}
		if strings.Join(list.Nations[0].Languages, ",") != "en,fr,nl" {
			t.Errorf("a new nation should offer en,fr,nl; got %v", list.Nations[0].Languages)
		}
	})
}

func TestMigrateJSON(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		code, out, errOut := c.run("", "migrate", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var res struct{ Applied int }
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Applied == 0 {
			t.Fatalf("first migrate: %q (%v)", out, err)
		}
		_, out, _ = c.run("", "migrate", "--json")
		if !strings.Contains(out, `"applied":0`) {
			t.Fatalf("second migrate applied something: %q", out)
		}
	})
}
