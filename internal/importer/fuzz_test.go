package importer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
)

// FuzzReader feeds arbitrary bytes to Open and Next: they must refuse with
// an invalid-input error or yield records with increasing line numbers and
// valid UTF-8 text, and never panic or loop.
func FuzzReader(f *testing.F) {
	for _, name := range []string{"nb.csv", "civicrm_en.csv", "civicrm_fr.csv", "civicrm_nl.tsv", "generic_fr.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("email\n\"unterminated\n"))
	f.Add([]byte("\xFF\xFEe\x00m\x00a\x00i\x00l\x00\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rd, err := Open(bytes.NewReader(data), Options{})
		if err != nil {
			if errs.KindOf(err) != errs.KindInvalid {
				t.Fatalf("Open: non-invalid error %v", err)
			}
			return
		}
		last := 1
		for i := 0; ; i++ {
			if i > len(data)+1 {
				t.Fatal("more rows than bytes: Next loops")
			}
			rec, line, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			var re *RowError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("Next: %v", err)
			}
			if line <= last {
				t.Fatalf("line %d after %d", line, last)
			}
			last = line
			checkUTF8(t, rec)
		}
	})
}

func checkUTF8(t *testing.T, r people.Record) {
	t.Helper()
	all := []string{r.NationBuilderID, r.CiviCRMID, r.ExternalID, r.Prefix, r.FirstName, r.MiddleName, r.LastName,
		r.Phone, r.Mobile, r.Work, r.BirthDate, r.Gender, r.Language, r.SupportLevel, r.Note,
		r.Home.Line1, r.Home.City, r.Home.Postcode, r.Home.Country}
	all = append(all, r.Emails...)
	all = append(all, r.Tags...)
	for _, s := range all {
		if !utf8.ValidString(s) || s != strings.TrimSpace(s) {
			t.Fatalf("value %q is not trimmed valid UTF-8", s)
		}
	}
}
