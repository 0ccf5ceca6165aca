// Package i18n holds Muster's message catalogs (English, French, Dutch) and
// picks the language of a request. Every piece of staff and public text is a
// catalog key; a test checks that all three catalogs hold the same keys.
//
// Catalogs are JSON files (key → text with fmt verbs) loaded into a
// golang.org/x/text catalog, so numbers printed through a Printer follow the
// locale (1 234 in French, 1.234 in Dutch).
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

//go:embed locales
var localeFS embed.FS

// Languages are the languages with a catalog, English first (the fallback).
var Languages = []string{"en", "fr", "nl"}

// Names are each language's name in itself, for the language switcher.
var Names = map[string]string{"en": "English", "fr": "Français", "nl": "Nederlands"}

// Bundle is the loaded catalogs. It is immutable after Load and safe to share.
type Bundle struct {
	cat      *catalog.Builder
	keys     map[string]map[string]string // lang → key → text, for checks
	printers map[string]*message.Printer
}

// Load reads the embedded catalogs.
func Load() (*Bundle, error) {
	b := &Bundle{
		cat:      catalog.NewBuilder(catalog.Fallback(language.English)),
		keys:     map[string]map[string]string{},
		printers: map[string]*message.Printer{},
	}
	for _, lang := range Languages {
		// Each area keeps its own file (locales/<lang>/<area>.json) so that
		// domains add text without touching each other's files.
		files, err := fs.Glob(localeFS, "locales/"+lang+"/*.json")
		if err != nil || len(files) == 0 {
			return nil, fmt.Errorf("i18n: no %s catalog files", lang)
		}
		msgs := map[string]string{}
		for _, f := range files {
			raw, err := localeFS.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("i18n: read %s: %w", f, err)
			}
			part := map[string]string{}
			if err := json.Unmarshal(raw, &part); err != nil {
				return nil, fmt.Errorf("i18n: parse %s: %w", f, err)
			}
			for k, v := range part {
				if _, dup := msgs[k]; dup {
					return nil, fmt.Errorf("i18n: key %q defined twice in %s catalogs", k, lang)
				}
				msgs[k] = v
			}
		}
		tag := language.MustParse(lang)
		for k, v := range msgs {
			if err := b.cat.SetString(tag, k, v); err != nil {
				return nil, fmt.Errorf("i18n: %s catalog key %q: %w", lang, k, err)
			}
		}
		b.keys[lang] = msgs
	}
	for _, lang := range Languages {
		b.printers[lang] = message.NewPrinter(language.MustParse(lang), message.Catalog(b.cat))
	}
	return b, nil
}

// T translates key into lang, formatting args with the key's verbs. An
// unknown language falls back to English; an unknown key prints the key, so
// a missing entry is visible rather than blank.
func (b *Bundle) T(lang, key string, args ...any) string {
	p, ok := b.printers[lang]
	if !ok {
		p = b.printers["en"]
	}
	return p.Sprintf(key, args...)
}

// Printer returns the locale-aware printer of lang (numbers, currency).
func (b *Bundle) Printer(lang string) *message.Printer {
	if p, ok := b.printers[lang]; ok {
		return p
	}
	return b.printers["en"]
}

// Keys returns the sorted keys of a language's catalog.
func (b *Bundle) Keys(lang string) []string {
	var ks []string
	for k := range b.keys[lang] {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Has reports whether lang's catalog defines key.
func (b *Bundle) Has(lang, key string) bool {
	_, ok := b.keys[lang][key]
	return ok
}

// LangCookie remembers a visitor's explicit choice from the switcher.
const LangCookie = "muster_lang"

// Negotiate picks the language of a request among offered (a nation's
// languages): ?lang= first, then the remembered choice, then the browser's
// Accept-Language, then def.
func Negotiate(r *http.Request, offered []string, def string) string {
	if l := r.URL.Query().Get("lang"); slices.Contains(offered, l) {
		return l
	}
	if c, err := r.Cookie(LangCookie); err == nil && slices.Contains(offered, c.Value) {
		return c.Value
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		if l := matchAccept(al, offered); l != "" {
			return l
		}
	}
	if slices.Contains(offered, def) {
		return def
	}
	if len(offered) > 0 {
		return offered[0]
	}
	return "en"
}

// matchAccept returns the first offered language the header prefers, by
// quality, matching on the base language (fr-BE → fr).
func matchAccept(header string, offered []string) string {
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil {
		return ""
	}
	for _, t := range tags {
		base, _ := t.Base()
		if l := strings.ToLower(base.String()); slices.Contains(offered, l) {
			return l
		}
	}
	return ""
}

// Remember sets the language cookie when the request chose one with ?lang=.
func Remember(w http.ResponseWriter, r *http.Request, lang string) {
	if r.URL.Query().Get("lang") == lang {
		http.SetCookie(w, &http.Cookie{Name: LangCookie, Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
}
