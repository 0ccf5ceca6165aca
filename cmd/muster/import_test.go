package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// storageArgs points a command at a fresh database on engine.
func storageArgs(t *testing.T, engine store.Engine) []string {
	dsn := storetest.DSN(t, engine)
	if engine == store.SQLite {
		return []string{"--data", filepath.Dir(dsn)}
	}
	return []string{"--database", dsn}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return code, out.String(), errb.String()
}

const cliPeople = `nationbuilder_id,first_name,last_name,email,email_opt_in,tag_list,born_at
1,Anne,Dupont,anne@example.org,true,"a, b",1980-05-17
2,Bart,Peeters,bart@example.org,false,b,
3,ANNE,Dupont,ANNE@example.org ,,c,
,,,,,,tagonly
`

func TestImportPeopleCLI(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db := storageArgs(t, engine)
			if code, _, stderr := runCLI(t, append([]string{"nation", "create", "north", "--name", "North"}, db...)...); code != 0 {
				t.Fatalf("nation create: %d %s", code, stderr)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "people.csv")
			if err := os.WriteFile(file, []byte(cliPeople), 0o600); err != nil {
				t.Fatal(err)
			}
			imp := func(extra ...string) (int, string, string) {
				args := append([]string{"import", "people", "--nation", "north", "--json"}, db...)
				return runCLI(t, append(append(args, extra...), file)...)
			}
			code, stdout, stderr := imp()
			if code != 0 {
				t.Fatalf("import: %d %s", code, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(stdout), &got); err != nil || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("not one JSON object: %q %v", stdout, err)
			}
			for k, want := range map[string]float64{"rows": 4, "created": 2, "updated": 0, "merged": 1, "rejected": 1} {
				if got[k] != want {
					t.Errorf("%s = %v, want %v (%s)", k, got[k], want, stdout)
				}
			}
			if _, ok := got["seconds"].(float64); !ok {
				t.Errorf("seconds missing: %s", stdout)
			}
			if rf, _ := got["rejects_file"].(string); rf != filepath.Join(dir, "people.rejects.csv") {
				t.Errorf("rejects_file = %q", rf)
			}

			// Re-import: idempotent.
			code, stdout, _ = imp()
			if code != 0 || !strings.Contains(stdout, `"created":0`) || !strings.Contains(stdout, `"unchanged":3`) {
				t.Errorf("re-import: %d %s", code, stdout)
			}

			// Export: NationBuilder columns, both people, audit entry.
			out := filepath.Join(dir, "export.csv")
			code, _, stderr = runCLI(t, append([]string{"export", "people", "--nation", "north", "--out", out}, db...)...)
			if code != 0 {
				t.Fatalf("export: %d %s", code, stderr)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(f).ReadAll()
			f.Close()
			if err != nil || len(recs) != 3 || recs[0][5] != "first_name" || recs[0][12] != "email_opt_in" {
				t.Fatalf("export = %q %v", recs, err)
			}
			byEmail := map[string][]string{}
			for _, r := range recs[1:] {
				byEmail[r[8]] = r
			}
			if a := byEmail["anne@example.org"]; a == nil || a[12] != "true" || a[21] != "a, b, c" {
				t.Errorf("anne = %q", a)
			}
			if b := byEmail["bart@example.org"]; b == nil || b[12] == "true" {
				t.Errorf("bart = %q", b)
			}
			assertExportAudited(t, engine, db)

			// The export imports back into a new nation as the same two people.
			runCLI(t, append([]string{"nation", "create", "south", "--name", "South"}, db...)...)
			code, stdout, stderr = runCLI(t, append(append([]string{"import", "people", "--nation", "south", "--json"}, db...), out)...)
			if code != 0 || !strings.Contains(stdout, `"created":2`) || !strings.Contains(stdout, `"format":"nationbuilder"`) {
				t.Errorf("round trip: %d %s %s", code, stdout, stderr)
			}
		})
	}
}

func assertExportAudited(t *testing.T, engine store.Engine, db []string) {
	t.Helper()
	dsn := db[1]
	if engine == store.SQLite {
		dsn = filepath.Join(db[1], "muster.db")
	}
	sdb, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var n int
	if err := sdb.QueryRow(context.Background(), `SELECT COUNT(*) FROM audit_log WHERE action = 'people.export'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("export audit entries = %d %v", n, err)
	}
}

func TestImportPeopleCLIErrors(t *testing.T) {
	db := storageArgs(t, store.SQLite)
	runCLI(t, append([]string{"nation", "create", "north", "--name", "North"}, db...)...)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.csv")
	os.WriteFile(junk, []byte("colour,size\nred,L\n"), 0o600)
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o600)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("email\na@example.org\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file", []string{"--nation", "north"}, 2, "want exactly one FILE"},
		{"no nation", []string{good}, 2, "--nation is required"},
		{"bad format", []string{"--nation", "north", "--format", "xlsx", good}, 2, "--format"},
		{"bad map", []string{"--nation", "north", "--map", "email", good}, 2, "COLUMN=FIELD"},
		{"unknown field", []string{"--nation", "north", "--map", "email=shoe", good}, 2, "unknown field"},
		{"missing file", []string{"--nation", "north", filepath.Join(dir, "nope.csv")}, 2, "nope.csv"},
		{"refused", []string{"--nation", "north", junk}, 2, "junk.csv: no usable header"},
		{"empty", []string{"--nation", "north", empty}, 2, "empty.csv: the file is empty"},
		{"unknown nation", []string{"--nation", "south", good}, 1, ""},
	} {
		code, _, stderr := runCLI(t, append(append([]string{"import", "people"}, db...), tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: code %d stderr %q, want %d %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	code, _, stderr := runCLI(t, append([]string{"export", "people", "--nation", "north", "--filter", "tag:x age:abc"}, db...)...)
	if code != 2 || !strings.Contains(stderr, "--filter: at column 11") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("export --filter with a bad filter: %d %q", code, stderr)
	}
}

func TestParseVmHWM(t *testing.T) {
	if got := parseVmHWM(strings.NewReader("Name:\tmuster\nVmPeak:\t  2000 kB\nVmHWM:\t  12345 kB\n")); got != 12345 {
		t.Errorf("VmHWM = %d", got)
	}
}
