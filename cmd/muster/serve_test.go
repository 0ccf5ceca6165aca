package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// buildBinary compiles muster once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "muster")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// TestServeLifecycle runs the real binary: it starts, prints its URL and a
// set-up link, answers health checks, and stops cleanly on SIGTERM.
func TestServeLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			args := []string{"serve", "--addr", "127.0.0.1:0"}
			dir := t.TempDir()
			if engine == store.SQLite {
				args = append(args, "--data", filepath.Join(dir, "data"))
			} else {
				args = append(args, "--database", storetest.DSN(t, engine))
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = dir
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			started := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()

			lines := bufio.NewScanner(stdout)
			var out []string
			urlRe := regexp.MustCompile(`running at (http://\S+)/ `)
			setupRe := regexp.MustCompile(`(http://\S+/setup/\S+)`)
			var base, setup string
			for lines.Scan() {
				out = append(out, lines.Text())
				if m := urlRe.FindStringSubmatch(lines.Text()); m != nil {
					base = m[1]
				}
				if m := setupRe.FindStringSubmatch(lines.Text()); m != nil {
					setup = m[1]
					break
				}
			}
			ready := time.Since(started)
			t.Logf("%s: serving after %s (target < 1s on an empty database)", engine, ready.Round(time.Millisecond))
			if base == "" || setup == "" {
				t.Fatalf("no URL or set-up link printed: %q stderr %q", out, stderr.String())
			}
			go io.Copy(io.Discard, stdout)

			for _, path := range []string{"/healthz", "/readyz"} {
				res, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("%s: %d", path, res.StatusCode)
				}
			}
			res, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("/metrics open to anonymous visitors: %d", res.StatusCode)
			}
			res, err = http.Get(setup)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("set-up link answered %d", res.StatusCode)
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after SIGTERM: %v; stderr %q", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatal("did not stop within 20s of SIGTERM")
			}
			if !strings.Contains(stderr.String(), "stopped") {
				t.Errorf("no clean-stop log line: %q", stderr.String())
			}
			if engine == store.SQLite {
				if _, err := os.Stat(filepath.Join(dir, "data", "muster.db-wal")); err == nil {
					if fi, _ := os.Stat(filepath.Join(dir, "data", "muster.db-wal")); fi.Size() > 0 {
						t.Errorf("WAL not checkpointed on close (%d bytes)", fi.Size())
					}
				}
			}
		})
	}
}
