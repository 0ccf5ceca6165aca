// Package importer reads people files — NationBuilder and CiviCRM exports
// and any CSV with a column mapping — as a stream of people.Record, and runs
// imports into the people store in batches.
//
// Reading never loads a file: the encoding (UTF-8 with or without BOM,
// UTF-16 with BOM, else Windows-1252) and the delimiter (comma, semicolon or
// tab) are detected from the first 64 KiB, and rows are decoded one at a
// time. A file that cannot be a people file (binary, empty, no delimiter, no
// recognisable column) is refused by Open, before anything is written.
package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
)

// sniffSize is how much of the file decides the encoding and delimiter.
const sniffSize = 64 << 10

// Options say how to read a file. The zero value detects everything.
type Options struct {
	Format    Format            // auto when empty
	Map       map[string]string // column header → field name (see FieldNames); overrides detection
	Delimiter rune              // 0: detect among ',', ';' and '\t'
	Tags      []string          // added to every record
}

// Reader yields the records of one file.
type Reader struct {
	csv      *csv.Reader
	guard    *rowGuard
	header   []string
	bindings []binding
	tags     []string
	format   Format
	encoding string
	delim    rune
	unknown  []string
	raw      []string
	line     int
}

// binding ties a column to a destination field.
type binding struct {
	col   int
	rank  int
	field field
}

// RowError is a row that cannot be read; the rest of the file goes on.
type RowError struct {
	Line   int
	Reason string
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// Open detects the encoding, delimiter, format and column mapping of a file
// and reads its header. It refuses (errs.Invalid, with the reason) a file
// that is empty, binary, a spreadsheet rather than CSV, or whose header
// names no column it can use; nothing has been consumed beyond the header.
func Open(r io.Reader, opts Options) (*Reader, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("importer: read: %w", err)
	}
	full := len(head) == sniffSize
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, errs.Invalid("the file is empty")
	}
	if msg := spreadsheetOrBinary(head); msg != "" {
		return nil, errs.Invalid("%s", msg)
	}

	var text io.Reader
	encoding := "utf-8"
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
		text, encoding = br, "utf-8 (BOM)"
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		text, encoding = dec.Reader(br), "utf-16"
	case bytes.IndexByte(head, 0) >= 0:
		return nil, errs.Invalid("the file holds binary data, not CSV text")
	case validUTF8Prefix(head, full):
		text = br
	default:
		text, encoding = charmap.Windows1252.NewDecoder().Reader(br), "windows-1252"
	}
	guard := &rowGuard{r: text}
	tr := bufio.NewReaderSize(guard, sniffSize)
	if encoding != "utf-8" && encoding != "utf-8 (BOM)" {
		// Re-check the decoded text: a UTF-16 file of NULs is still binary.
		h, _ := tr.Peek(sniffSize)
		if msg := spreadsheetOrBinary(h); msg != "" || bytes.IndexByte(h, 0) >= 0 {
			return nil, errs.Invalid("the file holds binary data, not CSV text")
		}
	}

	delim := opts.Delimiter
	if delim == 0 {
		h, _ := tr.Peek(sniffSize)
		delim = detectDelimiter(h)
	}
	cr := csv.NewReader(tr)
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errs.Invalid("the file is empty")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, errs.Invalid("the header line is not valid CSV: %v", pe.Err)
		}
		return nil, fmt.Errorf("importer: read header: %w", err)
	}
	header = slices.Clone(header)
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\uFEFF"))
	}

	format := opts.Format
	if format == "" || format == FormatAuto {
		format = detectFormat(header)
	}
	rd := &Reader{csv: cr, guard: guard, header: header, format: format, encoding: encoding, delim: delim, tags: opts.Tags}
	if err := rd.bind(opts.Map); err != nil {
		return nil, err
	}
	return rd, nil
}

// Ignore, as the field of a mapping (--map COLUMN=ignore), leaves a column
// out even where the format would read it.
const Ignore = "ignore"

// bind maps each column to a field: --map first, then the format's
// vocabulary. Unknown columns are remembered for the summary.
func (rd *Reader) bind(m map[string]string) error {
	explicit := map[string]field{}
	ignored := map[string]bool{}
	for col, name := range m {
		if strings.EqualFold(strings.TrimSpace(name), Ignore) {
			ignored[normKey(col)] = true
			continue
		}
		f, ok := lookupField(name)
		if !ok {
			return errs.Invalid("--map %s=%s: unknown field %q (known: %s, custom.NAME)", col, name, name, strings.Join(FieldNames(), ", "))
		}
		explicit[normKey(col)] = f
	}
	found := map[string]bool{}
	idx := lookupFor(rd.format)
	for i, h := range rd.header {
		k := normKey(h)
		if k == "" {
			continue
		}
		if ignored[k] {
			found[k] = true
			rd.unknown = append(rd.unknown, h)
			continue
		}
		if f, ok := explicit[k]; ok {
			rd.bindings = append(rd.bindings, binding{col: i, rank: -1, field: f})
			found[k] = true
			continue
		}
		if t, ok := idx[k]; ok {
			f, _ := lookupField(t.field)
			rd.bindings = append(rd.bindings, binding{col: i, rank: t.rank, field: f})
			continue
		}
		rd.unknown = append(rd.unknown, h)
	}
	for col := range m {
		if !found[normKey(col)] {
			return errs.Invalid("--map %s=…: the file has no column %q", col, col)
		}
	}
	if len(rd.bindings) == 0 {
		if len(rd.header) == 1 {
			return errs.Invalid("not a CSV people file: no comma, semicolon or tab separates columns, and %q is not a known column", clip(rd.header[0]))
		}
		return errs.Invalid("no usable header: none of the %d columns is a known person field; name them with --map COLUMN=FIELD", len(rd.header))
	}
	slices.SortStableFunc(rd.bindings, func(a, b binding) int { return a.rank - b.rank })
	return nil
}

// Next returns the next record and its line number (the line where the row
// starts, counting the header as line 1). A row that cannot be read returns
// a *RowError and the reader moves on; io.EOF ends the file. Rows whose
// cells are all blank are skipped.
func (rd *Reader) Next() (people.Record, int, error) {
	for {
		rd.guard.n = 0
		row, err := rd.csv.Read()
		if err != nil {
			if errors.Is(err, errRowTooLong) {
				line, _ := rd.csv.FieldPos(0)
				return people.Record{}, 0, errs.Invalid("after line %d: a row longer than %d MiB (an unterminated quote?); the rest of the file was not read", line, maxRowBytes>>20)
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) && !errors.Is(pe.Err, csv.ErrFieldCount) {
				rd.raw = nil
				rd.line = pe.StartLine
				return people.Record{}, pe.StartLine, &RowError{Line: pe.StartLine, Reason: "not valid CSV: " + pe.Err.Error()}
			}
			if errors.Is(err, io.EOF) {
				return people.Record{}, 0, io.EOF
			}
			return people.Record{}, 0, fmt.Errorf("importer: read: %w", err)
		}
		line, _ := rd.csv.FieldPos(0)
		rd.raw, rd.line = row, line
		if blank(row) {
			continue
		}
		rec, err := rd.record(row)
		if err != nil {
			return people.Record{}, line, &RowError{Line: line, Reason: err.Error()}
		}
		return rec, line, nil
	}
}

func (rd *Reader) record(row []string) (people.Record, error) {
	var rec people.Record
	for _, b := range rd.bindings {
		if b.col >= len(row) {
			continue
		}
		v := strings.TrimSpace(row[b.col])
		if v == "" {
			continue
		}
		if !utf8.ValidString(v) {
			// A file that began as UTF-8 but holds a Windows-1252 cell
			// further on (two exports pasted together): decode the cell.
			v, _ = charmap.Windows1252.NewDecoder().String(v)
		}
		if err := b.field.set(&rec, v); err != nil {
			return people.Record{}, fmt.Errorf("column %q: %v", clip(rd.header[b.col]), err)
		}
	}
	for _, t := range rd.tags {
		addTag(&rec, t)
	}
	return rec, nil
}

// Raw returns the cells of the row last read (nil after an unreadable
// row), valid until the next call to Next.
func (rd *Reader) Raw() []string { return rd.raw }

// Header returns the column titles as written in the file.
func (rd *Reader) Header() []string { return rd.header }

// Format returns the format in use (detected when Options.Format was auto).
func (rd *Reader) Format() Format { return rd.format }

// Encoding names the detected text encoding.
func (rd *Reader) Encoding() string { return rd.encoding }

// Delimiter returns the column separator in use.
func (rd *Reader) Delimiter() rune { return rd.delim }

// Unknown lists the columns that feed no field; they are ignored.
func (rd *Reader) Unknown() []string { return rd.unknown }

// Mapping lists column → field for the columns in use, in column order.
func (rd *Reader) Mapping() [][2]string {
	bs := slices.Clone(rd.bindings)
	slices.SortFunc(bs, func(a, b binding) int { return a.col - b.col })
	out := make([][2]string, 0, len(bs))
	for _, b := range bs {
		out = append(out, [2]string{rd.header[b.col], b.field.name})
	}
	return out
}

// maxRowBytes bounds one row, so that an unterminated quote in a huge file
// fails instead of reading the rest of the file into one field.
const maxRowBytes = 4 << 20

var errRowTooLong = errors.New("importer: row too long")

// rowGuard counts the bytes read since the reader last reset n.
type rowGuard struct {
	r io.Reader
	n int
}

func (g *rowGuard) Read(p []byte) (int, error) {
	if g.n > maxRowBytes {
		return 0, errRowTooLong
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}

// detectDelimiter counts commas, semicolons and tabs outside quotes on the
// header line and picks the most frequent; comma when none appears.
func detectDelimiter(head []byte) rune {
	counts := map[byte]int{}
	quoted := false
	for _, c := range head {
		if c == '"' {
			quoted = !quoted
			continue
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		if c == ',' || c == ';' || c == '\t' {
			counts[c]++
		}
	}
	best, n := byte(','), 0
	for _, c := range []byte{',', ';', '\t'} {
		if counts[c] > n {
			best, n = c, counts[c]
		}
	}
	return rune(best)
}

// spreadsheetOrBinary names files that are obviously not CSV text.
func spreadsheetOrBinary(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "the file is a ZIP archive or an Excel/OpenDocument workbook, not CSV: save it as CSV first"
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return "the file is an old Excel workbook (.xls), not CSV: save it as CSV first"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "the file is a PDF, not CSV"
	case bytes.HasPrefix(head, []byte{0x1F, 0x8B}):
		return "the file is gzip-compressed: decompress it first"
	}
	control := 0
	for _, c := range head {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != 0 {
			control++
		}
	}
	if control > 8 && control*50 > len(head) {
		return "the file holds binary data, not CSV text"
	}
	return ""
}

// validUTF8Prefix reports whether b is UTF-8, allowing a rune cut at the end
// of a chunk that is not the whole file.
func validUTF8Prefix(b []byte, truncated bool) bool {
	if utf8.Valid(b) {
		return true
	}
	if !truncated {
		return false
	}
	for cut := 1; cut <= 3 && cut < len(b); cut++ {
		if utf8.Valid(b[:len(b)-cut]) {
			return true
		}
	}
	return false
}

func blank(row []string) bool {
	for _, c := range row {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// clip shortens a header for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
