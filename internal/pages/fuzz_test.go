package pages

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// dangerous matches markup that runs code; text is escaped (a '<' in the
// output always opens a real tag), so only tags and their attributes count.
var dangerous = regexp.MustCompile(`(?i)<script|<iframe|<style|<object|<embed|<[^>]*\son[a-z]+\s*=|<[^>]*(href|src)\s*=\s*"?\s*javascript:`)

// FuzzMarkdown renders arbitrary staff text: the HTML must never carry
// script, event handlers or javascript: links.
func FuzzMarkdown(f *testing.F) {
	for _, s := range []string{"**bold** [x](https://example.org)", "<script>alert(1)</script>", "[a](javascript:alert(1))",
		"<img src=x onerror=alert(1)>", "<a href=\"java\tscript:x\">y</a>", "`<b>`", "<!-- x --><style>p{}</style>"} {
		f.Add(s)
	}
	md := NewMarkdown()
	f.Fuzz(func(t *testing.T, src string) {
		out := string(md.HTML(src))
		if dangerous.MatchString(out) {
			t.Fatalf("unsafe HTML from %q: %s", src, out)
		}
	})
}

// FuzzParseSubmission posts arbitrary form bodies to a petition: parsing
// never panics, every accepted value is valid UTF-8 within its field's
// limit, and only offered consent channels come back.
func FuzzParseSubmission(f *testing.F) {
	for _, s := range []string{"first_name=Ann&email=a%40example.org&consent_email=yes",
		"email=x&birth_date=31%2F02%2F1980&phone=%2B32", "topics=a&topics=b&interests=%00", "comment=%ff%fe"} {
		f.Add(s)
	}
	p := &Page{Type: TypePetition, Slug: "p", Title: "P", Settings: DefaultSettings(TypePetition, []string{"fr"}, func(l, k string, _ ...any) string { return "ok" })}
	for _, name := range FormFields {
		if a, _ := p.Settings.Asks(name); !a {
			p.Settings.Fields = append(p.Settings.Fields, Field{Name: name})
		}
	}
	p.Validate([]string{"fr"})
	topics := []Topic{{ID: 1, Slug: "a"}}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		sub, _ := ParseSubmission(p, form, "fr", []string{"fr"}, topics, "BE")
		for k, v := range sub.Values {
			if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxLen[k] || strings.ContainsRune(v, 0) {
				t.Fatalf("accepted %s = %q", k, v)
			}
		}
		for _, c := range sub.Consents {
			if c.Channel != "email" || c.Wording != "ok" {
				t.Fatalf("consent %+v", c)
			}
		}
		if len(sub.Topics) != 0 {
			t.Fatalf("a petition offered topics: %+v", sub.Topics)
		}
	})
}
