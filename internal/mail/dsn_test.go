package mail

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseDSNSamples(t *testing.T) {
	tests := []struct {
		file      string
		class     BounceClass
		rcpt      string
		action    string
		status    string
		diagPart  string
		messageID string
	}{
		{"postfix.eml", HardBounce, "jean.dupont@example.be", "failed", "5.1.1", "User unknown in virtual mailbox table", "<m.1.42.1001@mail.example.org>"},
		{"exim.eml", HardBounce, "marie@example.fr", "failed", "5.0.0", "Mailbox disabled", "<m.1.42.1002@mail.example.org>"},
		{"gmail-delayed.eml", SoftBounce, "piet@example.nl", "delayed", "4.4.1", "did not accept our requests to connect", "<m.1.42.1003@mail.example.org>"},
		{"exchange.eml", HardBounce, "sophie@contoso.example", "failed", "5.1.10", "RecipientNotFound; Recipient sophie@contoso.example not found", "<m.1.42.1004@mail.example.org>"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", "dsn", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			d, err := ParseDSN(f)
			if err != nil {
				t.Fatal(err)
			}
			if d.ReportType != "delivery-status" || d.Class() != tt.class || len(d.Recipients) != 1 {
				t.Fatalf("got %+v, class %v", d, d.Class())
			}
			r := d.Recipients[0]
			if r.FinalRecipient != tt.rcpt || r.Action != tt.action || r.Status != tt.status || r.Class != tt.class {
				t.Errorf("recipient %+v", r)
			}
			if !strings.Contains(r.DiagnosticCode, tt.diagPart) {
				t.Errorf("Diagnostic-Code %q lacks %q", r.DiagnosticCode, tt.diagPart)
			}
			if d.OriginalMessageID != tt.messageID {
				t.Errorf("original Message-ID %q", d.OriginalMessageID)
			}
			if _, _, p, ok := ParseMessageID(d.OriginalMessageID); !ok || p == 0 {
				t.Errorf("Message-ID %q does not lead back to a delivery", d.OriginalMessageID)
			}
			if d.ReportingMTA == "" {
				t.Error("no Reporting-MTA")
			}
		})
	}
}

func TestParseARFComplaint(t *testing.T) {
	data, _ := os.ReadFile("testdata/dsn/arf-abuse.eml")
	d, err := ParseDSN(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if d.Class() != Complaint || d.Feedback == nil || d.Feedback.Type != "abuse" {
		t.Fatalf("got %+v", d)
	}
	if d.Feedback.OriginalRcptTo != "lucie@hotmail.example" || d.OriginalTo != "lucie@hotmail.example" ||
		d.OriginalMessageID != "<m.1.42.1005@mail.example.org>" || d.Feedback.UserAgent != "SomeGenerator/1.0" {
		t.Errorf("got %+v / %+v", d, d.Feedback)
	}
}

func TestParseDSNRefusals(t *testing.T) {
	data, _ := os.ReadFile("testdata/dsn/not-a-report.eml")
	if _, err := ParseDSN(bytes.NewReader(data)); !errors.Is(err, ErrNotReport) {
		t.Errorf("plain message: %v", err)
	}
	big := "Content-Type: multipart/report; boundary=b\r\n\r\n" + strings.Repeat("x", MaxDSNSize)
	if _, err := ParseDSN(strings.NewReader(big)); !errors.Is(err, ErrDSNTooBig) {
		t.Errorf("oversized: %v", err)
	}
	noStatus := "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n"
	if _, err := ParseDSN(strings.NewReader(noStatus)); !errors.Is(err, ErrDSNNoParts) {
		t.Errorf("no status part: %v", err)
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		action, status string
		want           BounceClass
	}{
		{"failed", "5.1.1", HardBounce}, {"failed", "4.2.2", SoftBounce}, {"failed", "", HardBounce},
		{"delayed", "4.4.7", SoftBounce}, {"delivered", "2.0.0", NoBounce}, {"relayed", "", NoBounce},
		{"expanded", "2.0.0", NoBounce}, {"", "5.7.1", HardBounce}, {"", "", NoBounce},
	}
	for _, tt := range tests {
		if got := classifyStatus(tt.action, tt.status); got != tt.want {
			t.Errorf("classify(%q, %q) = %v, want %v", tt.action, tt.status, got, tt.want)
		}
	}
	for in, want := range map[string]string{"5.1.1": "5.1.1", "5.1.1 (bad mailbox)": "5.1.1", "4.4.7": "4.4.7", "9.9.9": "", "5.1": "", "x": "", "5.a.1": "", "2.0.0": "2.0.0"} {
		if got := statusCode(in); got != want {
			t.Errorf("statusCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMbox(t *testing.T) {
	var mbox bytes.Buffer
	names := []string{"postfix.eml", "exim.eml", "gmail-delayed.eml", "exchange.eml", "arf-abuse.eml", "not-a-report.eml"}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "dsn", n))
		if err != nil {
			t.Fatal(err)
		}
		mbox.WriteString("From MAILER-DAEMON Tue Mar 10 10:12:03 2026\n")
		// mboxrd quoting of body lines that start with "From ".
		mbox.Write(bytes.ReplaceAll(data, []byte("\nFrom "), []byte("\n>From ")))
		mbox.WriteString("\n")
	}
	mbox.WriteString("From x\nSubject: quoted\n\n>From here\n>>From there\n")
	var classes []BounceClass
	var last []byte
	n := 0
	for msg, err := range ParseMbox(&mbox) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		last = msg
		if d, err := ParseDSN(bytes.NewReader(msg)); err == nil {
			classes = append(classes, d.Class())
		} else if !errors.Is(err, ErrNotReport) {
			t.Errorf("message %d: %v", n, err)
		}
	}
	if n != len(names)+1 {
		t.Fatalf("%d messages, want %d", n, len(names)+1)
	}
	want := []BounceClass{HardBounce, HardBounce, SoftBounce, HardBounce, Complaint}
	if len(classes) != len(want) {
		t.Fatalf("classes %v, want %v", classes, want)
	}
	for i := range want {
		if classes[i] != want[i] {
			t.Errorf("message %d: %v, want %v", i, classes[i], want[i])
		}
	}
	if !bytes.Contains(last, []byte("\nFrom here\n>From there\n")) {
		t.Errorf("mboxrd unquoting: %q", last)
	}
	// Stopping early is allowed.
	for range ParseMbox(strings.NewReader("From a\n\nx\n\nFrom b\n\ny\n")) {
		break
	}
}

func FuzzDSN(f *testing.F) {
	files, _ := filepath.Glob("testdata/dsn/*.eml")
	for _, name := range files {
		data, _ := os.ReadFile(name)
		f.Add(data)
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\nRmluYWwtUmVjaXBpZW50OiByZmM4MjI7IGFAYg==\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDSN(bytes.NewReader(data))
		if err != nil {
			if d != nil {
				t.Fatal("result with error")
			}
			return
		}
		if len(d.Recipients) > maxDSNRecipients {
			t.Fatalf("%d recipients over the limit", len(d.Recipients))
		}
		_ = d.Class().String()
		for msg, err := range ParseMbox(bytes.NewReader(data)) {
			if err == nil && len(msg) > MaxDSNSize {
				t.Fatal("mbox message over the limit")
			}
		}
	})
}
