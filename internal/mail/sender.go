package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// The sender speaks SMTP through go-mail's protocol client
// (github.com/wneessen/go-mail/smtp). go-mail's high-level Client sends
// *mail.Msg values it renders itself; our messages are already rendered
// bytes (Prepared.Append), so driving the protocol client directly keeps
// one persistent connection per pool slot for any number of messages and
// avoids re-parsing every message.

// TLSMode says how a smtp:// connection uses TLS.
type TLSMode uint8

const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it.
	TLSOpportunistic TLSMode = iota
	// TLSRequired refuses to send unless STARTTLS succeeds.
	TLSRequired
	// TLSNone never upgrades (a local relay or sink).
	TLSNone
	// TLSImplicit speaks TLS from the first byte (smtps://).
	TLSImplicit
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	// URL is MUSTER_SMTP_URL: smtp://[user:pass@]host[:port][?tls=required|none]
	// (default port 587) or smtps://[user:pass@]host[:port] (default 465).
	URL string
	// From is MUSTER_SMTP_FROM, the envelope sender when an Envelope has none.
	From string
	// Connections is the size of the connection pool (default 10).
	Connections int
	// Rate is the most messages per second ever handed to the relay
	// (0: no limit). Burst messages may go at once after a pause (default 1).
	Rate  float64
	Burst int
	// PerDomain caps concurrent transactions to one recipient domain
	// (0: no cap), so one provider is not flooded by the whole pool.
	PerDomain int
	// HeloName is sent in EHLO (default "localhost").
	HeloName string
	// TLSConfig is the base TLS configuration (e.g. RootCAs); ServerName
	// is filled in from the URL.
	TLSConfig *tls.Config
	// Timeout bounds each SMTP exchange (default 60 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// smtpURL is a parsed MUSTER_SMTP_URL.
type smtpURL struct {
	addr, host     string
	user, password string
	mode           TLSMode
}

// ParseSMTPURL parses the MUSTER_SMTP_URL forms.
func parseSMTPURL(raw string) (smtpURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return smtpURL{}, fmt.Errorf("mail: smtp url: %w", err)
	}
	var s smtpURL
	port := ""
	switch u.Scheme {
	case "smtp":
		s.mode, port = TLSOpportunistic, "587"
		switch t := u.Query().Get("tls"); t {
		case "", "opportunistic":
		case "required":
			s.mode = TLSRequired
		case "none":
			s.mode = TLSNone
		default:
			return smtpURL{}, fmt.Errorf("mail: smtp url: unknown tls=%q (required, opportunistic or none)", t)
		}
	case "smtps":
		s.mode, port = TLSImplicit, "465"
	default:
		return smtpURL{}, fmt.Errorf("mail: smtp url: scheme must be smtp or smtps, not %q", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return smtpURL{}, errors.New("mail: smtp url: no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	return s, nil
}

// Status classifies the outcome of one message.
type Status uint8

const (
	// Sent: the relay accepted the message (2xx after DATA).
	Sent Status = iota + 1
	// Temporary: not sent (4xx, or the connection failed before the
	// message was complete); retry later with RetryDelay.
	Temporary
	// Permanent: refused with 5xx; do not retry.
	Permanent
	// Ambiguous: the whole message was handed over but the connection was
	// lost before the relay answered. It may or may not be delivered; the
	// caller records the delivery as ambiguous and does not resend.
	Ambiguous
)

func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Result is the outcome of Send.
type Result struct {
	Status Status
	Code   int    // SMTP reply code, 0 if none
	Reply  string // the relay's reply text (may quote the address: do not log)
	Err    error
}

// RetryDelay is the wait before attempt n (from 1) of a temporary failure:
// 1, 2, 4 … minutes, at most 4 hours.
func RetryDelay(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 9 {
		return 4 * time.Hour
	}
	return min(time.Minute<<(attempt-1), 4*time.Hour)
}

// Envelope is the SMTP envelope of one message.
type Envelope struct {
	From string // MAIL FROM; empty means SenderConfig.From
	To   string // RCPT TO
}

// ErrTLSRequired is returned when tls=required and the server does not
// offer STARTTLS.
var ErrTLSRequired = errors.New("mail: smtp server does not offer STARTTLS and tls=required")

// Sender hands messages to one SMTP relay over a pool of persistent
// connections, never faster than the configured rate and with at most
// PerDomain transactions at once per recipient domain. It is safe for
// concurrent use; call Send from as many goroutines as there are
// connections.
type Sender struct {
	cfg     SenderConfig
	url     smtpURL
	tls     *tls.Config
	slots   chan struct{} // one token per pool slot
	mu      sync.Mutex
	idle    []*smtp.Client // open connections not in use, most recent last
	rate    *rateLimiter
	domains *domainLimiter
	log     *slog.Logger
}

// conn is a pool slot in use: c is nil until dialled, and set to nil
// when the connection is dropped.
type conn struct {
	c *smtp.Client
}

// NewSender checks cfg; connections are opened when first needed.
func NewSender(cfg SenderConfig) (*Sender, error) {
	u, err := parseSMTPURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.From == "" || !validAddress(cfg.From) {
		return nil, errors.New("mail: sender: a valid From address is required")
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 10
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = u.host
	}
	s := &Sender{
		cfg:   cfg,
		url:   u,
		tls:   tc,
		slots: make(chan struct{}, cfg.Connections),
		log:   cfg.Logger,
	}
	if cfg.Rate > 0 {
		s.rate = &rateLimiter{interval: time.Duration(float64(time.Second) / cfg.Rate), burst: cfg.Burst}
	}
	if cfg.PerDomain > 0 {
		s.domains = &domainLimiter{limit: cfg.PerDomain, m: map[string]*domainSem{}}
	}
	return s, nil
}

// Check opens one connection (TLS and AUTH included) to prove the
// configuration, and keeps it in the pool.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	if c.c == nil {
		c.c, err = s.dial(ctx)
	}
	s.release(c)
	return err
}

// Close ends the idle pooled connections politely. Sends still running
// keep theirs until they finish.
func (s *Sender) Close() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.UpdateDeadline(5 * time.Second)
		_ = c.Quit()
	}
	return nil
}

// acquire takes a pool slot, with the most recently used open connection
// if there is one: reusing warm connections keeps as few open as the load
// needs.
func (s *Sender) acquire(ctx context.Context) (*conn, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c := &conn{}
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c.c = s.idle[n-1]
		s.idle = s.idle[:n-1]
	}
	s.mu.Unlock()
	return c, nil
}

func (s *Sender) release(c *conn) {
	if c.c != nil {
		s.mu.Lock()
		s.idle = append(s.idle, c.c)
		s.mu.Unlock()
	}
	<-s.slots
}

func (s *Sender) dial(ctx context.Context) (*smtp.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.url.addr)
	if err != nil {
		return nil, fmt.Errorf("mail: dial: %w", err)
	}
	if s.url.mode == TLSImplicit {
		tc := tls.Client(nc, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("mail: tls handshake: %w", err)
		}
		nc = tc
	}
	_ = nc.SetDeadline(time.Now().Add(s.cfg.Timeout))
	c, err := smtp.NewClient(nc, s.url.host)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("mail: greeting: %w", err)
	}
	fail := func(err error) (*smtp.Client, error) {
		_ = c.Close()
		return nil, err
	}
	if err := c.Hello(s.cfg.HeloName); err != nil {
		return fail(fmt.Errorf("mail: ehlo: %w", err))
	}
	if s.url.mode == TLSOpportunistic || s.url.mode == TLSRequired {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return fail(fmt.Errorf("mail: starttls: %w", err))
			}
		} else if s.url.mode == TLSRequired {
			return fail(ErrTLSRequired)
		}
	}
	if s.url.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.url.user, s.url.password, s.url.host, false)); err != nil {
			return fail(fmt.Errorf("mail: auth: %w", err))
		}
	}
	return c, nil
}

// Send hands one message to the relay and classifies the outcome. raw is
// a complete RFC 5322 message with CRLF line ends (Prepared.Append).
func (s *Sender) Send(ctx context.Context, env Envelope, raw []byte) Result {
	from := env.From
	if from == "" {
		from = s.cfg.From
	}
	if !validAddress(env.To) || !validAddress(from) {
		return Result{Status: Permanent, Err: ErrBadRecipient}
	}
	if s.domains != nil {
		release, err := s.domains.acquire(ctx, domainOf(env.To))
		if err != nil {
			return Result{Status: Temporary, Err: err}
		}
		defer release()
	}
	c, err := s.acquire(ctx)
	if err != nil {
		return Result{Status: Temporary, Err: err}
	}
	defer s.release(c)
	if err := s.rate.wait(ctx); err != nil {
		return Result{Status: Temporary, Err: err}
	}
	for attempt := 0; ; attempt++ {
		reused := c.c != nil
		if c.c == nil {
			if c.c, err = s.dial(ctx); err != nil {
				return Result{Status: Temporary, Err: err}
			}
		}
		r, stale := s.transact(c, from, env.To, raw)
		if stale && reused && attempt == 0 {
			// A pooled connection the server had closed while idle:
			// nothing was sent, so try once on a fresh one.
			continue
		}
		return r
	}
}

// transact runs MAIL, RCPT, DATA on c. stale reports a network failure on
// the very first command, when nothing of the message was sent.
func (s *Sender) transact(c *conn, from, to string, raw []byte) (r Result, stale bool) {
	cl := c.c
	drop := func() {
		_ = cl.Close()
		c.c = nil
	}
	_ = cl.UpdateDeadline(s.cfg.Timeout)
	if err := cl.Mail("<" + from + ">"); err != nil {
		r := s.refused(c, err)
		return r, r.Code == 0
	}
	if err := cl.Rcpt("<" + to + ">"); err != nil {
		return s.refused(c, err), false
	}
	w, err := cl.Data()
	if err != nil {
		return s.refused(c, err), false
	}
	if _, err := w.Write(raw); err != nil {
		// The terminating dot was not sent: the relay cannot accept it.
		drop()
		return Result{Status: Temporary, Err: fmt.Errorf("mail: data: %w", err)}, false
	}
	err = w.Close()
	if err == nil {
		return Result{Status: Sent, Code: 250}, false
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code == 421 {
			drop()
		}
		return classify(te), false
	}
	// The message went out whole but no reply came back.
	drop()
	return Result{Status: Ambiguous, Err: fmt.Errorf("mail: data reply: %w", err)}, false
}

// refused handles a failed command before the message body: a reply code
// classifies it and the transaction is reset; a network error drops the
// connection and is temporary.
func (s *Sender) refused(c *conn, err error) Result {
	var te *textproto.Error
	if !errors.As(err, &te) {
		_ = c.c.Close()
		c.c = nil
		return Result{Status: Temporary, Err: err}
	}
	if te.Code == 421 || c.c.Reset() != nil {
		_ = c.c.Close()
		c.c = nil
	}
	return classify(te)
}

func classify(te *textproto.Error) Result {
	r := Result{Code: te.Code, Reply: te.Msg, Err: te}
	switch {
	case te.Code >= 200 && te.Code < 300:
		r.Status, r.Err = Sent, nil
	case te.Code >= 500:
		r.Status = Permanent
	default:
		r.Status = Temporary
	}
	return r
}

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

// rateLimiter hands out send slots spaced by interval: in any window of
// length W at most W/interval + burst messages start. A nil limiter does
// not limit.
type rateLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	burst    int
	next     time.Time
}

func (l *rateLimiter) wait(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	if earliest := now.Add(-time.Duration(l.burst-1) * l.interval); l.next.Before(earliest) {
		l.next = earliest
	}
	at := l.next
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err() // the slot is lost: the rate only gets lower
	}
}

// domainLimiter is a counting semaphore per recipient domain; entries are
// dropped when unused so the map stays as small as the domains in flight.
type domainLimiter struct {
	mu    sync.Mutex
	limit int
	m     map[string]*domainSem
}

type domainSem struct {
	ch    chan struct{}
	users int
}

func (l *domainLimiter) acquire(ctx context.Context, domain string) (func(), error) {
	l.mu.Lock()
	sem := l.m[domain]
	if sem == nil {
		sem = &domainSem{ch: make(chan struct{}, l.limit)}
		l.m[domain] = sem
	}
	sem.users++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		sem.users--
		if sem.users == 0 {
			delete(l.m, domain)
		}
		l.mu.Unlock()
	}
	select {
	case sem.ch <- struct{}{}:
		return func() { <-sem.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// String names the relay without credentials, for logs.
func (s *Sender) String() string {
	return "smtp relay " + s.url.addr + " (" + strconv.Itoa(s.cfg.Connections) + " connections)"
}
