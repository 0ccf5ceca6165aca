// Package theme holds per-nation overrides of the public site's templates
// and CSS. A theme is a set of html/template files stored per nation
// (theme_files), each replacing the default file of the same name in
// web/templates (layouts/public.html, partials/…, public/home.html,
// public/page_show.html, …) plus an optional stylesheet (theme.css) served
// from /static/theme/{nation}/style.css, so that the Content-Security-Policy
// (style-src 'self', no inline styles) stays as it is.
//
// Files not overridden fall back to the default. Every save is validated:
// the whole set is parsed with the renderer's FuncMap and partials, and each
// public page is executed against a sample view, so that a broken template
// is refused with its line and reason instead of breaking the site. Staff
// save drafts, preview them, then publish; visitors only ever get the
// published set. Parsed sets are cached in memory per nation (Themes),
// invalidated on publish and refreshed after a short TTL so that other nodes
// see a change too.
package theme

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template/parse"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/web"
)

// CSSFile is the name of a nation's own stylesheet among its theme files.
const CSSFile = "theme.css"

// MaxFile caps the size of one theme file, in bytes.
const MaxFile = 256 << 10

// layoutFile is the layout every public page is executed in.
const layoutFile = "layouts/public.html"

// Defaults are the default theme's files, read from the embedded web/ tree:
// the overridable names and their sources.
type Defaults struct {
	files map[string]string // name (relative to templates/) → source
	pages []string          // public page files, e.g. public/home.html
	parts []string          // partials, e.g. partials/langswitch.html
}

// LoadDefaults reads the default public theme from fsys (rooted at web/).
func LoadDefaults(fsys fs.FS) (*Defaults, error) {
	d := &Defaults{files: map[string]string{}}
	read := func(pattern string) ([]string, error) {
		names, err := fs.Glob(fsys, "templates/"+pattern)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, n := range names {
			b, err := fs.ReadFile(fsys, n)
			if err != nil {
				return nil, fmt.Errorf("theme: read %s: %w", n, err)
			}
			name := strings.TrimPrefix(n, "templates/")
			d.files[name] = string(b)
			out = append(out, name)
		}
		return out, nil
	}
	if _, err := read(layoutFile); err != nil {
		return nil, err
	}
	var err error
	if d.parts, err = read("partials/*.html"); err != nil {
		return nil, err
	}
	if d.pages, err = read("public/*.html"); err != nil {
		return nil, err
	}
	if _, ok := d.files[layoutFile]; !ok || len(d.pages) == 0 {
		return nil, fmt.Errorf("theme: default public theme not found")
	}
	return d, nil
}

// Names lists the files a nation may override, in the order the control
// panel shows them: the layout, the pages, the partials, the stylesheet.
func (d *Defaults) Names() []string {
	out := []string{layoutFile}
	out = append(out, d.pages...)
	out = append(out, d.parts...)
	return append(out, CSSFile)
}

// Allowed reports whether name is a file a theme may hold.
func (d *Defaults) Allowed(name string) bool { return slices.Contains(d.Names(), name) }

// Source returns the default source of a file ("" for the stylesheet).
func (d *Defaults) Source(name string) string { return d.files[name] }

// Set is one nation's compiled theme: a template set per public page (each
// its layout, partials and page, overridden or default) and its CSS.
type Set struct {
	Pages map[string]*template.Template // "public/home" → set; nil when no HTML is overridden
	CSS   string
}

// Compile builds the set of files (name → source; absent names take the
// default). A parse error names the file and line.
func (d *Defaults) Compile(files map[string]string) (*Set, error) {
	set := &Set{CSS: files[CSSFile]}
	if err := checkCSS(set.CSS); err != nil {
		return nil, err
	}
	overridesHTML := false
	for name := range files {
		if name == CSSFile {
			continue
		}
		if !d.Allowed(name) {
			return nil, errs.InvalidField("file", "%s is not a file of the public theme", name)
		}
		overridesHTML = true
	}
	if !overridesHTML {
		return set, nil
	}
	src := func(name string) string {
		if s, ok := files[name]; ok {
			return s
		}
		return d.files[name]
	}
	set.Pages = map[string]*template.Template{}
	for _, page := range d.pages {
		parse := func(layout string) (*template.Template, error) {
			t := template.New(layoutFile).Funcs(web.Funcs)
			if _, err := t.Parse(layout); err != nil {
				return nil, templateError(err)
			}
			for _, name := range append(slices.Clone(d.parts), page) {
				if _, err := t.New(name).Parse(src(name)); err != nil {
					return nil, templateError(err)
				}
			}
			return t, nil
		}
		t, err := parse(src(layoutFile))
		if err != nil {
			return nil, err
		}
		if !calls(t, layoutFile, shareMeta) {
			// The layout would drop the page's share tags: add them to
			// its <head>, at the first place where the layout still
			// parses (a "</head>" may sit inside an action).
			for _, layout := range withShareMeta(src(layoutFile)) {
				if withMeta, err := parse(layout); err == nil && calls(withMeta, layoutFile, shareMeta) {
					t = withMeta
					break
				}
			}
		}
		set.Pages[strings.TrimSuffix(page, ".html")] = t
	}
	return set, nil
}

// shareMeta is the template holding a page's Open Graph and description
// tags (defined by the pages that have them, empty elsewhere). Link
// previews and search engines read them, so they are not a theme's to
// lose: a layout that does not render them gets them.
const shareMeta = "share_meta"

// shareMetaCall renders the share tags; block, so that pages without them
// get an empty template rather than an error.
const shareMetaCall = `{{block "` + shareMeta + `" .}}{{end}}`

var (
	headClose = regexp.MustCompile(`(?i)</head\s*>`)
	headOpen  = regexp.MustCompile(`(?i)<head(\s[^>]*)?>`)
	htmlOpen  = regexp.MustCompile(`(?i)<html(\s[^>]*)?>`)
	doctype   = regexp.MustCompile(`(?i)^\s*<!doctype[^>]*>`)
)

// withShareMeta returns the layout's source with the call of the share
// tags inserted, in order of preference: before a </head>, after <head>,
// after <html> or the doctype, at the start (where a browser puts it in
// the implied head).
func withShareMeta(layout string) []string {
	var out []string
	insert := func(at int) { out = append(out, layout[:at]+shareMetaCall+layout[at:]) }
	for _, loc := range headClose.FindAllStringIndex(layout, 8) {
		insert(loc[0])
	}
	for _, re := range []*regexp.Regexp{headOpen, htmlOpen, doctype} {
		if loc := re.FindStringIndex(layout); loc != nil {
			insert(loc[1])
		}
	}
	insert(0)
	return out
}

// calls reports whether executing template name of set t may execute
// target, following the templates it calls.
func calls(t *template.Template, name, target string) bool {
	seen := map[string]bool{}
	var visit func(name string) bool
	var walk func(n parse.Node) bool
	visit = func(name string) bool {
		if name == target {
			return true
		}
		if seen[name] {
			return false
		}
		seen[name] = true
		tt := t.Lookup(name)
		if tt == nil || tt.Tree == nil || tt.Tree.Root == nil {
			return false
		}
		return walk(tt.Tree.Root)
	}
	walk = func(n parse.Node) bool {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return false
			}
			for _, c := range n.Nodes {
				if walk(c) {
					return true
				}
			}
		case *parse.TemplateNode:
			return visit(n.Name)
		case *parse.IfNode:
			return walk(n.List) || walk(n.ElseList)
		case *parse.RangeNode:
			return walk(n.List) || walk(n.ElseList)
		case *parse.WithNode:
			return walk(n.List) || walk(n.ElseList)
		}
		return false
	}
	return visit(name)
}

func checkCSS(css string) error {
	if len(css) > MaxFile {
		return errs.InvalidField("source", "%s is larger than %d KiB", CSSFile, MaxFile>>10)
	}
	if !utf8.ValidString(css) {
		return errs.InvalidField("source", "%s is not valid UTF-8", CSSFile)
	}
	return nil
}

// CheckFile checks one file before it joins a set: a known name, a size
// within MaxFile, valid UTF-8.
func (d *Defaults) CheckFile(name, src string) error {
	if !d.Allowed(name) {
		return errs.InvalidField("file", "%s is not a file of the public theme", name)
	}
	if len(src) > MaxFile {
		return errs.InvalidField("source", "%s is larger than %d KiB", name, MaxFile>>10)
	}
	if !utf8.ValidString(src) {
		return errs.InvalidField("source", "%s is not valid UTF-8", name)
	}
	return nil
}

// Execute runs every page of set against its sample view (sample returns
// the view for a page, nil to skip pages it has no sample for), so that
// runtime errors — a field that does not exist, a call of a missing
// template — are refused on save with their file and line.
func (set *Set) Execute(sample func(page string) *web.View) error {
	names := make([]string, 0, len(set.Pages))
	for p := range set.Pages {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		v := sample(p)
		if v == nil {
			continue
		}
		var buf bytes.Buffer
		if err := set.Pages[p].Execute(&buf, v); err != nil {
			return templateError(err)
		}
	}
	return nil
}

// lineRE finds "template: NAME:LINE[:COL]: reason" (text/template's parse
// and execution errors) and "html/template:NAME:LINE:COL: reason" (its
// escaper's) in an error message.
var lineRE = regexp.MustCompile(`template: ?([^:\s"]+):(\d+)(?::\d+)?: (.*)`)

// LineError is a template refused on save: the file, the line and why.
type LineError struct {
	File   string
	Line   int
	Reason string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Reason)
}

// templateError turns a parse or execution error into an Invalid error
// naming the file and line, when the message has them.
func templateError(err error) error {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[2])
		le := &LineError{File: m[1], Line: line, Reason: m[3]}
		return errs.InvalidField("source", "%s", le.Error())
	}
	return errs.InvalidField("source", "%s", strings.TrimPrefix(msg, "html/template: "))
}

// PageName is the renderer's name of a public page file: public/home.html →
// public/home.
func PageName(file string) string { return strings.TrimSuffix(path.Clean(file), ".html") }
