package privacy

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/people"
)

// purgeFiles removes the person's lines from the nation's stored import
// files (imports/<nation id>/<id>.csv) and their rejects files: a line is
// the person's when one of its fields is (or, for a rejects reason,
// contains) one of their e-mails, or parses to one of their phone numbers.
// A file is rewritten without those lines (atomically, through a temporary
// file); a file left with only its header is deleted. Files without a
// match are not touched. It returns how many files changed.
//
// Lines that name the person only by name and postcode are not recognised;
// docs/privacy.md says so, and why (a name is not an identifier).
func (s *Service) purgeFiles(nationID int64, id *identity) (int, error) {
	if s.d.ImportsDir == "" || (len(id.emails) == 0 && len(id.phones) == 0) {
		return 0, nil
	}
	dir := filepath.Join(s.d.ImportsDir, strconv.FormatInt(nationID, 10))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("privacy: read imports: %w", err)
	}
	m := newMatcher(id)
	changed := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		did, err := purgeFile(filepath.Join(dir, e.Name()), m)
		if err != nil {
			return changed, err
		}
		if did {
			changed++
		}
	}
	return changed, nil
}

// matcher recognises a person's identifiers in the fields of a line.
type matcher struct {
	emails  []string
	phones  map[string]bool
	raw     map[string]bool
	country string
}

func newMatcher(id *identity) *matcher {
	m := &matcher{emails: id.emails, phones: map[string]bool{}, raw: map[string]bool{}, country: id.country}
	for _, p := range id.phones {
		m.phones[p] = true
	}
	for _, p := range id.rawPhone {
		m.raw[strings.TrimSpace(p)] = true
	}
	return m
}

// line reports whether a line's fields name the person.
func (m *matcher) line(fields []string) bool {
	for _, f := range fields {
		if m.field(f) {
			return true
		}
	}
	return false
}

func (m *matcher) field(f string) bool {
	f = strings.TrimSpace(f)
	if f == "" {
		return false
	}
	low := strings.ToLower(f)
	for _, e := range m.emails {
		if containsAddress(low, e) {
			return true
		}
	}
	if m.raw[f] {
		return true
	}
	digits := 0
	for _, r := range f {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-./()", r):
		default:
			return false
		}
	}
	if digits < 6 || len(m.phones) == 0 {
		return false
	}
	p := people.NormalisePhone(f, m.country)
	return p.E164 != "" && m.phones[p.E164]
}

// containsAddress reports whether text holds addr as a whole address (not
// inside a longer one: bob@x.org is not in jimbob@x.org).
func containsAddress(text, addr string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], addr)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(addr)
		if (start == 0 || !addrByte(text[start-1])) && (end == len(text) || !addrByte(text[end]) || text[end] == '.' && (end+1 == len(text) || !addrByte(text[end+1]))) {
			return true
		}
		i = start + 1
	}
}

func addrByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || strings.IndexByte("._%+-", c) >= 0
}

// purgeFile rewrites path without the lines m recognises.
func purgeFile(path string, m *matcher) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("privacy: read import file: %w", err)
	}
	out, kept, dropped, err := purgeCSV(data, m)
	if err != nil {
		// Not parseable as CSV (the importer may have refused it): work on
		// physical lines instead.
		out, kept, dropped = purgeLines(data, m)
	}
	if dropped == 0 {
		return false, nil
	}
	if kept <= 1 { // the header alone, or nothing
		if err := os.Remove(path); err != nil {
			return false, fmt.Errorf("privacy: delete import file: %w", err)
		}
		return true, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".erase-*")
	if err != nil {
		return false, fmt.Errorf("privacy: rewrite import file: %w", err)
	}
	_, werr := tmp.Write(out)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("privacy: rewrite import file: %w", werr)
	}
	return true, nil
}

// purgeCSV parses data as CSV (the delimiter sniffed from the first line)
// and writes it back without the matching records.
func purgeCSV(data []byte, m *matcher) (out []byte, kept, dropped int, err error) {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	delim := ','
	best := bytes.Count(first, []byte(","))
	for _, d := range []rune{';', '\t', '|'} {
		if n := bytes.Count(first, []byte(string(d))); n > best {
			delim, best = d, n
		}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma, r.FieldsPerRecord, r.LazyQuotes = delim, -1, true
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Comma = delim
	w.UseCRLF = bytes.Contains(first, []byte("\r"))
	for line := 0; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, 0, err
		}
		if line > 0 && m.line(rec) {
			dropped++
			continue
		}
		kept++
		if err := w.Write(rec); err != nil {
			return nil, 0, 0, err
		}
	}
	w.Flush()
	return buf.Bytes(), kept, dropped, w.Error()
}

// purgeLines drops the physical lines (after the first) that m recognises
// as a whole.
func purgeLines(data []byte, m *matcher) (out []byte, kept, dropped int) {
	lines := bytes.SplitAfter(data, []byte("\n"))
	var buf bytes.Buffer
	for i, l := range lines {
		if len(l) == 0 {
			continue
		}
		if i > 0 && m.line(strings.FieldsFunc(string(l), func(r rune) bool { return strings.ContainsRune(",;\t|\"\r\n", r) })) {
			dropped++
			continue
		}
		kept++
		buf.Write(l)
	}
	return buf.Bytes(), kept, dropped
}
