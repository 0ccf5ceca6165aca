package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Kinds of request (the rights of GDPR Art. 15–18 and 21).
var Kinds = []string{"access", "rectification", "erasure", "restriction", "objection"}

// Channels a request can arrive by.
var Channels = []string{"web", "post", "email", "phone", "other"}

// Statuses of a request.
const (
	StatusOpen    = "open"
	StatusDone    = "done"
	StatusRefused = "refused"
)

// Request is one data-subject request with its legal deadline: one month
// from receipt (Art. 12(3)), extendable once by two further months when the
// person is told why within the first month.
type Request struct {
	NationID, ID  int64
	Kind          string
	Channel       string
	Status        string
	PersonID      int64  // 0 while the person is not identified
	Contact       string // how to answer a post or e-mail request; blanked on erasure
	Details       string
	ReceivedAt    time.Time
	DueAt         time.Time
	ExtendedAt    time.Time
	ExtensionNote string
	Response      string
	RespondedAt   time.Time
	CreatedBy     int64
	CreatedAt     time.Time
}

// Overdue reports whether an open request is past its deadline at now.
func (r *Request) Overdue(now time.Time) bool {
	return r.Status == StatusOpen && now.After(r.DueAt)
}

// Extended reports whether the deadline was extended.
func (r *Request) Extended() bool { return !r.ExtendedAt.IsZero() }

// Deadline is one month after receipt, or three once extended.
func Deadline(received time.Time, extended bool) time.Time {
	if extended {
		return received.AddDate(0, 3, 0)
	}
	return received.AddDate(0, 1, 0)
}

const maxText = 4000

// CreateRequest records a request. Zero ReceivedAt means now.
func (s *Service) CreateRequest(ctx context.Context, r *Request) error {
	if !slices.Contains(Kinds, r.Kind) {
		return errs.InvalidField("kind", "unknown kind of request")
	}
	if !slices.Contains(Channels, r.Channel) {
		return errs.InvalidField("channel", "unknown channel")
	}
	r.Contact, r.Details = strings.TrimSpace(r.Contact), strings.TrimSpace(r.Details)
	if len(r.Contact) > 500 || len(r.Details) > maxText {
		return errs.InvalidField("details", "too long")
	}
	now := s.d.Now()
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = now
	}
	if r.ReceivedAt.After(now.Add(time.Minute)) {
		return errs.InvalidField("received", "the date of receipt is in the future")
	}
	r.Status = StatusOpen
	r.DueAt = Deadline(r.ReceivedAt, false)
	r.CreatedAt = now
	id, err := s.d.DB.NextID(ctx, r.NationID, "privacy_requests")
	if err != nil {
		return fmt.Errorf("privacy: create request: %w", err)
	}
	r.ID = id
	_, err = s.d.DB.Exec(ctx, `INSERT INTO privacy_requests (nation_id, id, kind, channel, status, person_id, contact, details,
		received_at, due_at, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.NationID, r.ID, r.Kind, r.Channel, r.Status, r.PersonID, r.Contact, r.Details,
		store.Millis(r.ReceivedAt), store.Millis(r.DueAt), r.CreatedBy, store.Millis(now), store.Millis(now))
	if err != nil {
		return fmt.Errorf("privacy: create request: %w", err)
	}
	return nil
}

const requestCols = `nation_id, id, kind, channel, status, person_id, contact, details, received_at, due_at,
	extended_at, extension_note, response, responded_at, created_by, created_at`

func scanRequest(row interface{ Scan(...any) error }) (*Request, error) {
	var r Request
	var rec, due, ext, resp, created int64
	err := row.Scan(&r.NationID, &r.ID, &r.Kind, &r.Channel, &r.Status, &r.PersonID, &r.Contact, &r.Details,
		&rec, &due, &ext, &r.ExtensionNote, &r.Response, &resp, &r.CreatedBy, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errs.NotFound("no such request")
	}
	if err != nil {
		return nil, fmt.Errorf("privacy: read request: %w", err)
	}
	r.ReceivedAt, r.DueAt, r.CreatedAt = store.Time(rec), store.Time(due), store.Time(created)
	r.ExtendedAt, r.RespondedAt = optTime(ext), optTime(resp)
	return &r, nil
}

// GetRequest returns a request of the nation.
func (s *Service) GetRequest(ctx context.Context, nationID, id int64) (*Request, error) {
	return scanRequest(s.d.DB.QueryRowWriter(ctx, `SELECT `+requestCols+` FROM privacy_requests WHERE nation_id = ? AND id = ?`, nationID, id))
}

// Requests lists the nation's requests: open ones first by deadline, then
// the closed ones, newest first.
func (s *Service) Requests(ctx context.Context, nationID int64, limit int) ([]*Request, error) {
	if limit <= 0 {
		limit = 500
	}
	return s.listRequests(ctx, nationID, `ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, CASE WHEN status = 'open' THEN due_at ELSE -received_at END LIMIT ?`, limit)
}

func (s *Service) listRequests(ctx context.Context, nationID int64, tail string, args ...any) ([]*Request, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT `+requestCols+` FROM privacy_requests WHERE nation_id = ? `+tail, append([]any{nationID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("privacy: list requests: %w", err)
	}
	defer rows.Close()
	var out []*Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ExtendRequest moves an open request's deadline to three months after
// receipt; note is what the person was told (required, kept as evidence).
// A deadline is extended once, and only before it passed.
func (s *Service) ExtendRequest(ctx context.Context, nationID, id int64, note string, actor int64) error {
	r, err := s.GetRequest(ctx, nationID, id)
	if err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	switch {
	case note == "" || len(note) > maxText:
		return errs.InvalidField("note", "say what the person was told about the extension")
	case r.Status != StatusOpen:
		return errs.Conflict("the request is closed")
	case r.Extended():
		return errs.Conflict("the deadline was already extended")
	case s.d.Now().After(r.DueAt):
		return errs.Conflict("the deadline has passed; it can no longer be extended")
	}
	now := store.Millis(s.d.Now())
	_, err = s.d.DB.Exec(ctx, `UPDATE privacy_requests SET due_at = ?, extended_at = ?, extension_note = ?, updated_at = ?
		WHERE nation_id = ? AND id = ?`, store.Millis(Deadline(r.ReceivedAt, true)), now, note, now, nationID, id)
	if err != nil {
		return fmt.Errorf("privacy: extend request: %w", err)
	}
	return s.d.People.Audit(ctx, nationID, actor, "privacy.request.extend", "privacy_request", id)
}

// CloseRequest records the response sent and closes the request as done or
// refused; the response and its date are kept as evidence.
func (s *Service) CloseRequest(ctx context.Context, nationID, id int64, status, response string, actor int64) error {
	if status != StatusDone && status != StatusRefused {
		return errs.InvalidField("status", "choose done or refused")
	}
	response = strings.TrimSpace(response)
	if response == "" || len(response) > maxText {
		return errs.InvalidField("response", "write the response sent to the person")
	}
	r, err := s.GetRequest(ctx, nationID, id)
	if err != nil {
		return err
	}
	if r.Status != StatusOpen {
		return errs.Conflict("the request is already closed")
	}
	now := store.Millis(s.d.Now())
	_, err = s.d.DB.Exec(ctx, `UPDATE privacy_requests SET status = ?, response = ?, responded_at = ?, updated_at = ?
		WHERE nation_id = ? AND id = ?`, status, response, now, now, nationID, id)
	if err != nil {
		return fmt.Errorf("privacy: close request: %w", err)
	}
	return s.d.People.Audit(ctx, nationID, actor, "privacy.request."+status, "privacy_request", id)
}

// LinkRequest identifies the person a request is about.
func (s *Service) LinkRequest(ctx context.Context, nationID, id, personID int64) error {
	_, err := s.d.DB.Exec(ctx, `UPDATE privacy_requests SET person_id = ?, updated_at = ? WHERE nation_id = ? AND id = ?`,
		personID, store.Millis(s.d.Now()), nationID, id)
	if err != nil {
		return fmt.Errorf("privacy: link request: %w", err)
	}
	return nil
}
