package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/importer/importweb"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/segment/segmentweb"
	"github.com/muster-org/muster/internal/server"
	"github.com/muster-org/muster/internal/store"
)

// newJobQueue builds the background queue with every domain's job handlers.
// `serve` and `worker` both use it, so that either runs the same kinds: a
// domain with background work registers its handlers (and Every schedules)
// here.
//
// cfg may be nil (enqueue-only use); then the handlers that need
// configuration (sending e-mail) are not registered.
func newJobQueue(db *store.DB, log *slog.Logger, cfg *config.Config, opts ...jobs.Option) (*jobs.Queue, error) {
	q := jobs.New(db, log, opts...)
	segmentweb.RegisterJobs(q, segment.NewService(db, segment.Options{Zone: segmentweb.Zone(nation.NewStore(db))}), db)
	if cfg != nil {
		mailCfg, err := cfg.MailSettings()
		if err != nil {
			return nil, err
		}
		// Imports must not re-create erased people (internal/privacy).
		importweb.RegisterJobs(q, importer.NewImports(db, server.ImportsDir(cfg)), people.NewStore(db).WithSuppression(mailCfg.SecretKey))
		// The daily retention sweep erases through the same path as a request.
		privacy.RegisterJobs(q, privacy.NewService(privacy.Deps{DB: db, Key: mailCfg.SecretKey, ImportsDir: server.ImportsDir(cfg),
			JournalPath: privacy.JournalFile(cfg.DataDir), Log: log}))
		bw := broadcast.NewWorker(broadcast.WorkerConfig{DB: db, Mail: mailCfg, Log: log, ID: q.WorkerID(), Lease: cfg.JobLease})
		q.Register(broadcast.JobKind, bw.Handle)
		bundle, err := i18n.Load()
		if err != nil {
			return nil, err
		}
		svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: q, Mail: mailCfg, Log: log})
		server.NewAutomail(db, svc, q, bundle, mailCfg, log).Register(q)
	}
	return q, nil
}

// runWorker runs the background queue without the web server, until SIGINT
// or SIGTERM; running jobs are then cancelled and handed back to the queue.
func runWorker(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("worker", e.stderr)
	cfg.RegisterStorage(fs)
	workers := fs.Int("workers", 2, "how many jobs to run at once")
	fs.DurationVar(&cfg.JobLease, "lease", 30*time.Second, "how long a job or delivery claim lasts without a heartbeat (a dead worker's work is taken over after it)")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	tuneGCForServer()
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if *workers < 1 {
		return usagef("--workers must be at least 1")
	}
	db, err := openDB(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	log := newLogger(e.stderr, cfg.LogLevel)
	q, err := newJobQueue(db, log, &cfg, jobs.WithLease(cfg.JobLease))
	if err != nil {
		return err
	}
	log.Info("worker running", "database", db.Engine, "workers", *workers, "worker_id", q.WorkerID())
	if err := q.Run(ctx, *workers); err != nil {
		return err
	}
	log.Info("worker stopped")
	return nil
}
