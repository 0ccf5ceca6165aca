package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// Erasure reports what an erasure did (no personal data: counts only).
type Erasure struct {
	Found      bool `json:"found"`      // the nation held someone under the identifier
	People     int  `json:"people"`     // person records erased (merged-away records included)
	Suppressed int  `json:"suppressed"` // identifier hashes kept on the suppression list
	Files      int  `json:"files"`      // stored import and rejects files rewritten or deleted
	Jobs       int  `json:"jobs"`       // queued jobs whose arguments named the person
	Deliveries int  `json:"deliveries"` // unsent messages dropped
	Minimised  int  `json:"minimised"`  // sent messages kept without address
	Checkpoint bool `json:"checkpoint"` // SQLite: WAL checkpointed and truncated
}

// identity is what erasure needs to know about the records it erases.
type identity struct {
	ids      []int64
	emails   []string // normalised
	phones   []string // E.164
	rawPhone []string // as typed, for the stored files
	country  string
}

// EraseByEmail erases the person who holds the address (see Erase). When
// the nation holds no one under it, nothing is erased and Found is false,
// but the address's hash still goes on the suppression list: the requester
// asked not to be held, so a later import must not add them silently.
func (s *Service) EraseByEmail(ctx context.Context, nationID int64, email string, actor int64) (*Erasure, error) {
	id, err := s.FindByEmail(ctx, nationID, email)
	if err == nil {
		return s.Erase(ctx, nationID, id, actor)
	}
	_, norm, nerr := people.NormaliseEmail(email)
	if nerr != nil || norm == "" {
		return &Erasure{}, nil
	}
	n, err := s.suppress(ctx, nil, nationID, "email", []string{norm})
	if err != nil {
		return nil, err
	}
	if err := s.journal(nationID, "email", ActionErase, []string{norm}); err != nil {
		return nil, err
	}
	return &Erasure{Suppressed: n}, nil
}

// Erase deletes everything the nation holds on a person — the person row
// and every side table, the records merged into it, consents, timeline,
// signatures, subscriptions, unsent messages (sent ones are kept without
// address), duplicates, merge snapshots, the change log, the person's
// lines of stored import and rejects files and their ids in job arguments —
// and keeps only keyed hashes of their e-mails and phones on the
// suppression list, with an erasure journal entry outside the database.
// It then scrubs the engine's leftovers (SQLite WAL checkpoint; PostgreSQL
// VACUUM of the touched tables). The audit log records the erasure with
// ids only.
func (s *Service) Erase(ctx context.Context, nationID, personID, actor int64) (*Erasure, error) {
	return s.erase(ctx, nationID, personID, actor, false)
}

// Anonymise is Erase for a retention rule whose action is "anonymise": it
// goes through the same steps (suppression hashes, journal, side tables,
// files, jobs, scrub) but keeps the person row, stripped to what is safe in
// aggregate — the country and the year the record was created — and their
// petition signatures without name, city or comment, so that counts (a
// petition's total, the register of signers) do not change. Records merged
// into the person are erased outright.
func (s *Service) Anonymise(ctx context.Context, nationID, personID, actor int64) (*Erasure, error) {
	return s.erase(ctx, nationID, personID, actor, true)
}

// erase erases a person, or anonymises them when anonymise is set.
func (s *Service) erase(ctx context.Context, nationID, personID, actor int64, anonymise bool) (*Erasure, error) {
	id, err := s.identify(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	rep := &Erasure{Found: true, People: len(id.ids)}
	err = s.d.DB.InTx(ctx, func(tx *store.Tx) error {
		n, err := s.suppress(ctx, tx, nationID, "email", id.emails)
		if err != nil {
			return err
		}
		m, err := s.suppress(ctx, tx, nationID, "phone", id.phones)
		if err != nil {
			return err
		}
		rep.Suppressed = n + m
		var keep int64
		if anonymise {
			keep = personID
		}
		rep.Deliveries, rep.Minimised, err = eraseRows(ctx, tx, nationID, id.ids, keep)
		if err != nil {
			return err
		}
		if rep.Jobs, err = purgeJobs(ctx, tx, nationID, id.ids); err != nil {
			return err
		}
		// Segment indexes drop the people at their next catch-up.
		return changes.Record(ctx, tx, nationID, id.ids...)
	})
	if err != nil {
		return nil, fmt.Errorf("privacy: erase: %w", err)
	}
	// The database is the source of truth: once it is erased, the rest is
	// best effort reported as an error (the command can be run again).
	journalAction := ActionErase
	if anonymise {
		journalAction = ActionAnonymise
	}
	if err := s.journal(nationID, "email", journalAction, id.emails); err != nil {
		return rep, err
	}
	if err := s.journal(nationID, "phone", journalAction, id.phones); err != nil {
		return rep, err
	}
	if rep.Files, err = s.purgeFiles(nationID, id); err != nil {
		return rep, err
	}
	action := "person.erase"
	if anonymise {
		action = "person.anonymise"
	}
	if err := s.d.People.Audit(ctx, nationID, actor, action, "person", personID); err != nil {
		return rep, err
	}
	rep.Checkpoint, err = s.scrub(ctx)
	if err != nil {
		return rep, err
	}
	s.d.Log.Info("privacy: person erased", "nation", nationID, "records", rep.People, "files", rep.Files, "anonymised", anonymise)
	return rep, nil
}

// identify finds the person's records (the person and anyone merged into
// them, transitively) and their identifiers.
func (s *Service) identify(ctx context.Context, nationID, personID int64) (*identity, error) {
	if _, err := s.d.People.Get(ctx, nationID, personID); err != nil {
		return nil, err
	}
	db := s.d.DB
	id := &identity{}
	if err := db.QueryRow(ctx, `SELECT country FROM nations WHERE id = ?`, nationID).Scan(&id.country); err != nil {
		return nil, fmt.Errorf("privacy: erase: nation: %w", err)
	}
	seen := map[int64]bool{personID: true}
	queue := []int64{personID}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		id.ids = append(id.ids, cur)
		rows, err := db.Query(ctx, `SELECT id FROM people WHERE nation_id = ? AND merged_into = ?`, nationID, cur)
		if err != nil {
			return nil, fmt.Errorf("privacy: erase: merged: %w", err)
		}
		for rows.Next() {
			var m int64
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return nil, fmt.Errorf("privacy: erase: merged: %w", err)
			}
			if !seen[m] {
				seen[m] = true
				queue = append(queue, m)
			}
		}
		rows.Close()
	}
	emails, phones, raws := map[string]bool{}, map[string]bool{}, map[string]bool{}
	in, args := inList(nationID, id.ids)
	collect := func(q string, into ...map[string]bool) error {
		rows, err := db.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("privacy: erase: identifiers: %w", err)
		}
		defer rows.Close()
		vals := make([]string, len(into))
		ptrs := make([]any, len(into))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return fmt.Errorf("privacy: erase: identifiers: %w", err)
			}
			for i, v := range vals {
				if v = strings.TrimSpace(v); v != "" {
					into[i][v] = true
				}
			}
		}
		return rows.Err()
	}
	for _, c := range []struct {
		q    string
		into []map[string]bool
	}{
		{`SELECT email_norm FROM person_emails WHERE nation_id = ? AND person_id IN ` + in, []map[string]bool{emails}},
		{`SELECT email_norm, phone_e164, mobile_e164, work_phone_e164, phone, mobile, work_phone FROM people WHERE nation_id = ? AND id IN ` + in,
			[]map[string]bool{emails, phones, phones, phones, raws, raws, raws}},
		{`SELECT e164, raw FROM person_phones WHERE nation_id = ? AND person_id IN ` + in, []map[string]bool{phones, raws}},
		{`SELECT email FROM deliveries WHERE nation_id = ? AND person_id IN ` + in, []map[string]bool{emails}},
	} {
		if err := collect(c.q, c.into...); err != nil {
			return nil, err
		}
	}
	for e := range emails {
		id.emails = append(id.emails, strings.ToLower(e))
	}
	for p := range phones {
		id.phones = append(id.phones, p)
	}
	for p := range raws {
		id.rawPhone = append(id.rawPhone, p)
	}
	return id, nil
}

// inList returns "(?, ?, …)" for ids and the arguments nationID, ids….
func inList(nationID int64, ids []int64) (string, []any) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, nationID)
	var b strings.Builder
	b.WriteByte('(')
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('?')
		args = append(args, id)
	}
	b.WriteByte(')')
	return b.String(), args
}

// suppress puts the hashes of normalised identifiers on the nation's
// suppression list with reason "erased" (an earlier bounce entry becomes an
// erasure: the stronger of the two). tx nil writes outside a transaction.
// The hash is broadcast.EmailHash, so broadcasts skip them too.
func (s *Service) suppress(ctx context.Context, tx *store.Tx, nationID int64, kind string, values []string) (int, error) {
	now := store.Millis(s.d.Now())
	for _, v := range values {
		q := `INSERT INTO suppressions (nation_id, kind, hash, reason, created_at) VALUES (?, ?, ?, 'erased', ?)
			ON CONFLICT (nation_id, kind, hash) DO UPDATE SET reason = 'erased'`
		h := people.SuppressionHash(s.d.Key, v)
		var err error
		if tx != nil {
			_, err = tx.Exec(ctx, q, nationID, kind, h, now)
		} else {
			_, err = s.d.DB.Exec(ctx, q, nationID, kind, h, now)
		}
		if err != nil {
			return 0, fmt.Errorf("privacy: suppress: %w", err)
		}
	}
	return len(values), nil
}

// eraseRows deletes the records' rows from every table that holds personal
// data, in the caller's transaction. keep, when not 0, is a person to
// anonymise instead: their row comes back with only the country and the
// creation year, and their signatures stay without name, city or comment.
func eraseRows(ctx context.Context, tx *store.Tx, nationID int64, ids []int64, keep int64) (dropped, minimised int, err error) {
	in, args := inList(nationID, ids)
	exec := func(q string, a ...any) (int64, error) {
		res, err := tx.Exec(ctx, q, a...)
		if err != nil {
			return 0, fmt.Errorf("privacy: erase: %w", err)
		}
		n, _ := res.RowsAffected()
		return n, nil
	}
	// Tags and consent wordings used by nobody else go too: a tag name or a
	// wording can itself be personal (an import's "Called 12/3: angry").
	var tagIDs []int64
	rows, err := tx.Query(ctx, `SELECT DISTINCT tag_id FROM taggings WHERE nation_id = ? AND person_id IN `+in, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("privacy: erase: tags: %w", err)
	}
	for rows.Next() {
		var t int64
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("privacy: erase: tags: %w", err)
		}
		tagIDs = append(tagIDs, t)
	}
	rows.Close()
	var wordings []string
	rows, err = tx.Query(ctx, `SELECT DISTINCT wording_hash FROM consents WHERE nation_id = ? AND wording_hash <> '' AND person_id IN `+in, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("privacy: erase: wordings: %w", err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("privacy: erase: wordings: %w", err)
		}
		wordings = append(wordings, w)
	}
	rows.Close()

	var country string
	var created int64
	if keep != 0 {
		if err := tx.QueryRow(ctx, `SELECT home_country, created_at FROM people WHERE nation_id = ? AND id = ?`,
			nationID, keep).Scan(&country, &created); err != nil {
			return 0, 0, fmt.Errorf("privacy: anonymise: %w", err)
		}
		if _, err := exec(`UPDATE signatures SET first_name = '', city = '', comment = '', show_publicly = 0, lang = ''
			WHERE nation_id = ? AND person_id = ?`, nationID, keep); err != nil {
			return 0, 0, err
		}
	}
	for _, table := range []string{"person_emails", "person_phones", "person_addresses", "taggings", "custom_values",
		"activities", "consents", "signatures", "topic_subscriptions", "person_rungs", "people_changes", "privacy_links"} {
		q, a := `DELETE FROM `+table+` WHERE nation_id = ? AND person_id IN `+in, args
		if table == "signatures" && keep != 0 {
			q, a = q+` AND person_id <> ?`, append(append([]any{}, args...), keep)
		}
		if _, err := exec(q, a...); err != nil {
			return 0, 0, err
		}
	}
	if _, err := exec(`DELETE FROM people WHERE nation_id = ? AND id IN `+in, args...); err != nil {
		return 0, 0, err
	}
	if keep != 0 {
		// A fresh row rather than an UPDATE: every column but these takes
		// its default, so a column added later cannot be forgotten here.
		y := store.Time(created).UTC().Year()
		year := store.Millis(time.Date(y, time.January, 1, 0, 0, 0, 0, time.UTC))
		if _, err := exec(`INSERT INTO people (nation_id, id, home_country, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			nationID, keep, country, year, year); err != nil {
			return 0, 0, err
		}
	}
	both := append(append([]any{nationID}, args[1:]...), args[1:]...)
	if _, err := exec(`DELETE FROM duplicates WHERE nation_id = ? AND (person_a IN `+in[:]+` OR person_b IN `+in+`)`, both...); err != nil {
		return 0, 0, err
	}
	if _, err := exec(`DELETE FROM merges WHERE nation_id = ? AND (survivor_id IN `+in+` OR other_id IN `+in+`)`, both...); err != nil {
		return 0, 0, err
	}
	// Unsent messages go; sent ones stay as the broadcast's record, without
	// the address (the person id points at nothing any more).
	d, err := exec(`DELETE FROM deliveries WHERE nation_id = ? AND state NOT IN ('sent', 'ambiguous') AND person_id IN `+in, args...)
	if err != nil {
		return 0, 0, err
	}
	m, err := exec(`UPDATE deliveries SET email = '', email_hash = '', locked_by = '', last_error = '' WHERE nation_id = ? AND person_id IN `+in, args...)
	if err != nil {
		return 0, 0, err
	}
	// Requests stay as evidence that the right was honoured, without the
	// requester's contact details.
	if _, err := exec(`UPDATE privacy_requests SET contact = '', details = '' WHERE nation_id = ? AND person_id IN `+in, args...); err != nil {
		return 0, 0, err
	}
	for _, t := range tagIDs {
		if _, err := exec(`DELETE FROM tags WHERE nation_id = ? AND id = ? AND NOT EXISTS
			(SELECT 1 FROM taggings g WHERE g.nation_id = tags.nation_id AND g.tag_id = tags.id)`, nationID, t); err != nil {
			return 0, 0, err
		}
	}
	for _, w := range wordings {
		if _, err := exec(`DELETE FROM consent_wordings WHERE nation_id = ? AND hash = ? AND NOT EXISTS
			(SELECT 1 FROM consents c WHERE c.nation_id = consent_wordings.nation_id AND c.wording_hash = consent_wordings.hash)`, nationID, w); err != nil {
			return 0, 0, err
		}
	}
	return int(d), int(m), nil
}

// purgeJobs removes the person from queued (and finished) jobs' arguments:
// a job whose "person_id"-like argument is one of the ids is deleted; a
// list of person ids loses them.
func purgeJobs(ctx context.Context, tx *store.Tx, nationID int64, ids []int64) (int, error) {
	gone := map[int64]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	rows, err := tx.Query(ctx, `SELECT id, args FROM jobs WHERE nation_id = ? AND args LIKE '%person%'`, nationID)
	if err != nil {
		return 0, fmt.Errorf("privacy: erase: jobs: %w", err)
	}
	type change struct {
		id   int64
		args string // "" deletes
	}
	var todo []change
	for rows.Next() {
		var id int64
		var raw string
		if err := rows.Scan(&id, &raw); err != nil {
			rows.Close()
			return 0, fmt.Errorf("privacy: erase: jobs: %w", err)
		}
		var args map[string]any
		if json.Unmarshal([]byte(raw), &args) != nil {
			continue
		}
		drop, changed := false, false
		for k, v := range args {
			if !strings.Contains(strings.ToLower(k), "person") {
				continue
			}
			switch v := v.(type) {
			case float64:
				drop = drop || gone[int64(v)]
			case string:
				n, err := strconv.ParseInt(v, 10, 64)
				drop = drop || (err == nil && gone[n])
			case []any:
				kept := v[:0:0]
				for _, x := range v {
					if f, ok := x.(float64); ok && gone[int64(f)] {
						changed = true
						continue
					}
					kept = append(kept, x)
				}
				args[k] = kept
			}
		}
		switch {
		case drop:
			todo = append(todo, change{id, ""})
		case changed:
			b, _ := json.Marshal(args)
			todo = append(todo, change{id, string(b)})
		}
	}
	rows.Close()
	for _, c := range todo {
		if c.args == "" {
			_, err = tx.Exec(ctx, `DELETE FROM jobs WHERE nation_id = ? AND id = ?`, nationID, c.id)
		} else {
			_, err = tx.Exec(ctx, `UPDATE jobs SET args = ? WHERE nation_id = ? AND id = ?`, c.args, nationID, c.id)
		}
		if err != nil {
			return 0, fmt.Errorf("privacy: erase: jobs: %w", err)
		}
	}
	return len(todo), nil
}

// scrub removes what the engine keeps of deleted rows. SQLite runs with
// secure_delete (deleted content is overwritten in the main file); the WAL
// still holds the old pages until a checkpoint, so it is checkpointed and
// truncated. PostgreSQL leaves dead tuples in the table files until VACUUM
// (a dump never includes them: it reads live rows only); the touched
// tables are vacuumed so that the space is reclaimed and reused.
func (s *Service) scrub(ctx context.Context) (bool, error) {
	db := s.d.DB
	if db.Engine == store.SQLite {
		for attempt := 0; attempt < 20; attempt++ {
			var busy, logFrames, done int
			if err := db.QueryRowWriter(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
				return false, fmt.Errorf("privacy: checkpoint: %w", err)
			}
			if busy == 0 {
				return true, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.d.Log.Warn("privacy: WAL checkpoint stayed busy; the next checkpoint will complete it")
		return false, nil
	}
	for _, t := range []string{"people", "person_emails", "person_phones", "person_addresses", "taggings", "tags",
		"custom_values", "activities", "consents", "consent_wordings", "signatures", "topic_subscriptions", "deliveries",
		"duplicates", "merges", "people_changes", "jobs", "privacy_requests", "privacy_links", "person_rungs"} {
		if _, err := db.Exec(ctx, `VACUUM `+t); err != nil {
			return false, fmt.Errorf("privacy: vacuum %s: %w", t, err)
		}
	}
	return false, nil
}
