package i18n_test

import (
	"net/http/httptest"
	"testing"

	"github.com/muster-org/muster/internal/i18n"
)

// Every language must define exactly the keys English defines, so that no
// page shows a raw key to a French or Dutch reader.
func TestCatalogsHaveTheSameKeys(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	en := b.Keys("en")
	if len(en) == 0 {
		t.Fatal("empty English catalog")
	}
	for _, lang := range i18n.Languages {
		for _, k := range en {
			if !b.Has(lang, k) {
				t.Errorf("%s catalog lacks %q", lang, k)
			}
		}
		for _, k := range b.Keys(lang) {
			if !b.Has("en", k) {
				t.Errorf("%s catalog has %q, which English lacks", lang, k)
			}
		}
	}
}

func TestTranslateAndNumbers(t *testing.T) {
	b, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := b.T("fr", "common.save"); got != "Enregistrer" {
		t.Errorf("fr common.save = %q", got)
	}
	if got := b.T("xx", "common.save"); got != "Save" {
		t.Errorf("unknown language should fall back to English, got %q", got)
	}
	if got := b.Printer("fr").Sprintf("%d", 1234567); got != "1 234 567" && got != "1\u00a0234\u00a0567" && got != "1\u202f234\u202f567" {
		t.Errorf("French number = %q", got)
	}
	if got := b.Printer("nl").Sprintf("%d", 1234567); got != "1.234.567" {
		t.Errorf("Dutch number = %q", got)
	}
}

func TestNegotiate(t *testing.T) {
	offered := []string{"fr", "nl"}
	tests := []struct {
		name, url, accept, cookie, def, want string
	}{
		{"query wins", "/?lang=nl", "fr", "", "fr", "nl"},
		{"query not offered is ignored", "/?lang=en", "nl-BE,nl;q=0.9", "", "fr", "nl"},
		{"cookie before header", "/", "nl", "fr", "nl", "fr"},
		{"accept-language region", "/", "nl-BE,en;q=0.5", "", "fr", "nl"},
		{"quality order", "/", "en;q=1, nl;q=0.4, fr;q=0.8", "", "nl", "fr"},
		{"default", "/", "de", "", "nl", "nl"},
		{"default not offered", "/", "", "", "en", "fr"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.url, nil)
		if tt.accept != "" {
			r.Header.Set("Accept-Language", tt.accept)
		}
		if tt.cookie != "" {
			r.Header.Set("Cookie", i18n.LangCookie+"="+tt.cookie)
		}
		if got := i18n.Negotiate(r, offered, tt.def); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}
