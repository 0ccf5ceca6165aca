// Package automail sends a page's automatic messages through the broadcast
// engine's content pipeline and relay, under the same suppression and
// bad-address rules:
//
//   - the auto-response ("thank you for signing"), configured on the page
//     (pages.Settings.AutoResponse), sent once per person and page;
//   - double opt-in: on a page that asks for it, the e-mail consent ticked
//     on the form is not written to the consent ledger; the person gets a
//     confirmation link (single use, valid 7 days) and the click writes the
//     grant with the page's wording, the click's time and address;
//   - a welcome series: N messages (delay in days, subject, body) sent to
//     the page's new signups, each scheduled as a job at its time and sent
//     only if e-mail consent is still granted then; an unsubscribe stops
//     the rest of the series.
//
// Lawful basis. The auto-response and the confirmation e-mail are single
// transactional acknowledgements of the person's own request (they just
// submitted the form): they are sent without marketing consent, once per
// page and person (a confirmation at most MaxConfirmations times), and
// never to a suppressed or unusable address. Their content must stay an
// acknowledgement; anything promotional belongs in the welcome series,
// which, like a broadcast on the consent basis, needs the person's current
// e-mail consent at the moment each message is sent.
//
// Every message is a row of automail_sends (unique per kind, page, person
// and step: "sent once" is a database fact) plus a job of JobKind at its
// due time, so messages survive restarts and run in `serve` or `worker`.
// Double opt-in and welcome settings live in page_automail, next to the
// page (the page's own edit form keeps the auto-response).
package automail

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// JobKind sends one automatic message (args: {"send_id": N}).
const JobKind = "automail.send"

// TokenTTL is how long a confirmation link works.
const TokenTTL = 7 * 24 * time.Hour

// MaxConfirmations caps the confirmation e-mails one person can cause per
// page by submitting again (so a form cannot be used to flood an address).
const MaxConfirmations = 3

// MaxWelcome is the longest welcome series; MaxDelayDays its latest message.
const (
	MaxWelcome   = 10
	MaxDelayDays = 365
)

// Kinds of automatic message.
const (
	KindAutoResponse = "auto_response"
	KindConfirm      = "confirm"
	KindWelcome      = "welcome"
)

// WelcomeMessage is one message of a welcome series.
type WelcomeMessage struct {
	DelayDays int    `json:"delay_days"`
	Subject   string `json:"subject"`
	Body      string `json:"body"` // Markdown, personalisation template
}

// Settings are a page's double opt-in and welcome series.
type Settings struct {
	DoubleOptIn    bool
	ConfirmSubject string // "" uses the catalog's default, in the person's language
	ConfirmBody    string // Markdown; the link is appended after it
	Welcome        []WelcomeMessage
}

// Deps are what the service needs.
type Deps struct {
	DB         *store.DB
	Broadcasts *broadcast.Service
	Pages      *pages.Store
	People     *people.Store
	Jobs       *jobs.Queue
	Bundle     *i18n.Bundle
	// Key signs confirmation tokens (config.Mail.SecretKey).
	Key []byte
	// BaseURL is the public address links in e-mails point to.
	BaseURL string
	Log     *slog.Logger
	Now     func() time.Time
}

// Service sends automatic messages.
type Service struct {
	d Deps

	// settings caches each page's settings for settingsTTL: every form
	// submission reads them (twice), and on SQLite a query costs more than
	// the rest of the submission's reads together. A save through this
	// process is seen at once; one through another process within the TTL.
	mu       sync.Mutex
	settings map[pageKey]cachedSettings
}

type pageKey struct{ nationID, pageID int64 }

type cachedSettings struct {
	st Settings
	at time.Time
}

const settingsTTL = 2 * time.Second

// New returns the service.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.People == nil {
		d.People = people.NewStore(d.DB)
	}
	if d.Pages == nil {
		d.Pages = pages.NewStore(d.DB)
	}
	d.BaseURL = strings.TrimRight(d.BaseURL, "/")
	return &Service{d: d, settings: map[pageKey]cachedSettings{}}
}

// Settings returns a page's automation settings (zero when never saved).
func (s *Service) Settings(ctx context.Context, nationID, pageID int64) (Settings, error) {
	k := pageKey{nationID, pageID}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.settings[k]
	s.mu.Unlock()
	if ok && now.Sub(c.at) < settingsTTL {
		return c.st, nil
	}
	st, err := s.loadSettings(ctx, nationID, pageID)
	if err != nil {
		return st, err
	}
	s.mu.Lock()
	if len(s.settings) > 10000 { // many pages: start again rather than grow
		clear(s.settings)
	}
	s.settings[k] = cachedSettings{st: st, at: now}
	s.mu.Unlock()
	return st, nil
}

func (s *Service) loadSettings(ctx context.Context, nationID, pageID int64) (Settings, error) {
	var st Settings
	var doi int
	var welcome string
	err := s.d.DB.QueryRow(ctx, `SELECT double_opt_in, confirm_subject, confirm_body, welcome FROM page_automail
		WHERE nation_id = ? AND page_id = ?`, nationID, pageID).Scan(&doi, &st.ConfirmSubject, &st.ConfirmBody, &welcome)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("automail: settings: %w", err)
	}
	st.DoubleOptIn = doi != 0
	if welcome != "" {
		if err := json.Unmarshal([]byte(welcome), &st.Welcome); err != nil {
			return st, fmt.Errorf("automail: settings: welcome: %w", err)
		}
	}
	return st, nil
}

// SaveSettings checks and stores a page's settings. A template that does
// not parse is refused with its field and line.
func (s *Service) SaveSettings(ctx context.Context, nationID, pageID int64, st Settings) error {
	if _, err := s.d.Pages.ByID(ctx, nationID, pageID); err != nil {
		return err
	}
	if len(st.Welcome) > MaxWelcome {
		return errs.InvalidField("welcome", "a welcome series has at most %d messages", MaxWelcome)
	}
	check := func(field, subject, body string) error {
		if len(subject) > 200 || len(body) > 20_000 {
			return errs.InvalidField(field, "too long")
		}
		if err := s.d.Broadcasts.CheckTemplates(ctx, nationID, subject, body, "md"); err != nil {
			var e *errs.Error
			if errors.As(err, &e) {
				return errs.InvalidField(field, "%s", e.Message)
			}
			return err
		}
		return nil
	}
	if err := check("confirm", st.ConfirmSubject, st.ConfirmBody); err != nil {
		return err
	}
	for i, m := range st.Welcome {
		field := "welcome_" + strconv.Itoa(i)
		if m.DelayDays < 0 || m.DelayDays > MaxDelayDays {
			return errs.InvalidField(field, "the delay must be between 0 and %d days", MaxDelayDays)
		}
		if strings.TrimSpace(m.Subject) == "" || strings.TrimSpace(m.Body) == "" {
			return errs.InvalidField(field, "each welcome message needs a subject and a body")
		}
		if err := check(field, m.Subject, m.Body); err != nil {
			return err
		}
	}
	welcome, _ := json.Marshal(st.Welcome)
	_, err := s.d.DB.Exec(ctx, `INSERT INTO page_automail (nation_id, page_id, double_opt_in, confirm_subject, confirm_body, welcome, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (nation_id, page_id) DO UPDATE SET double_opt_in = excluded.double_opt_in,
		confirm_subject = excluded.confirm_subject, confirm_body = excluded.confirm_body, welcome = excluded.welcome, updated_at = excluded.updated_at`,
		nationID, pageID, store.Bool(st.DoubleOptIn), st.ConfirmSubject, st.ConfirmBody, string(welcome), store.Millis(s.d.Now()))
	if err != nil {
		return fmt.Errorf("automail: save settings: %w", err)
	}
	s.mu.Lock()
	delete(s.settings, pageKey{nationID, pageID})
	s.mu.Unlock()
	return nil
}

// DoubleOptIn implements pages.Automation.
func (s *Service) DoubleOptIn(ctx context.Context, nationID, pageID int64) (bool, error) {
	st, err := s.Settings(ctx, nationID, pageID)
	return st.DoubleOptIn, err
}

// AfterSubmit implements pages.Automation: it queues the auto-response,
// the confirmation link (double opt-in) and, for a person who may receive
// it now, the welcome series.
func (s *Service) AfterSubmit(ctx context.Context, nationID int64, p *pages.Page, sub pages.Submission, res pages.Result) error {
	if sub.Values["email"] == "" || res.PersonID == 0 {
		return nil
	}
	now := s.d.Now()
	if p.Settings.AutoResponse.Enabled && strings.TrimSpace(p.Settings.AutoResponse.Body) != "" {
		if _, err := s.queue(ctx, nationID, KindAutoResponse, p.ID, res.PersonID, 0, now, nil); err != nil {
			return err
		}
	}
	st, err := s.Settings(ctx, nationID, p.ID)
	if err != nil {
		return err
	}
	if res.PendingEmail != nil {
		if err := s.queueConfirm(ctx, nationID, p.ID, res.PersonID, res.PendingEmail.Wording, sub.Lang, now); err != nil {
			return err
		}
		return nil // the welcome series starts when the person confirms
	}
	if len(st.Welcome) > 0 {
		ok, err := s.d.Broadcasts.HasEmailConsent(ctx, nationID, res.PersonID)
		if err != nil {
			return err
		}
		if ok {
			return s.scheduleWelcome(ctx, nationID, p.ID, res.PersonID, st.Welcome, now)
		}
	}
	return nil
}

// queueConfirm makes a confirmation link and queues its e-mail, at most
// MaxConfirmations times per page and person.
func (s *Service) queueConfirm(ctx context.Context, nationID, pageID, personID int64, wording, lang string, now time.Time) error {
	return s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM automail_sends WHERE nation_id = ? AND kind = 'confirm' AND page_id = ? AND person_id = ?`,
			nationID, pageID, personID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxConfirmations {
			return nil
		}
		id, err := s.queueTx(ctx, tx, nationID, KindConfirm, pageID, personID, n, now)
		if err != nil || id == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO optin_tokens (nation_id, token_hash, page_id, person_id, wording, lang, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nationID, tokenHash(s.token(nationID, id)), pageID, personID, wording, lang,
			store.Millis(now), store.Millis(now.Add(TokenTTL)))
		return err
	})
}

// scheduleWelcome queues each message of the series at its day.
func (s *Service) scheduleWelcome(ctx context.Context, nationID, pageID, personID int64, series []WelcomeMessage, now time.Time) error {
	return s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		for i, m := range series {
			if _, err := s.queueTx(ctx, tx, nationID, KindWelcome, pageID, personID, i, now.Add(time.Duration(m.DelayDays)*24*time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) queue(ctx context.Context, nationID int64, kind string, pageID, personID int64, step int, due time.Time, _ any) (int64, error) {
	var id int64
	err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = s.queueTx(ctx, tx, nationID, kind, pageID, personID, step, due)
		return err
	})
	return id, err
}

// queueTx writes the send row and its job; it returns 0 when that message
// was already queued (the person submitted before).
func (s *Service) queueTx(ctx context.Context, tx *store.Tx, nationID int64, kind string, pageID, personID int64, step int, due time.Time) (int64, error) {
	id, err := tx.NextID(ctx, nationID, "automail_sends")
	if err != nil {
		return 0, err
	}
	res, err := tx.Exec(ctx, `INSERT INTO automail_sends (nation_id, id, kind, page_id, person_id, step, due_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (nation_id, kind, page_id, person_id, step) DO NOTHING`,
		nationID, id, kind, pageID, personID, step, store.Millis(due), store.Millis(s.d.Now()))
	if err != nil {
		return 0, fmt.Errorf("automail: queue: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil
	}
	if _, err := s.d.Jobs.EnqueueTx(ctx, tx, jobs.Params{NationID: nationID, Kind: JobKind, Args: jobArgs{SendID: id},
		RunAt: due, UniqueKey: "automail:" + strconv.FormatInt(id, 10), MaxAttempts: 8}); err != nil {
		return 0, fmt.Errorf("automail: queue: %w", err)
	}
	return id, nil
}

type jobArgs struct {
	SendID int64 `json:"send_id"`
}

// token is the confirmation token of confirmation send id: the nation, the
// send and an HMAC of both, so that it needs no secret in the database
// (optin_tokens keeps only its SHA-256).
func (s *Service) token(nationID, sendID int64) string {
	m := hmac.New(sha256.New, s.d.Key)
	fmt.Fprintf(m, "optin:%d:%d", nationID, sendID)
	return strconv.FormatInt(nationID, 10) + "." + strconv.FormatInt(sendID, 10) + "." +
		base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// TokenNation returns the nation a confirmation token names (0 when the
// token is malformed), so that the public page can be themed before the
// token is checked.
func TokenNation(tok string) int64 {
	head, _, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 200 {
		return 0
	}
	n, err := strconv.ParseInt(head, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// Pending is a confirmation link waiting for its click.
type Pending struct {
	NationID int64
	PageID   int64
	PersonID int64
	Used     bool
	Expired  bool
}

// Lookup reads a confirmation token without using it.
func (s *Service) Lookup(ctx context.Context, tok string) (*Pending, error) {
	nid := TokenNation(tok)
	if nid == 0 {
		return nil, errs.NotFound("unknown link")
	}
	var p Pending
	var used, expires int64
	err := s.d.DB.QueryRowWriter(ctx, `SELECT page_id, person_id, used_at, expires_at FROM optin_tokens WHERE nation_id = ? AND token_hash = ?`,
		nid, tokenHash(tok)).Scan(&p.PageID, &p.PersonID, &used, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("unknown link")
	}
	if err != nil {
		return nil, fmt.Errorf("automail: token: %w", err)
	}
	p.NationID, p.Used, p.Expired = nid, used != 0, expires <= store.Millis(s.d.Now())
	return &p, nil
}

// Confirm uses a confirmation token: once, within TokenTTL. It writes the
// e-mail consent grant to the ledger with the wording the person ticked,
// the time of the click and its address, and starts the page's welcome
// series. A used token is a conflict, an expired one invalid.
func (s *Service) Confirm(ctx context.Context, tok, ip string) (*Pending, error) {
	p, err := s.Lookup(ctx, tok)
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	var wording, lang string
	err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT wording, lang FROM optin_tokens WHERE nation_id = ? AND token_hash = ?`,
			p.NationID, tokenHash(tok)).Scan(&wording, &lang); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE optin_tokens SET used_at = ? WHERE nation_id = ? AND token_hash = ? AND used_at = 0 AND expires_at > ?`,
			store.Millis(now), p.NationID, tokenHash(tok), store.Millis(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if p.Expired && !p.Used {
				return errs.Invalid("this confirmation link has expired")
			}
			return errs.Conflict("this confirmation link was already used")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("automail: confirm: %w", err)
	}
	page, err := s.d.Pages.ByID(ctx, p.NationID, p.PageID)
	ref := ""
	if err == nil {
		ref = page.Slug
	}
	if _, err := s.d.People.RecordConsent(ctx, p.NationID, p.PersonID,
		people.ConsentInput{Channel: "email", Granted: true, Basis: "consent", Wording: wording},
		people.Source{Kind: "double_opt_in", Ref: ref, IP: ip, At: now}); err != nil {
		// Give the link back so that the person can try again.
		_, _ = s.d.DB.Exec(context.WithoutCancel(ctx), `UPDATE optin_tokens SET used_at = 0 WHERE nation_id = ? AND token_hash = ?`, p.NationID, tokenHash(tok))
		return nil, fmt.Errorf("automail: confirm: %w", err)
	}
	if page != nil {
		st, err := s.Settings(ctx, p.NationID, p.PageID)
		if err != nil {
			return nil, err
		}
		if len(st.Welcome) > 0 {
			if err := s.scheduleWelcome(ctx, p.NationID, p.PageID, p.PersonID, st.Welcome, now); err != nil {
				return nil, err
			}
		}
	}
	p.Used = true
	return p, nil
}

// Send is one row of automail_sends.
type Send struct {
	ID       int64
	Kind     string
	PageID   int64
	PersonID int64
	Step     int
	State    string
	Note     string
	DueAt    time.Time
	SentAt   time.Time
}

// Sends lists the automatic messages owed to a person (tests, support).
func (s *Service) Sends(ctx context.Context, nationID, personID int64) ([]Send, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT id, kind, page_id, person_id, step, state, note, due_at, sent_at FROM automail_sends
		WHERE nation_id = ? AND person_id = ? ORDER BY kind, step, id`, nationID, personID)
	if err != nil {
		return nil, fmt.Errorf("automail: sends: %w", err)
	}
	defer rows.Close()
	var out []Send
	for rows.Next() {
		var x Send
		var due, sent int64
		if err := rows.Scan(&x.ID, &x.Kind, &x.PageID, &x.PersonID, &x.Step, &x.State, &x.Note, &due, &sent); err != nil {
			return nil, fmt.Errorf("automail: sends: %w", err)
		}
		x.DueAt = store.Time(due)
		if sent != 0 {
			x.SentAt = store.Time(sent)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
