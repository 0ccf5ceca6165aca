package pages

import (
	"bytes"
	"html/template"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// Markdown renders staff-written Markdown to HTML that is safe to put in a
// page: goldmark leaves raw HTML out, and bluemonday's user-content policy
// then removes anything else that could run script or change the page
// (event handlers, javascript: links, styles, frames).
type Markdown struct {
	md     goldmark.Markdown
	policy *bluemonday.Policy
}

// NewMarkdown returns a renderer.
func NewMarkdown() *Markdown {
	return &Markdown{
		md:     goldmark.New(goldmark.WithExtensions(extension.Linkify, extension.Strikethrough, extension.Table)),
		policy: bluemonday.UGCPolicy(),
	}
}

// HTML renders src. A rendering failure gives the text escaped, never raw.
func (m *Markdown) HTML(src string) template.HTML {
	var buf bytes.Buffer
	if err := m.md.Convert([]byte(src), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(m.policy.SanitizeBytes(buf.Bytes()))
}
