package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// workerOutput is a buffer the worker's logger and the test share.
type workerOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *workerOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *workerOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestWorkerRunsUntilSignalled starts `muster worker` in-process and stops
// it the way SIGTERM does (its context ends): it must exit 0 and say so.
func TestWorkerRunsUntilSignalled(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		if code, _, stderr := c.run("", "worker", "--workers", "0"); code != 2 || !strings.Contains(stderr, "--workers") {
			t.Errorf("--workers 0: exit %d, stderr %q", code, stderr)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &workerOutput{}
		e := &env{stdin: strings.NewReader(""), stdout: out, stderr: out}
		done := make(chan int, 1)
		go func() { done <- run(ctx, e, append([]string{"worker", "--workers", "3"}, c.dsn...)) }()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "worker running") {
			if time.Now().After(deadline) {
				t.Fatalf("worker did not start: %q", out.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 || !strings.Contains(out.String(), "worker stopped") {
				t.Errorf("worker exit %d, output %q", code, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("worker did not stop")
		}
	})
}
