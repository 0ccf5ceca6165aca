package privacy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// The erasure journal. A backup taken before an erasure still holds the
// person; restoring it would bring them back. So every erasure also appends
// the suppression hashes of the erased identifiers (never the identifiers)
// to a file outside the database, in the data directory, which backups of
// the database do not roll back. ReplayJournal, run by `muster person
// replay-erasures` and on every start of the server, finds the journal
// entries the database does not know (their suppression row is missing:
// the database was restored from before the erasure), puts them back on the
// suppression list and erases again whoever holds those identifiers — or,
// when the entry records that the person was anonymised (a retention rule
// whose action is anonymise), anonymises them again through Anonymise, so
// that counts kept by anonymisation (the person row, petition signatures)
// survive the restore as they survived the anonymisation.
//
// Line format: nation_id TAB kind TAB hash TAB unix-ms TAB action NEWLINE,
// action being "erase" or "anonymise". Lines written before the action was
// recorded have four fields and read as "erase".

// JournalFile is the journal's place in a data directory ("" when there is
// no data directory: the journal is then off, see docs/privacy.md).
func JournalFile(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "erasures.journal")
}

func (s *Service) journal(nationID int64, kind, action string, values []string) error {
	if s.d.JournalPath == "" || len(values) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(s.d.JournalPath), 0o700); err != nil {
		return fmt.Errorf("privacy: journal: %w", err)
	}
	f, err := os.OpenFile(s.d.JournalPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("privacy: journal: %w", err)
	}
	var b strings.Builder
	at := strconv.FormatInt(store.Millis(s.d.Now()), 10)
	for _, v := range values {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\t%s\n", nationID, kind, people.SuppressionHash(s.d.Key, v), at, action)
	}
	_, werr := f.WriteString(b.String())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("privacy: journal: %w", werr)
	}
	return nil
}

// Replay reports what ReplayJournal did.
type Replay struct {
	Entries    int `json:"entries"`    // journal lines read
	Restored   int `json:"restored"`   // suppression rows that were missing and are back
	Erased     int `json:"erased"`     // people erased again
	Anonymised int `json:"anonymised"` // people anonymised again
}

type journalEntry struct {
	nationID           int64
	kind, hash, action string
}

// parseJournalLine reads one journal line; ok is false for a line that is
// not an entry (torn by a crash, or from a later format). A line without
// the action field (written before it existed) is an erasure.
func parseJournalLine(line string) (e journalEntry, ok bool) {
	parts := strings.Split(line, "\t")
	if len(parts) != 4 && len(parts) != 5 {
		return e, false
	}
	nid, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || (parts[1] != "email" && parts[1] != "phone") || parts[2] == "" {
		return e, false
	}
	if _, err := strconv.ParseInt(parts[3], 10, 64); err != nil {
		return e, false
	}
	e = journalEntry{nationID: nid, kind: parts[1], hash: parts[2], action: ActionErase}
	if len(parts) == 5 {
		switch parts[4] {
		case ActionErase, ActionAnonymise:
			e.action = parts[4]
		default:
			return journalEntry{}, false
		}
	}
	return e, true
}

// ReplayJournal re-applies the erasure journal (see above). It is cheap
// when the database is up to date: one lookup per journal line.
func (s *Service) ReplayJournal(ctx context.Context) (*Replay, error) {
	rep := &Replay{}
	if s.d.JournalPath == "" {
		return rep, nil
	}
	f, err := os.Open(s.d.JournalPath)
	if errors.Is(err, fs.ErrNotExist) {
		return rep, nil
	}
	if err != nil {
		return nil, fmt.Errorf("privacy: replay: %w", err)
	}
	defer f.Close()
	missing := map[int64][]journalEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		e, ok := parseJournalLine(sc.Text())
		if !ok {
			continue
		}
		rep.Entries++
		var n int
		err = s.d.DB.QueryRowWriter(ctx, `SELECT COUNT(*) FROM suppressions WHERE nation_id = ? AND kind = ? AND hash = ? AND reason = 'erased'`,
			e.nationID, e.kind, e.hash).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("privacy: replay: %w", err)
		}
		if n == 0 {
			missing[e.nationID] = append(missing[e.nationID], e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("privacy: replay: %w", err)
	}
	for nid, entries := range missing {
		var exists int
		if err := s.d.DB.QueryRowWriter(ctx, `SELECT COUNT(*) FROM nations WHERE id = ?`, nid).Scan(&exists); err != nil {
			return nil, fmt.Errorf("privacy: replay: %w", err)
		}
		if exists == 0 {
			continue // the nation itself is gone
		}
		// What was done to the holder of each identifier. Should an
		// identifier have been both erased and anonymised (two entries),
		// erasure, the stronger, wins.
		want := map[string]string{}
		for _, e := range entries {
			if want[e.kind+":"+e.hash] != ActionErase {
				want[e.kind+":"+e.hash] = e.action
			}
			_, err := s.d.DB.Exec(ctx, `INSERT INTO suppressions (nation_id, kind, hash, reason, created_at) VALUES (?, ?, ?, 'erased', ?)
				ON CONFLICT (nation_id, kind, hash) DO UPDATE SET reason = 'erased'`, nid, e.kind, e.hash, store.Millis(s.d.Now()))
			if err != nil {
				return nil, fmt.Errorf("privacy: replay: %w", err)
			}
			rep.Restored++
		}
		ids, err := s.holders(ctx, nid, want)
		if err != nil {
			return nil, err
		}
		for _, h := range ids {
			// The same code path as the retention job's, so the same
			// suppression, journal, files, audit action and kept counts.
			if h.action == ActionAnonymise {
				if _, err := s.Anonymise(ctx, nid, h.id, 0); err != nil {
					return rep, err
				}
				rep.Anonymised++
				continue
			}
			if _, err := s.Erase(ctx, nid, h.id, 0); err != nil {
				return rep, err
			}
			rep.Erased++
		}
	}
	return rep, nil
}

// holder is a person to erase or anonymise again, with the action.
type holder struct {
	id     int64
	action string
}

// holders finds the people of a nation holding an identifier whose
// "kind:hash" is in want (hashing every e-mail and phone of the nation:
// done only after a restore), with what the journal says was done to them:
// anonymise only when every entry that names them says so (an erasure
// anywhere in a merged chain erases the chain).
func (s *Service) holders(ctx context.Context, nationID int64, want map[string]string) ([]holder, error) {
	found := map[int64]string{}
	for _, q := range []struct{ kind, sql string }{
		{"email", `SELECT person_id, email_norm FROM person_emails WHERE nation_id = ?`},
		{"phone", `SELECT id, mobile_e164 FROM people WHERE nation_id = ? AND mobile_e164 <> ''`},
		{"phone", `SELECT id, phone_e164 FROM people WHERE nation_id = ? AND phone_e164 <> ''`},
		{"phone", `SELECT id, work_phone_e164 FROM people WHERE nation_id = ? AND work_phone_e164 <> ''`},
		{"phone", `SELECT person_id, e164 FROM person_phones WHERE nation_id = ? AND e164 <> ''`},
	} {
		rows, err := s.d.DB.Query(ctx, q.sql, nationID)
		if err != nil {
			return nil, fmt.Errorf("privacy: replay: %w", err)
		}
		for rows.Next() {
			var id int64
			var v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("privacy: replay: %w", err)
			}
			if a := want[q.kind+":"+people.SuppressionHash(s.d.Key, v)]; a != "" {
				found[id] = stronger(found[id], a)
			}
		}
		rows.Close()
	}
	// Erase the surviving record of a merged chain (Erase takes the rest).
	var out []holder
	seen := map[int64]int{} // surviving id -> index in out
	for id, action := range found {
		var merged int64
		if err := s.d.DB.QueryRowWriter(ctx, `SELECT merged_into FROM people WHERE nation_id = ? AND id = ?`, nationID, id).Scan(&merged); err != nil {
			continue // erased already with another
		}
		for merged != 0 {
			id = merged
			if err := s.d.DB.QueryRowWriter(ctx, `SELECT merged_into FROM people WHERE nation_id = ? AND id = ?`, nationID, id).Scan(&merged); err != nil {
				break
			}
		}
		if i, ok := seen[id]; ok {
			out[i].action = stronger(out[i].action, action)
			continue
		}
		seen[id] = len(out)
		out = append(out, holder{id, action})
	}
	return out, nil
}

// stronger returns the stronger of two journal actions ("" is none):
// erasure over anonymisation.
func stronger(a, b string) string {
	if a == ActionErase || b == ActionErase {
		return ActionErase
	}
	if a == "" {
		return b
	}
	return a
}
