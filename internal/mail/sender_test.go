package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/mail/smtptest"
)

func rawMessage(to string, n int) []byte {
	return fmt.Appendf(nil, "From: news@mail.example.org\r\nTo: %s\r\nSubject: test %d\r\nMessage-ID: <t%d@x>\r\n\r\nBody %d\r\n.leading dot\r\n", to, n, n, n)
}

func newSender(t testing.TB, srv *smtptest.Server, mod func(*SenderConfig)) *Sender {
	t.Helper()
	cfg := SenderConfig{URL: srv.URL(), From: "bounces@mail.example.org", Connections: 4, Timeout: 10 * time.Second}
	if pool := srv.CertPool(); pool != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: pool}
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		in         string
		addr, user string
		mode       TLSMode
		bad        bool
	}{
		{in: "smtp://relay.example.org", addr: "relay.example.org:587", mode: TLSOpportunistic},
		{in: "smtp://u:p%40ss@relay.example.org:25?tls=required", addr: "relay.example.org:25", user: "u", mode: TLSRequired},
		{in: "smtp://127.0.0.1:2525?tls=none", addr: "127.0.0.1:2525", mode: TLSNone},
		{in: "smtps://relay.example.org", addr: "relay.example.org:465", mode: TLSImplicit},
		{in: "http://relay.example.org", bad: true},
		{in: "smtp://", bad: true},
		{in: "smtp://h?tls=maybe", bad: true},
	}
	for _, tt := range tests {
		u, err := parseSMTPURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%q accepted", tt.in)
			}
			continue
		}
		if err != nil || u.addr != tt.addr || u.user != tt.user || u.mode != tt.mode {
			t.Errorf("%q = %+v, %v", tt.in, u, err)
		}
	}
	if u, _ := parseSMTPURL("smtp://u:p%40ss@h"); u.password != "p@ss" {
		t.Errorf("password = %q", u.password)
	}
}

func TestSendDeliversBytesAndReusesConnections(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 2 })
	ctx := context.Background()
	for i := range 10 {
		to := fmt.Sprintf("p%d@example.be", i)
		if r := s.Send(ctx, Envelope{To: to}, rawMessage(to, i)); r.Status != Sent {
			t.Fatalf("message %d: %v %v", i, r.Status, r.Err)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 10 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	for i, m := range msgs {
		to := fmt.Sprintf("p%d@example.be", i)
		if m.From != "bounces@mail.example.org" || len(m.To) != 1 || m.To[0] != to {
			t.Errorf("envelope %d: %q → %v", i, m.From, m.To)
		}
		if !bytes.Equal(m.Data, rawMessage(to, i)) {
			t.Errorf("message %d altered in transit:\n%q", i, m.Data)
		}
	}
	if st := srv.Stats(); st.TotalConns != 1 {
		t.Errorf("sequential sends opened %d connections, want 1 reused", st.TotalConns)
	}
	r := s.Send(ctx, Envelope{To: "bad address"}, rawMessage("x", 0))
	if r.Status != Permanent || !errors.Is(r.Err, ErrBadRecipient) {
		t.Errorf("bad address: %v %v", r.Status, r.Err)
	}
}

func TestSendBuiltMessageRoundTrip(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, nil)
	p, err := Prepare(testContent())
	if err != nil {
		t.Fatal(err)
	}
	r := testRecipient()
	raw, err := p.Append(nil, &r)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(context.Background(), Envelope{To: r.Email}, raw); res.Status != Sent {
		t.Fatalf("%v %v", res.Status, res.Err)
	}
	got := srv.Messages()[0]
	pm := parseBuilt(t, got.Data)
	if pm.header.Get("List-Unsubscribe-Post") != "List-Unsubscribe=One-Click" || pm.header.Get("Message-Id") != "<m.1.42.1001@mail.example.org>" {
		t.Errorf("headers lost in transit: %v", pm.header)
	}
}

func TestSendClassifiesReplies(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 1 })
	ctx := context.Background()
	srv.RejectRecipient("unknown@example.be", 550, "5.1.1 no such user")
	srv.RejectRecipient("full@example.be", 452, "4.2.2 mailbox full")

	check := func(name string, r Result, st Status, code int) {
		t.Helper()
		if r.Status != st || r.Code != code {
			t.Errorf("%s: %v %d (%v), want %v %d", name, r.Status, r.Code, r.Err, st, code)
		}
	}
	check("rcpt 550", s.Send(ctx, Envelope{To: "unknown@example.be"}, rawMessage("u", 1)), Permanent, 550)
	check("rcpt 452", s.Send(ctx, Envelope{To: "full@example.be"}, rawMessage("f", 2)), Temporary, 452)
	srv.FailNext(1, 451, "try later")
	check("data 451", s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 3)), Temporary, 451)
	srv.FailNext(1, 554, "spam")
	check("data 554", s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 4)), Permanent, 554)
	check("after failures", s.Send(ctx, Envelope{To: "ok@example.be"}, rawMessage("ok", 5)), Sent, 250)
	if n := srv.Count(); n != 1 {
		t.Errorf("server accepted %d messages, want 1", n)
	}
	if st := srv.Stats(); st.TotalConns != 1 {
		t.Errorf("refusals cost new connections: %d", st.TotalConns)
	}
	for i := 1; i <= 10; i++ {
		if d := RetryDelay(i); d < time.Minute || d > 4*time.Hour || (i > 1 && d < RetryDelay(i-1)) {
			t.Errorf("RetryDelay(%d) = %v", i, d)
		}
	}
}

func TestSendAmbiguousWhenReplyLost(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 1 })
	ctx := context.Background()
	srv.DropNext(1)
	r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1))
	if r.Status != Ambiguous {
		t.Fatalf("lost reply: %v %v, want ambiguous", r.Status, r.Err)
	}
	// The pool recovers with a new connection.
	if r := s.Send(ctx, Envelope{To: "b@example.be"}, rawMessage("b", 2)); r.Status != Sent {
		t.Fatalf("after drop: %v %v", r.Status, r.Err)
	}
	if st := srv.Stats(); st.TotalConns != 2 {
		t.Errorf("connections = %d, want 2", st.TotalConns)
	}
}

func TestSendRedialsStaleConnection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 1 })
	ctx := context.Background()
	if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent {
		t.Fatal(r.Err)
	}
	// Break the pooled connection behind the sender's back.
	s.mu.Lock()
	_ = s.idle[0].Close()
	s.mu.Unlock()
	if r := s.Send(ctx, Envelope{To: "b@example.be"}, rawMessage("b", 2)); r.Status != Sent {
		t.Fatalf("stale connection: %v %v", r.Status, r.Err)
	}
}

func TestSendTLS(t *testing.T) {
	ctx := context.Background()
	t.Run("starttls opportunistic", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{STARTTLS: true})
		s := newSender(t, srv, nil)
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent {
			t.Fatal(r.Err)
		}
		if !srv.Messages()[0].TLS {
			t.Error("STARTTLS offered but not used")
		}
	})
	t.Run("opportunistic without offer", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		s := newSender(t, srv, nil)
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent || srv.Messages()[0].TLS {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("required but not offered", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		s := newSender(t, srv, func(c *SenderConfig) { c.URL = srv.URL() + "?tls=required" })
		if err := s.Check(ctx); !errors.Is(err, ErrTLSRequired) {
			t.Errorf("Check = %v", err)
		}
		r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1))
		if r.Status != Temporary || !errors.Is(r.Err, ErrTLSRequired) || srv.Count() != 0 {
			t.Fatalf("%v %v, %d sent", r.Status, r.Err, srv.Count())
		}
	})
	t.Run("required and offered", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{STARTTLS: true})
		s := newSender(t, srv, func(c *SenderConfig) { c.URL = srv.URL() + "?tls=required" })
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent || !srv.Messages()[0].TLS {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{STARTTLS: true})
		s := newSender(t, srv, func(c *SenderConfig) { c.TLSConfig = nil })
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Temporary || srv.Count() != 0 {
			t.Fatalf("self-signed cert accepted: %v", r.Status)
		}
	})
	t.Run("smtps implicit", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{ImplicitTLS: true})
		s := newSender(t, srv, nil)
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent || !srv.Messages()[0].TLS {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
	})
	t.Run("auth", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{STARTTLS: true, Users: map[string]string{"muster": "s3cret"}})
		url := "smtp://muster:s3cret@" + srv.Addr()
		s := newSender(t, srv, func(c *SenderConfig) { c.URL = url })
		if r := s.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 1)); r.Status != Sent || srv.Messages()[0].User != "muster" {
			t.Fatalf("%v %v", r.Status, r.Err)
		}
		bad := newSender(t, srv, func(c *SenderConfig) { c.URL = "smtp://muster:wrong@" + srv.Addr() })
		if r := bad.Send(ctx, Envelope{To: "a@example.be"}, rawMessage("a", 2)); r.Status != Temporary || srv.Count() != 1 {
			t.Fatalf("wrong password: %v", r.Status)
		}
	})
}

// sendAll sends n messages from workers goroutines and returns the results.
func sendAll(t testing.TB, s *Sender, n, workers int, to func(i int) string) []Result {
	results := make([]Result, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				results[i] = s.Send(context.Background(), Envelope{To: to(i)}, rawMessage(to(i), i))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func TestSendPoolSize(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Delay: 2 * time.Millisecond})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 3 })
	for i, r := range sendAll(t, s, 60, 10, func(i int) string { return fmt.Sprintf("p%d@d%d.example", i, i%7) }) {
		if r.Status != Sent {
			t.Fatalf("message %d: %v %v", i, r.Status, r.Err)
		}
	}
	st := srv.Stats()
	if st.MaxConns > 3 || st.MaxActive > 3 {
		t.Errorf("pool of 3 used %d connections, %d transactions at once", st.MaxConns, st.MaxActive)
	}
	if st.MaxActive < 2 {
		t.Errorf("pool never worked in parallel (max %d)", st.MaxActive)
	}
}

func TestSendPerDomainCap(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Delay: 3 * time.Millisecond})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 8; c.PerDomain = 2 })
	to := func(i int) string {
		if i%2 == 0 {
			return fmt.Sprintf("p%d@big.example", i)
		}
		return fmt.Sprintf("p%d@other%d.example", i, i)
	}
	for i, r := range sendAll(t, s, 80, 16, to) {
		if r.Status != Sent {
			t.Fatalf("message %d: %v %v", i, r.Status, r.Err)
		}
	}
	if got := srv.MaxActiveDomain("big.example"); got > 2 || got < 1 {
		t.Errorf("big.example had %d transactions at once, cap 2", got)
	}
	if st := srv.Stats(); st.MaxActive <= 2 {
		t.Errorf("other domains were held back too (max %d at once)", st.MaxActive)
	}
	if len(s.domains.m) != 0 { // domains in flight only
		t.Errorf("domain limiter kept %d idle entries", len(s.domains.m))
	}
}

func TestSendRateCap(t *testing.T) {
	const rate, n = 200.0, 120
	srv := smtptest.Start(t, smtptest.Options{})
	s := newSender(t, srv, func(c *SenderConfig) { c.Connections = 8; c.Rate = rate })
	start := time.Now()
	for i, r := range sendAll(t, s, n, 16, func(i int) string { return fmt.Sprintf("p%d@example.be", i) }) {
		if r.Status != Sent {
			t.Fatalf("message %d: %v %v", i, r.Status, r.Err)
		}
	}
	// A limiter that lets messages through faster than the rate fails
	// this lower bound whatever the machine's speed.
	if min := time.Duration(float64(n-1) / rate * float64(time.Second)); time.Since(start) < min {
		t.Errorf("%d messages in %v, the rate allows no less than %v", n, time.Since(start), min)
	}
	// Count messages per sliding window of 250 ms as the server saw them:
	// at most rate*0.25 + 1, plus an allowance for a server thread that a
	// busy machine starved and that then reads a backlog at once. A broken
	// limiter sends all 120 within a few milliseconds.
	var at []time.Time
	for _, m := range srv.Messages() {
		at = append(at, m.At)
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	const window = 250 * time.Millisecond
	limit := int(rate*window.Seconds()*1.3) + 1
	for i := range at {
		j := i
		for j < len(at) && at[j].Sub(at[i]) < window {
			j++
		}
		if j-i > limit {
			t.Fatalf("%d messages within %v at %d/s (limit %d)", j-i, window, int(rate), limit)
		}
	}
}

func TestRateLimiterSlots(t *testing.T) {
	// Slots are handed out spaced by the interval, whatever the callers.
	l := &rateLimiter{interval: time.Millisecond, burst: 3}
	ctx := context.Background()
	start := time.Now()
	for range 23 {
		if err := l.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("23 slots with burst 3 at 1 ms took %v, want ≥ 20 ms", el)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	l2 := &rateLimiter{interval: time.Hour, burst: 1}
	_ = l2.wait(ctx)
	if err := l2.wait(cctx); err == nil {
		t.Error("wait ignored a cancelled context")
	}
}

// BenchmarkSend hands messages to the in-process sink over a pool of 20
// connections; msgs/s is the figure to compare with listmonk's.
func BenchmarkSend(b *testing.B) {
	srv := smtptest.Start(b, smtptest.Options{Discard: true})
	s := newSender(b, srv, func(c *SenderConfig) { c.Connections = 20 })
	p, err := Prepare(testContent())
	if err != nil {
		b.Fatal(err)
	}
	base := testRecipient()
	raw, _ := p.Append(nil, &base)
	b.SetParallelism(10) // 20 goroutines on 2 CPUs: one per connection
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := base
		var buf []byte
		ctx := context.Background()
		for i := 0; pb.Next(); i++ {
			r.PersonID = int64(i)
			buf, _ = p.Append(buf[:0], &r)
			if res := s.Send(ctx, Envelope{To: r.Email}, buf); res.Status != Sent {
				b.Fatal(res.Err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(float64(len(raw)), "bytes/msg")
}

func TestMeasureHandOff(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 200
	}
	h, err := MeasureHandOff(context.Background(), n, 20)
	if err != nil {
		t.Fatal(err)
	}
	if h.Messages != n || h.PerSecond <= 0 || h.Bytes < 850 {
		t.Fatalf("%+v", h)
	}
	t.Logf("%d messages of %d bytes over %d connections: %.0f msg/s", h.Messages, h.Bytes, h.Connections, h.PerSecond)
}
