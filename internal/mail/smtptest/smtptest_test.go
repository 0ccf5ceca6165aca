package smtptest

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestServerRecordsAndRefuses(t *testing.T) {
	s := Start(t, Options{STARTTLS: true})
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{RootCAs: s.CertPool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("STARTTLS with the generated certificate: %v", err)
	}
	defer c.Close()
	s.RejectRecipient("gone@example.be", 550, "no such user")
	s.FailNext(1, 451, "later")

	send := func(to, body string) error {
		return c.SendMail("from@example.org", []string{to}, strings.NewReader(body))
	}
	var se *smtp.SMTPError
	if err := send("gone@example.be", "x\r\n"); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("rejected recipient: %v", err)
	}
	if err := send("a@example.be", "first\r\n"); !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("FailNext: %v", err)
	}
	if err := send("a@example.be", "second\r\n"); err != nil {
		t.Fatalf("send: %v", err)
	}
	msgs := s.Messages()
	if len(msgs) != 1 || s.Count() != 1 {
		t.Fatalf("%d messages recorded", len(msgs))
	}
	m := msgs[0]
	if m.From != "from@example.org" || len(m.To) != 1 || m.To[0] != "a@example.be" || string(m.Data) != "second\r\n" || !m.TLS {
		t.Errorf("recorded %+v", m)
	}
	if st := s.Stats(); st.MaxConns != 1 || st.Conns != 1 || st.MaxActive != 1 {
		t.Errorf("stats %+v", st)
	}
	if s.MaxActiveDomain("example.be") != 1 {
		t.Errorf("domain max %d", s.MaxActiveDomain("example.be"))
	}
	_ = c.Quit()
	if !s.Wait(1, 0) {
		t.Error("Wait(1) false")
	}
}
