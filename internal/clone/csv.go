package clone

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
)

// Row is one child nation to make, as read from the CSV file.
type Row struct {
	Line          int // 1-based line of the file (the header is line 1)
	Slug          string
	Name          string
	CandidateName string
	Email         string
	Domain        string // lower-cased host name, or ""
	Language      string // default language of the child, or "" for the template's
	Constituency  string
}

// RowError is a row refused, with its line and the reason.
type RowError struct {
	Line   int    `json:"line"`
	Slug   string `json:"slug,omitempty"`
	Reason string `json:"reason"`
}

// Columns are the CSV columns, required first.
var Columns = []string{"slug", "name", "candidate_name", "email", "domain", "language", "constituency"}

const requiredColumns = 4

// MaxRows caps one file: a cloning run is for hundreds of candidates, not
// an import of people.
const MaxRows = 5000

// ParseCSV reads a cloning file: a header naming the columns (any order,
// case and spacing; "candidate name" = candidate_name), UTF-8 with or
// without a byte-order mark, comma or semicolon separated. It returns the
// good rows and the bad ones with their line and reason; a file that cannot
// be read at all (no header, a missing column) is errs.Invalid.
func ParseCSV(r io.Reader) ([]Row, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("clone: read csv: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, nil, errs.Invalid("the file is not UTF-8 text")
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sniffComma(data)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errs.Invalid("the file is empty: a header line (slug,name,candidate_name,email,…) is required")
	}
	if err != nil {
		return nil, nil, errs.Invalid("line 1: %s", csvReason(err))
	}
	idx := map[string]int{}
	for i, h := range header {
		key := normaliseHeader(h)
		if !slices.Contains(Columns, key) {
			return nil, nil, errs.Invalid("line 1: unknown column %q (columns: %s)", h, strings.Join(Columns, ", "))
		}
		if _, dup := idx[key]; dup {
			return nil, nil, errs.Invalid("line 1: column %q appears twice", key)
		}
		idx[key] = i
	}
	for _, c := range Columns[:requiredColumns] {
		if _, ok := idx[c]; !ok {
			return nil, nil, errs.Invalid("line 1: missing column %q (required: %s)", c, strings.Join(Columns[:requiredColumns], ", "))
		}
	}
	var rows []Row
	var bad []RowError
	seenSlug, seenDomain := map[string]int{}, map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: pe.StartLine, Reason: csvReason(err)})
				if len(bad) > MaxRows {
					return nil, nil, errs.Invalid("the file has too many unreadable lines")
				}
				continue
			}
			return nil, nil, fmt.Errorf("clone: read csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(bad) >= MaxRows {
			return nil, nil, errs.Invalid("the file has more than %d rows", MaxRows)
		}
		get := func(col string) string {
			i, ok := idx[col]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		if allEmpty(rec) {
			continue
		}
		row := Row{Line: line, Slug: strings.ToLower(get("slug")), Name: get("name"), CandidateName: get("candidate_name"),
			Email: get("email"), Domain: get("domain"), Language: strings.ToLower(get("language")), Constituency: get("constituency")}
		if reason := row.check(); reason != "" {
			bad = append(bad, RowError{Line: line, Slug: row.Slug, Reason: reason})
			continue
		}
		if first, dup := seenSlug[row.Slug]; dup {
			bad = append(bad, RowError{Line: line, Slug: row.Slug, Reason: fmt.Sprintf("slug %q already on line %d", row.Slug, first)})
			continue
		}
		if row.Domain != "" {
			if first, dup := seenDomain[row.Domain]; dup {
				bad = append(bad, RowError{Line: line, Slug: row.Slug, Reason: fmt.Sprintf("domain %q already on line %d", row.Domain, first)})
				continue
			}
			seenDomain[row.Domain] = line
		}
		seenSlug[row.Slug] = line
		rows = append(rows, row)
	}
	return rows, bad, nil
}

// check validates and normalises a row; it returns the reason it is bad.
func (r *Row) check() string {
	if err := nation.ValidateSlug(r.Slug); err != nil {
		return errs.Message(err)
	}
	if r.Name == "" {
		return "name is empty"
	}
	if utf8.RuneCountInString(r.Name) > 200 {
		return "name is longer than 200 characters"
	}
	if r.CandidateName == "" {
		return "candidate_name is empty"
	}
	if utf8.RuneCountInString(r.CandidateName) > 200 || utf8.RuneCountInString(r.Constituency) > 200 {
		return "candidate_name or constituency is longer than 200 characters"
	}
	email, err := auth.NormaliseEmail(r.Email)
	if err != nil {
		return fmt.Sprintf("email %q: %s", r.Email, errs.Message(err))
	}
	r.Email = email
	if r.Domain != "" {
		host, err := NormaliseHost(r.Domain)
		if err != nil {
			return errs.Message(err)
		}
		r.Domain = host
	}
	if r.Language != "" && !slices.Contains(nation.SupportedLanguages, r.Language) {
		return fmt.Sprintf("language %q is not supported (use en, fr or nl)", r.Language)
	}
	return ""
}

func normaliseHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.NewReplacer(" ", "_", "-", "_").Replace(h)
	switch h {
	case "candidate", "candidatename":
		return "candidate_name"
	case "e_mail", "mail":
		return "email"
	case "lang":
		return "language"
	case "host":
		return "domain"
	}
	return h
}

// sniffComma picks ';' when the header has more semicolons than commas, as
// spreadsheets in much of Europe write.
func sniffComma(data []byte) rune {
	first, _, _ := bytes.Cut(data, []byte("\n"))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		return ';'
	}
	return ','
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func allEmpty(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}
