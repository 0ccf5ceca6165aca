package mail

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

func testContent() Content {
	return Content{
		NationID:          1,
		BroadcastID:       42,
		Domain:            "mail.example.org",
		From:              netmail.Address{Name: "Parti Exemple", Address: "news@mail.example.org"},
		ReplyTo:           "contact@example.org",
		Subject:           `Bonjour {{first_name | default "ami·e"}}, notre programme`,
		Preheader:         "Ce que nous proposons à {{city}}",
		Body:              "# Notre programme\n\nBonjour **{{first_name | default \"ami·e\"}}**,\n\nLisez [le programme](https://example.org/programme) ou écrivez à {{email}}.\n\n- retraites\n- climat\n\n1. un\n2. deux\n",
		Identity:          Identity{OrgName: "Parti Exemple asbl", PostalAddress: "Rue de la Loi 16, 1000 Bruxelles"},
		UnsubscribeURL:    "https://example.org/u/",
		UnsubscribeMailto: "unsubscribe@mail.example.org",
	}
}

func testRecipient() Recipient {
	return Recipient{
		PersonID:         1001,
		Email:            "jean.dupont@example.be",
		Name:             "Jean Dupont",
		Fields:           Fields{FirstName: "Jean", LastName: "Dupont", City: "Liège"},
		UnsubscribeToken: "TOKEN123",
		Date:             time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC),
	}
}

// parsed is a built message read back with the standard library.
type parsed struct {
	header netmail.Header
	text   string
	html   string
}

func parseBuilt(t *testing.T, raw []byte) parsed {
	t.Helper()
	for i, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i, len(line))
		}
		if bytes.Contains(line, []byte("\n")) {
			t.Fatalf("bare LF in line %d", i)
		}
	}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v)", m.Header.Get("Content-Type"), err)
	}
	p := parsed{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	n := 0
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		ct, cp, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if cp["charset"] != "utf-8" {
			t.Errorf("part %s charset %q", ct, cp["charset"])
		}
		switch ct {
		case "text/plain":
			if n != 0 {
				t.Error("text/plain must come first")
			}
			p.text = strings.ReplaceAll(string(body), "\r\n", "\n")
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %q", ct)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d parts, want 2", n)
	}
	return p
}

func TestBuildStructureAndHeaders(t *testing.T) {
	raw, err := Build(Message{Content: testContent(), Recipient: testRecipient()})
	if err != nil {
		t.Fatal(err)
	}
	p := parseBuilt(t, raw)
	h := p.header
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Bonjour Jean, notre programme" {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if got := h.Get("Message-Id"); got != "<m.1.42.1001@mail.example.org>" {
		t.Errorf("Message-ID = %q", got)
	}
	if got := h.Get("List-Unsubscribe"); got != "<https://example.org/u/TOKEN123>, <mailto:unsubscribe@mail.example.org?subject=unsubscribe-TOKEN123>" {
		t.Errorf("List-Unsubscribe = %q", got)
	}
	if got := h.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "jean.dupont@example.be" || to[0].Name != "Jean Dupont" {
		t.Errorf("To = %v (%v)", to, err)
	}
	if from, err := h.AddressList("From"); err != nil || from[0].Address != "news@mail.example.org" || from[0].Name != "Parti Exemple" {
		t.Errorf("From = %v (%v)", from, err)
	}
	if h.Get("Reply-To") != "contact@example.org" || h.Get("Mime-Version") != "1.0" {
		t.Errorf("Reply-To/MIME-Version: %q %q", h.Get("Reply-To"), h.Get("Mime-Version"))
	}
	if d, err := h.Date(); err != nil || !d.Equal(testRecipient().Date) {
		t.Errorf("Date = %v (%v)", d, err)
	}

	// HTML: Markdown rendered, personalised, CSS inlined, footer, preheader.
	for _, want := range []string{
		"<strong>Jean</strong>", `href="https://example.org/programme"`, "<li>retraites</li>",
		"Parti Exemple asbl", "Rue de la Loi 16, 1000 Bruxelles", `href="https://example.org/u/TOKEN123"`,
		"Ce que nous proposons à Liège", "jean.dupont@example.be",
	} {
		if !strings.Contains(p.html, want) {
			t.Errorf("HTML lacks %q:\n%s", want, p.html)
		}
	}
	if !strings.Contains(p.html, `style="`) || !strings.Contains(p.html, `style="color:#1a56db"`) {
		t.Errorf("CSS not inlined:\n%s", p.html)
	}
	// Text: readable, links as text (url), lists, no preheader.
	for _, want := range []string{
		"Notre programme\n\nBonjour Jean,", "le programme (https://example.org/programme)",
		"- retraites\n- climat", "1. un\n2. deux", "Unsubscribe (https://example.org/u/TOKEN123)",
		"Parti Exemple asbl\nRue de la Loi 16, 1000 Bruxelles",
	} {
		if !strings.Contains(p.text, want) {
			t.Errorf("text lacks %q:\n%s", want, p.text)
		}
	}
	if strings.Contains(p.text, "Ce que nous proposons") || strings.Contains(p.text, "<") {
		t.Errorf("text part has the preheader or markup:\n%s", p.text)
	}
}

func TestBuildDeterministicMessageID(t *testing.T) {
	c := testContent()
	r := testRecipient()
	a, _ := Build(Message{Content: c, Recipient: r})
	b, _ := Build(Message{Content: c, Recipient: r})
	ha, hb := parseBuilt(t, a).header, parseBuilt(t, b).header
	if ha.Get("Message-Id") != hb.Get("Message-Id") {
		t.Fatal("Message-ID changes between builds")
	}
	r.PersonID = 1002
	cc, _ := Build(Message{Content: c, Recipient: r})
	if parseBuilt(t, cc).header.Get("Message-Id") == ha.Get("Message-Id") {
		t.Fatal("two people share a Message-ID")
	}
	n, b2, p, ok := ParseMessageID(ha.Get("Message-Id"))
	if !ok || n != 1 || b2 != 42 || p != 1001 {
		t.Fatalf("ParseMessageID = %d %d %d %v", n, b2, p, ok)
	}
	for _, bad := range []string{"<abc@x>", "<m.1.2@x>", "<m.a.b.c@x>", "", "m.1.2.3"} {
		if _, _, _, ok := ParseMessageID(bad); ok {
			t.Errorf("ParseMessageID(%q) ok", bad)
		}
	}
}

func TestBuildNonASCIISubjectAndInjection(t *testing.T) {
	c := testContent()
	c.Subject = "Élections : {{first_name}} — à vous !"
	r := testRecipient()
	r.Fields.FirstName = "Zoë\r\nBcc: victim@example.com"
	r.Name = "Zoë\nX-Evil: 1"
	raw, err := Build(Message{Content: c, Recipient: r})
	if err != nil {
		t.Fatal(err)
	}
	p := parseBuilt(t, raw)
	if p.header.Get("Bcc") != "" || p.header.Get("X-Evil") != "" {
		t.Fatal("header injection through a field")
	}
	s := p.header.Get("Subject")
	if !strings.HasPrefix(s, "=?utf-8?") {
		t.Errorf("non-ASCII subject not encoded: %q", s)
	}
	dec, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil || dec != "Élections : Zoë  Bcc: victim@example.com — à vous !" {
		t.Errorf("decoded subject %q (%v)", dec, err)
	}
	// HTML escaping of the same value in the body.
	c.Body = "Hi {{first_name}}"
	r.Fields.FirstName = `<img src=x onerror=alert(1)>`
	raw, _ = Build(Message{Content: c, Recipient: r})
	p = parseBuilt(t, raw)
	if strings.Contains(p.html, "<img") || !strings.Contains(p.html, "&lt;img") {
		t.Errorf("field not escaped in HTML:\n%s", p.html)
	}
	if !strings.Contains(p.text, "Hi <img src=x onerror=alert(1)>") {
		t.Errorf("text part should carry the raw value:\n%s", p.text)
	}
}

func TestBuildFooterCannotBeRemoved(t *testing.T) {
	for _, body := range []string{
		"Bye <!--",
		"<style>.footer{display:none}</style>Hello",
		"<div style=\"display:none\">Hello",
		"<script>document.querySelector('.footer').remove()</script>",
		"Hello <textarea>",
		"<table><tr><td>unclosed",
	} {
		c := testContent()
		c.Format = HTML
		c.Body = body
		raw, err := Build(Message{Content: c, Recipient: testRecipient()})
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		p := parseBuilt(t, raw)
		for _, part := range []string{p.html, p.text} {
			if !strings.Contains(part, "https://example.org/u/TOKEN123") || !strings.Contains(part, "Parti Exemple asbl") {
				t.Errorf("body %q removed the footer:\n%s", body, part)
			}
		}
		for _, bad := range []string{"<script", "<style>.footer", "<textarea", "display:none}"} {
			if strings.Contains(p.html, bad) {
				t.Errorf("body %q: %q survived sanitising", body, bad)
			}
		}
	}
}

func TestBuildSanitisesUserHTML(t *testing.T) {
	c := testContent()
	c.Format = HTML
	c.Body = `<p onclick="x()">Hi <a href="javascript:alert(1)">js</a> <a href="https://ok.example/">ok</a> <iframe src="https://x"></iframe><form><input></form></p>`
	raw, err := Build(Message{Content: c, Recipient: testRecipient()})
	if err != nil {
		t.Fatal(err)
	}
	p := parseBuilt(t, raw)
	for _, bad := range []string{"onclick", "javascript:", "<iframe", "<form", "<input"} {
		if strings.Contains(p.html, bad) {
			t.Errorf("%q survived:\n%s", bad, p.html)
		}
	}
	if !strings.Contains(p.html, `href="https://ok.example/"`) {
		t.Errorf("safe link lost:\n%s", p.html)
	}
}

func TestPrepareRefusesBadContent(t *testing.T) {
	mod := []func(*Content){
		func(c *Content) { c.Subject = "{{frist_name}}" },
		func(c *Content) { c.Body = "Hello {{ first_name | exec }}" },
		func(c *Content) { c.Preheader = "{{" },
		func(c *Content) { c.Subject = "  " },
		func(c *Content) { c.UnsubscribeURL = "" },
		func(c *Content) { c.UnsubscribeURL = "javascript:x" },
		func(c *Content) { c.UnsubscribeMailto = "a@b>\r\nBcc: x" },
		func(c *Content) { c.Domain = "" },
		func(c *Content) { c.From.Address = "not an address" },
		func(c *Content) { c.Layout = "<html>no slot</html>" },
	}
	for i, m := range mod {
		c := testContent()
		m(&c)
		if _, err := Prepare(c); err == nil {
			t.Errorf("case %d: Prepare accepted bad content", i)
		}
	}
	p, err := Prepare(testContent())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "no-at", "a@", "@b", "a b@c", "a@b\r\nBcc: x", "<a@b>"} {
		r := testRecipient()
		r.Email = bad
		if _, err := p.Append(nil, &r); err == nil {
			t.Errorf("Append accepted recipient %q", bad)
		}
	}
	r := testRecipient()
	r.UnsubscribeToken = ""
	if _, err := p.Append(nil, &r); err == nil {
		t.Error("Append accepted a message without an unsubscribe link")
	}
}

func TestBuildLongSubjectStaysWithinLineLimit(t *testing.T) {
	c := testContent()
	c.Subject = strings.Repeat("word ", 400) + "{{first_name}}"
	raw, err := Build(Message{Content: c, Recipient: testRecipient()})
	if err != nil {
		t.Fatal(err)
	}
	parseBuilt(t, raw) // checks line lengths
	c.Subject = strings.Repeat("é", 600)
	raw, err = Build(Message{Content: c, Recipient: testRecipient()})
	if err != nil {
		t.Fatal(err)
	}
	p := parseBuilt(t, raw)
	if dec, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject")); err != nil || !strings.HasPrefix(dec, "éé") {
		t.Errorf("long encoded subject: %q %v", dec, err)
	}
}

func TestHTMLToText(t *testing.T) {
	got := htmlToText(`<html><head><title>T</title><style>p{}</style></head><body>
<h1>Title</h1><p>First   paragraph
with <a href="https://a.example/x">a link</a> and <a href="https://b.example/">https://b.example/</a>.</p>
<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul><p>Line<br>break &amp; entity</p>
<img alt="Logo" src="x.png"><hr><a href="mailto:x@y.z">x@y.z</a></body></html>`)
	want := "Title\n\nFirst paragraph with a link (https://a.example/x) and https://b.example/.\n\n- one\n- two\n  - nested\n\nLine\nbreak & entity\n\nLogo\n\n----------\n\nx@y.z\n"
	if got != want {
		t.Errorf("htmlToText =\n%q\nwant\n%q", got, want)
	}
}

func TestQuotedPrintableRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", "plain", "a=b", "trailing space \nnext", strings.Repeat("x", 200), strings.Repeat("é", 80) + "\n" + strings.Repeat("=", 50),
		"tab\t\n", "\x00\x01\xff", "line\r\nwith crlf",
	} {
		enc := appendQP(nil, []byte(s))
		for _, line := range strings.Split(string(enc), "\r\n") {
			if len(line) > 76 {
				t.Errorf("%q: encoded line of %d chars", s, len(line))
			}
		}
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
		want := strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
		if err != nil || string(dec) != want {
			t.Errorf("round trip of %q = %q (%v)", s, dec, err)
		}
	}
}

func FuzzQuotedPrintable(f *testing.F) {
	f.Add([]byte("hello = world \n"))
	f.Fuzz(func(t *testing.T, s []byte) {
		enc := appendQP(nil, s)
		dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(enc)))
		want := bytes.ReplaceAll(bytes.ReplaceAll(s, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		if err != nil || !bytes.Equal(dec, want) {
			t.Fatalf("round trip of %q = %q (%v)", s, dec, err)
		}
	})
}

// BenchmarkBuild measures one personalised message from a prepared
// broadcast (about 850 bytes of content plus headers and both parts).
func BenchmarkBuild(b *testing.B) {
	c := testContent()
	c.Body = "Bonjour {{first_name | default \"ami·e\"}},\n\nLa réforme des retraites arrive au Parlement la semaine prochaine. " +
		"Nous avons besoin de vous à {{city}} pour en parler autour de vous.\n\n" +
		"[Signez la pétition](https://example.org/petition) et partagez-la.\n\n- Rendez-vous samedi à 10 h\n- Place du Marché\n\nMerci,\nL'équipe"
	c.Layout = "<html><head><style>a{color:#1a56db}</style></head><body>" + LayoutContent + "</body></html>"
	p, err := Prepare(c)
	if err != nil {
		b.Fatal(err)
	}
	r := testRecipient()
	buf, _ := p.Append(nil, &r)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.PersonID = int64(i)
		buf, err = p.Append(buf[:0], &r)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf)), "bytes/msg")
}
