package mail

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"strings"
)

// BounceClass is what a report means for the address it names.
type BounceClass uint8

const (
	// NoBounce: delivered, relayed or expanded; nothing to do.
	NoBounce BounceClass = iota
	// SoftBounce: a temporary failure (4.x.x, or action delayed): retry,
	// give up after a few.
	SoftBounce
	// HardBounce: a permanent failure (5.x.x failed): mark the address
	// bad and suppress it.
	HardBounce
	// Complaint: the recipient reported the message as abuse (ARF): withdraw
	// consent.
	Complaint
)

func (c BounceClass) String() string {
	return [...]string{"none", "soft", "hard", "complaint"}[c]
}

// Limits that keep a hostile report from costing much.
const (
	MaxDSNSize       = 4 << 20
	maxDSNParts      = 32
	maxDSNRecipients = 1000
)

// Errors of ParseDSN.
var (
	ErrNotReport  = errors.New("mail: not a multipart/report message")
	ErrDSNTooBig  = errors.New("mail: report larger than limit")
	ErrDSNNoParts = errors.New("mail: report has no delivery-status or feedback-report part")
)

// RecipientStatus is one per-recipient block of an RFC 3464 report.
type RecipientStatus struct {
	FinalRecipient    string // address, without the "rfc822;" type
	OriginalRecipient string
	Action            string // failed, delayed, delivered, relayed, expanded (lower case)
	Status            string // e.g. "5.1.1"
	DiagnosticCode    string // e.g. "smtp; 550 5.1.1 user unknown"
	RemoteMTA         string
	Class             BounceClass
}

// Feedback is an ARF (RFC 5965) feedback report.
type Feedback struct {
	Type           string // abuse, fraud, virus, other, not-spam (lower case)
	UserAgent      string
	OriginalFrom   string // Original-Mail-From
	OriginalRcptTo string // often redacted by the provider
}

// DSN is a parsed delivery status notification or feedback report.
type DSN struct {
	ReportType        string // "delivery-status" or "feedback-report"
	ReportingMTA      string
	Recipients        []RecipientStatus
	Feedback          *Feedback
	OriginalMessageID string // Message-ID of the returned message, with <>
	OriginalTo        string // To of the returned message, when included
}

// Class is the most serious class in the report: a complaint, else a hard
// bounce if any recipient failed permanently, else soft, else none.
func (d *DSN) Class() BounceClass {
	if d.Feedback != nil {
		if d.Feedback.Type == "not-spam" {
			return NoBounce
		}
		return Complaint
	}
	c := NoBounce
	for _, r := range d.Recipients {
		c = max(c, r.Class)
	}
	return c
}

// ParseDSN reads one message and parses it as an RFC 3464 multipart/report
// (report-type delivery-status, also message/global-delivery-status) or an
// RFC 5965 feedback report. Messages that are not reports give ErrNotReport.
func ParseDSN(r io.Reader) (*DSN, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxDSNSize+1))
	if err != nil {
		return nil, fmt.Errorf("mail: read report: %w", err)
	}
	if len(data) > MaxDSNSize {
		return nil, ErrDSNTooBig
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("mail: parse report: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return nil, ErrNotReport
	}
	d := &DSN{ReportType: strings.ToLower(params["report-type"])}
	found := false
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i := 0; i < maxDSNParts; i++ {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if found {
				break // keep what a truncated report told
			}
			return nil, fmt.Errorf("mail: parse report: %w", err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		body := decodePart(part)
		switch pt {
		case "message/delivery-status", "message/global-delivery-status":
			if err := d.parseStatus(body); err != nil {
				return nil, err
			}
			found = true
		case "message/feedback-report":
			d.parseFeedback(body)
			found = true
		case "message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers":
			d.parseOriginal(body)
		}
	}
	if !found {
		return nil, ErrDSNNoParts
	}
	return d, nil
}

func decodePart(p *multipart.Part) io.Reader {
	switch strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &stripSpace{r: p})
	case "quoted-printable":
		return quotedprintable.NewReader(p)
	}
	return p
}

// stripSpace drops line breaks and blanks, which base64 bodies contain.
type stripSpace struct{ r io.Reader }

func (s *stripSpace) Read(b []byte) (int, error) {
	for {
		n, err := s.r.Read(b)
		j := 0
		for _, c := range b[:n] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				b[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// fieldBlocks splits a body of header-style fields into blocks separated
// by blank lines, unfolding continuation lines. Keys are canonical.
func fieldBlocks(r io.Reader) ([]textproto.MIMEHeader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var blocks []textproto.MIMEHeader
	var cur textproto.MIMEHeader
	var lastKey string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			if cur != nil {
				blocks = append(blocks, cur)
				cur, lastKey = nil, ""
				if len(blocks) > maxDSNRecipients {
					break
				}
			}
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && lastKey != "" {
			vs := cur[lastKey]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue // tolerate junk lines
		}
		if cur == nil {
			cur = textproto.MIMEHeader{}
		}
		lastKey = textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k))
		cur[lastKey] = append(cur[lastKey], strings.TrimSpace(v))
	}
	if cur != nil {
		blocks = append(blocks, cur)
	}
	if err := sc.Err(); err != nil && len(blocks) == 0 {
		return nil, fmt.Errorf("mail: parse delivery status: %w", err)
	}
	return blocks, nil
}

func (d *DSN) parseStatus(r io.Reader) error {
	blocks, err := fieldBlocks(r)
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if b.Get("Final-Recipient") == "" && b.Get("Original-Recipient") == "" {
			if d.ReportingMTA == "" {
				d.ReportingMTA = typedValue(b.Get("Reporting-Mta"))
			}
			continue
		}
		if len(d.Recipients) == maxDSNRecipients {
			break
		}
		rs := RecipientStatus{
			FinalRecipient:    address(typedValue(b.Get("Final-Recipient"))),
			OriginalRecipient: address(typedValue(b.Get("Original-Recipient"))),
			Action:            strings.ToLower(firstWord(b.Get("Action"))),
			Status:            statusCode(b.Get("Status")),
			DiagnosticCode:    b.Get("Diagnostic-Code"),
			RemoteMTA:         typedValue(b.Get("Remote-Mta")),
		}
		rs.Class = classifyStatus(rs.Action, rs.Status)
		d.Recipients = append(d.Recipients, rs)
	}
	return nil
}

func classifyStatus(action, status string) BounceClass {
	switch action {
	case "delivered", "relayed", "expanded":
		return NoBounce
	case "delayed":
		return SoftBounce
	}
	// failed, or an unknown action: the status decides.
	switch {
	case strings.HasPrefix(status, "4."):
		return SoftBounce
	case strings.HasPrefix(status, "2."):
		return NoBounce
	}
	if action == "failed" || strings.HasPrefix(status, "5.") {
		return HardBounce
	}
	return NoBounce
}

func (d *DSN) parseFeedback(r io.Reader) {
	blocks, _ := fieldBlocks(r)
	f := &Feedback{Type: "other"}
	for _, b := range blocks {
		if t := b.Get("Feedback-Type"); t != "" {
			f.Type = strings.ToLower(firstWord(t))
		}
		if v := b.Get("User-Agent"); v != "" {
			f.UserAgent = v
		}
		if v := b.Get("Original-Mail-From"); v != "" {
			f.OriginalFrom = address(v)
		}
		if v := b.Get("Original-Rcpt-To"); v != "" {
			f.OriginalRcptTo = address(v)
		}
		if v := b.Get("Reporting-Mta"); v != "" && d.ReportingMTA == "" {
			d.ReportingMTA = typedValue(v)
		}
	}
	d.Feedback = f
}

// parseOriginal reads the header of the returned message.
func (d *DSN) parseOriginal(r io.Reader) {
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(r, 256<<10)))
	h, _ := tp.ReadMIMEHeader() // a partial header is still useful
	if id := strings.TrimSpace(h.Get("Message-Id")); id != "" && d.OriginalMessageID == "" {
		if !strings.HasPrefix(id, "<") {
			id = "<" + id + ">"
		}
		d.OriginalMessageID = id
	}
	if to := h.Get("To"); to != "" && d.OriginalTo == "" {
		d.OriginalTo = address(to)
	}
}

// typedValue drops the "rfc822;" / "dns;" type of a DSN field.
func typedValue(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(v)
}

// address returns the bare address in v ("Name <a@b>" or "<a@b>" or a@b).
func address(v string) string {
	v = strings.TrimSpace(v)
	if a, err := netmail.ParseAddress(v); err == nil {
		return a.Address
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
	}
	return v
}

func firstWord(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// statusCode extracts "c.s.d" from a Status field such as
// "5.1.1 (bad destination mailbox)".
func statusCode(v string) string {
	w := firstWord(v)
	parts := strings.Split(w, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || strings.IndexAny(parts[0], "245") != 0 {
		return ""
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return ""
		}
	}
	return w
}

// ParseMbox yields the messages of an mbox file (mboxo or mboxrd: a line
// "From " after a blank line or at the start opens a message, and one ">"
// is removed from ">From " lines). A message over MaxDSNSize yields
// ErrDSNTooBig and reading stops.
func ParseMbox(r io.Reader) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		br := bufio.NewReaderSize(r, 64<<10)
		var cur []byte
		started, prevBlank := false, true
		emit := func() bool {
			if !started {
				return true
			}
			msg := cur
			cur = nil
			return yield(msg, nil)
		}
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				if prevBlank && bytes.HasPrefix(line, []byte("From ")) {
					if !emit() {
						return
					}
					started = true
					prevBlank = false
					continue
				}
				if started {
					if q := bytes.TrimLeft(line, ">"); len(q) < len(line) && bytes.HasPrefix(q, []byte("From ")) {
						line = line[1:]
					}
					cur = append(cur, line...)
					if len(cur) > MaxDSNSize {
						yield(nil, ErrDSNTooBig)
						return
					}
				}
				prevBlank = len(bytes.TrimRight(line, "\r\n")) == 0
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					yield(nil, fmt.Errorf("mail: read mbox: %w", err))
					return
				}
				if started {
					// The blank line before the next "From " belongs to the
					// separator, but a final one is harmless to keep.
					yield(cur, nil)
				}
				return
			}
		}
	}
}
