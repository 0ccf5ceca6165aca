package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	stdlog "log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
)

const benchBody = `Dear {{first_name | default "friend"}},

Our campaign for better **pensions** goes on in {{city | default "your town"}}. This week we
meet the minister; next week we are in the streets. Every signature counts, every hand helps.

Will you join us on Saturday at 10:00 in front of the town hall? Bring a friend, a banner and
your good mood. We will have coffee, leaflets and a plan for the next month.

Thank you for standing with us,
The team`

// countingSink is a minimal SMTP server that counts, per recipient, the
// messages it accepted: enough to find lost and duplicated messages after
// a crash test without keeping 100,000 messages in memory.
type countingSink struct {
	mu     sync.Mutex
	counts map[string]int
	total  atomic.Int64
	srv    *smtp.Server
	ln     net.Listener
}

func newCountingSink() (*countingSink, error) {
	s := &countingSink{counts: map[string]int{}}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.MaxRecipients = 10
	srv.ErrorLog = stdlog.New(io.Discard, "", 0) // kill -9 resets connections: expected
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.srv, s.ln = srv, ln
	go func() { _ = srv.Serve(ln) }()
	return s, nil
}

func (s *countingSink) URL() string  { return "smtp://" + s.ln.Addr().String() + "?tls=none" }
func (s *countingSink) Close() error { return s.srv.Close() }

func (s *countingSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

type sinkSession struct {
	s  *countingSink
	to []string
}

func (se *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.to = append(se.to, to)
	return nil
}
func (se *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	se.s.mu.Lock()
	for _, t := range se.to {
		se.s.counts[t]++
	}
	se.s.mu.Unlock()
	se.s.total.Add(1)
	return nil
}
func (se *sinkSession) Reset()        { se.to = se.to[:0] }
func (se *sinkSession) Logout() error { return nil }

func runBenchSend(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench send", e.stderr)
	n := fs.Int("recipients", 100000, "number of `people` to generate and send to")
	target := addBenchTarget(fs)
	conns := fs.Int("connections", 50, "SMTP `connections` (one message in flight on each)")
	kills := fs.Int("crash", 0, "crash test: run `muster worker` as a subprocess and kill -9 it this many `times`")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the send to `file` (go tool pprof)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 0:
		return usagef("unexpected argument %q", pos[0])
	case *n < 1:
		return usagef("--recipients must be at least 1")
	case *conns < 1 || *conns > 500:
		return usagef("--connections must be between 1 and 500")
	}
	if err := target.validate(); err != nil {
		return err
	}
	// The crash test's subprocesses use the same directory (data, master key).
	bd, err := target.open(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer bd.Close(*target.keep)
	db, dir, dsn := bd.DB, bd.Dir, bd.DSN
	nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "bench", Name: "Bench"})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "muster bench send: %d recipients on %s, %d connections, %d CPUs, %s\n", *n, *target.engine, *conns, runtime.NumCPU(), runtime.Version())
	t0 := time.Now()
	if err := broadcast.GenerateRecipients(ctx, db, nat.ID, *n, "example.org", store.Millis(time.Now().Add(-time.Hour))); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "generated %d consenting people: %.1f s\n", *n, time.Since(t0).Seconds())
	if db.Engine == store.Postgres {
		// As autovacuum would have, long before a real broadcast: the
		// generated people are minutes old, not months.
		if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
			return fmt.Errorf("bench: analyze: %w", err)
		}
	}

	sink, err := newCountingSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	m := &config.Mail{SMTPURL: sink.URL(), From: "Bench <news@bench.example.org>", Connections: *conns,
		OrgName: "Bench asbl", OrgAddress: "Rue de la Loi 16, 1000 Bruxelles", BaseURL: "https://muster.example.org", SecretKey: key}
	log := newLogger(e.stderr, 8) // errors only above Error: quiet
	q := jobs.New(db, log)
	svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: q, Mail: m, Log: log})
	b, err := svc.Create(ctx, nat.ID, 0, broadcast.Draft{Subject: "News for {{first_name}}", Body: benchBody, Filter: "consent:email"})
	if err != nil {
		return err
	}
	if _, err := svc.Send(ctx, nat.ID, b.ID, time.Time{}); err != nil {
		return err
	}

	if *kills > 0 {
		if *target.engine == "sqlite" {
			db.Close() // the subprocess owns the file; we reopen to read
		}
		return benchCrash(ctx, e, crashSpec{dir: dir, dsn: dsn, engine: *target.engine, sink: sink, mail: m, kills: *kills,
			nationID: nat.ID, broadcastID: b.ID, n: *n})
	}

	w := broadcast.NewWorker(broadcast.WorkerConfig{DB: db, Mail: m, Log: log, ID: "bench", Chunk: 1000})
	defer w.Close()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// Materialise first (timed apart), then send. The process's CPU time
	// (user + sys) is printed too: on a shared machine it is steadier than
	// the wall clock.
	t0 = time.Now()
	cpu0 := cpuTime()
	var sendStart time.Time
	var sentAtStart int64
	for {
		err := w.Run(ctx, nat.ID, b.ID, func(done, total int64) {
			if sendStart.IsZero() {
				sendStart, sentAtStart = time.Now(), done
			}
		})
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "snooze") {
			return err
		}
	}
	end := time.Now()
	cpu := cpuTime() - cpu0
	p, err := svc.Progress(ctx, nat.ID, b.ID)
	if err != nil {
		return err
	}
	materialise := sendStart.Sub(t0)
	sendTime := end.Sub(sendStart)
	fmt.Fprintf(e.stdout, "outbox: %d deliveries written in %.2f s (audience scan, consent and suppression checks)\n", p.Recipients, materialise.Seconds())
	fmt.Fprintf(e.stdout, "sent: %d (failed %d, ambiguous %d), sink accepted %d, in %.2f s\n", p.Sent, p.Failed, p.Ambiguous, sink.total.Load(), sendTime.Seconds())
	fmt.Fprintf(e.stdout, "sustained: %.0f msg/s rendered, handed to the sink and recorded per recipient (target ≥ 7,000)\n",
		float64(p.Sent-sentAtStart)/sendTime.Seconds())
	fmt.Fprintf(e.stdout, "end to end (including the outbox write): %.0f msg/s\n", float64(p.Sent)/end.Sub(t0).Seconds())
	if p.Sent > 0 {
		perMsg := cpu / time.Duration(p.Sent)
		fmt.Fprintf(e.stdout, "cpu of this process (user+sys, sink included; not a PostgreSQL server's): %.2f s, %d µs per message; %d CPUs all its own would carry %.0f msg/s\n",
			cpu.Seconds(), perMsg.Microseconds(), runtime.NumCPU(), float64(runtime.NumCPU())*float64(time.Second)/float64(perMsg))
	}
	if p.Sent != int64(*n) || sink.total.Load() != int64(*n) {
		return fmt.Errorf("bench: sent %d, sink got %d, want %d", p.Sent, sink.total.Load(), *n)
	}
	return nil
}

type crashSpec struct {
	dir, dsn, engine      string
	sink                  *countingSink
	mail                  *config.Mail
	kills                 int
	nationID, broadcastID int64
	n                     int
}

// benchCrash runs `muster worker` as a subprocess, kills it with SIGKILL
// at random moments, restarts it, and finally lets it finish; then it
// counts lost and duplicated messages at the sink.
func benchCrash(ctx context.Context, e *env, c crashSpec) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := func() (*exec.Cmd, error) {
		args := []string{"worker", "--lease", "2s", "--log-level", "error"}
		if c.engine == "sqlite" {
			args = append(args, "--data", c.dir)
		} else {
			args = append(args, "--database", c.dsn)
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), "MUSTER_SMTP_URL="+c.sink.URL(), "MUSTER_SMTP_FROM="+c.mail.From,
			fmt.Sprintf("MUSTER_SMTP_CONNECTIONS=%d", c.mail.Connections), "MUSTER_SECRET_KEY="+hex.EncodeToString(c.mail.SecretKey),
			"MUSTER_BASE_URL="+c.mail.BaseURL, "MUSTER_MASTER_KEY_FILE="+filepath.Join(c.dir, "master.key"))
		cmd.Stderr = e.stderr
		return cmd, cmd.Start()
	}
	fmt.Fprintf(e.stdout, "crash test: %d kills of `muster worker` (kill -9), %d connections\n", c.kills, c.mail.Connections)
	for i := range c.kills {
		cmd, err := start()
		if err != nil {
			return err
		}
		before := c.sink.total.Load()
		// Let it get going (starting and, the first time, writing the
		// outbox can take seconds), then kill it mid-flight.
		for wait := time.Now().Add(time.Minute); c.sink.total.Load() == before && time.Now().Before(wait); {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(200+rand.IntN(1500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		fmt.Fprintf(e.stdout, "kill %d: sink had %d messages (+%d)\n", i+1, c.sink.total.Load(), c.sink.total.Load()-before)
		time.Sleep(2100 * time.Millisecond) // past the lease
	}
	cmd, err := start()
	if err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	db, err := store.Open(ctx, c.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: jobs.New(db, newLogger(io.Discard, 0)), Mail: c.mail})
	deadline := time.Now().Add(10 * time.Minute)
	var p *broadcast.Progress
	for time.Now().Before(deadline) {
		if p, err = svc.Progress(ctx, c.nationID, c.broadcastID); err != nil {
			return err
		}
		if p.State == broadcast.StateFinished {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if p.State != broadcast.StateFinished {
		return fmt.Errorf("bench: broadcast did not finish after the crashes (%+v)", p)
	}
	c.sink.mu.Lock()
	var lost, dups int
	for i := range c.n {
		k := c.sink.counts[fmt.Sprintf("p%d@example.org", i)]
		if k == 0 {
			lost++
		}
		if k > 1 {
			dups += k - 1
		}
	}
	c.sink.mu.Unlock()
	fmt.Fprintf(e.stdout, "finished: %d sent, %d ambiguous, %d resent after kills, %d failed\n", p.Sent, p.Ambiguous, p.Resent, p.Failed)
	fmt.Fprintf(e.stdout, "lost: %d (must be 0); duplicates: %d (bound: %d connections × %d kills = %d)\n",
		lost, dups, c.mail.Connections, c.kills, c.mail.Connections*c.kills)
	if lost > 0 || dups > c.mail.Connections*c.kills {
		return fmt.Errorf("bench: crash safety violated: lost %d, duplicates %d", lost, dups)
	}
	return nil
}
