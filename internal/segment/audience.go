package segment

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Audience export: a file of hashed identifiers for an ad platform's
// customer-list upload (a "custom audience"), and the targeting register
// that records every export of people selected by a filter.
//
// The file follows Meta's customer-list format for Custom Audiences
// (Meta Marketing API, "Customer File Custom Audiences", data
// normalisation and hashing), which Google Customer Match accepts for the
// same identifiers:
//
//	column   identifier         normalised as                                   then
//	email    primary e-mail     trimmed, lower-cased                            SHA-256, lower-case hex
//	phone    mobile, else phone E.164 digits with the country code, no '+'     SHA-256, lower-case hex
//	fn       first name         trimmed, lower-cased (UTF-8 kept)               SHA-256, lower-case hex
//	ln       last name          trimmed, lower-cased (UTF-8 kept)               SHA-256, lower-case hex
//	country  home country       ISO 3166-1 alpha-2, lower-cased ("be")          SHA-256, lower-case hex
//
// An unknown value is an empty cell, never the hash of "". Only people whose
// current consent for the ads channel is granted are written, and only
// those with an e-mail or a phone (names and country alone do not match
// anyone). Nothing else about a person is ever written: no support level,
// tags, custom fields or other attributes.
//
// Filters that select on political opinions are refused: Regulation (EU)
// 2024/900 on the transparency and targeting of political advertising,
// Article 18, forbids targeting (and ad delivery) techniques that involve
// profiling with special categories of personal data (GDPR Art. 9(1),
// which includes political opinions). The support level and tags marked
// sensitive are such data.

// AudienceHeader is the header row of an audience file.
var AudienceHeader = []string{"email", "phone", "fn", "ln", "country"}

// HashIdentifier is the lower-case hex SHA-256 of an already normalised
// identifier; the empty string stays empty.
func HashIdentifier(normalised string) string {
	if normalised == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(normalised))
	return hex.EncodeToString(sum[:])
}

// AudienceRow normalises and hashes one person's identifiers, in the order
// of AudienceHeader. phoneE164 is the stored E.164 number ("+32470123456").
func AudienceRow(email, phoneE164, first, last, country string) []string {
	phone := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, phoneE164)
	return []string{
		HashIdentifier(strings.ToLower(strings.TrimSpace(email))),
		HashIdentifier(phone),
		HashIdentifier(strings.ToLower(strings.TrimSpace(first))),
		HashIdentifier(strings.ToLower(strings.TrimSpace(last))),
		HashIdentifier(strings.ToLower(strings.TrimSpace(country))),
	}
}

// Register formats.
const (
	FormatAudience = "audience"
	FormatCSV      = "csv"
)

// MaxPurpose bounds the purpose written in the register.
const MaxPurpose = 500

// CheckAudienceFilter refuses a filter that may not select an ad audience:
// after expanding saved segments, any use of support: or of a tag marked
// sensitive, negated or not (excluding people by their opinion selects on
// it too). The error explains why, citing Regulation (EU) 2024/900.
func (s *Service) CheckAudienceFilter(ctx context.Context, nationID int64, filterText string) error {
	what, err := s.UsesOpinion(ctx, nationID, filterText)
	if err != nil || what == "" {
		return err
	}
	return refusal(what)
}

// UsesOpinion says what political-opinion data a filter selects on, after
// expanding saved segments — "the support level" or a tag marked sensitive,
// negated or not — or "" when none.
func (s *Service) UsesOpinion(ctx context.Context, nationID int64, filterText string) (string, error) {
	e, _, err := s.prepare(ctx, nationID, filterText) // parses and expands segment:NAME
	if err != nil {
		return "", err
	}
	if Uses(e, "support") {
		return "the support level", nil
	}
	if !Uses(e, "tag") {
		return "", nil
	}
	sensitive, err := s.SensitiveTags(ctx, nationID)
	if err != nil {
		return "", err
	}
	for _, q := range Qualifiers(e) {
		if q.Name == "tag" {
			if name, ok := sensitive[TagKey(q.Value)]; ok {
				return fmt.Sprintf("the tag %q, which is marked sensitive", name), nil
			}
		}
	}
	return "", nil
}

func refusal(what string) error {
	return errs.InvalidField("filter", "%s", "This filter selects people on "+what+", which is political-opinion data. "+
		"Regulation (EU) 2024/900 on political advertising (Article 18) forbids targeting ads with profiling "+
		"based on such special categories of personal data, so it cannot be used for an ad audience. "+
		"Remove that part of the filter (also from the saved segments it uses).")
}

// SensitiveTags returns the nation's tags marked sensitive, plain name by
// plain key (their rows are sealed: crypt.MarkTag).
func (s *Service) SensitiveTags(ctx context.Context, nationID int64) (map[string]string, error) {
	k, err := ReadKey(ctx, s.db, nationID)
	if err != nil {
		return nil, err
	}
	tags, err := crypt.Tags(ctx, s.db, k, nationID)
	if err != nil {
		return nil, fmt.Errorf("segment: sensitive tags: %w", err)
	}
	out := map[string]string{}
	for _, t := range tags {
		if t.Sensitive {
			out[t.Key] = t.Name
		}
	}
	return out, nil
}

// SetTagSensitive marks a tag (by name, case-insensitively) sensitive or
// not; an unknown tag is not found. Marking seals the tag's row in place —
// the name encrypted, the key replaced by a blind index, and the timeline
// entries naming it sealed (crypt.MarkTag) — so that the database holds no
// plaintext of it; its id and taggings stay. Unmarking stores the name and
// key in the clear again. The engine's copies of the old rows (SQLite WAL,
// PostgreSQL dead tuples) are scrubbed afterwards.
func (s *Service) SetTagSensitive(ctx context.Context, nationID int64, tag string, sensitive bool) error {
	// NationKeyOf may create the key (through the writer): outside the
	// transaction.
	k, err := crypt.NationKeyOf(ctx, s.db, nationID)
	if err != nil {
		return fmt.Errorf("segment: nation key: %w", err)
	}
	changed := false
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := crypt.FindTag(ctx, tx, k, nationID, TagKey(tag))
		if errors.Is(err, sql.ErrNoRows) {
			return errs.NotFound("no such tag")
		}
		if err != nil {
			return fmt.Errorf("segment: mark tag: %w", err)
		}
		if t.Sensitive == sensitive {
			return nil
		}
		changed = true
		return crypt.MarkTag(ctx, tx, k, nationID, t, sensitive)
	})
	if err != nil || !changed || !sensitive {
		return err
	}
	return crypt.Scrub(ctx, s.db, "tags", "activities")
}

// AudienceExport writes the audience file of the people of a nation
// matching filterText (see the top of this file for the format), records
// the export in the targeting register (actor, time, filter, purpose,
// count) and returns how many people it wrote. A refused filter, a missing
// purpose or a filter error returns before anything is written to w.
func (s *Service) AudienceExport(ctx context.Context, nationID int64, filterText, purpose string, actorUserID int64, w io.Writer) (int64, error) {
	purpose = strings.TrimSpace(purpose)
	if purpose == "" || utf8.RuneCountInString(purpose) > MaxPurpose {
		return 0, errs.InvalidField("purpose", "say what the audience is for (at most %d characters): it goes in the targeting register", MaxPurpose)
	}
	if err := s.CheckAudienceFilter(ctx, nationID, filterText); err != nil {
		return 0, err
	}
	e, env, err := s.prepare(ctx, nationID, filterText)
	if err != nil {
		return 0, err
	}
	ads := &Qualifier{Name: "consent", Value: "ads"}
	if _, all := e.(*All); all {
		e = ads
	} else {
		e = &And{Terms: []Expr{e, ads}}
	}
	where, args, err := Compile(e, env)
	if err != nil {
		return 0, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.email_norm, p.mobile_e164, p.phone_e164, p.first_name, p.last_name, p.home_country
		FROM people p WHERE `+where+` AND (p.email_norm <> '' OR p.mobile_e164 <> '' OR p.phone_e164 <> '') ORDER BY p.id`, args...)
	if err != nil {
		return 0, fmt.Errorf("segment: audience: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write(AudienceHeader); err != nil {
		return 0, fmt.Errorf("segment: audience: write: %w", err)
	}
	var n int64
	for rows.Next() {
		var email, mobile, phone, first, last, country string
		if err := rows.Scan(&email, &mobile, &phone, &first, &last, &country); err != nil {
			return 0, fmt.Errorf("segment: audience: %w", err)
		}
		if mobile == "" {
			mobile = phone
		}
		if err := cw.Write(AudienceRow(email, mobile, first, last, country)); err != nil {
			return 0, fmt.Errorf("segment: audience: write: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("segment: audience: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("segment: audience: write: %w", err)
	}
	if _, err := s.RecordExport(ctx, nationID, actorUserID, FormatAudience, filterText, purpose, n); err != nil {
		return n, err
	}
	return n, nil
}

// RegisterEntry is one export in the targeting register.
type RegisterEntry struct {
	ID      int64
	At      time.Time
	ActorID int64
	Format  string
	Filter  string
	Purpose string
	Count   int64
}

// RecordExport adds an export to the targeting register and returns its id.
func (s *Service) RecordExport(ctx context.Context, nationID, actorUserID int64, format, filterText, purpose string, count int64) (int64, error) {
	id, err := s.db.NextID(ctx, nationID, "targeting_register")
	if err != nil {
		return 0, fmt.Errorf("segment: register: %w", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO targeting_register (nation_id, id, at, actor_id, format, filter, purpose, count)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nationID, id, store.Millis(s.opts.Now()), actorUserID, format, strings.TrimSpace(filterText), purpose, count)
	if err != nil {
		return 0, fmt.Errorf("segment: register: %w", err)
	}
	return id, nil
}

// Register lists a nation's exports, newest first.
func (s *Service) Register(ctx context.Context, nationID int64, limit, offset int) ([]RegisterEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := s.db.Query(ctx, `SELECT id, at, actor_id, format, filter, purpose, count FROM targeting_register
		WHERE nation_id = ? ORDER BY at DESC, id DESC LIMIT ? OFFSET ?`, nationID, limit, max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("segment: register: %w", err)
	}
	defer rows.Close()
	var out []RegisterEntry
	for rows.Next() {
		var e RegisterEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.Format, &e.Filter, &e.Purpose, &e.Count); err != nil {
			return nil, fmt.Errorf("segment: register: %w", err)
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListHeader is the header row of a segment's plain CSV export.
var ListHeader = []string{"id", "first_name", "last_name", "email", "mobile", "phone", "postcode", "city"}

// ExportList writes the people of a nation matching filterText as a plain
// CSV list (ListHeader), by id, and returns how many it wrote. Cells that a
// spreadsheet would run as a formula are prefixed with a quote. Recording
// the export (audit log, register) is the caller's job.
func (s *Service) ExportList(ctx context.Context, nationID int64, filterText string, w io.Writer) (int64, error) {
	return s.ExportListWithin(ctx, nationID, filterText, "", nil, w)
}

// ExportListWithin is ExportList limited to the people that the condition
// within (over "people p", with its arguments) also selects: a volunteer's
// scope. Empty within is everyone.
func (s *Service) ExportListWithin(ctx context.Context, nationID int64, filterText, within string, withinArgs []any, w io.Writer) (int64, error) {
	where, args, err := s.compileText(ctx, nationID, filterText)
	if err != nil {
		return 0, err
	}
	if within != "" {
		where = "(" + where + ") AND (" + within + ")"
		args = append(args, withinArgs...)
	}
	rows, err := s.db.Query(ctx, `SELECT p.id, p.first_name, p.last_name, p.email, p.mobile_e164, p.phone_e164, p.home_postcode, p.home_city
		FROM people p WHERE `+where+` ORDER BY p.id`, args...)
	if err != nil {
		return 0, fmt.Errorf("segment: export: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write(ListHeader); err != nil {
		return 0, fmt.Errorf("segment: export: write: %w", err)
	}
	var n int64
	rec := make([]string, len(ListHeader))
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &rec[1], &rec[2], &rec[3], &rec[4], &rec[5], &rec[6], &rec[7]); err != nil {
			return 0, fmt.Errorf("segment: export: %w", err)
		}
		rec[0] = fmt.Sprint(id)
		for i := 1; i < len(rec); i++ {
			rec[i] = defuseFormula(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return 0, fmt.Errorf("segment: export: write: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("segment: export: %w", err)
	}
	cw.Flush()
	return n, cw.Error()
}

// defuseFormula keeps a spreadsheet from running a cell as a formula.
// E.164 phone numbers start with '+' and are left alone.
func defuseFormula(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '-', '@', '\t', '\r':
		return "'" + v
	case '+':
		if strings.Trim(v[1:], "0123456789") != "" {
			return "'" + v
		}
	}
	return v
}

// MatchingIDs returns the ids of the people of a nation matching a filter,
// in id order: the work list of a bulk action (tagging a segment), taken
// whole before the action changes who matches.
func (s *Service) MatchingIDs(ctx context.Context, nationID int64, filterText string) ([]int64, error) {
	where, args, err := s.compileText(ctx, nationID, filterText)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, `SELECT p.id FROM people p WHERE `+where+` ORDER BY p.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("segment: matching ids: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("segment: matching ids: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
