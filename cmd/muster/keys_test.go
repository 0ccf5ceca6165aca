package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
)

// attachKeys gives a database a test opened itself the master key the
// commands of c use (the data directory's, or MUSTER_MASTER_KEY_FILE).
func attachKeys(t *testing.T, c *cli, db *store.DB) {
	t.Helper()
	dir := "muster-data" // the default --data, used beside --database
	if c.dsn[0] == "--data" {
		dir = c.dsn[1]
	}
	m, err := crypt.LoadMaster(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.Attach(context.Background(), db, m); err != nil {
		t.Fatal(err)
	}
}

func TestKeysCommands(t *testing.T) {
	c := newCLI(t, store.SQLite) // the data directory's key file is what this test swaps
	dir := c.dsn[1]
	if code, _, errOut := c.run("", "nation", "create", "north", "--name", "North"); code != 0 {
		t.Fatalf("nation create: %s", errOut)
	}
	if code, out, errOut := c.run("", "keys", "rotate", "--nation", "north", "--grace", "0s"); code != 0 || !strings.Contains(out, "version 2") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := c.run("", "keys", "rotate"); code != 2 || !strings.Contains(errOut, "--nation is required") {
		t.Fatalf("keys rotate without --nation: %d %s", code, errOut)
	}

	// A new master key: the old one no longer opens the database.
	newKey := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKey, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := c.run("", "keys", "rotate-master", "--new-key-file", newKey); code != 0 || !strings.Contains(out, "re-wrapped 1") {
		t.Fatalf("keys rotate-master: %d %s %s", code, out, errOut)
	}
	code, _, errOut := c.run("", "nation", "list")
	if code == 0 || !strings.Contains(errOut, "master key does not open") {
		t.Fatalf("start with the old master key: %d %q, want a refusal", code, errOut)
	}
	t.Setenv(crypt.EnvKeyFile, newKey)
	if code, out, errOut := c.run("", "nation", "list"); code != 0 || !strings.Contains(out, "north") {
		t.Fatalf("start with the new master key: %d %s %s", code, out, errOut)
	}

	// Without any key (the data directory's removed, none configured) the
	// commands refuse to start rather than generate a new one and go on.
	t.Setenv(crypt.EnvKeyFile, "")
	if err := os.Remove(filepath.Join(dir, "master.key")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = c.run("", "nation", "list")
	if code == 0 || !strings.Contains(errOut, crypt.EnvKeyFile) {
		t.Fatalf("start without the master key: %d %q, want a refusal naming %s", code, errOut, crypt.EnvKeyFile)
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Fatal("a refused start left a new master key behind")
	}
}
