package mail

import (
	"errors"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/errs"
)

func TestTemplateExecute(t *testing.T) {
	fs := Fields{FirstName: "jean", LastName: "Dupont", City: "Liège", Email: "j@example.be"}
	empty := Fields{FirstName: "  "}
	tests := []struct {
		src  string
		fs   Fields
		want string
	}{
		{"Bonjour {{first_name}} !", fs, "Bonjour jean !"},
		{"Bonjour {{ first_name | title }} !", fs, "Bonjour Jean !"},
		{`Bonjour {{first_name | default "ami·e"}} !`, empty, "Bonjour ami·e !"},
		{`Bonjour {{first_name | default "ami·e"}} !`, fs, "Bonjour jean !"},
		{`{{ last_name | upper }} {{ city | lower }}`, fs, "DUPONT liège"},
		{`{{full_name}}`, fs, "jean Dupont"},
		{`{{full_name | default "x"}}`, Fields{}, "x"},
		{`{{ "{{" }}first_name}}`, fs, "{{first_name}}"},
		{`{{ "a \"q\" \\" | upper }}`, fs, `A "Q" \`},
		{"no actions at all }} {", fs, "no actions at all }} {"},
		{"", fs, ""},
		{"line1\n{{email}}\n", fs, "line1\nj@example.be\n"},
		{`{{city|default "a"|upper}}`, Fields{}, "A"},
	}
	for _, tt := range tests {
		tpl, err := ParseTemplate("t", tt.src)
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", tt.src, err)
			continue
		}
		got, err := tpl.Execute(&tt.fs, EscapeNone)
		if err != nil || got != tt.want {
			t.Errorf("Execute(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}

func TestTemplateEscapesHTML(t *testing.T) {
	tpl := MustParseTemplate("body", `<p>Hi {{first_name}}</p>`)
	fs := Fields{FirstName: `<script>alert("x")</script>&`}
	got, _ := tpl.Execute(&fs, EscapeHTML)
	if strings.Contains(got, "<script>") || !strings.Contains(got, "&lt;script&gt;") {
		t.Fatalf("not escaped: %q", got)
	}
	if !strings.HasPrefix(got, "<p>Hi ") {
		t.Fatalf("literal HTML must be kept: %q", got)
	}
}

func TestTemplateErrors(t *testing.T) {
	tests := []struct {
		src        string
		line, col  int
		reasonPart string
	}{
		{"Hello {{frist_name}}", 1, 9, `unknown field "frist_name"`},
		{"a\nb\n  {{ first_name | shout }}", 3, 19, `unknown filter "shout"`},
		{"x {{ first_name", 1, 3, "unclosed {{"},
		{"x {{ first_name \n}}", 1, 3, "unclosed {{"},
		{`{{ first_name | default }}`, 1, 25, "default needs a quoted string"},
		{`{{ first_name | default "abc }}`, 1, 25, "unterminated string"},
		{`{{ first_name first_name }}`, 1, 15, "expected | or }}"},
		{`{{ .Env }}`, 1, 4, "expected a field name"},
		{`{{ env "HOME" }}`, 1, 4, `unknown field "env"`},
		{`{{ printf "%s" }}`, 1, 4, `unknown field "printf"`},
		{`{{ range . }}x{{ end }}`, 1, 4, `unknown field "range"`},
		{`{{ first_name | }}`, 1, 17, "expected a filter name"},
		{`{{ "a\x" }}`, 1, 6, "backslash"},
		{"{{}}", 1, 3, "expected a field name"},
	}
	for _, tt := range tests {
		_, err := ParseTemplate("body", tt.src)
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Errorf("ParseTemplate(%q) = %v, want a TemplateError", tt.src, err)
			continue
		}
		if te.Line != tt.line || te.Col != tt.col || !strings.Contains(te.Reason, tt.reasonPart) {
			t.Errorf("ParseTemplate(%q) = %d:%d %q; want %d:%d containing %q", tt.src, te.Line, te.Col, te.Reason, tt.line, tt.col, tt.reasonPart)
		}
		if !errors.Is(err, errs.ErrInvalid) {
			t.Errorf("ParseTemplate(%q): error is not invalid-input", tt.src)
		}
		if !strings.HasPrefix(err.Error(), "body: line ") {
			t.Errorf("error %q does not name the template and line", err)
		}
	}
}

func TestTemplateLimits(t *testing.T) {
	if _, err := ParseTemplate("big", strings.Repeat("a", MaxTemplateSize+1)); err == nil {
		t.Fatal("oversized template accepted")
	}
	if _, err := ParseTemplate("utf8", "a\xffb"); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	// Many actions over a long value exceed the output cap.
	tpl := MustParseTemplate("t", strings.Repeat("{{first_name}}", 100))
	fs := Fields{FirstName: strings.Repeat("x", 4<<10)}
	if _, err := tpl.Execute(&fs, EscapeNone); !errors.Is(err, ErrOutputTooLarge) {
		t.Fatalf("output cap: err = %v", err)
	}
	// Under the cap it works.
	fs.FirstName = "x"
	if out, err := tpl.Execute(&fs, EscapeNone); err != nil || len(out) != 100 {
		t.Fatalf("got %d bytes, %v", len(out), err)
	}
}

func TestTemplateFields(t *testing.T) {
	tpl := MustParseTemplate("t", "{{city}} {{email}} {{city}}")
	got := tpl.Fields()
	if len(got) != 2 || got[0] != FieldCity || got[1] != FieldEmail {
		t.Fatalf("Fields() = %v", got)
	}
	for f := Field(1); f < fieldCount; f++ {
		if g, ok := LookupField(FieldNames[f]); !ok || g != f {
			t.Errorf("LookupField(%q) = %v, %v", FieldNames[f], g, ok)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		"Bonjour {{first_name}} !", `{{first_name | default "ami·e" | title}}`, `{{ "{{" }}`,
		"{{", "}}", `{{ city | upper | lower }}`, "{{ email | default \"\\\"\" }}", "{{x}}", "a\n{{b",
	} {
		f.Add(s, "Jean", "<b>&")
	}
	f.Fuzz(func(t *testing.T, src, first, city string) {
		tpl, err := ParseTemplate("fuzz", src)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) || te.Line < 1 || te.Col < 1 {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		fs := Fields{FirstName: first, City: city, Email: "a@b.c"}
		out, err := tpl.Execute(&fs, EscapeHTML)
		if err != nil {
			if !errors.Is(err, ErrOutputTooLarge) {
				t.Fatalf("execute: %v", err)
			}
			return
		}
		if len(out) > MaxOutputSize {
			t.Fatalf("output %d bytes over the cap", len(out))
		}
		// Field values never bring markup into HTML output.
		if strings.Contains(first+city, "<") && !strings.Contains(src, "<") && strings.Contains(out, "<") {
			t.Fatalf("unescaped value in %q", out)
		}
	})
}
