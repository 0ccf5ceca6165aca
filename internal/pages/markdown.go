package pages

import (
	"bytes"
	"html/template"
	"sync"

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

	// memo keeps the HTML of recent texts: a public page is rendered on
	// every view, its text changes rarely.
	mu   sync.Mutex
	memo map[string]template.HTML
}

// maxMemo bounds the texts remembered (together with their HTML).
const maxMemo = 2000

// NewMarkdown returns a renderer.
func NewMarkdown() *Markdown {
	return &Markdown{
		md:     goldmark.New(goldmark.WithExtensions(extension.Linkify, extension.Strikethrough, extension.Table)),
		policy: bluemonday.UGCPolicy(),
	}
}

// HTML renders src. A rendering failure gives the text escaped, never raw.
func (m *Markdown) HTML(src string) template.HTML {
	m.mu.Lock()
	h, ok := m.memo[src]
	m.mu.Unlock()
	if ok {
		return h
	}
	h = m.render(src)
	m.mu.Lock()
	if m.memo == nil || len(m.memo) >= maxMemo {
		m.memo = map[string]template.HTML{}
	}
	m.memo[src] = h
	m.mu.Unlock()
	return h
}

func (m *Markdown) render(src string) template.HTML {
	var buf bytes.Buffer
	if err := m.md.Convert([]byte(src), &buf); err != nil {
		return template.HTML(template.HTMLEscapeString(src))
	}
	return template.HTML(m.policy.SanitizeBytes(buf.Bytes()))
}
