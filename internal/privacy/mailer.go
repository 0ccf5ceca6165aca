package privacy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/config"
	mmail "github.com/muster-org/muster/internal/mail"
)

// ErrMailOff is returned when no SMTP relay is configured.
var ErrMailOff = errors.New("privacy: e-mail sending is not configured")

// Mailer sends the access link. The one implementation uses the
// installation's SMTP relay (MUSTER_SMTP_URL) through internal/mail's
// sender; it holds one lazily opened connection pool.
type Mailer struct {
	cfg *config.Mail
	log *slog.Logger

	mu     sync.Mutex
	sender *mmail.Sender
}

// NewMailer returns a mailer on the installation's mail settings (nil or
// without a relay: Configured is false and Send fails with ErrMailOff).
func NewMailer(cfg *config.Mail, log *slog.Logger) *Mailer {
	return &Mailer{cfg: cfg, log: log}
}

// Configured reports whether a relay and a sender address are set.
func (m *Mailer) Configured() bool {
	return m != nil && m.cfg != nil && m.cfg.SMTPURL != "" && m.cfg.From != ""
}

func (m *Mailer) get() (*mmail.Sender, *mail.Address, error) {
	if !m.Configured() {
		return nil, nil, ErrMailOff
	}
	from, err := mail.ParseAddress(m.cfg.From)
	if err != nil {
		return nil, nil, fmt.Errorf("privacy: MUSTER_SMTP_FROM: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sender == nil {
		s, err := mmail.NewSender(mmail.SenderConfig{URL: m.cfg.SMTPURL, From: from.Address, Connections: 1, Logger: m.log})
		if err != nil {
			return nil, nil, err
		}
		m.sender = s
	}
	return m.sender, from, nil
}

// Send sends a plain-text message to one address.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	s, from, err := m.get()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	domain := "muster.invalid"
	if at := bytes.LastIndexByte([]byte(from.Address), '@'); at >= 0 {
		domain = from.Address[at+1:]
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nAuto-Submitted: auto-generated\r\n\r\n",
		from.String(), to, mime.QEncoding.Encode("utf-8", subject), time.Now().UTC().Format(time.RFC1123Z), hex.EncodeToString(id), domain)
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(body))
	_ = qp.Close()
	res := s.Send(ctx, mmail.Envelope{To: to}, b.Bytes())
	if res.Status != mmail.Sent {
		// res.Err and res.Reply may quote the address: not in the error.
		return fmt.Errorf("privacy: send link: relay status %d, code %d", res.Status, res.Code)
	}
	return nil
}

// Close closes the connection pool.
func (m *Mailer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sender != nil {
		return m.sender.Close()
	}
	return nil
}
