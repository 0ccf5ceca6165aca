package theme_test

import (
	"testing"

	"github.com/muster-org/muster/internal/theme"
	assets "github.com/muster-org/muster/web"
)

// FuzzCompile: any source for a theme file compiles or is refused with an
// error; never a panic.
func FuzzCompile(f *testing.F) {
	d, err := theme.LoadDefaults(assets.FS)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("public/home.html", `{{define "title"}}x{{end}}{{define "content"}}<h1>{{.Nation.Name}}</h1>{{end}}`)
	f.Add("layouts/public.html", `<html>{{template "content" .}}`)
	f.Add("public/home.html", `{{define "content"}}<a href="{{.Path}}">{{end`)
	f.Add("theme.css", "body{color:red}")
	f.Add("layouts/public.html", `<html><head>{{"</head>"}}</head><body>{{template "content" .}}</body></html>`)
	f.Fuzz(func(t *testing.T, name, src string) {
		if err := d.CheckFile(name, src); err != nil {
			return
		}
		set, err := d.Compile(map[string]string{name: src})
		if err == nil && set == nil {
			t.Fatal("nil set without error")
		}
	})
}
