package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

const personPeople = `first_name,last_name,email,email_opt_in,tag_list
Anne,Dupont,anne@example.org,true,zqxtag
Bart,Peeters,bart@example.org,false,b
`

// personWorld is a nation "north" with two imported people, run through the
// command line on engine; args are the storage flags (always with a data
// directory of its own, which holds the secret key and the erasure journal).
func personWorld(t *testing.T, engine store.Engine) (args []string, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	args = []string{"--data", dataDir}
	if engine != store.SQLite {
		args = append(args, "--database", storetest.DSN(t, engine))
	}
	if code, _, stderr := runCLI(t, append([]string{"nation", "create", "north", "--name", "North"}, args...)...); code != 0 {
		t.Fatalf("nation create: %d %s", code, stderr)
	}
	file := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(file, []byte(personPeople), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, append(append([]string{"import", "people", "--nation", "north"}, args...), file)...); code != 0 {
		t.Fatalf("import: %d %s", code, stderr)
	}
	return args, dataDir
}

func TestPersonExportEraseCLI(t *testing.T) {
	schemaText, err := os.ReadFile("../../docs/person-export.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal(schemaText, &schema); err != nil {
		t.Fatal(err)
	}
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			db, _ := personWorld(t, engine)
			cmd := func(sub string, extra ...string) (int, string, string) {
				return runCLI(t, append(append([]string{"person", sub}, db...), extra...)...)
			}

			// Usage errors exit 2.
			for _, bad := range [][]string{{}, {"--nation", "north"}, {"--email", "anne@example.org"}, {"--nation", "north", "--email", "anne@example.org", "extra"}} {
				if code, _, _ := cmd("export", bad...); code != 2 {
					t.Errorf("export %v: exit %d, want 2", bad, code)
				}
				if code, _, _ := cmd("erase", bad...); code != 2 {
					t.Errorf("erase %v: exit %d, want 2", bad, code)
				}
			}
			// An unknown nation is a runtime failure.
			if code, _, _ := cmd("export", "--nation", "nowhere", "--email", "anne@example.org"); code != 1 {
				t.Errorf("export from an unknown nation: exit %d", code)
			}

			// Export: valid against the published schema, holds the person.
			code, stdout, stderr := cmd("export", "--nation", "north", "--email", "ANNE@example.org")
			if code != 0 {
				t.Fatalf("export: %d %s", code, stderr)
			}
			var doc any
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("export is not JSON: %v", err)
			}
			if errs := privacy.Validate(schema, doc); len(errs) > 0 {
				t.Errorf("export does not match the schema: %v", errs)
			}
			if !strings.Contains(stdout, "Anne") || !strings.Contains(stdout, "zqxtag") || strings.Contains(stdout, "Bart") {
				t.Errorf("export content: %s", stdout)
			}
			out := filepath.Join(t.TempDir(), "anne.json")
			if code, stdout, _ := cmd("export", "--nation", "north", "--email", "anne@example.org", "--out", out); code != 0 || stdout != "" {
				t.Errorf("export --out: %d %q", code, stdout)
			}
			if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "zqxtag") {
				t.Errorf("export file: %v", err)
			}
			// Unknown address: exit 1.
			if code, _, _ := cmd("export", "--nation", "north", "--email", "nobody@example.org"); code != 1 {
				t.Errorf("export of an unknown address: exit %d, want 1", code)
			}

			// Erase with --json: one object, found.
			code, stdout, stderr = cmd("erase", "--nation", "north", "--email", "anne@example.org", "--json")
			if code != 0 {
				t.Fatalf("erase: %d %s", code, stderr)
			}
			var rep privacy.Erasure
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("erase --json: %q %v", stdout, err)
			}
			if !rep.Found || rep.People != 1 || rep.Suppressed < 1 {
				t.Errorf("erase report: %+v", rep)
			}
			if code, _, _ := cmd("export", "--nation", "north", "--email", "anne@example.org"); code != 1 {
				t.Errorf("export after erasure: exit %d, want 1", code)
			}
			// Again, and an unknown address: exit 0, nothing held.
			code, stdout, _ = cmd("erase", "--nation", "north", "--email", "anne@example.org")
			if code != 0 || !strings.Contains(stdout, "nothing held") {
				t.Errorf("erase again: %d %q", code, stdout)
			}
			code, stdout, _ = cmd("erase", "--nation", "north", "--email", "nobody@example.org", "--json")
			if code != 0 || !strings.Contains(stdout, `"found":false`) {
				t.Errorf("erase unknown: %d %q", code, stdout)
			}
			// Bart is untouched; re-importing Anne does not bring her back.
			if code, _, _ := cmd("export", "--nation", "north", "--email", "bart@example.org"); code != 0 {
				t.Errorf("bart was touched: exit %d", code)
			}
		})
	}
}

// TestErasureJournalAfterRestore: a SQLite database file copied from before
// an erasure and put back brings the person back; the next start of the
// server (and `person replay-erasures`) erases them again from the journal.
func TestErasureJournalAfterRestore(t *testing.T) {
	db, dataDir := personWorld(t, store.SQLite)
	files, _ := filepath.Glob(filepath.Join(dataDir, "*.db"))
	if len(files) != 1 {
		t.Fatalf("database files: %v", files)
	}
	dbFile := files[0]
	backup, err := os.ReadFile(dbFile) // the commands closed the database: no WAL left
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, append([]string{"person", "erase", "--nation", "north", "--email", "anne@example.org"}, db...)...); code != 0 {
		t.Fatalf("erase: %d %s", code, stderr)
	}
	restore := func() {
		t.Helper()
		for _, f := range []string{dbFile + "-wal", dbFile + "-shm"} {
			_ = os.Remove(f)
		}
		if err := os.WriteFile(dbFile, backup, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := runCLI(t, append([]string{"person", "export", "--nation", "north", "--email", "anne@example.org"}, db...)...); code != 0 {
			t.Fatalf("the restored database does not hold the person: exit %d", code)
		}
	}

	// Start: server.New replays the journal.
	restore()
	ctx := context.Background()
	cfg := &config.Config{DataDir: dataDir}
	sdb, err := openDB(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.New(server.Deps{Config: cfg, DB: sdb, Log: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	if code, _, _ := runCLI(t, append([]string{"person", "export", "--nation", "north", "--email", "anne@example.org"}, db...)...); code != 1 {
		t.Errorf("after the start, the person is still there: exit %d", code)
	}
	if code, _, _ := runCLI(t, append([]string{"person", "export", "--nation", "north", "--email", "bart@example.org"}, db...)...); code != 0 {
		t.Errorf("bart was erased: exit %d", code)
	}

	// The command does the same.
	restore()
	code, stdout, stderr := runCLI(t, append([]string{"person", "replay-erasures", "--json"}, db...)...)
	if code != 0 {
		t.Fatalf("replay: %d %s", code, stderr)
	}
	var rep struct{ Erased, Restored int }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("replay --json: %q %v", stdout, err)
	}
	if rep.Erased != 1 || rep.Restored < 1 {
		t.Errorf("replay report: %s", stdout)
	}
	if code, _, _ := runCLI(t, append([]string{"person", "export", "--nation", "north", "--email", "anne@example.org"}, db...)...); code != 1 {
		t.Errorf("after the replay, the person is still there: exit %d", code)
	}
	// Replaying again changes nothing.
	if code, stdout, _ := runCLI(t, append([]string{"person", "replay-erasures", "--json"}, db...)...); code != 0 || !strings.Contains(stdout, `"erased":0`) {
		t.Errorf("second replay: %d %s", code, stdout)
	}
}
