package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchSendCrash runs the real binary's crash test: `muster worker` as
// a subprocess on SQLite, killed with SIGKILL mid-broadcast and restarted;
// the bench fails unless no recipient is lost and duplicates stay within
// one per connection per kill.
func TestBenchSendCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "bench", "send", "--recipients", "15000", "--connections", "4", "--crash", "2")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench send --crash: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "lost: 0 ") {
		t.Fatalf("unexpected report:\n%s", out.String())
	}
	t.Log(out.String())
}
