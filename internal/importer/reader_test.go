package importer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
)

type row struct {
	rec  people.Record
	line int
	err  string
}

func readAll(t *testing.T, r io.Reader, opts Options) (*Reader, []row) {
	t.Helper()
	rd, err := Open(r, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var rows []row
	for {
		rec, line, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd, rows
		}
		var re *RowError
		switch {
		case errors.As(err, &re):
			rows = append(rows, row{line: line, err: re.Reason})
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			rows = append(rows, row{rec: rec, line: line})
		}
	}
}

func openFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fp(f float64) *float64 { return &f }

func TestNationBuilderExport(t *testing.T) {
	rd, rows := readAll(t, openFile(t, "nb.csv"), Options{Tags: []string{"import-2026"}})
	if rd.Format() != FormatNationBuilder || rd.Delimiter() != ',' || rd.Encoding() != "utf-8" {
		t.Fatalf("detected %s %q %s", rd.Format(), rd.Delimiter(), rd.Encoding())
	}
	if !reflect.DeepEqual(rd.Unknown(), []string{"employer"}) {
		t.Errorf("unknown columns = %q", rd.Unknown())
	}
	// Line 5 (all blank) is skipped; lines 6 and 7 are rejected.
	if len(rows) != 5 {
		t.Fatalf("got %d rows: %+v", len(rows), rows)
	}
	want := people.Record{
		NationBuilderID: "101", ExternalID: "EXT-1",
		FirstName: "Anne", LastName: "Dupont",
		Emails: []string{"anne@example.org", "Anne.Dupont@Work.example"},
		Phone:  "+32 2 555 01 01", Mobile: "0470 12 34 56",
		BirthDate: "05/17/1980", Gender: "F", SupportLevel: "1",
		Home:    people.Address{Line1: "Rue Haute 1", City: "Bruxelles", Postcode: "1000", Country: "BE", Lat: fp(50.8467), Lng: fp(4.3499)},
		Mailing: people.Address{Line1: "Postbus 5", City: "Gent"},
		Tags:    []string{"pensions", "climate strike", "volunteer", "import-2026"},
		Note:    `met at "market"`,
		Consents: []people.ConsentInput{
			{Channel: "email", Granted: true, Basis: "consent"},
			{Channel: "sms", Granted: false, Basis: "consent"},
		},
	}
	if rows[0].line != 2 || !reflect.DeepEqual(rows[0].rec, want) {
		t.Errorf("line %d:\n got %+v\nwant %+v", rows[0].line, rows[0].rec, want)
	}
	bart := rows[1].rec
	if rows[1].line != 3 || bart.Gender != "M" || !reflect.DeepEqual(bart.Tags, []string{"volunteer", "import-2026"}) ||
		!reflect.DeepEqual(bart.Consents, []people.ConsentInput{{Channel: "email", Granted: false, Basis: "consent"}}) {
		t.Errorf("bart = line %d %+v", rows[1].line, bart)
	}
	if rows[2].line != 4 || rows[2].rec.FirstName != "Chloé" || rows[2].rec.Consents != nil {
		t.Errorf("chloé = %+v", rows[2])
	}
	if rows[3].line != 6 || !strings.Contains(rows[3].err, `"email_opt_in"`) || !strings.Contains(rows[3].err, "yes or no") {
		t.Errorf("bad opt-in row = %+v", rows[3])
	}
	if rows[4].line != 7 || !strings.Contains(rows[4].err, `"primary_lat"`) {
		t.Errorf("bad lat row = %+v", rows[4])
	}
}

func TestCiviCRMEnglish(t *testing.T) {
	rd, rows := readAll(t, openFile(t, "civicrm_en.csv"), Options{})
	if rd.Format() != FormatCiviCRM {
		t.Fatalf("format = %s", rd.Format())
	}
	if !reflect.DeepEqual(rd.Unknown(), []string{"Contact Type"}) {
		t.Errorf("unknown = %q", rd.Unknown())
	}
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	jean := rows[0].rec
	want := people.Record{
		CiviCRMID: "7", ExternalID: "X7", FirstName: "Jean", LastName: "Dubois",
		Emails: []string{"jean@example.org"}, Phone: "02 555 12 12", BirthDate: "1975-03-02", Gender: "Male",
		Home:     people.Address{Line1: "Rue Neuve 5", City: "Liège", Postcode: "4000", Country: "Belgium"},
		Tags:     []string{"members", "donors", "Newsletter"},
		Consents: []people.ConsentInput{{Channel: "sms", Granted: false, Basis: "consent"}},
	}
	if !reflect.DeepEqual(jean, want) {
		t.Errorf("\n got %+v\nwant %+v", jean, want)
	}
	// Do Not Email and No Bulk Emails both say no to email: one withdrawal.
	if got := rows[1].rec.Consents; !reflect.DeepEqual(got, []people.ConsentInput{{Channel: "email", Granted: false, Basis: "consent"}}) {
		t.Errorf("marie consents = %+v", got)
	}
}

func TestCiviCRMFrenchWindows1252Semicolon(t *testing.T) {
	rd, rows := readAll(t, openFile(t, "civicrm_fr.csv"), Options{})
	if rd.Format() != FormatCiviCRM || rd.Delimiter() != ';' || rd.Encoding() != "windows-1252" {
		t.Fatalf("detected %s %q %s", rd.Format(), rd.Delimiter(), rd.Encoding())
	}
	if len(rd.Unknown()) != 0 {
		t.Errorf("unknown = %q", rd.Unknown())
	}
	h := rows[0].rec
	if h.CiviCRMID != "12" || h.FirstName != "Hélène" || h.LastName != "Lefèvre" || h.Home.City != "Liège" ||
		h.Home.Line1 != "Place Saint-Lambert 1" || h.Home.Country != "Belgique" || h.BirthDate != "02/03/1975" ||
		!reflect.DeepEqual(h.Tags, []string{"Adhérent"}) || len(h.Consents) != 1 || h.Consents[0].Granted {
		t.Errorf("hélène = %+v", h)
	}
	if f := rows[1].rec; f.FirstName != "François" || f.LastName != "Noël" || len(f.Consents) != 0 {
		t.Errorf("françois = %+v", f)
	}
}

func TestCiviCRMDutchTabBOM(t *testing.T) {
	rd, rows := readAll(t, openFile(t, "civicrm_nl.tsv"), Options{})
	if rd.Format() != FormatCiviCRM || rd.Delimiter() != '\t' || rd.Encoding() != "utf-8 (BOM)" {
		t.Fatalf("detected %s %q %s", rd.Format(), rd.Delimiter(), rd.Encoding())
	}
	j := rows[0].rec
	want := people.Record{
		CiviCRMID: "21", FirstName: "Joëlle", LastName: "De Smet", Emails: []string{"joelle@example.org"},
		Phone: "09 111 22 33", BirthDate: "1990-12-01", Gender: "Vrouw",
		Home:     people.Address{Line1: "Korenmarkt 1", City: "Gent", Postcode: "9000", Country: "België"},
		Consents: []people.ConsentInput{{Channel: "sms", Granted: false, Basis: "consent"}},
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("\n got %+v\nwant %+v", j, want)
	}
}

func TestGenericCSVWithMap(t *testing.T) {
	rd, rows := readAll(t, openFile(t, "generic_fr.csv"), Options{Map: map[string]string{"Intérêts": "tags", "couleur preferee": "custom.colour"}})
	if rd.Format() != FormatCSV {
		t.Fatalf("format = %s", rd.Format())
	}
	if !reflect.DeepEqual(rd.Unknown(), []string{"Nom complet"}) {
		t.Errorf("unknown = %q", rd.Unknown())
	}
	l := rows[0].rec
	want := people.Record{
		FirstName: "Luc", LastName: "Simon", Emails: []string{"luc@example.org"}, Mobile: "0478 00 00 00",
		Home: people.Address{Postcode: "1050", City: "Ixelles"}, Tags: []string{"logement"},
		Custom: map[string]string{"colour": "bleu"},
	}
	if !reflect.DeepEqual(l, want) {
		t.Errorf("\n got %+v\nwant %+v", l, want)
	}
	if m := rd.Mapping(); len(m) != 8 || m[0] != [2]string{"Prénom", "first_name"} {
		t.Errorf("mapping = %q", m)
	}
}

func TestMapOverridesDetection(t *testing.T) {
	in := "email,phone\nx@example.org,0470\n"
	_, rows := readAll(t, strings.NewReader(in), Options{Format: FormatCSV, Map: map[string]string{"phone": "mobile"}})
	if r := rows[0].rec; r.Mobile != "0470" || r.Phone != "" {
		t.Errorf("record = %+v", r)
	}
}

func TestMapErrors(t *testing.T) {
	for _, tc := range []struct {
		m    map[string]string
		want string
	}{
		{map[string]string{"email": "shoe_size"}, `unknown field "shoe_size"`},
		{map[string]string{"nope": "email"}, `no column "nope"`},
	} {
		_, err := Open(strings.NewReader("email\nx@example.org\n"), Options{Map: tc.m})
		if errs.KindOf(err) != errs.KindInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.m, err, tc.want)
		}
	}
}

func TestDelimiterDetection(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want rune
	}{
		{"first_name,last_name,email\n", ','},
		{"first_name;last_name;email\n", ';'},
		{"first_name\tlast_name\temail\n", '\t'},
		// A quoted header cell holding commas does not fool it.
		{`"first, name";last_name;email` + "\n", ';'},
		{"email\n", ','},
	} {
		rd, err := Open(strings.NewReader(tc.in+"\n"), Options{Map: map[string]string{}})
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if rd.Delimiter() != tc.want {
			t.Errorf("%q: delimiter %q, want %q", tc.in, rd.Delimiter(), tc.want)
		}
	}
}

func TestEncodings(t *testing.T) {
	utf16 := []byte{0xFF, 0xFE}
	for _, c := range "first_name;email\r\nZoë;z@example.org\r\n" {
		utf16 = append(utf16, byte(c), byte(c>>8))
	}
	for _, tc := range []struct {
		name string
		in   []byte
		enc  string
	}{
		{"utf8", []byte("first_name;email\nZoë;z@example.org\n"), "utf-8"},
		{"bom", []byte("\xEF\xBB\xBFfirst_name;email\nZoë;z@example.org\n"), "utf-8 (BOM)"},
		{"cp1252", []byte("first_name;email\nZo\xEB;z@example.org\n"), "windows-1252"},
		{"utf16", utf16, "utf-16"},
	} {
		rd, rows := readAll(t, bytes.NewReader(tc.in), Options{})
		if rd.Encoding() != tc.enc || len(rows) != 1 || rows[0].rec.FirstName != "Zoë" || rows[0].rec.Emails[0] != "z@example.org" {
			t.Errorf("%s: encoding %s rows %+v", tc.name, rd.Encoding(), rows)
		}
	}
}

// A UTF-8 file with a Windows-1252 cell past the sniffed start: the cell is
// decoded as Windows-1252 rather than stored as invalid text.
func TestLateWindows1252Cell(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("first_name,email\n")
	for b.Len() < sniffSize+100 {
		b.WriteString("Ann,ann@example.org\n")
	}
	b.WriteString("Ren\xE9,rene@example.org\n")
	_, rows := readAll(t, &b, Options{})
	if last := rows[len(rows)-1].rec; last.FirstName != "René" {
		t.Errorf("last = %q", last.FirstName)
	}
}

func TestRefusedFiles(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"blank", "\n\n  \n", "empty"},
		{"zip", "PK\x03\x04\x14\x00\x00\x00", "Excel"},
		{"binary", "\x00\x01\x02\x03hello", "binary"},
		{"one unknown column", "hello world\nfoo\n", "no comma, semicolon or tab"},
		{"unknown header", "a,b,c\n1,2,3\n", "no usable header"},
		{"headerless data", "anne@example.org,Anne,Dupont\n", "no usable header"},
		{"bad header", "email,\"first\n", "header line is not valid CSV"},
	} {
		_, err := Open(strings.NewReader(tc.in), Options{})
		if err == nil || errs.KindOf(err) != errs.KindInvalid || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want invalid containing %q", tc.name, err, tc.want)
		}
	}
}

func TestRowErrorsCarryLineNumbers(t *testing.T) {
	in := "email,first_name\n" +
		"a@example.org,A\n" +
		"\"b@example.org\",\"multi\nline\"\n" +
		"c@exa\"mple.org,C\n" +
		"d@example.org,D\n"
	_, rows := readAll(t, strings.NewReader(in), Options{})
	if len(rows) != 4 {
		t.Fatalf("rows = %+v", rows)
	}
	lines := []int{rows[0].line, rows[1].line, rows[2].line, rows[3].line}
	if !reflect.DeepEqual(lines, []int{2, 3, 5, 6}) {
		t.Errorf("lines = %v", lines)
	}
	if rows[1].rec.FirstName != "multi\nline" {
		t.Errorf("multi-line = %q", rows[1].rec.FirstName)
	}
	if !strings.Contains(rows[2].err, "not valid CSV") || rows[3].rec.FirstName != "D" {
		t.Errorf("rows = %+v", rows)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   Format
	}{
		{"nationbuilder_id,email", FormatNationBuilder},
		{"first_name,email,tag_list", FormatNationBuilder},
		{"first_name,born_at,email_opt_in", FormatNationBuilder},
		{"Contact ID,First Name", FormatCiviCRM},
		{"first_name,do_not_email", FormatCiviCRM},
		{"Voornaam,Achternaam,Geen sms", FormatCiviCRM},
		{"first_name,email", FormatCSV},
		{"Prénom,Courriel", FormatCSV},
	} {
		if got := detectFormat(strings.Split(tc.header, ",")); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.header, got, tc.want)
		}
	}
}

func TestNormKey(t *testing.T) {
	for in, want := range map[string]string{
		"Prénom": "prenom", "E-mail": "email", "No Bulk Emails (User Opt Out)": "nobulkemailsuseroptout",
		"is_volunteer?": "isvolunteer", " Code  Postal ": "codepostal", "Étiquettes": "etiquettes",
	} {
		if got := normKey(in); got != want {
			t.Errorf("normKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, v := range []string{"1", "TRUE", "yes", "Oui", "ja", "x"} {
		if b, err := parseBool(v); err != nil || !b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	for _, v := range []string{"0", "False", "no", "non", "nee"} {
		if b, err := parseBool(v); err != nil || b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	if _, err := parseBool("perhaps"); err == nil {
		t.Error("perhaps parsed")
	}
}

func TestUnterminatedQuoteInHugeFileStops(t *testing.T) {
	r := io.MultiReader(strings.NewReader("email,first_name\na@example.org,\"never closed\n"),
		io.LimitReader(repeatByte('x'), 2*maxRowBytes))
	rd, err := Open(r, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = rd.Next()
	if errs.KindOf(err) != errs.KindInvalid || !strings.Contains(err.Error(), "unterminated quote") {
		t.Fatalf("err = %v", err)
	}
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
