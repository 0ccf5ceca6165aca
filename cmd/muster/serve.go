package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/server"
)

func runServe(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("serve", e.stderr)
	cfg.RegisterStorage(fs)
	cfg.RegisterServe(fs)
	workers := fs.Int("workers", 2, "background jobs to run at once; 0 leaves them to `muster worker`")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	tuneGCForServer()
	if *workers < 0 {
		return usagef("--workers must not be negative")
	}
	start := time.Now()
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := newLogger(e.stderr, cfg.LogLevel)
	if k, err := crypt.Of(db); err == nil {
		k.WarnDefault(log)
	}

	queue, err := newJobQueue(db, log, &cfg, jobs.WithShutdownTimeout(cfg.ShutdownTimeout))
	if err != nil {
		return err
	}
	srv, err := server.New(server.Deps{Config: &cfg, DB: db, Log: log, Jobs: queue})
	if err != nil {
		return err
	}
	// Segment indexes build in the background (a log line per nation when
	// ready); until then counts build them on demand. Stopped before the
	// database closes.
	wctx, stopWarm := context.WithCancel(ctx)
	warmed := make(chan struct{})
	go func() {
		defer close(warmed)
		if ns, err := srv.Nations.List(wctx); err == nil {
			ids := make([]int64, len(ns))
			for i, n := range ns {
				ids[i] = n.ID
			}
			srv.Segments.Warm(wctx, ids, log)
		}
	}()
	defer func() { stopWarm(); <-warmed }()
	// Background work runs beside the web server and stops after it has
	// drained (the deferred stop runs before the deferred db.Close).
	if *workers > 0 {
		jctx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
		jdone := make(chan error, 1)
		go func() { jdone <- queue.Run(jctx, *workers) }()
		defer func() {
			stopJobs()
			if err := <-jdone; err != nil {
				log.Error("background jobs", "err", err)
			}
		}()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	base := cfg.BaseURL
	if base == "" {
		base = localURL(ln.Addr())
	}
	fmt.Fprintf(e.stdout, "Muster is running at %s/ (database: %s, started in %s)\n",
		base, db.Engine, time.Since(start).Round(time.Millisecond))

	hasUsers, err := srv.Auth.HasUsers(ctx)
	if err != nil {
		return err
	}
	if !hasUsers {
		token, err := srv.Auth.CreateSetupToken(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "First run: create the first administrator and nation at\n  %s/setup/%s\n(valid for 24 hours; restart to get a new link)\n", base, token)
	}

	hs := &http.Server{
		Handler:           srv.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Graceful: stop accepting, let in-flight requests finish, then the
	// deferred db.Close checkpoints and closes the database.
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func localURL(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return "http://" + a.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("http://%s:%d", host, tcp.Port)
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("migrate", e.stderr)
	cfg.RegisterStorage(fs)
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	db, err := openStore(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, map[string]any{"applied": n, "engine": db.Engine})
	}
	fmt.Fprintf(e.stdout, "applied %d migrations (%s)\n", n, db.Engine)
	return nil
}
