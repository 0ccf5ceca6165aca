// Package smtptest runs a real SMTP server (emersion/go-smtp) in-process for
// tests and benchmarks: it records every message, can be told to refuse
// chosen recipients or the next messages with 4xx/5xx replies, to drop the
// connection after DATA without replying, to be slow, to offer STARTTLS or
// implicit TLS with a self-signed certificate, and to require AUTH PLAIN.
// It counts connections and concurrent transactions (overall and per
// recipient domain) so that pool and rate caps can be checked.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a test server.
type Options struct {
	// STARTTLS advertises STARTTLS with a self-signed certificate.
	STARTTLS bool
	// ImplicitTLS serves TLS from the first byte (smtps://).
	ImplicitTLS bool
	// Users, when not nil, offers AUTH PLAIN with these username →
	// password pairs and requires it before MAIL.
	Users map[string]string
	// Delay is spent on each message before its DATA is answered.
	Delay time.Duration
	// Discard counts messages without keeping them (benchmarks).
	Discard bool
}

// Message is one message the server accepted.
type Message struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string // authenticated user, if any
	At   time.Time
}

type reply struct {
	code int
	msg  string
}

// Server is a running test server.
type Server struct {
	opts  Options
	srv   *smtp.Server
	ln    net.Listener
	pool  *x509.CertPool
	count atomic.Int64

	mu          sync.Mutex
	msgs        []Message
	rcptReplies map[string]reply
	failNext    []reply // replies to the next DATA commands
	dropNext    int
	conns       int
	maxConns    int
	totalConns  int
	active      int
	maxActive   int
	domActive   map[string]int
	domMax      map[string]int
	waiters     []chan struct{}
}

// Start runs a server on 127.0.0.1 on a free port until the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// New runs a server outside a test (e.g. for `muster bench send`); the
// caller must Close it.
func New(opts Options) (*Server, error) {
	s := &Server{
		opts:        opts,
		rcptReplies: map[string]reply{},
		domActive:   map[string]int{},
		domMax:      map[string]int{},
	}
	srv := smtp.NewServer(s)
	srv.Domain = "smtptest.local"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxMessageBytes = 32 << 20
	srv.ErrorLog = discardLogger{}
	var tlsConfig *tls.Config
	if opts.STARTTLS || opts.ImplicitTLS {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.pool = pool
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.TLSConfig = tlsConfig
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	ln = &countingListener{Listener: ln, s: s}
	if opts.ImplicitTLS {
		ln = tls.NewListener(ln, tlsConfig)
		if !opts.STARTTLS {
			srv.TLSConfig = nil // do not advertise STARTTLS inside TLS
		}
	}
	s.ln = ln
	s.srv = srv
	go func() { _ = srv.Serve(s.ln) }()
	return s, nil
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// Close stops the server and closes its connections.
func (s *Server) Close() error { return s.srv.Close() }

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the MUSTER_SMTP_URL form for the server: smtps:// for implicit
// TLS, smtp:// otherwise.
func (s *Server) URL() string {
	if s.opts.ImplicitTLS {
		return "smtps://" + s.Addr()
	}
	return "smtp://" + s.Addr()
}

// CertPool trusts the server's self-signed certificate (nil without TLS).
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// RejectRecipient makes RCPT TO:<addr> answer code (4xx or 5xx) from now on.
func (s *Server) RejectRecipient(addr string, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptReplies[strings.ToLower(addr)] = reply{code, msg}
}

// FailNext makes the next n messages' DATA answer code (4xx or 5xx).
func (s *Server) FailNext(n, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failNext = append(s.failNext, reply{code, msg})
	}
}

// DropNext makes the server read the next n messages completely and then
// close the connection without answering: the client cannot know whether
// the message was accepted. The message is recorded (as a real server
// might have queued it).
func (s *Server) DropNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropNext += n
}

// Messages returns a copy of the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Count is the number of messages accepted (also with Discard).
func (s *Server) Count() int { return int(s.count.Load()) }

// Wait blocks until at least n messages were accepted or timeout passes,
// and reports whether they were.
func (s *Server) Wait(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for s.Count() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// Stats are the server's concurrency counters.
type Stats struct {
	Conns      int // open now
	MaxConns   int // most open at once
	TotalConns int // accepted in all
	MaxActive  int // most transactions (MAIL … end of DATA) at once
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Conns: s.conns, MaxConns: s.maxConns, TotalConns: s.totalConns, MaxActive: s.maxActive}
}

// MaxActiveDomain is the most transactions at once with a recipient at
// domain.
func (s *Server) MaxActiveDomain(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.domMax[strings.ToLower(domain)]
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

type session struct {
	s      *Server
	c      *smtp.Conn
	user   string
	from   string
	to     []string
	active bool
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if p, ok := se.s.opts.Users[username]; !ok || p != password {
			return smtp.ErrAuthFailed
		}
		se.user = username
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Users != nil && se.user == "" {
		return smtp.ErrAuthRequired
	}
	se.from = from
	se.begin()
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s := se.s
	s.mu.Lock()
	r, ok := s.rcptReplies[strings.ToLower(to)]
	if !ok {
		se.to = append(se.to, to)
		d := domainOf(to)
		s.domActive[d]++
		s.domMax[d] = max(s.domMax[d], s.domActive[d])
	}
	s.mu.Unlock()
	if ok {
		return smtpError(r)
	}
	return nil
}

func (se *session) Data(r io.Reader) error {
	s := se.s
	defer se.end()
	var data []byte
	var err error
	if s.opts.Discard {
		_, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return err
	}
	if s.opts.Delay > 0 {
		time.Sleep(s.opts.Delay)
	}
	s.mu.Lock()
	var fail *reply
	if len(s.failNext) > 0 {
		fail = &s.failNext[0]
		s.failNext = s.failNext[1:]
	}
	drop := fail == nil && s.dropNext > 0
	if drop {
		s.dropNext--
	}
	if fail == nil {
		_, isTLS := se.c.TLSConnectionState()
		if !s.opts.Discard {
			s.msgs = append(s.msgs, Message{From: se.from, To: append([]string(nil), se.to...),
				Data: data, TLS: isTLS, User: se.user, At: time.Now()})
		}
		s.count.Add(1)
	}
	s.mu.Unlock()
	if fail != nil {
		return smtpError(*fail)
	}
	if drop {
		_ = se.c.Conn().Close()
		return errors.New("smtptest: connection dropped")
	}
	return nil
}

func (se *session) begin() {
	s := se.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !se.active {
		se.active = true
		s.active++
		s.maxActive = max(s.maxActive, s.active)
	}
}

// end closes the transaction's books (after DATA, RSET or disconnect).
func (se *session) end() {
	s := se.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if se.active {
		se.active = false
		s.active--
	}
	for _, to := range se.to {
		s.domActive[domainOf(to)]--
	}
	se.to = se.to[:0]
	se.from = ""
}

func (se *session) Reset()        { se.end() }
func (se *session) Logout() error { se.end(); return nil }

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

func smtpError(r reply) error {
	class := r.code / 100
	enh := smtp.EnhancedCode{class, 0, 0}
	if class == 5 {
		enh = smtp.EnhancedCode{5, 1, 1}
	}
	msg := r.msg
	if msg == "" {
		msg = "refused by smtptest"
	}
	return &smtp.SMTPError{Code: r.code, EnhancedCode: enh, Message: msg}
}

// countingListener tracks open connections.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.s
	s.mu.Lock()
	s.conns++
	s.totalConns++
	s.maxConns = max(s.maxConns, s.conns)
	s.mu.Unlock()
	return &countedConn{Conn: c, s: s}, nil
}

type countedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.conns--
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
