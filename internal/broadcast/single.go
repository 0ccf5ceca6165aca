package broadcast

// One message for one person outside the outbox: the compose screen's
// preview and test send, and automatic messages (internal/automail). They
// go through the same content pipeline (Prepare: sandboxed template,
// sanitised HTML, inlined CSS, identity and unsubscribe footer) and the
// same relay configuration as broadcasts; the gating rules (suppression,
// bad address, consent) are the caller's, through Sendable.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/errs"
	mmail "github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/people"
)

// AutoMessageBase offsets the Message-ID "broadcast" number of a message
// outside a broadcast (an automatic message's row id is added to it), so
// that no two messages to one person share a Message-ID (some providers
// drop the second copy of an id they have seen).
const AutoMessageBase = int64(1) << 40

// Rendered is one person's copy of a message, split for display.
type Rendered struct {
	To      string
	Subject string
	HTML    string // the full HTML part, footer included
	Text    string // the plain-text part
	Raw     []byte // the RFC 5322 message
}

// RenderFor renders d for person p (nil: a person with blank fields, so
// that defaults show), addressed to "to" ("" means p's address). msgRef is
// the Message-ID's broadcast number.
func (s *Service) RenderFor(ctx context.Context, nationID, msgRef int64, d Draft, p *people.Person, to string) (*Rendered, error) {
	if d.Format == "" {
		d.Format = "md"
	}
	// A preview works before e-mail is configured: a placeholder sender
	// stands in (sending still needs the real one).
	m := config.Mail{From: "preview@example.org", BaseURL: "http://localhost"}
	if s.d.Mail != nil {
		m = *s.d.Mail
		if m.From == "" {
			m.From = "preview@example.org"
		}
	}
	prep, err := prepareContent(ctx, s.d.DB, &m, nationID, msgRef, d)
	if err != nil {
		return nil, err
	}
	var nationName string
	_ = s.d.DB.QueryRow(ctx, `SELECT name FROM nations WHERE id = ?`, nationID).Scan(&nationName)
	var pid int64
	fs := mmail.Fields{NationName: nationName}
	name := ""
	if p != nil {
		pid = p.ID
		fs.FirstName, fs.LastName, fs.Email = p.FirstName, p.LastName, p.Email
		fs.City, fs.Postcode, fs.Country = p.Home.City, p.Home.Postcode, p.Home.Country
		name = strings.TrimSpace(p.FirstName + " " + p.LastName)
		if to == "" {
			to = p.Email
		}
	}
	if to == "" {
		return nil, errs.Invalid("this person has no e-mail address")
	}
	token := mmail.SignUnsubscribe(s.hashKey(), nationID, pid, msgRef)
	fs.UnsubscribeURL = m.BaseURL + "/u/" + token
	fs.PreferencesURL = fs.UnsubscribeURL
	raw, err := prep.Append(nil, &mmail.Recipient{PersonID: pid, Email: to, Name: name, Fields: fs,
		UnsubscribeToken: token, Date: s.d.Now()})
	if err != nil {
		if errors.Is(err, mmail.ErrBadRecipient) {
			return nil, errs.InvalidField("email", "the address cannot receive e-mail")
		}
		return nil, errs.Invalid("the message cannot be rendered for this person: %v", err)
	}
	r, err := split(raw)
	if err != nil {
		return nil, fmt.Errorf("broadcast: render: %w", err)
	}
	r.To, r.Raw = to, raw
	return r, nil
}

// split reads back the subject and the two parts of a built message.
func split(raw []byte) (*Rendered, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subj = m.Header.Get("Subject")
	}
	r := &Rendered{Subject: subj}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var body io.Reader = part
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(part)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, err
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/html":
			r.HTML = string(b)
		case "text/plain":
			r.Text = string(b)
		}
	}
	return r, nil
}

// Preview renders a broadcast as one of the nation's people would receive
// it (personID 0: blank fields, showing the defaults).
func (s *Service) Preview(ctx context.Context, nationID, id, personID int64) (*Rendered, error) {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return nil, err
	}
	var p *people.Person
	if personID != 0 {
		if p, err = s.person(ctx, nationID, personID); err != nil {
			return nil, err
		}
	}
	to := ""
	if p == nil || p.Email == "" {
		to = "preview@example.org"
	}
	return s.RenderFor(ctx, nationID, id, draftOf(b), p, to)
}

func (s *Service) person(ctx context.Context, nationID, personID int64) (*people.Person, error) {
	p, err := s.d.People.Get(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	if p.MergedInto != 0 {
		return nil, errs.NotFound("no such person")
	}
	return p, nil
}

// TestSend sends one copy of a broadcast, personalised as personID (0:
// blank fields), to a staff member's own address, with "[TEST]" before
// the subject. It does not touch the outbox, consent or the register: the
// address is the signed-in staff member's, not a recipient's.
func (s *Service) TestSend(ctx context.Context, nationID, id, personID int64, staffEmail string) error {
	b, err := s.Get(ctx, nationID, id)
	if err != nil {
		return err
	}
	var p *people.Person
	if personID != 0 {
		if p, err = s.person(ctx, nationID, personID); err != nil {
			return err
		}
	}
	d := draftOf(b)
	d.Subject = "[TEST] " + d.Subject
	r, err := s.RenderFor(ctx, nationID, id, d, p, staffEmail)
	if err != nil {
		return err
	}
	return s.SendRaw(ctx, staffEmail, r.Raw)
}

// SendRaw hands one built message to the relay, waiting for its answer.
// A temporary failure is an error the caller may retry.
func (s *Service) SendRaw(ctx context.Context, to string, raw []byte) error {
	snd, err := s.sender()
	if err != nil {
		return err
	}
	res := snd.Send(ctx, mmail.Envelope{To: to}, raw)
	switch res.Status {
	case mmail.Sent, mmail.Ambiguous:
		return nil
	case mmail.Permanent:
		return errs.Invalid("the mail relay refused the message (%d)", res.Code)
	default:
		return fmt.Errorf("broadcast: send: temporary failure (%d): %w", res.Code, res.Err)
	}
}

// sender returns the service's own connection to the relay, built on
// first use (a pool of 2: previews and automatic messages are few).
func (s *Service) sender() (*mmail.Sender, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snd != nil {
		return s.snd, nil
	}
	m := s.d.Mail
	if m == nil || m.SMTPURL == "" || m.From == "" {
		return nil, errs.Invalid("e-mail is not configured: set MUSTER_SMTP_URL and MUSTER_SMTP_FROM")
	}
	from, err := fromAddress(m)
	if err != nil {
		return nil, err
	}
	snd, err := mmail.NewSender(mmail.SenderConfig{URL: m.SMTPURL, From: from.Address, Connections: 2,
		Rate: m.Rate, Timeout: 30 * time.Second, Logger: s.d.Log})
	if err != nil {
		return nil, err
	}
	s.snd = snd
	return snd, nil
}

// Close closes the service's relay connections, if any were opened.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snd != nil {
		err := s.snd.Close()
		s.snd = nil
		return err
	}
	return nil
}

// Sendable says why an address must not receive an automatic message
// under the broadcast rules ("" when it may): "bad" for an address that
// cannot be written into an envelope, "suppressed" for one on the nation's
// suppression list (erased, hard-bounced). Consent is checked by the
// caller, whose basis decides whether it is needed (HasEmailConsent).
func (s *Service) Sendable(ctx context.Context, nationID int64, email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if !plausibleEmail(email) {
		return "bad", nil
	}
	sup, err := IsSuppressed(ctx, s.d.DB, s.hashKey(), nationID, email)
	if err != nil {
		return "", err
	}
	if sup {
		return "suppressed", nil
	}
	return "", nil
}

// HasEmailConsent reports whether the person's current e-mail consent (the
// latest ledger entry) is a grant and their processing is not restricted
// (GDPR Art. 18): the same rule as a broadcast's consent basis.
func (s *Service) HasEmailConsent(ctx context.Context, nationID, personID int64) (bool, error) {
	el, args := eligibleSQL(nationID, BasisConsent)
	var n int
	err := s.d.DB.QueryRowWriter(ctx, `SELECT COUNT(*) FROM people p WHERE p.nation_id = ? AND p.id = ? AND p.restricted = 0 AND `+el,
		append([]any{nationID, personID}, args...)...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("broadcast: consent: %w", err)
	}
	return n > 0, nil
}

// CheckTemplates parses a subject and body as the compose screen does, so
// that other features (automatic messages) refuse a broken template when
// saved, with its line.
func (s *Service) CheckTemplates(ctx context.Context, nationID int64, subject, body, format string) error {
	d := Draft{Subject: subject, Body: body, Format: format}
	return s.check(ctx, nationID, &d, false)
}
