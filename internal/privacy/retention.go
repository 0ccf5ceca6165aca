package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/store"
)

// Retention policies (GDPR Art. 5(1)(e), storage limitation). A nation keeps
// rules; a daily job applies them through Erase, so that a retained-out
// person leaves exactly the traces an erasure request leaves (suppression
// hashes, journal, purged files). Two kinds of rule:
//
//   - "prospects": people with no relationship, no membership, no consent
//     currently granted, not restricted, created and last active more than
//     Months months ago;
//   - "import": people who came only from one control-panel import whose
//     expiry date has passed (e.g. a Belgian electoral list usable only
//     until the election): their every activity comes from that import and
//     they have no other basis (no relationship, membership or consent).
//
// Restricted people (Art. 18) are never retained out: restriction is asked
// precisely to keep data that would otherwise be erased.
//
// A rule's action is "erase" (the default) or "anonymise" (Anonymise: the
// same erasure, but the person row stays with the country and creation
// year only, and signatures stay without name, so that counts hold). An
// anonymised person has no identifier left and is not matched again.

// Rule kinds.
const (
	RuleProspects = "prospects"
	RuleImport    = "import"
)

// Rule actions.
const (
	ActionErase     = "erase"
	ActionAnonymise = "anonymise"
)

// RetentionJobKind is the daily job that applies every nation's rules.
const RetentionJobKind = "privacy.retention"

// Rule is one retention rule of a nation.
type Rule struct {
	ID        int64
	Kind      string
	Months    int    // prospects
	ImportID  int64  // import
	ExpiresOn string // import: YYYY-MM-DD; erased from the next day on
	Action    string // ActionErase (when empty) or ActionAnonymise
	CreatedAt time.Time
}

// RuleOutcome is what one rule matched and erased in one run.
type RuleOutcome struct {
	RuleID    int64  `json:"rule_id"`
	Kind      string `json:"kind"`
	Months    int    `json:"months,omitempty"`
	ImportID  int64  `json:"import_id,omitempty"`
	ExpiresOn string `json:"expires_on,omitempty"`
	Action    string `json:"action,omitempty"` // empty in runs recorded before anonymisation existed: erase
	Matched   int    `json:"matched"`
	Erased    int    `json:"erased"` // erased, or anonymised when Action is anonymise
	// Failed counts people whose erasure failed (they are tried again on
	// the next run).
	Failed int `json:"failed,omitempty"`
}

// RetentionRun is the record of one application of the rules: counts only.
type RetentionRun struct {
	ID     int64
	At     time.Time
	Erased int
	Rules  []RuleOutcome
}

// AddRule validates and stores a rule.
func (s *Service) AddRule(ctx context.Context, nationID, actor int64, r Rule) (*Rule, error) {
	switch r.Action {
	case "", ActionErase:
		r.Action = ActionErase
	case ActionAnonymise:
	default:
		return nil, errs.InvalidField("action", "Choose erase or anonymise.")
	}
	switch r.Kind {
	case RuleProspects:
		if r.Months < 1 || r.Months > 1200 {
			return nil, errs.InvalidField("months", "Give a number of months between 1 and 1200.")
		}
		r.ImportID, r.ExpiresOn = 0, ""
	case RuleImport:
		if _, err := time.Parse("2006-01-02", r.ExpiresOn); err != nil {
			return nil, errs.InvalidField("expires_on", "Give the expiry date as YYYY-MM-DD.")
		}
		var n int
		if err := s.d.DB.QueryRow(ctx, `SELECT COUNT(*) FROM imports WHERE nation_id = ? AND id = ?`, nationID, r.ImportID).Scan(&n); err != nil {
			return nil, fmt.Errorf("privacy: add rule: %w", err)
		}
		if n == 0 {
			return nil, errs.InvalidField("import", "Choose one of this nation's imports.")
		}
		r.Months = 0
	default:
		return nil, errs.InvalidField("kind", "Choose a kind of rule.")
	}
	id, err := s.d.DB.NextID(ctx, nationID, "retention_rules")
	if err != nil {
		return nil, fmt.Errorf("privacy: add rule: %w", err)
	}
	r.ID, r.CreatedAt = id, s.d.Now()
	if _, err := s.d.DB.Exec(ctx, `INSERT INTO retention_rules (nation_id, id, kind, months, import_id, expires_on, action, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, nationID, r.ID, r.Kind, r.Months, r.ImportID, r.ExpiresOn, r.Action, actor, store.Millis(r.CreatedAt)); err != nil {
		return nil, fmt.Errorf("privacy: add rule: %w", err)
	}
	return &r, nil
}

// DeleteRule removes a rule of the nation.
func (s *Service) DeleteRule(ctx context.Context, nationID, id int64) error {
	res, err := s.d.DB.Exec(ctx, `DELETE FROM retention_rules WHERE nation_id = ? AND id = ?`, nationID, id)
	if err != nil {
		return fmt.Errorf("privacy: delete rule: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.NotFound("no such rule")
	}
	return nil
}

// Rules lists the nation's rules, oldest first.
func (s *Service) Rules(ctx context.Context, nationID int64) ([]Rule, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT id, kind, months, import_id, expires_on, action, created_at
		FROM retention_rules WHERE nation_id = ? ORDER BY id`, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: rules: %w", err)
	}
	defer rows.Close()
	var out []Rule
	for rows.Next() {
		var r Rule
		var at int64
		if err := rows.Scan(&r.ID, &r.Kind, &r.Months, &r.ImportID, &r.ExpiresOn, &r.Action, &at); err != nil {
			return nil, fmt.Errorf("privacy: rules: %w", err)
		}
		r.CreatedAt = store.Time(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// noBasis is the condition, on people p, of having no other basis to be
// held: no relationship, no membership, no consent currently granted (the
// latest entry of some channel being a grant), not restricted, not merged.
const noBasis = `p.merged_into = 0 AND p.restricted = 0 AND p.relationship = '' AND p.membership_status = ''
	AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.nation_id = p.nation_id AND c.person_id = p.id AND c.status = 'granted'
		AND NOT EXISTS (SELECT 1 FROM consents c2 WHERE c2.nation_id = c.nation_id AND c2.person_id = c.person_id
			AND c2.channel = c.channel AND (c2.at > c.at OR (c2.at = c.at AND c2.id > c.id))))`

// anonymous is the condition, on people p, of holding no identifier any
// more: what Anonymise leaves.
const anonymous = `p.first_name = '' AND p.middle_name = '' AND p.last_name = '' AND p.email_norm = ''
	AND p.phone = '' AND p.mobile = '' AND p.work_phone = '' AND p.home_line1 = '' AND p.external_id = ''
	AND NOT EXISTS (SELECT 1 FROM person_emails e WHERE e.nation_id = p.nation_id AND e.person_id = p.id)
	AND NOT EXISTS (SELECT 1 FROM person_phones f WHERE f.nation_id = p.nation_id AND f.person_id = p.id)`

// matches returns the ids of the people the rule applies to at now.
func (s *Service) matches(ctx context.Context, nationID int64, r Rule, now time.Time) ([]int64, error) {
	var q string
	var args []any
	switch r.Kind {
	case RuleProspects:
		cutoff := store.Millis(now.AddDate(0, -r.Months, 0))
		q = `SELECT p.id FROM people p WHERE p.nation_id = ? AND ` + noBasis + `
			AND p.created_at < ? AND p.last_activity_at < ?
			AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.nation_id = p.nation_id AND a.person_id = p.id AND a.at >= ?)
			ORDER BY p.id`
		args = []any{nationID, cutoff, cutoff, cutoff}
	case RuleImport:
		exp, err := time.Parse("2006-01-02", r.ExpiresOn)
		if err != nil || !now.After(exp.AddDate(0, 0, 1)) {
			return nil, nil // not expired yet (the whole expiry day is still allowed)
		}
		// The activity source of a control-panel import is its file name
		// there, "<id>.csv" (importer.Imports.Path).
		ref := strconv.FormatInt(r.ImportID, 10) + ".csv"
		q = `SELECT p.id FROM people p WHERE p.nation_id = ? AND ` + noBasis + `
			AND EXISTS (SELECT 1 FROM activities a WHERE a.nation_id = p.nation_id AND a.person_id = p.id
				AND a.source_kind = 'import' AND a.source_ref = ?)
			AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.nation_id = p.nation_id AND a.person_id = p.id
				AND NOT (a.source_kind = 'import' AND a.source_ref = ?))
			ORDER BY p.id`
		args = []any{nationID, ref, ref}
	default:
		return nil, nil
	}
	if r.Action == ActionAnonymise {
		q = strings.Replace(q, "ORDER BY p.id", "AND NOT ("+anonymous+") ORDER BY p.id", 1)
	}
	rows, err := s.d.DB.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("privacy: retention match: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("privacy: retention match: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// PreviewRetention counts what the rules would erase now, erasing nothing.
func (s *Service) PreviewRetention(ctx context.Context, nationID int64) ([]RuleOutcome, error) {
	rules, err := s.Rules(ctx, nationID)
	if err != nil {
		return nil, err
	}
	now := s.d.Now()
	out := make([]RuleOutcome, 0, len(rules))
	for _, r := range rules {
		ids, err := s.matches(ctx, nationID, r, now)
		if err != nil {
			return nil, err
		}
		out = append(out, outcomeOf(r, len(ids)))
	}
	return out, nil
}

func outcomeOf(r Rule, matched int) RuleOutcome {
	return RuleOutcome{RuleID: r.ID, Kind: r.Kind, Months: r.Months, ImportID: r.ImportID, ExpiresOn: r.ExpiresOn,
		Action: r.Action, Matched: matched}
}

// ApplyRetention applies the nation's rules now: every matched person is
// erased (Erase, actor 0: the system) or anonymised (Anonymise), and the
// run is recorded with its counts. A nation without rules records no run.
func (s *Service) ApplyRetention(ctx context.Context, nationID int64) (*RetentionRun, error) {
	rules, err := s.Rules(ctx, nationID)
	if err != nil || len(rules) == 0 {
		return nil, err
	}
	now := s.d.Now()
	run := &RetentionRun{At: now}
	for _, r := range rules {
		ids, err := s.matches(ctx, nationID, r, now)
		if err != nil {
			return nil, err
		}
		o := outcomeOf(r, len(ids))
		apply := s.Erase
		if r.Action == ActionAnonymise {
			apply = s.Anonymise
		}
		for _, id := range ids {
			if _, err := apply(ctx, nationID, id, 0); err != nil {
				if errs.KindOf(err) == errs.KindNotFound {
					continue // erased meanwhile (e.g. merged into someone erased by an earlier rule)
				}
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				o.Failed++
				s.d.Log.Warn("privacy: retention erasure failed", "nation", nationID, "rule", r.ID, "err", err)
				continue
			}
			o.Erased++
		}
		run.Erased += o.Erased
		run.Rules = append(run.Rules, o)
	}
	report, err := json.Marshal(run.Rules)
	if err != nil {
		return nil, fmt.Errorf("privacy: retention report: %w", err)
	}
	if run.ID, err = s.d.DB.NextID(ctx, nationID, "retention_runs"); err != nil {
		return nil, fmt.Errorf("privacy: retention run: %w", err)
	}
	if _, err := s.d.DB.Exec(ctx, `INSERT INTO retention_runs (nation_id, id, at, erased, report) VALUES (?, ?, ?, ?, ?)`,
		nationID, run.ID, store.Millis(now), run.Erased, string(report)); err != nil {
		return nil, fmt.Errorf("privacy: retention run: %w", err)
	}
	s.d.Log.Info("privacy: retention applied", "nation", nationID, "erased", run.Erased)
	return run, nil
}

// RetentionRuns lists the nation's latest runs, newest first.
func (s *Service) RetentionRuns(ctx context.Context, nationID int64, limit int) ([]RetentionRun, error) {
	rows, err := s.d.DB.Query(ctx, `SELECT id, at, erased, report FROM retention_runs
		WHERE nation_id = ? ORDER BY at DESC, id DESC LIMIT ?`, nationID, limit)
	if err != nil {
		return nil, fmt.Errorf("privacy: retention runs: %w", err)
	}
	defer rows.Close()
	var out []RetentionRun
	for rows.Next() {
		var r RetentionRun
		var at int64
		var report string
		if err := rows.Scan(&r.ID, &at, &r.Erased, &report); err != nil {
			return nil, fmt.Errorf("privacy: retention runs: %w", err)
		}
		r.At = store.Time(at)
		if report != "" {
			if err := json.Unmarshal([]byte(report), &r.Rules); err != nil {
				return nil, fmt.Errorf("privacy: retention runs: %w", err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ApplyAllRetention applies the rules of every nation that has some.
func (s *Service) ApplyAllRetention(ctx context.Context) error {
	rows, err := s.d.DB.Query(ctx, `SELECT DISTINCT nation_id FROM retention_rules ORDER BY nation_id`)
	if err != nil {
		return fmt.Errorf("privacy: retention nations: %w", err)
	}
	var nations []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("privacy: retention nations: %w", err)
		}
		nations = append(nations, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("privacy: retention nations: %w", err)
	}
	var first error
	for _, id := range nations {
		if _, err := s.ApplyRetention(ctx, id); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// RegisterJobs registers the daily retention job on the queue.
func RegisterJobs(q *jobs.Queue, s *Service) {
	q.Register(RetentionJobKind, func(ctx context.Context, _ *jobs.Job) error { return s.ApplyAllRetention(ctx) })
	q.Every(RetentionJobKind, 24*time.Hour, nil)
}
