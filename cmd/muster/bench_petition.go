package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/server"
)

// maxBenchRequests bounds each phase of muster bench petition in count, as
// --duration bounds it in time.
const maxBenchRequests = 10_000_000

func runBenchPetition(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench petition", e.stderr)
	target := addBenchTarget(fs)
	duration := fs.Duration("duration", 60*time.Second, "length of each phase (GET, then POST)")
	conc := fs.Int("concurrency", 64, "concurrent clients (keep-alive connections)")
	getOnly := fs.Bool("get-only", false, "only the page views")
	postOnly := fs.Bool("post-only", false, "only the signatures")
	jsonOut := fs.Bool("json", false, "print the figures as one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) of the run to `file`")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	tuneGCForServer()
	switch {
	case len(pos) != 0:
		return usagef("unexpected argument %q", pos[0])
	case *duration <= 0 || *duration > time.Hour:
		return usagef("--duration must be between 0 and 1h")
	case *conc < 1 || *conc > 1024:
		return usagef("--concurrency must be between 1 and 1024")
	case *getOnly && *postOnly:
		return usagef("--get-only and --post-only exclude each other")
	}

	if err := target.validate(); err != nil {
		return err
	}
	bd, err := target.open(ctx, e.stderr)
	if err != nil {
		return err
	}
	defer bd.Close(*target.keep)
	db := bd.DB
	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "bench", Name: "Bench", Country: "BE"})
	if err != nil {
		return err
	}
	pageStore := pages.NewStore(db)
	page := &pages.Page{NationID: n.ID, Slug: "petition", Type: pages.TypePetition, Title: "Save the bench",
		Body: "We, the undersigned, ask the council to **keep the benches** in the park.", Status: pages.StatusPublished,
		Target: "The council", Goal: 100_000,
		Settings: pages.Settings{
			Fields: []pages.Field{{Name: "first_name", Required: true}, {Name: "last_name"}, {Name: "email", Required: true}, {Name: "city"}},
			Tags:   []string{"petition-bench"}, Points: 1,
			Consents: []pages.ConsentQuestion{{Channel: "email", Wording: map[string]string{
				"en": "Yes, send me news about this campaign by e-mail.",
				"fr": "Oui, envoyez-moi des nouvelles de cette campagne par e-mail.",
				"nl": "Ja, stuur me nieuws over deze campagne per e-mail."}}},
		}}
	if err := pageStore.Create(ctx, page); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	cfg := &config.Config{BaseURL: base, DataDir: bd.Dir, LogLevel: slog.LevelError}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// The per-address and per-page limits would stop one client sending
	// thousands of signatures a second: the bench turns them off
	// (pages.Limits.Unlimited), rather than faking client addresses.
	app, err := server.New(server.Deps{Config: cfg, DB: db, Log: log, PageLimits: pages.Limits{Unlimited: true}})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: app.Handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConns: *conc * 2, MaxIdleConnsPerHost: *conc * 2, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	defer client.CloseIdleConnections()
	pageURL := base + "/bench/petition"

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return usagef("--cpuprofile: %v", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("bench: profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	var phases []phaseResult
	if !*postOnly {
		res, err := benchPhase(ctx, "GET", *duration, *conc, func(w, i int) (bool, error) {
			resp, err := client.Get(pageURL)
			if err != nil {
				return false, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, nil
		})
		if err != nil {
			return err
		}
		phases = append(phases, res)
	}
	var created atomic.Int64
	if !*getOnly {
		res, err := benchPhase(ctx, "POST", *duration, *conc, func(w, i int) (bool, error) {
			form := url.Values{
				"first_name": {"Ann"}, "last_name": {"Signer" + strconv.Itoa(w)}, "city": {"Namur"},
				"email":         {"bench-" + strconv.Itoa(w) + "-" + strconv.Itoa(i) + "@example.org"},
				"consent_email": {"yes"}, "lang": {"en"},
			}
			resp, err := client.PostForm(pageURL, form)
			if err != nil {
				return false, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				return false, fmt.Errorf("POST: status %d", resp.StatusCode)
			}
			created.Add(1)
			return true, nil
		})
		if err != nil {
			return err
		}
		phases = append(phases, res)
	}

	out := map[string]any{"engine": *target.engine, "duration_s": duration.Seconds(), "concurrency": *conc,
		"cpus": runtime.NumCPU(), "go": runtime.Version(), "phases": phases}
	var check *lossCheck
	if !*getOnly {
		c := lossCheck{Accepted: created.Load()}
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM signatures WHERE nation_id = ? AND page_id = ?`, n.ID, page.ID).Scan(&c.Signatures); err != nil {
			return fmt.Errorf("bench: count signatures: %w", err)
		}
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ?`, n.ID).Scan(&c.People); err != nil {
			return fmt.Errorf("bench: count people: %w", err)
		}
		c.Lost = c.Accepted - min(c.Signatures, c.People)
		c.OK = c.Accepted == c.Signatures && c.Signatures == c.People
		check = &c
		out["check"] = c
	}
	if *jsonOut {
		if err := printJSON(e.stdout, out); err != nil {
			return err
		}
	} else {
		w := e.stdout
		fmt.Fprintf(w, "muster bench petition: %s, %d clients, %s per phase, %d CPUs, %s\n", *target.engine, *conc, *duration, runtime.NumCPU(), runtime.Version())
		fmt.Fprintf(w, "method: the real server (server.New) on 127.0.0.1 with a fresh database; Go keep-alive clients in the\n"+
			"  same process; GET /bench/petition (the page with its live count), then POST a new person with e-mail\n"+
			"  consent per request (303 expected). Rate limits off (pages.Limits.Unlimited). CPU is this process's\n"+
			"  (server + load generator) and the whole machine's, over the phase.\n")
		for _, p := range phases {
			fmt.Fprintf(w, "%-4s %8d ok %6d failed  %8.0f req/s  p50 %6.2f ms  p95 %6.2f ms  p99 %6.2f ms  max %7.2f ms  cpu: process %.0f%%, machine %.0f%%, %.0f req per process CPU-second\n",
				p.Method, p.OK, p.Failed, p.PerSecond, p.P50ms, p.P95ms, p.P99ms, p.MaxMs, p.ProcessCPU*100, p.MachineCPU*100, p.PerCPUSecond)
		}
		if check != nil {
			verdict := "zero lost signatures"
			if !check.OK {
				verdict = "SIGNATURES LOST OR UNACCOUNTED"
			}
			fmt.Fprintf(w, "check: %d accepted (303), %d signatures, %d people: %s\n", check.Accepted, check.Signatures, check.People, verdict)
		}
	}
	if check != nil && !check.OK {
		return fmt.Errorf("bench: %d signatures accepted but %d stored and %d people created", check.Accepted, check.Signatures, check.People)
	}
	for _, p := range phases {
		if p.OK == 0 {
			return fmt.Errorf("bench: no %s request succeeded (first error: %s)", p.Method, p.FirstError)
		}
	}
	return nil
}

// lossCheck compares the signatures the server accepted with those stored.
type lossCheck struct {
	Accepted   int64 `json:"accepted"`
	Signatures int64 `json:"signatures"`
	People     int64 `json:"people"`
	Lost       int64 `json:"lost"`
	OK         bool  `json:"ok"`
}

// phaseResult is the figures of one phase.
type phaseResult struct {
	Method     string  `json:"method"`
	OK         int64   `json:"ok"`
	Failed     int64   `json:"failed"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	ProcessCPU float64 `json:"process_cpu"` // CPU seconds of this process per wall second, per CPU
	MachineCPU float64 `json:"machine_cpu"` // busy share of every CPU of the machine
	// PerCPUSecond is requests answered per CPU second this process used
	// (server and load generator together): on a shared machine it says
	// more about the code than req/s does.
	PerCPUSecond float64 `json:"per_cpu_second"`
	FirstError   string  `json:"first_error,omitempty"`
}

// benchPhase runs do from conc workers until d has passed or
// maxBenchRequests were sent. do reports whether the answer was the one
// expected; its error is a transport failure.
func benchPhase(ctx context.Context, method string, d time.Duration, conc int, do func(worker, i int) (bool, error)) (phaseResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sent atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	cpu0, mach0 := processCPU(), machineCPU()
	start := time.Now()
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && sent.Add(1) <= maxBenchRequests; i++ {
				t := time.Now()
				ok, err := do(w, i)
				el := time.Since(t)
				switch {
				case err != nil:
					if ctx.Err() != nil && !strings.HasPrefix(err.Error(), method) {
						return
					}
					firstErr.CompareAndSwap(nil, err.Error())
					failed.Add(1)
				case !ok:
					firstErr.CompareAndSwap(nil, method+": unexpected status")
					failed.Add(1)
				default:
					lat[w] = append(lat[w], el)
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, mach1 := processCPU(), machineCPU()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return phaseResult{}, err
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(q*float64(len(all))))].Microseconds()) / 1000
	}
	r := phaseResult{Method: method, OK: int64(len(all)), Failed: failed.Load(), Seconds: wall.Seconds(),
		PerSecond: float64(len(all)) / wall.Seconds(), P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99), MaxMs: pct(1),
		ProcessCPU: (cpu1 - cpu0).Seconds() / wall.Seconds() / float64(runtime.NumCPU())}
	if cpu := (cpu1 - cpu0).Seconds(); cpu > 0 {
		r.PerCPUSecond = float64(len(all)) / cpu
	}
	if mach1.total > mach0.total {
		r.MachineCPU = float64(mach1.busy-mach0.busy) / float64(mach1.total-mach0.total)
	}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	return r, nil
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type cpuTicks struct{ busy, total uint64 }

// machineCPU reads the machine's CPU ticks from /proc/stat (Linux; zero
// elsewhere), so that a figure taken on a shared machine says how busy it was.
func machineCPU() cpuTicks {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		t.total += v
		if i != 3 && i != 4 { // idle, iowait
			t.busy += v
		}
	}
	return t
}
