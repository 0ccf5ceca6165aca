package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
)

// broadcastEnv opens the database, the nation and the broadcast service
// (with an enqueue-only job queue: a running serve or worker sends).
func broadcastEnv(ctx context.Context, e *env, cfg *config.Config, slug string) (*store.DB, *nation.Nation, *broadcast.Service, error) {
	if slug == "" {
		return nil, nil, nil, usagef("--nation is required")
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := nation.NewStore(db).BySlug(ctx, slug)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	m, err := cfg.MailSettings()
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	svc := broadcast.NewService(broadcast.Deps{DB: db, Jobs: jobs.New(db, log), Mail: m, Log: log})
	return db, n, svc, nil
}

// parseWhen reads --at: RFC 3339, or "YYYY-MM-DD HH:MM" in local time.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--at must be a time such as 2026-05-01T18:00:00+02:00 or \"2026-05-01 18:00\"")
}

func runBroadcastSend(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("broadcast send", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	filter := fs.String("filter", "", "audience: a filter `expression`")
	topic := fs.String("topic", "", "audience: the subscribers of a topic `slug`")
	basis := fs.String("basis", "consent", "lawful `basis`: consent (current e-mail consent) or membership (current members)")
	purpose := fs.String("purpose", "", "purpose recorded in the targeting register")
	subject := fs.String("subject", "", "subject `text` (personalisation allowed)")
	bodyFile := fs.String("body", "", "`file` with the body (Markdown, or HTML with --format html)")
	format := fs.String("format", "md", "body `format`: md or html")
	preheader := fs.String("preheader", "", "preview `text` shown by mail clients")
	at := fs.String("at", "", "send at this `time` instead of now")
	wait := fs.Bool("wait", false, "wait until it is sent, printing progress")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return usagef("unexpected argument %q", rest[0])
	case *filter == "" && *topic == "":
		return usagef("an audience is required: --filter EXPR or --topic SLUG")
	case *subject == "":
		return usagef("--subject is required")
	case *bodyFile == "":
		return usagef("--body FILE is required")
	}
	when, err := parseWhen(*at)
	if err != nil {
		return err
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return fmt.Errorf("read %s: %w", *bodyFile, err)
	}
	db, n, svc, err := broadcastEnv(ctx, e, &cfg, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	b, err := svc.Create(ctx, n.ID, 0, broadcast.Draft{Subject: *subject, Preheader: *preheader, Body: string(body),
		Format: *format, Filter: *filter, Topic: *topic, Basis: *basis, Purpose: *purpose})
	if err != nil {
		return err
	}
	est, err := svc.Estimate(ctx, n.ID, b.Filter, b.Topic, b.Basis)
	if err != nil {
		return err
	}
	if b, err = svc.Send(ctx, n.ID, b.ID, when); err != nil {
		return err
	}
	if !*jsonOut {
		fmt.Fprintf(e.stdout, "broadcast %d %s: %d recipients (left out: %d without consent, %d suppressed, %d bad addresses)\n",
			b.ID, b.State, est.Sendable, est.NoConsent, est.Suppressed, est.BadAddress)
	}
	if !*wait {
		if *jsonOut {
			return printJSON(e.stdout, map[string]any{"id": b.ID, "state": b.State, "recipients": est.Sendable,
				"no_consent": est.NoConsent, "suppressed": est.Suppressed, "bad_address": est.BadAddress})
		}
		fmt.Fprintf(e.stdout, "queued: a running `muster serve` or `muster worker` sends it; see `muster broadcast status --nation %s %d`\n", n.Slug, b.ID)
		return nil
	}
	return waitBroadcast(ctx, e, svc, n.ID, b.ID, *jsonOut)
}

// noWorkerAfter is how long --wait lets a due broadcast make no progress
// before it says that no worker seems to run.
const noWorkerAfter = 10 * time.Second

func waitBroadcast(ctx context.Context, e *env, svc *broadcast.Service, nationID, id int64, jsonOut bool) error {
	var lastDone int64 = -1
	lastChange := time.Now()
	warned := false
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		p, err := svc.Progress(ctx, nationID, id)
		if err != nil {
			return err
		}
		done := p.Sent + p.Failed + p.Ambiguous + p.Skipped
		if p.State == broadcast.StateFinished || p.State == broadcast.StateCancelled {
			if jsonOut {
				return printJSON(e.stdout, progressJSON(id, p))
			}
			fmt.Fprintf(e.stdout, "%s: %d sent, %d failed, %d ambiguous, %d resent after a crash, %d skipped (%.0f msg/s)\n",
				p.State, p.Sent, p.Failed, p.Ambiguous, p.Resent, p.Skipped, p.Rate)
			return nil
		}
		if p.JobState == string(jobs.StateHeld) {
			return fmt.Errorf("broadcast %d is more than %s overdue and waits for a person: resume or cancel it", id, broadcast.MaxOverdue)
		}
		if done != lastDone || p.Materialised && lastDone < 0 {
			lastDone, lastChange, warned = done, time.Now(), false
			if !jsonOut {
				fmt.Fprintf(e.stderr, "%s: %d of %d done (%d sent, %d failed), %.0f msg/s\n", p.State, done, p.Recipients, p.Sent, p.Failed, p.Rate)
			}
		} else if p.State == broadcast.StateSending && !warned && time.Since(lastChange) > noWorkerAfter {
			fmt.Fprintln(e.stderr, "no progress: is a worker running? start `muster worker` (or `muster serve`) on this database")
			warned = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func progressJSON(id int64, p *broadcast.Progress) map[string]any {
	return map[string]any{"id": id, "state": p.State, "job_state": p.JobState, "recipients": p.Recipients, "queued": p.Queued,
		"sent": p.Sent, "failed": p.Failed, "ambiguous": p.Ambiguous, "resent": p.Resent, "skipped": p.Skipped,
		"skipped_consent": p.SkippedConsent, "skipped_suppressed": p.SkippedSuppressed, "skipped_bad": p.SkippedBad, "rate": p.Rate}
}

func runBroadcastStatus(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("broadcast status", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("give the broadcast ID")
	}
	id, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil || id <= 0 {
		return usagef("the broadcast ID must be a positive number")
	}
	db, n, svc, err := broadcastEnv(ctx, e, &cfg, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := svc.Progress(ctx, n.ID, id)
	if err != nil {
		return err
	}
	if *jsonOut {
		return printJSON(e.stdout, progressJSON(id, p))
	}
	fmt.Fprintf(e.stdout, "broadcast %d: %s", id, p.State)
	if p.JobState == string(jobs.StateHeld) {
		fmt.Fprint(e.stdout, " (held: more than 2 hours overdue, waits for a person)")
	}
	fmt.Fprintf(e.stdout, "\nrecipients %d: %d sent, %d failed, %d ambiguous, %d resent after a crash, %d skipped, %d to go (%.0f msg/s)\n",
		p.Recipients, p.Sent, p.Failed, p.Ambiguous, p.Resent, p.Skipped, p.Queued, p.Rate)
	fmt.Fprintf(e.stdout, "left out when queued: %d without consent, %d suppressed, %d bad addresses\n", p.SkippedConsent, p.SkippedSuppressed, p.SkippedBad)
	return nil
}

func runBouncesImport(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("bounces import", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	jsonOut := fs.Bool("json", false, "print the result as JSON")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("give one mbox FILE")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("open %s: %w", rest[0], err)
	}
	defer f.Close()
	db, n, svc, err := broadcastEnv(ctx, e, &cfg, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := svc.ImportMbox(ctx, n.ID, f)
	if err != nil {
		return fmt.Errorf("%s: %w", rest[0], err)
	}
	if *jsonOut {
		return printJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "%d messages, %d reports: %d hard bounces, %d soft bounces, %d complaints (%d other messages ignored)\n",
		rep.Messages, rep.Reports, rep.Hard, rep.Soft, rep.Complaints, rep.NotReports)
	return nil
}

func runBouncesSecret(ctx context.Context, e *env, args []string) error {
	var cfg config.Config
	fs := newFlagSet("bounces secret", e.stderr)
	cfg.RegisterStorage(fs)
	slug := fs.String("nation", "", "`slug` of the nation (required)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	db, n, _, err := broadcastEnv(ctx, e, &cfg, *slug)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := cfg.MailSettings()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "URL:    %s/webhooks/bounces/%s\nsecret: %s\n", m.BaseURL, n.Slug, broadcast.WebhookSecret(m.SecretKey, n.ID))
	return nil
}
