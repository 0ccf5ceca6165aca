package mail

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
)

// BodyFormat says how Content.Body is written.
type BodyFormat uint8

const (
	// Markdown bodies are rendered with goldmark, then sanitised.
	Markdown BodyFormat = iota
	// HTML bodies are sanitised as they are.
	HTML
)

// Identity is the sender's identity printed in every footer. The law (and
// RFC 8058's spirit) wants it on every message, so it is not part of the
// staff-edited body and cannot be removed by a template.
type Identity struct {
	OrgName       string // e.g. "Parti Exemple asbl"
	PostalAddress string // e.g. "Rue de la Loi 16, 1000 Bruxelles"
}

// Content is what is common to every recipient of one broadcast. Prepare
// does the expensive work on it once (Markdown, sanitising, CSS inlining,
// plain-text generation); Prepared.Append then only substitutes fields.
type Content struct {
	NationID    int64
	BroadcastID int64
	// Domain is the right-hand side of Message-IDs, e.g. "mail.example.org".
	Domain string

	From    netmail.Address // header From
	ReplyTo string          // optional address

	Subject   string // personalisation template
	Preheader string // optional template; shown in inbox previews only
	Body      string // template in Markdown or HTML
	Format    BodyFormat

	Identity Identity
	// UnsubscribeURL is the https prefix to which a recipient's token is
	// appended, e.g. "https://example.org/u/". Required.
	UnsubscribeURL string
	// UnsubscribeMailto is the address for the mailto: List-Unsubscribe
	// form, e.g. "unsubscribe@example.org". Required.
	UnsubscribeMailto string
	// UnsubscribeLabel is the footer link text (default "Unsubscribe").
	UnsubscribeLabel string

	// Layout is trusted HTML (a nation's theme) wrapping the body; it must
	// contain LayoutContent once. Its <style> rules are inlined. Empty
	// means DefaultLayout.
	Layout string
}

// LayoutContent marks where a layout takes the body.
const LayoutContent = "<!--muster:content-->"

// DefaultLayout is a plain, readable e-mail layout.
const DefaultLayout = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { margin: 0; padding: 0; background: #f4f4f4; }
.wrap { max-width: 600px; margin: 0 auto; padding: 24px; background: #ffffff; font-family: Helvetica, Arial, sans-serif; font-size: 16px; line-height: 1.5; color: #222222; }
a { color: #1a56db; }
h1, h2, h3 { line-height: 1.25; }
.footer { margin-top: 32px; padding-top: 16px; border-top: 1px solid #dddddd; font-size: 12px; color: #666666; }
</style></head>
<body><div class="wrap">` + LayoutContent + `</div></body></html>`

// Recipient is one person's part of a message.
type Recipient struct {
	PersonID int64
	Email    string // envelope and header To
	Name     string // display name in To; may be empty
	Fields   Fields
	// UnsubscribeToken is appended to Content.UnsubscribeURL, usually
	// from SignUnsubscribe. Fields.UnsubscribeURL, if set, wins.
	UnsubscribeToken string
	Date             time.Time // zero means now
}

// segment is a piece of a pre-rendered part: literal bytes, or one action
// (a field and its filters) to substitute.
type segment struct {
	lit []byte
	act *node
}

// Prepared is a broadcast's content rendered once for all recipients.
// It is immutable and safe for concurrent use.
type Prepared struct {
	c         Content
	subject   *Template
	from      string // formatted From header value
	boundary  string
	textParts []segment
	htmlParts []segment
	head      []byte // static header lines
	scratch   sync.Pool
}

// Prepare validates and pre-renders c. Template and content errors are
// invalid-input errors naming the part and line.
func Prepare(c Content) (*Prepared, error) {
	if c.UnsubscribeURL == "" || c.UnsubscribeMailto == "" {
		return nil, errs.Invalid("an unsubscribe URL and mailto address are required")
	}
	if !strings.HasPrefix(c.UnsubscribeURL, "https://") && !strings.HasPrefix(c.UnsubscribeURL, "http://") {
		return nil, errs.Invalid("the unsubscribe URL must be http(s)")
	}
	if c.Domain == "" || strings.ContainsAny(c.Domain, "<>@ \r\n") {
		return nil, errs.Invalid("a message domain is required")
	}
	if _, err := netmail.ParseAddress(c.From.Address); err != nil {
		return nil, errs.Invalid("the From address is not valid")
	}
	if strings.ContainsAny(c.UnsubscribeMailto+c.ReplyTo+c.UnsubscribeURL, "<>\r\n ,") {
		return nil, errs.Invalid("the unsubscribe or reply address is not valid")
	}
	if c.UnsubscribeLabel == "" {
		c.UnsubscribeLabel = "Unsubscribe"
	}
	if c.Layout == "" {
		c.Layout = DefaultLayout
	}
	if strings.Count(c.Layout, LayoutContent) != 1 {
		return nil, errs.Invalid("the layout must contain %s once", LayoutContent)
	}
	subject, err := ParseTemplate("subject", c.Subject)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Subject) == "" {
		return nil, errs.InvalidField("subject", "the subject is empty")
	}
	preheader, err := ParseTemplate("preheader", c.Preheader)
	if err != nil {
		return nil, err
	}
	body, err := ParseTemplate("body", c.Body)
	if err != nil {
		return nil, err
	}

	p := &Prepared{c: c, subject: subject, from: c.From.String()}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	p.boundary = "=_m" + hex.EncodeToString(nonce[:])

	// Actions become alphanumeric placeholders that Markdown, the
	// sanitiser and the CSS inliner all pass through untouched.
	ph := placeholders{prefix: "MSTR" + strings.ToUpper(hex.EncodeToString(nonce[:4])) + "X"}
	if strings.Contains(c.Body+c.Layout+c.Preheader, ph.prefix) {
		return nil, errors.New("mail: prepare: placeholder collision, try again")
	}
	src := ph.source(body)
	var bodyHTML string
	if c.Format == Markdown {
		if bodyHTML, err = renderMarkdown(src); err != nil {
			return nil, err
		}
	} else {
		bodyHTML = src
	}
	bodyHTML = sanitizeHTML(bodyHTML)

	unsub := ph.add(&node{field: FieldUnsubscribeURL})
	footer := `<div class="footer"><p>` + html.EscapeString(c.Identity.OrgName)
	if c.Identity.PostalAddress != "" {
		footer += `<br>` + html.EscapeString(c.Identity.PostalAddress)
	}
	footer += `</p><p><a href="` + unsub + `">` + html.EscapeString(c.UnsubscribeLabel) + `</a></p></div>`

	pre := ""
	if c.Preheader != "" {
		pre = `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">` +
			html.EscapeString(ph.source(preheader)) + `</div>`
	}
	doc := strings.Replace(c.Layout, LayoutContent, pre+bodyHTML+footer, 1)
	if doc, err = inlineCSS(doc); err != nil {
		return nil, err
	}
	p.htmlParts = ph.split(doc)
	p.textParts = ph.split(htmlToText(bodyHTML + footer))

	var h []byte
	h = append(h, "From: "...)
	h = append(h, p.from...)
	h = append(h, "\r\n"...)
	if c.ReplyTo != "" {
		h = append(h, "Reply-To: "...)
		h = append(h, c.ReplyTo...)
		h = append(h, "\r\n"...)
	}
	h = append(h, "MIME-Version: 1.0\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"...)
	h = append(h, "Content-Type: multipart/alternative; boundary=\""...)
	h = append(h, p.boundary...)
	h = append(h, "\"\r\n"...)
	p.head = h
	return p, nil
}

// placeholders maps template actions to unique alphanumeric tokens.
type placeholders struct {
	prefix string
	acts   []*node
}

func (ph *placeholders) add(n *node) string {
	ph.acts = append(ph.acts, n)
	return ph.prefix + strconv.Itoa(len(ph.acts)-1) + "Z"
}

// source writes t back as text with its actions replaced by placeholders.
func (ph *placeholders) source(t *Template) string {
	var b strings.Builder
	for i := range t.nodes {
		n := &t.nodes[i]
		if n.field == 0 {
			b.WriteString(n.text)
		} else {
			b.WriteString(ph.add(n))
		}
	}
	return b.String()
}

// split cuts rendered text at its placeholders.
func (ph *placeholders) split(s string) []segment {
	var out []segment
	for {
		i := strings.Index(s, ph.prefix)
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+len(ph.prefix):], 'Z')
		k, err := strconv.Atoi(s[i+len(ph.prefix) : i+len(ph.prefix)+max(j, 0)])
		if j < 0 || err != nil || k < 0 || k >= len(ph.acts) {
			// Not one of ours after all: keep it as text.
			out = append(out, segment{lit: []byte(s[:i+len(ph.prefix)])})
			s = s[i+len(ph.prefix):]
			continue
		}
		if i > 0 {
			out = append(out, segment{lit: []byte(s[:i])})
		}
		out = append(out, segment{act: ph.acts[k]})
		s = s[i+len(ph.prefix)+j+1:]
	}
	if s != "" {
		out = append(out, segment{lit: []byte(s)})
	}
	return out
}

// MessageID returns the deterministic Message-ID (with angle brackets) of
// one person's copy of one broadcast, so that a retry after a crash sends
// the same id and a bounce can be traced back to its delivery.
func MessageID(nationID, broadcastID, personID int64, domain string) string {
	return "<m." + strconv.FormatInt(nationID, 10) + "." + strconv.FormatInt(broadcastID, 10) +
		"." + strconv.FormatInt(personID, 10) + "@" + domain + ">"
}

// ParseMessageID reverses MessageID; ok is false for ids Muster did not make.
func ParseMessageID(id string) (nationID, broadcastID, personID int64, ok bool) {
	id = strings.TrimSpace(id)
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	local, _, found := strings.Cut(id, "@")
	if !found || !strings.HasPrefix(local, "m.") {
		return 0, 0, 0, false
	}
	parts := strings.Split(local[2:], ".")
	if len(parts) != 3 {
		return 0, 0, 0, false
	}
	var v [3]int64
	for i, s := range parts {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		v[i] = n
	}
	return v[0], v[1], v[2], true
}

// ErrBadRecipient is returned for an address that cannot be written safely.
var ErrBadRecipient = errors.New("mail: recipient address is not valid")

// Append builds one recipient's RFC 5322 message and appends it to dst.
// Reuse dst between calls to build without allocating much.
func (p *Prepared) Append(dst []byte, r *Recipient) ([]byte, error) {
	if !validAddress(r.Email) {
		return dst, ErrBadRecipient
	}
	fs := r.Fields
	if fs.UnsubscribeURL == "" {
		if r.UnsubscribeToken == "" {
			return dst, errors.New("mail: build: no unsubscribe token")
		}
		fs.UnsubscribeURL = p.c.UnsubscribeURL + r.UnsubscribeToken
	}
	if fs.Email == "" {
		fs.Email = r.Email
	}
	start := len(dst)
	date := r.Date
	if date.IsZero() {
		date = time.Now()
	}
	dst = append(dst, "Date: "...)
	dst = date.AppendFormat(dst, time.RFC1123Z)
	dst = append(dst, "\r\nMessage-ID: "...)
	dst = append(dst, "<m."...)
	dst = strconv.AppendInt(dst, p.c.NationID, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, p.c.BroadcastID, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, r.PersonID, 10)
	dst = append(dst, '@')
	dst = append(dst, p.c.Domain...)
	dst = append(dst, '>')
	dst = append(dst, "\r\nTo: "...)
	if r.Name == "" {
		dst = append(dst, r.Email...)
	} else {
		dst = append(dst, (&netmail.Address{Name: oneLine(r.Name), Address: r.Email}).String()...)
	}
	dst = append(dst, "\r\nSubject: "...)
	sp, _ := p.scratch.Get().(*[]byte)
	if sp == nil {
		sp = new([]byte)
	}
	defer p.scratch.Put(sp)
	scratch, err := p.subject.Append((*sp)[:0], &fs, EscapeNone)
	if err != nil {
		return dst[:start], err
	}
	dst = appendHeaderText(dst, oneLine(string(scratch)))
	dst = append(dst, "\r\nList-Unsubscribe: <"...)
	dst = append(dst, fs.UnsubscribeURL...)
	dst = append(dst, ">, <mailto:"...)
	dst = append(dst, p.c.UnsubscribeMailto...)
	dst = append(dst, "?subject=unsubscribe"...)
	if r.UnsubscribeToken != "" {
		dst = append(dst, '-')
		dst = append(dst, r.UnsubscribeToken...)
	}
	dst = append(dst, ">\r\n"...)
	dst = append(dst, p.head...)

	for i, part := range [2][]segment{p.textParts, p.htmlParts} {
		dst = append(dst, "\r\n--"...)
		dst = append(dst, p.boundary...)
		if i == 0 {
			dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8"...)
		} else {
			dst = append(dst, "\r\nContent-Type: text/html; charset=utf-8"...)
		}
		dst = append(dst, "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"...)
		esc := EscapeNone
		if i == 1 {
			esc = EscapeHTML
		}
		if scratch, err = renderSegments(scratch[:0], part, &fs, esc); err != nil {
			return dst[:start], err
		}
		dst = appendQP(dst, scratch)
	}
	*sp = scratch
	dst = append(dst, "\r\n--"...)
	dst = append(dst, p.boundary...)
	dst = append(dst, "--\r\n"...)
	return dst, nil
}

func renderSegments(dst []byte, segs []segment, fs *Fields, esc Escaping) ([]byte, error) {
	start := len(dst)
	for _, s := range segs {
		if s.act == nil {
			dst = append(dst, s.lit...)
		} else {
			v := fs.Get(s.act.field)
			if s.act.filters != nil {
				v = applyFilters(v, s.act.filters, fs)
			}
			if esc == EscapeHTML {
				dst = appendHTMLEscaped(dst, v)
			} else {
				dst = append(dst, v...)
			}
		}
		if len(dst)-start > MaxOutputSize+len(s.lit) {
			return dst, ErrOutputTooLarge
		}
	}
	return dst, nil
}

// Message is one complete message for Build: content and one recipient.
type Message struct {
	Content
	Recipient
}

// Build renders a single message. For a broadcast, Prepare once and call
// Prepared.Append per recipient instead.
func Build(m Message) ([]byte, error) {
	p, err := Prepare(m.Content)
	if err != nil {
		return nil, err
	}
	return p.Append(nil, &m.Recipient)
}

// validAddress accepts what can go into an SMTP envelope and a header
// without quoting: local@domain, no white space, controls or brackets.
func validAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 254 {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' || c == ',' || c == '"' || c == '(' || c == ')' || c == ';' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(a)
}

// oneLine removes line breaks and other controls, which would otherwise
// let a field value inject headers.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

const maxHeaderText = 900

// appendHeaderText appends an unstructured header value, RFC 2047-encoded
// and folded when it is not short printable ASCII.
func appendHeaderText(dst []byte, s string) []byte {
	if len(s) > maxHeaderText {
		// Longer subjects are nonsense and would break the 998-byte
		// line limit; cut at a character boundary.
		cut := maxHeaderText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	plain := true
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= ' ' && s[i] <= '~'
	}
	if plain {
		return append(dst, s...)
	}
	enc := mime.QEncoding.Encode("utf-8", s)
	return append(dst, strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")...)
}

// String describes p for debugging without personal data.
func (p *Prepared) String() string {
	return fmt.Sprintf("mail.Prepared{broadcast %d, %d html segments}", p.c.BroadcastID, len(p.htmlParts))
}
