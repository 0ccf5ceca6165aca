// Package broadcast sends e-mail broadcasts to an audience (a filter of the
// filter language and/or a topic's subscribers) through a per-recipient
// outbox that survives crashes, and handles what comes back: one-click
// unsubscribes, bounce webhooks and DSN mailboxes, complaints.
//
// The pieces:
//   - Service (this file): the broadcast model and the API the control
//     panel and the command line use — create a draft, set audience and
//     content, preview, test send, schedule or send now, pause, resume,
//     cancel, progress.
//   - audience.go: turning the audience into deliveries (materialising),
//     with consent, suppression and bad-address gating and counts.
//   - outbox.go and worker.go: the delivery states and the sending engine
//     (see outbox.go for the crash-safety invariant).
//   - suppress.go, bounce.go: suppressed identifier hashes, bounce intake.
//   - handlers.go: /u/{token} (RFC 8058 one-click and the preferences
//     page) and /webhooks/bounces/{nation}.
package broadcast

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/jobs"
	mmail "github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// JobKind is the job that sends one broadcast (args: {"broadcast_id": N}).
const JobKind = "broadcast.send"

// MaxOverdue is how late a broadcast may still start unattended: a job
// claimed later than this after its time (say, after restoring an old
// backup) is held for a person to resume or cancel.
const MaxOverdue = 2 * time.Hour

// States of a broadcast.
const (
	StateDraft     = "draft"
	StateScheduled = "scheduled"
	StateSending   = "sending"
	StatePaused    = "paused"
	StateCancelled = "cancelled"
	StateFinished  = "finished"
)

// Lawful bases a broadcast may declare for its audience.
const (
	BasisConsent    = "consent"    // current e-mail consent granted
	BasisMembership = "membership" // current members who have not withdrawn e-mail consent
)

// Broadcast is one e-mail to an audience.
type Broadcast struct {
	NationID  int64
	ID        int64
	Subject   string
	Preheader string
	Body      string
	Format    string // md or html
	Filter    string // filter language; "" when only Topic
	Topic     string // topic slug; "" when only Filter
	Basis     string // consent or membership
	Purpose   string // recorded in the targeting register
	State     string
	// ScheduledAt is when it goes out (zero: as soon as sent).
	ScheduledAt time.Time
	JobID       int64
	// Materialised is true once every recipient has a delivery row.
	Materialised      bool
	AudienceCount     int64 // matched the audience definition
	Queued            int64 // deliveries created
	SkippedConsent    int64
	SkippedSuppressed int64
	SkippedBad        int64
	CreatedBy         int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
	StartedAt         time.Time
	FinishedAt        time.Time
}

// Deps are what the service is built from.
type Deps struct {
	DB     *store.DB
	Jobs   *jobs.Queue // for enqueueing; may have no handlers
	People *people.Store
	Mail   *config.Mail
	Log    *slog.Logger
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
}

// Service is the broadcast API.
type Service struct {
	d Deps

	mu  sync.Mutex
	snd *mmail.Sender // for previews' test sends and automatic messages (single.go)
}

// NewService returns the service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.People == nil {
		d.People = people.NewStore(d.DB)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d}
}

const columns = `nation_id, id, subject, preheader, body, format, audience_filter, topic, basis, purpose,
	state, scheduled_at, job_id, materialised, audience_count, queued_count, skipped_consent,
	skipped_suppressed, skipped_bad, created_by, created_at, updated_at, started_at, finished_at`

func scan(row interface{ Scan(...any) error }) (*Broadcast, error) {
	var b Broadcast
	var sched, created, updated, started, finished int64
	var mat int
	err := row.Scan(&b.NationID, &b.ID, &b.Subject, &b.Preheader, &b.Body, &b.Format, &b.Filter, &b.Topic,
		&b.Basis, &b.Purpose, &b.State, &sched, &b.JobID, &mat, &b.AudienceCount, &b.Queued,
		&b.SkippedConsent, &b.SkippedSuppressed, &b.SkippedBad, &b.CreatedBy, &created, &updated, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("no such broadcast")
	}
	if err != nil {
		return nil, fmt.Errorf("broadcast: read: %w", err)
	}
	b.Materialised = mat != 0
	b.ScheduledAt, b.CreatedAt, b.UpdatedAt = optTime(sched), store.Time(created), store.Time(updated)
	b.StartedAt, b.FinishedAt = optTime(started), optTime(finished)
	return &b, nil
}

func optTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return store.Time(ms)
}

func optMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Millis(t)
}

// Get returns a broadcast of the nation.
func (s *Service) Get(ctx context.Context, nationID, id int64) (*Broadcast, error) {
	return scan(s.d.DB.QueryRowWriter(ctx, `SELECT `+columns+` FROM broadcasts WHERE nation_id = ? AND id = ?`, nationID, id))
}

// List returns the nation's broadcasts, newest first.
func (s *Service) List(ctx context.Context, nationID int64, limit int) ([]*Broadcast, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.d.DB.Query(ctx, `SELECT `+columns+` FROM broadcasts WHERE nation_id = ? ORDER BY id DESC LIMIT ?`, nationID, limit)
	if err != nil {
		return nil, fmt.Errorf("broadcast: list: %w", err)
	}
	defer rows.Close()
	var out []*Broadcast
	for rows.Next() {
		b, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Draft is what staff write: audience and content.
type Draft struct {
	Subject   string
	Preheader string
	Body      string
	Format    string // md (default) or html
	Filter    string
	Topic     string
	Basis     string // consent (default) or membership
	Purpose   string
}

// Create saves a new draft after checking it (a template that does not
// parse is refused with its line).
func (s *Service) Create(ctx context.Context, nationID, staffID int64, d Draft) (*Broadcast, error) {
	if err := s.check(ctx, nationID, &d, false); err != nil {
		return nil, err
	}
	id, err := s.d.DB.NextID(ctx, nationID, "broadcasts")
	if err != nil {
		return nil, fmt.Errorf("broadcast: create: %w", err)
	}
	now := store.Millis(s.d.Now())
	_, err = s.d.DB.Exec(ctx, `INSERT INTO broadcasts (nation_id, id, subject, preheader, body, format, audience_filter,
		topic, basis, purpose, state, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)`,
		nationID, id, d.Subject, d.Preheader, d.Body, d.Format, d.Filter, d.Topic, d.Basis, d.Purpose, staffID, now, now)
	if err != nil {
		return nil, fmt.Errorf("broadcast: create: %w", err)
	}
	return s.Get(ctx, nationID, id)
}

// SetAudience changes a draft's audience.
func (s *Service) SetAudience(ctx context.Context, nationID, id int64, filter, topic, basis, purpose string) (*Broadcast, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	d := draftOf(b)
	d.Filter, d.Topic, d.Basis, d.Purpose = filter, topic, basis, purpose
	return s.update(ctx, b, d)
}

// SetContent changes a draft's subject, preheader and body.
func (s *Service) SetContent(ctx context.Context, nationID, id int64, subject, preheader, body, format string) (*Broadcast, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	d := draftOf(b)
	d.Subject, d.Preheader, d.Body, d.Format = subject, preheader, body, format
	return s.update(ctx, b, d)
}

func draftOf(b *Broadcast) Draft {
	return Draft{Subject: b.Subject, Preheader: b.Preheader, Body: b.Body, Format: b.Format,
		Filter: b.Filter, Topic: b.Topic, Basis: b.Basis, Purpose: b.Purpose}
}

func (s *Service) update(ctx context.Context, b *Broadcast, d Draft) (*Broadcast, error) {
	if b.State != StateDraft {
		return nil, errs.Conflict("only a draft can be changed")
	}
	if err := s.check(ctx, b.NationID, &d, false); err != nil {
		return nil, err
	}
	res, err := s.d.DB.Exec(ctx, `UPDATE broadcasts SET subject = ?, preheader = ?, body = ?, format = ?, audience_filter = ?,
		topic = ?, basis = ?, purpose = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND state = 'draft'`,
		d.Subject, d.Preheader, d.Body, d.Format, d.Filter, d.Topic, d.Basis, d.Purpose, store.Millis(s.d.Now()), b.NationID, b.ID)
	if err != nil {
		return nil, fmt.Errorf("broadcast: update: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errs.Conflict("only a draft can be changed")
	}
	return s.Get(ctx, b.NationID, b.ID)
}

// check normalises d and validates what is there; complete requires
// everything needed to send.
func (s *Service) check(ctx context.Context, nationID int64, d *Draft, complete bool) error {
	d.Subject = strings.TrimSpace(d.Subject)
	d.Filter = strings.TrimSpace(d.Filter)
	d.Topic = strings.TrimSpace(d.Topic)
	if d.Format == "" {
		d.Format = "md"
	}
	if d.Basis == "" {
		d.Basis = BasisConsent
	}
	switch {
	case d.Format != "md" && d.Format != "html":
		return errs.InvalidField("format", "format must be md or html")
	case d.Basis != BasisConsent && d.Basis != BasisMembership:
		return errs.InvalidField("basis", "basis must be consent or membership")
	case len(d.Subject) > 998:
		return errs.InvalidField("subject", "the subject is too long")
	case strings.ContainsAny(d.Subject, "\r\n"):
		return errs.InvalidField("subject", "the subject must be one line")
	case len(d.Purpose) > 500:
		return errs.InvalidField("purpose", "the purpose is too long")
	}
	if complete {
		switch {
		case d.Subject == "":
			return errs.InvalidField("subject", "a subject is required")
		case strings.TrimSpace(d.Body) == "":
			return errs.InvalidField("body", "a body is required")
		case d.Filter == "" && d.Topic == "":
			return errs.InvalidField("filter", "an audience is required: a filter or a topic")
		}
	}
	if d.Filter != "" || d.Topic != "" {
		if _, err := s.audienceSQL(ctx, nationID, d.Filter, d.Topic, d.Basis); err != nil {
			return err
		}
	}
	// Parse the templates now, so that a broken one is refused when saved.
	if d.Subject != "" || d.Body != "" {
		// Only the templates are checked here: a draft may be written
		// before mail is configured.
		m := config.Mail{From: "check@example.org", BaseURL: "https://example.org"}
		if s.d.Mail != nil {
			m = *s.d.Mail
			if m.From == "" {
				m.From = "check@example.org"
			}
		}
		if _, err := prepareContent(ctx, s.d.DB, &m, nationID, 0, *d); err != nil {
			return err
		}
	}
	return nil
}

// prepare renders the content once for all recipients.
func (s *Service) prepare(ctx context.Context, nationID, id int64, d Draft) (*mmail.Prepared, error) {
	return prepareContent(ctx, s.d.DB, s.d.Mail, nationID, id, d)
}

func prepareContent(ctx context.Context, db *store.DB, m *config.Mail, nationID, id int64, d Draft) (*mmail.Prepared, error) {
	if m == nil {
		return nil, errs.Invalid("e-mail is not configured (MUSTER_SMTP_FROM)")
	}
	from, err := fromAddress(m)
	if err != nil {
		return nil, err
	}
	var nationName string
	if err := db.QueryRow(ctx, `SELECT name FROM nations WHERE id = ?`, nationID).Scan(&nationName); err != nil {
		return nil, fmt.Errorf("broadcast: nation name: %w", err)
	}
	org := m.OrgName
	if org == "" {
		org = nationName
	}
	format := mmail.Markdown
	if d.Format == "html" {
		format = mmail.HTML
	}
	subject, body := d.Subject, d.Body
	if subject == "" {
		subject = "(draft)"
	}
	if strings.TrimSpace(body) == "" {
		body = " "
	}
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return mmail.Prepare(mmail.Content{
		NationID: nationID, BroadcastID: id, Domain: domain, From: *from,
		Subject: subject, Preheader: d.Preheader, Body: body, Format: format,
		Identity:          mmail.Identity{OrgName: org, PostalAddress: m.OrgAddress},
		UnsubscribeURL:    m.BaseURL + "/u/",
		UnsubscribeMailto: "unsubscribe@" + domain,
	})
}

func fromAddress(m *config.Mail) (*mail.Address, error) {
	if m.From == "" {
		return nil, errs.Invalid("e-mail is not configured: set MUSTER_SMTP_FROM")
	}
	a, err := mail.ParseAddress(m.From)
	if err != nil || !strings.Contains(a.Address, "@") {
		return nil, errs.Invalid("MUSTER_SMTP_FROM is not a valid address")
	}
	return a, nil
}

// Send queues a draft: now, or at a time. The work happens in a worker
// (`muster serve` or `muster worker`); the job carries a deadline
// MaxOverdue after its time, past which it waits for a person.
func (s *Service) Send(ctx context.Context, nationID, id int64, at time.Time) (*Broadcast, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	if b.State != StateDraft {
		return nil, errs.Conflict("this broadcast was already sent or scheduled")
	}
	d := draftOf(b)
	if err := s.check(ctx, nationID, &d, true); err != nil {
		return nil, err
	}
	now := s.d.Now()
	state := StateSending
	if at.After(now) {
		state = StateScheduled
	} else {
		at = now
	}
	err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE broadcasts SET state = ?, scheduled_at = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND state = 'draft'`,
			state, store.Millis(at), store.Millis(now), nationID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Conflict("this broadcast was already sent or scheduled")
		}
		return s.enqueueTx(ctx, tx, nationID, id, at)
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: send: %w", err)
	}
	return s.Get(ctx, nationID, id)
}

func (s *Service) enqueueTx(ctx context.Context, tx *store.Tx, nationID, id int64, at time.Time) error {
	if s.d.Jobs == nil {
		return errors.New("no job queue")
	}
	j, err := s.d.Jobs.EnqueueTx(ctx, tx, jobs.Params{
		NationID: nationID, Kind: JobKind, Args: jobArgs{BroadcastID: id}, RunAt: at,
		UniqueKey: fmt.Sprintf("broadcast:%d", id), Deadline: at.Add(MaxOverdue), MaxAttempts: 100,
	})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE broadcasts SET job_id = ? WHERE nation_id = ? AND id = ?`, j.ID, nationID, id)
	return err
}

type jobArgs struct {
	BroadcastID int64 `json:"broadcast_id"`
}

// Pause stops a sending or scheduled broadcast after the messages already
// on a connection; Resume continues it.
func (s *Service) Pause(ctx context.Context, nationID, id int64) (*Broadcast, error) {
	return s.transition(ctx, nationID, id, StatePaused, StateSending, StateScheduled)
}

// Resume continues a paused broadcast, or releases one whose job was held
// because it was more than MaxOverdue late.
func (s *Service) Resume(ctx context.Context, nationID, id int64) (*Broadcast, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	switch b.State {
	case StatePaused:
		now := s.d.Now()
		err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.Exec(ctx, `UPDATE broadcasts SET state = 'sending', updated_at = ? WHERE nation_id = ? AND id = ? AND state = 'paused'`,
				store.Millis(now), nationID, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return errs.Conflict("the broadcast is not paused")
			}
			return s.enqueueTx(ctx, tx, nationID, id, now)
		})
		if err != nil {
			return nil, fmt.Errorf("broadcast: resume: %w", err)
		}
	case StateSending, StateScheduled:
		j, err := s.d.Jobs.Get(ctx, nationID, b.JobID)
		if err != nil {
			return nil, err
		}
		if j.State != jobs.StateHeld && j.State != jobs.StateFailed {
			return nil, errs.Conflict("the broadcast is not paused or held")
		}
		if _, err := s.d.Jobs.Resume(ctx, nationID, b.JobID); err != nil {
			return nil, err
		}
	default:
		return nil, errs.Conflict("the broadcast is not paused or held")
	}
	return s.Get(ctx, nationID, id)
}

// Cancel stops a broadcast for good; recipients not yet sent are skipped.
func (s *Service) Cancel(ctx context.Context, nationID, id int64) (*Broadcast, error) {
	b, err := s.transition(ctx, nationID, id, StateCancelled, StateDraft, StateSending, StateScheduled, StatePaused)
	if err != nil {
		return nil, err
	}
	if b.JobID != 0 && s.d.Jobs != nil {
		if j, err := s.d.Jobs.Get(ctx, nationID, b.JobID); err == nil && !j.State.Finished() && j.State != jobs.StateRunning {
			_, _ = s.d.Jobs.Cancel(ctx, nationID, b.JobID)
		}
	}
	// Rows a worker holds are released by it; the rest are skipped now.
	if _, err := s.d.DB.Exec(ctx, `UPDATE deliveries SET state = 'skipped', last_error = 'cancelled'
		WHERE nation_id = ? AND broadcast_id = ? AND state = 'queued'`, nationID, id); err != nil {
		return nil, fmt.Errorf("broadcast: cancel: %w", err)
	}
	return b, nil
}

func (s *Service) transition(ctx context.Context, nationID, id int64, to string, from ...string) (*Broadcast, error) {
	q := `UPDATE broadcasts SET state = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND state IN (?` + strings.Repeat(", ?", len(from)-1) + `)`
	args := []any{to, store.Millis(s.d.Now()), nationID, id}
	for _, f := range from {
		args = append(args, f)
	}
	res, err := s.d.DB.Exec(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("broadcast: %s: %w", to, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Get(ctx, nationID, id); err != nil {
			return nil, err
		}
		return nil, errs.Conflict("the broadcast cannot be %s now", to)
	}
	return s.Get(ctx, nationID, id)
}

// Progress is where a broadcast stands.
type Progress struct {
	State             string  `json:"state"`
	JobState          string  `json:"job_state,omitempty"` // held: waits for a person
	Materialised      bool    `json:"materialised"`
	Audience          int64   `json:"audience"`
	Recipients        int64   `json:"recipients"` // deliveries
	Queued            int64   `json:"queued"`     // not yet sent (queued, claimed, sending)
	Sent              int64   `json:"sent"`
	Failed            int64   `json:"failed"`
	Ambiguous         int64   `json:"ambiguous"` // may or may not have arrived; not resent
	Resent            int64   `json:"resent"`    // left 'sending' by a dead worker and sent again: possible duplicates
	Skipped           int64   `json:"skipped"`   // consent withdrawn or suppressed since queued, or cancelled
	SkippedConsent    int64   `json:"skipped_consent"`
	SkippedSuppressed int64   `json:"skipped_suppressed"`
	SkippedBad        int64   `json:"skipped_bad"`
	Rate              float64 `json:"rate"` // messages per second since sending started
	StartedAt         int64   `json:"started_at,omitempty"`
	FinishedAt        int64   `json:"finished_at,omitempty"`
}

// Progress counts the deliveries by state.
func (s *Service) Progress(ctx context.Context, nationID, id int64) (*Progress, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	p := &Progress{State: b.State, Materialised: b.Materialised, Audience: b.AudienceCount,
		SkippedConsent: b.SkippedConsent, SkippedSuppressed: b.SkippedSuppressed, SkippedBad: b.SkippedBad,
		StartedAt: optMillis(b.StartedAt), FinishedAt: optMillis(b.FinishedAt)}
	if b.JobID != 0 && s.d.Jobs != nil {
		if j, err := s.d.Jobs.Get(ctx, nationID, b.JobID); err == nil {
			p.JobState = string(j.State)
		}
	}
	if err := countDeliveries(ctx, s.d.DB, nationID, id, p); err != nil {
		return nil, err
	}
	end := s.d.Now()
	if !b.FinishedAt.IsZero() {
		end = b.FinishedAt
	}
	if !b.StartedAt.IsZero() {
		if secs := end.Sub(b.StartedAt).Seconds(); secs > 0 {
			p.Rate = float64(p.Sent) / secs
		}
	}
	return p, nil
}

func countDeliveries(ctx context.Context, db *store.DB, nationID, id int64, p *Progress) error {
	rows, err := db.Query(ctx, `SELECT state, COUNT(*), SUM(recovered) FROM deliveries WHERE nation_id = ? AND broadcast_id = ? GROUP BY state`, nationID, id)
	if err != nil {
		return fmt.Errorf("broadcast: progress: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n, rec int64
		if err := rows.Scan(&st, &n, &rec); err != nil {
			return fmt.Errorf("broadcast: progress: %w", err)
		}
		p.Recipients += n
		p.Resent += rec
		switch st {
		case "queued", "claimed", "sending":
			p.Queued += n
		case "sent":
			p.Sent += n
		case "failed":
			p.Failed += n
		case "ambiguous":
			p.Ambiguous += n
		case "skipped":
			p.Skipped += n
		}
	}
	return rows.Err()
}
