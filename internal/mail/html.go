package mail

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"github.com/vanng822/go-premailer/premailer"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// renderMarkdown turns staff-written Markdown into HTML. Raw HTML inside the
// Markdown is kept here and removed or tamed by sanitizeHTML afterwards.
func renderMarkdown(src string) (string, error) {
	md := goldmark.New(
		goldmark.WithExtensions(extension.Table, extension.Strikethrough),
		goldmark.WithRendererOptions(gmhtml.WithUnsafe()),
	)
	var b bytes.Buffer
	if err := md.Convert([]byte(src), &b); err != nil {
		return "", fmt.Errorf("mail: render markdown: %w", err)
	}
	return b.String(), nil
}

// sanitizeHTML keeps the formatting a newsletter needs (headings, lists,
// links, images, tables, emphasis, alignment) and drops scripts, forms,
// event handlers, style sheets and non-web URLs.
func sanitizeHTML(src string) string {
	p := bluemonday.UGCPolicy()
	p.AllowAttrs("align").OnElements("p", "div", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6", "img")
	p.AllowAttrs("width", "height").OnElements("img", "td", "th", "table")
	p.AllowAttrs("class").Matching(bluemonday.SpaceSeparatedTokens).Globally()
	p.RequireNoFollowOnLinks(false)
	p.AllowURLSchemes("https", "http", "mailto", "tel")
	return p.Sanitize(src)
}

// inlineCSS moves the rules of the document's <style> elements into style
// attributes, as many mail clients ignore style sheets.
func inlineCSS(doc string) (string, error) {
	pm, err := premailer.NewPremailerFromString(doc, premailer.NewOptions(premailer.WithCssToAttributes(false)))
	if err != nil {
		return "", fmt.Errorf("mail: inline css: %w", err)
	}
	out, err := pm.Transform()
	if err != nil {
		return "", fmt.Errorf("mail: inline css: %w", err)
	}
	return out, nil
}

// htmlToText produces a readable plain-text alternative of an HTML body:
// paragraphs separated by blank lines, list items as "- " or "1. ", links
// as "text (url)", images as their alt text. Lines end with "\n".
func htmlToText(src string) string {
	t := textWriter{}
	z := html.NewTokenizer(strings.NewReader(src))
	type link struct {
		href  string
		start int
	}
	var links []link
	type list struct {
		ordered bool
		n       int
	}
	var lists []list
	skip := 0 // depth inside head, style, script, title
	pre := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return t.String()
		case html.TextToken:
			if skip > 0 {
				continue
			}
			t.text(string(z.Text()), pre > 0)
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			if skip > 0 {
				if tt == html.StartTagToken && isSkipped(a) {
					skip++
				}
				continue
			}
			if isSkipped(a) && tt == html.StartTagToken {
				skip++
				continue
			}
			if strings.Contains(strings.ReplaceAll(attrs["style"], " ", ""), "display:none") && tt == html.StartTagToken && a == atom.Div {
				skip++ // a preheader or other hidden block
				continue
			}
			switch a {
			case atom.Br:
				t.newline()
			case atom.Hr:
				t.paragraph()
				t.raw("----------")
				t.paragraph()
			case atom.Img:
				if alt := strings.TrimSpace(attrs["alt"]); alt != "" {
					t.text(alt, false)
				}
			case atom.A:
				if tt == html.StartTagToken {
					links = append(links, link{href: attrs["href"], start: t.len()})
				}
			case atom.Ul, atom.Ol:
				t.newlineIfNeeded()
				lists = append(lists, list{ordered: a == atom.Ol})
			case atom.Li:
				t.newlineIfNeeded()
				indent := strings.Repeat("  ", max(len(lists)-1, 0))
				if n := len(lists); n > 0 && lists[n-1].ordered {
					lists[n-1].n++
					t.raw(indent + strconv.Itoa(lists[n-1].n) + ". ")
				} else {
					t.raw(indent + "- ")
				}
			case atom.Pre:
				pre++
				t.paragraph()
			case atom.Tr, atom.Div:
				t.newlineIfNeeded()
			case atom.Td, atom.Th:
				t.space()
			default:
				if isBlock(a) {
					t.paragraph()
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skip > 0 {
				if isSkipped(a) || a == atom.Div {
					skip--
				}
				continue
			}
			switch a {
			case atom.A:
				if n := len(links); n > 0 {
					l := links[n-1]
					links = links[:n-1]
					label := strings.TrimSpace(t.since(l.start))
					href := strings.TrimSpace(l.href)
					switch {
					case href == "" || strings.HasPrefix(href, "#"):
					case label == "":
						t.text(href, false)
					case label != href && label != strings.TrimPrefix(href, "mailto:"):
						t.raw(" (" + href + ")")
					}
				}
			case atom.Ul, atom.Ol:
				if n := len(lists); n > 0 {
					lists = lists[:n-1]
				}
				if len(lists) == 0 {
					t.paragraph()
				}
			case atom.Pre:
				pre = max(pre-1, 0)
				t.paragraph()
			case atom.Tr, atom.Div:
				t.newlineIfNeeded()
			default:
				if isBlock(a) {
					t.paragraph()
				}
			}
		}
	}
}

func isSkipped(a atom.Atom) bool {
	return a == atom.Head || a == atom.Style || a == atom.Script || a == atom.Title
}

func isBlock(a atom.Atom) bool {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Blockquote,
		atom.Table, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Dl, atom.Dd, atom.Dt:
		return true
	}
	return false
}

// textWriter accumulates plain text, collapsing white space and blank lines.
type textWriter struct {
	b        strings.Builder
	pendingN int  // newlines owed before the next text (max 2)
	pendingS bool // a space owed before the next text
}

func (t *textWriter) len() int { t.flush(); return t.b.Len() }

func (t *textWriter) since(i int) string { return t.b.String()[i:] }

func (t *textWriter) flush() {
	if t.b.Len() == 0 {
		t.pendingN, t.pendingS = 0, false
		return
	}
	if t.pendingN > 0 {
		t.b.WriteString(strings.Repeat("\n", t.pendingN))
	} else if t.pendingS {
		t.b.WriteByte(' ')
	}
	t.pendingN, t.pendingS = 0, false
}

func (t *textWriter) raw(s string) {
	t.flush()
	t.b.WriteString(s)
}

func (t *textWriter) text(s string, pre bool) {
	if pre {
		t.flush()
		t.b.WriteString(s)
		return
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		if s != "" {
			t.space()
		}
		return
	}
	if startsSpace(s) {
		t.space()
	}
	t.flush()
	t.b.WriteString(strings.Join(fields, " "))
	if endsSpace(s) {
		t.space()
	}
}

func startsSpace(s string) bool { return s != "" && strings.TrimLeft(s[:1], " \t\r\n\f") == "" }
func endsSpace(s string) bool   { return s != "" && strings.TrimLeft(s[len(s)-1:], " \t\r\n\f") == "" }

func (t *textWriter) space() {
	if t.pendingN == 0 {
		t.pendingS = true
	}
}

func (t *textWriter) newline() {
	t.flush()
	t.b.WriteByte('\n')
}

func (t *textWriter) newlineIfNeeded() { t.pendingN = max(t.pendingN, 1) }
func (t *textWriter) paragraph()       { t.pendingN = 2 }

func (t *textWriter) String() string {
	lines := strings.Split(t.b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimSpace(strings.Join(lines, "\n")) + "\n"
}

// appendQP appends src encoded as quoted-printable (RFC 2045) to dst. A
// "\n" in src is a line break (written CRLF); lines are kept under 76
// characters with soft breaks.
func appendQP(dst, src []byte) []byte {
	const hex = "0123456789ABCDEF"
	lineLen := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c > ' ' && c <= '~' && c != '=' && lineLen < 75 {
			// Fast path: copy a run of printable characters.
			j := i + 1
			for lim := min(len(src), i+75-lineLen); j < lim; j++ {
				if c := src[j]; c <= ' ' || c > '~' || c == '=' {
					break
				}
			}
			dst = append(dst, src[i:j]...)
			lineLen += j - i
			i = j - 1
			continue
		}
		if c == '\n' {
			dst = append(dst, '\r', '\n')
			lineLen = 0
			continue
		}
		if c == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			continue
		}
		enc := c == '=' || c > '~' || (c < ' ' && c != '\t')
		if !enc && (c == ' ' || c == '\t') {
			enc = i+1 == len(src) || src[i+1] == '\n' || src[i+1] == '\r'
		}
		n := 1
		if enc {
			n = 3
		}
		if lineLen+n > 75 {
			dst = append(dst, '=', '\r', '\n')
			lineLen = 0
		}
		if enc {
			dst = append(dst, '=', hex[c>>4], hex[c&15])
		} else {
			dst = append(dst, c)
		}
		lineLen += n
	}
	return dst
}
