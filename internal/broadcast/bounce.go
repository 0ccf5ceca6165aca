package broadcast

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	mmail "github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// Bounce event types, as a provider's webhook names them (docs/bounces.md).
const (
	BounceHard      = "hard_bounce"
	BounceSoft      = "soft_bounce"
	BounceComplaint = "complaint"
)

// SoftBounceLimit soft bounces of one address within SoftBounceWindow make
// Muster give up on it (suppress it).
const (
	SoftBounceLimit  = 3
	SoftBounceWindow = 30 * 24 * time.Hour
)

// BounceEvent is one event of the bounce webhook, or one recipient of a DSN.
type BounceEvent struct {
	Type      string `json:"type"`       // hard_bounce, soft_bounce or complaint
	Email     string `json:"email"`      // the address that bounced (or complained)
	MessageID string `json:"message_id"` // Message-ID of our message, with or without <>
	Status    string `json:"status"`     // enhanced status code, e.g. 5.1.1 (optional)
}

// WebhookSecret is the secret with which a provider signs bounce webhooks
// for one nation (mail.SignWebhook): derived from the installation key, so
// that nothing more needs storing, and different for every nation.
func WebhookSecret(key []byte, nationID int64) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("bounce-webhook:" + strconv.FormatInt(nationID, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// ApplyBounce records one bounce or complaint for a nation: a hard bounce
// suppresses the address; soft bounces are counted and, past
// SoftBounceLimit, suppress it too; a complaint withdraws the person's
// e-mail consent. A Message-ID of another nation is ignored, as is an
// address the nation does not know (for complaints).
func (s *Service) ApplyBounce(ctx context.Context, nationID int64, ev BounceEvent) error {
	var personID, broadcastID int64
	if ev.MessageID != "" {
		id := ev.MessageID
		if !strings.HasPrefix(id, "<") {
			id = "<" + id + ">"
		}
		if n, b, p, ok := mmail.ParseMessageID(id); ok && n == nationID {
			broadcastID, personID = b, p
		}
	}
	email := strings.ToLower(strings.TrimSpace(ev.Email))
	if email == "" && broadcastID != 0 {
		_ = s.d.DB.QueryRow(ctx, `SELECT email FROM deliveries WHERE nation_id = ? AND broadcast_id = ? AND person_id = ?`,
			nationID, broadcastID, personID).Scan(&email)
	}
	if email == "" {
		return errs.Invalid("a bounce needs an email or one of our message ids")
	}
	var kind string
	switch ev.Type {
	case BounceHard:
		kind = "hard"
	case BounceSoft:
		kind = "soft"
	case BounceComplaint:
		kind = "complaint"
	default:
		return errs.InvalidField("type", "type must be hard_bounce, soft_bounce or complaint")
	}
	key := s.hashKey()
	hash := EmailHash(key, email)
	now := s.d.Now()
	id, err := s.d.DB.NextID(ctx, nationID, "bounce_events")
	if err != nil {
		return fmt.Errorf("broadcast: bounce: %w", err)
	}
	status := ev.Status
	if len(status) > 32 {
		status = status[:32]
	}
	if _, err := s.d.DB.Exec(ctx, `INSERT INTO bounce_events (nation_id, id, email_hash, kind, broadcast_id, status, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		nationID, id, hash, kind, broadcastID, status, store.Millis(now)); err != nil {
		return fmt.Errorf("broadcast: bounce: %w", err)
	}
	switch kind {
	case "hard":
		if broadcastID != 0 {
			_, _ = s.d.DB.Exec(ctx, `UPDATE deliveries SET state = 'failed', last_error = 'hard_bounce' WHERE nation_id = ? AND broadcast_id = ? AND person_id = ? AND state = 'sent'`,
				nationID, broadcastID, personID)
		}
		return Suppress(ctx, s.d.DB, key, nationID, email, ReasonHardBounce, store.Millis(now))
	case "soft":
		var n int
		if err := s.d.DB.QueryRowWriter(ctx, `SELECT COUNT(*) FROM bounce_events WHERE nation_id = ? AND email_hash = ? AND kind = 'soft' AND at >= ?`,
			nationID, hash, store.Millis(now.Add(-SoftBounceWindow))).Scan(&n); err != nil {
			return fmt.Errorf("broadcast: bounce: %w", err)
		}
		if n >= SoftBounceLimit {
			return Suppress(ctx, s.d.DB, key, nationID, email, ReasonSoftBounce, store.Millis(now))
		}
		return nil
	default: // complaint
		if personID == 0 {
			err := s.d.DB.QueryRow(ctx, `SELECT person_id FROM person_emails WHERE nation_id = ? AND email_norm = ?`, nationID, email).Scan(&personID)
			if err != nil {
				return nil // not one of ours: nothing to withdraw
			}
		}
		_, err := s.d.People.RecordConsent(ctx, nationID, personID,
			people.ConsentInput{Channel: "email", Granted: false, Basis: "consent", Wording: "Complaint (reported as spam)"},
			people.Source{Kind: "complaint", Ref: broadcastRef(broadcastID), At: now})
		return err
	}
}

func broadcastRef(id int64) string {
	if id == 0 {
		return ""
	}
	return "broadcast:" + strconv.FormatInt(id, 10)
}

// ImportReport is what ImportMbox did.
type ImportReport struct {
	Messages   int `json:"messages"`
	Reports    int `json:"reports"`     // delivery status notifications or complaints
	NotReports int `json:"not_reports"` // other mail in the box, ignored
	Hard       int `json:"hard"`
	Soft       int `json:"soft"`
	Complaints int `json:"complaints"`
}

// ImportMbox reads an mbox of delivery status notifications (RFC 3464) and
// complaint reports (RFC 5965) and applies each to the nation.
func (s *Service) ImportMbox(ctx context.Context, nationID int64, r io.Reader) (*ImportReport, error) {
	rep := &ImportReport{}
	for raw, err := range mmail.ParseMbox(r) {
		if err != nil {
			return rep, errs.Invalid("mbox: message %d: %v", rep.Messages+1, err)
		}
		rep.Messages++
		d, err := mmail.ParseDSN(bytes.NewReader(raw))
		if errors.Is(err, mmail.ErrNotReport) || errors.Is(err, mmail.ErrDSNNoParts) {
			rep.NotReports++
			continue
		}
		if err != nil {
			rep.NotReports++
			continue
		}
		rep.Reports++
		if err := s.applyDSN(ctx, nationID, d, rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (s *Service) applyDSN(ctx context.Context, nationID int64, d *mmail.DSN, rep *ImportReport) error {
	if d.Class() == mmail.Complaint {
		rep.Complaints++
		email := d.OriginalTo
		if d.Feedback != nil && d.Feedback.OriginalRcptTo != "" && !strings.Contains(d.Feedback.OriginalRcptTo, "redacted") {
			email = d.Feedback.OriginalRcptTo
		}
		err := s.ApplyBounce(ctx, nationID, BounceEvent{Type: BounceComplaint, Email: email, MessageID: d.OriginalMessageID})
		if errs.KindOf(err) == errs.KindInvalid {
			return nil // nothing to tie it to
		}
		return err
	}
	for _, rs := range d.Recipients {
		var typ string
		switch rs.Class {
		case mmail.HardBounce:
			typ = BounceHard
			rep.Hard++
		case mmail.SoftBounce:
			typ = BounceSoft
			rep.Soft++
		default:
			continue
		}
		email := rs.FinalRecipient
		if email == "" {
			email = rs.OriginalRecipient
		}
		err := s.ApplyBounce(ctx, nationID, BounceEvent{Type: typ, Email: email, MessageID: d.OriginalMessageID, Status: rs.Status})
		if err != nil && errs.KindOf(err) != errs.KindInvalid {
			return err
		}
	}
	return nil
}
