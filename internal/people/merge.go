package people

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// UndoWindow is how long a merge can be undone.
const UndoWindow = 30 * 24 * time.Hour

// mergeSnapshot is what UndoMerge needs to give both people back what they
// had. It holds ids and the survivor's previous values, stored with the merge.
type mergeSnapshot struct {
	Survivor     vals             `json:"survivor"`
	SurvivorPts  int64            `json:"survivor_points"`
	SurvivorLast int64            `json:"survivor_last_activity"`
	Emails       map[string]bool  `json:"emails"` // moved e-mail → was primary on the other
	Phones       []int64          `json:"phones"` // person_phones moved
	NewPhones    []int64          `json:"new_phones"`
	TagsAdded    []int64          `json:"tags_added"` // survivor had not
	OtherTags    []int64          `json:"other_tags"`
	Activities   []int64          `json:"activities"`
	Consents     []int64          `json:"consents"`
	CustomAdded  []int64          `json:"custom_added"`
	AddrAdded    []string         `json:"addresses_added"`
	Activity     int64            `json:"merged_activity"`
	Dups         []int64          `json:"duplicates"`
	Other        map[string]int64 `json:"-"`
}

// Merge folds person otherID into survivorID: the survivor's blanks are filled
// from the other, the other's e-mails, further phones, tags, timeline and
// consents follow the survivor, and the other is kept hidden (merged_into)
// so that UndoMerge can restore both within UndoWindow. Conflicting values
// stay the survivor's; the other's differing phones become further phones.
// The merge is on both timelines' survivor, proposed duplicates of the pair
// are closed, and the audit log records actorUserID. It returns the merge id.
func (s *Store) Merge(ctx context.Context, nationID, survivorID, otherID, actorUserID int64) (int64, error) {
	if survivorID == otherID {
		return 0, errs.Invalid("cannot merge a person with themselves")
	}
	var mergeID int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now().UnixMilli()
		sv, sPts, sLast, err := loadVals(ctx, tx, nationID, survivorID)
		if err != nil {
			return err
		}
		ov, oPts, oLast, err := loadVals(ctx, tx, nationID, otherID)
		if err != nil {
			return err
		}
		if err := changes.Record(ctx, tx, nationID, survivorID, otherID); err != nil {
			return err
		}
		snap := mergeSnapshot{Survivor: sv, SurvivorPts: sPts, SurvivorLast: sLast, Emails: map[string]bool{}}
		nv := sv
		var filled []string
		for _, f := range fields {
			if f.empty(&ov) || f.equal(&sv, &ov) {
				continue
			}
			if f.empty(&sv) {
				f.copy(&nv, &ov)
				filled = append(filled, f.name)
				continue
			}
			// Conflict: the survivor's value stays; a differing phone is kept
			// as a further phone rather than lost.
			if f.key == -2 {
				id, err := reserveIDs(ctx, tx, nationID, "person_phones", 1)
				if err != nil {
					return err
				}
				kind := map[string]string{"phone": "phone", "mobile": "mobile", "work_phone": "work"}[f.name]
				if _, err := tx.Exec(ctx, `INSERT INTO person_phones (nation_id, id, person_id, kind, raw, e164, invalid, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, nationID, id, survivorID, kind, ov[f.cols[0]], ov[f.cols[1]],
					sqlArg(f.cols[2], ov[f.cols[2]]), now); err != nil {
					return err
				}
				snap.NewPhones = append(snap.NewPhones, id)
			}
		}
		nv[cNameKey] = nameKey(&nv)

		// E-mails follow the survivor; the other's primary becomes the
		// survivor's only when the survivor had none.
		if err := scanAll(ctx, tx, `SELECT email_norm, is_primary FROM person_emails WHERE nation_id = ? AND person_id = ?`,
			[]any{nationID, otherID}, func(r *sql.Rows) error {
				var e string
				var prim int
				err := r.Scan(&e, &prim)
				snap.Emails[e] = prim == 1
				return err
			}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE person_emails SET person_id = ?, is_primary = CASE WHEN email_norm = ? THEN 1 ELSE 0 END
			WHERE nation_id = ? AND person_id = ?`, survivorID, nv[cEmailNorm], nationID, otherID); err != nil {
			return err
		}
		for _, m := range []struct {
			table string
			ids   *[]int64
		}{{"person_phones", &snap.Phones}, {"activities", &snap.Activities}, {"consents", &snap.Consents}} {
			if err := collectIDs(ctx, tx, `SELECT id FROM `+m.table+` WHERE nation_id = ? AND person_id = ?`, []any{nationID, otherID}, m.ids); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE `+m.table+` SET person_id = ? WHERE nation_id = ? AND person_id = ?`, survivorID, nationID, otherID); err != nil {
				return err
			}
		}
		if err := collectIDs(ctx, tx, `SELECT tag_id FROM taggings WHERE nation_id = ? AND person_id = ?`, []any{nationID, otherID}, &snap.OtherTags); err != nil {
			return err
		}
		if err := collectIDs(ctx, tx, `SELECT tag_id FROM taggings WHERE nation_id = ? AND person_id = ? AND tag_id NOT IN
			(SELECT tag_id FROM taggings WHERE nation_id = ? AND person_id = ?)`, []any{nationID, otherID, nationID, survivorID}, &snap.TagsAdded); err != nil {
			return err
		}
		for _, t := range snap.TagsAdded {
			if _, err := tx.Exec(ctx, `INSERT INTO taggings (nation_id, person_id, tag_id, created_at) VALUES (?, ?, ?, ?)`, nationID, survivorID, t, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM taggings WHERE nation_id = ? AND person_id = ?`, nationID, otherID); err != nil {
			return err
		}
		if err := collectIDs(ctx, tx, `SELECT field_id FROM custom_values WHERE nation_id = ? AND person_id = ? AND field_id NOT IN
			(SELECT field_id FROM custom_values WHERE nation_id = ? AND person_id = ?)`, []any{nationID, otherID, nationID, survivorID}, &snap.CustomAdded); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO custom_values (nation_id, person_id, field_id, value)
			SELECT nation_id, ?, field_id, value FROM custom_values o WHERE o.nation_id = ? AND o.person_id = ? AND o.field_id NOT IN
			(SELECT field_id FROM custom_values WHERE nation_id = ? AND person_id = ?)`, survivorID, nationID, otherID, nationID, survivorID); err != nil {
			return err
		}
		if err := scanAll(ctx, tx, `SELECT kind FROM person_addresses WHERE nation_id = ? AND person_id = ? AND kind NOT IN
			(SELECT kind FROM person_addresses WHERE nation_id = ? AND person_id = ?)`, []any{nationID, otherID, nationID, survivorID},
			func(r *sql.Rows) error {
				var k string
				err := r.Scan(&k)
				snap.AddrAdded = append(snap.AddrAdded, k)
				return err
			}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO person_addresses (`+joinCols(addressCols)+`)
			SELECT nation_id, ?, kind, line1, line2, city, postcode, region, country, lat, lng FROM person_addresses o
			WHERE o.nation_id = ? AND o.person_id = ? AND o.kind NOT IN
			(SELECT kind FROM person_addresses WHERE nation_id = ? AND person_id = ?)`, survivorID, nationID, otherID, nationID, survivorID); err != nil {
			return err
		}

		if err := writeVals(ctx, tx, nationID, survivorID, &nv, sPts+oPts, max(sLast, oLast, now), now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE people SET merged_into = ?, updated_at = ? WHERE nation_id = ? AND id = ?`, survivorID, now, nationID, otherID); err != nil {
			return err
		}
		if err := collectIDs(ctx, tx, `SELECT id FROM duplicates WHERE nation_id = ? AND status = 'open' AND person_a = ? AND person_b = ?`,
			[]any{nationID, min(survivorID, otherID), max(survivorID, otherID)}, &snap.Dups); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE duplicates SET status = 'merged' WHERE nation_id = ? AND status = 'open' AND person_a = ? AND person_b = ?`,
			nationID, min(survivorID, otherID), max(survivorID, otherID)); err != nil {
			return err
		}
		src := Source{Kind: "staff", UserID: actorUserID}
		if snap.Activity, err = addActivity(ctx, tx, nationID, survivorID, "merged", src, joinComma(filled), fmt.Sprintf("merged person %d", otherID), now); err != nil {
			return err
		}
		if mergeID, err = reserveIDs(ctx, tx, nationID, "merges", 1); err != nil {
			return err
		}
		js, err := json.Marshal(snap)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO merges (nation_id, id, survivor_id, other_id, actor_id, snapshot, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			nationID, mergeID, survivorID, otherID, actorUserID, string(js), now); err != nil {
			return err
		}
		return auditTx(ctx, tx, nationID, actorUserID, "person.merge", "person", survivorID, now)
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindInternal {
			return 0, err
		}
		return 0, wrap("merge", err)
	}
	return mergeID, nil
}

// UndoMerge reverses a merge made less than UndoWindow ago: both people get
// back their values, e-mails, phones, tags, timeline and consents. Changes
// made to the survivor since the merge from other sources are kept, except
// for the survivor's people-row values, which return to their pre-merge state.
func (s *Store) UndoMerge(ctx context.Context, nationID, mergeID, actorUserID int64) error {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now().UnixMilli()
		var survivorID, otherID, at, undone int64
		var js string
		err := tx.QueryRow(ctx, `SELECT survivor_id, other_id, snapshot, at, undone_at FROM merges WHERE nation_id = ? AND id = ?`,
			nationID, mergeID).Scan(&survivorID, &otherID, &js, &at, &undone)
		if isNoRows(err) {
			return errs.NotFound("no such merge")
		}
		if err != nil {
			return err
		}
		if undone != 0 {
			return errs.Conflict("this merge was undone already")
		}
		if err := changes.Record(ctx, tx, nationID, survivorID, otherID); err != nil {
			return err
		}
		if now-at > UndoWindow.Milliseconds() {
			return errs.Conflict("a merge can be undone for 30 days only")
		}
		var mergedInto int64
		if err := tx.QueryRow(ctx, `SELECT merged_into FROM people WHERE nation_id = ? AND id = ?`, nationID, survivorID).Scan(&mergedInto); err != nil {
			return err
		}
		if mergedInto != 0 {
			return errs.Conflict("the survivor was merged into someone else since; undo that merge first")
		}
		var snap mergeSnapshot
		if err := json.Unmarshal([]byte(js), &snap); err != nil {
			return err
		}
		if err := writeVals(ctx, tx, nationID, survivorID, &snap.Survivor, snap.SurvivorPts, snap.SurvivorLast, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE people SET merged_into = 0, updated_at = ? WHERE nation_id = ? AND id = ?`, now, nationID, otherID); err != nil {
			return err
		}
		for e, prim := range snap.Emails {
			if _, err := tx.Exec(ctx, `UPDATE person_emails SET person_id = ?, is_primary = ? WHERE nation_id = ? AND email_norm = ? AND person_id = ?`,
				otherID, store.Bool(prim), nationID, e, survivorID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE person_emails SET is_primary = CASE WHEN email_norm = ? THEN 1 ELSE 0 END
			WHERE nation_id = ? AND person_id = ?`, snap.Survivor[cEmailNorm], nationID, survivorID); err != nil {
			return err
		}
		for _, m := range []struct {
			table string
			ids   []int64
		}{{"person_phones", snap.Phones}, {"activities", snap.Activities}, {"consents", snap.Consents}} {
			for _, id := range m.ids {
				if _, err := tx.Exec(ctx, `UPDATE `+m.table+` SET person_id = ? WHERE nation_id = ? AND id = ?`, otherID, nationID, id); err != nil {
					return err
				}
			}
		}
		for _, id := range snap.NewPhones {
			if _, err := tx.Exec(ctx, `DELETE FROM person_phones WHERE nation_id = ? AND id = ?`, nationID, id); err != nil {
				return err
			}
		}
		for _, t := range snap.TagsAdded {
			if _, err := tx.Exec(ctx, `DELETE FROM taggings WHERE nation_id = ? AND person_id = ? AND tag_id = ?`, nationID, survivorID, t); err != nil {
				return err
			}
		}
		for _, t := range snap.OtherTags {
			if _, err := tx.Exec(ctx, `INSERT INTO taggings (nation_id, person_id, tag_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				nationID, otherID, t, now); err != nil {
				return err
			}
		}
		for _, f := range snap.CustomAdded {
			if _, err := tx.Exec(ctx, `DELETE FROM custom_values WHERE nation_id = ? AND person_id = ? AND field_id = ?`, nationID, survivorID, f); err != nil {
				return err
			}
		}
		for _, k := range snap.AddrAdded {
			if _, err := tx.Exec(ctx, `DELETE FROM person_addresses WHERE nation_id = ? AND person_id = ? AND kind = ?`, nationID, survivorID, k); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM activities WHERE nation_id = ? AND id = ?`, nationID, snap.Activity); err != nil {
			return err
		}
		for _, d := range snap.Dups {
			if _, err := tx.Exec(ctx, `UPDATE duplicates SET status = 'open' WHERE nation_id = ? AND id = ?`, nationID, d); err != nil {
				return err
			}
		}
		src := Source{Kind: "staff", UserID: actorUserID}
		for _, p := range []int64{survivorID, otherID} {
			if _, err := addActivity(ctx, tx, nationID, p, "unmerged", src, "", fmt.Sprintf("merge %d undone", mergeID), now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE merges SET undone_at = ? WHERE nation_id = ? AND id = ?`, now, nationID, mergeID); err != nil {
			return err
		}
		return auditTx(ctx, tx, nationID, actorUserID, "person.unmerge", "person", otherID, now)
	})
	if err != nil && errs.KindOf(err) == errs.KindInternal {
		return wrap("undo merge", err)
	}
	return err
}

// MergeRecord describes a merge, for the profile and the undo button.
type MergeRecord struct {
	ID, SurvivorID, OtherID, ActorID int64
	At, UndoneAt                     time.Time
}

// Merges lists the merges that involve a person, newest first.
func (s *Store) Merges(ctx context.Context, nationID, personID int64) ([]MergeRecord, error) {
	var out []MergeRecord
	err := s.each(ctx, `SELECT id, survivor_id, other_id, actor_id, at, undone_at FROM merges
		WHERE nation_id = ? AND (survivor_id = ? OR other_id = ?) ORDER BY at DESC, id DESC`, []any{nationID, personID, personID},
		func(r *sql.Rows) error {
			var m MergeRecord
			var at, un int64
			err := r.Scan(&m.ID, &m.SurvivorID, &m.OtherID, &m.ActorID, &at, &un)
			m.At, m.UndoneAt = store.Time(at), store.Time(un)
			out = append(out, m)
			return err
		})
	return out, wrap("list merges", err)
}

func loadVals(ctx context.Context, tx *store.Tx, nationID, id int64) (vals, int64, int64, error) {
	rows, err := tx.Query(ctx, `SELECT `+personSelect+`, points, last_activity_at FROM people WHERE nation_id = ? AND id = ? AND merged_into = 0`, nationID, id)
	if err != nil {
		return vals{}, 0, 0, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return vals{}, 0, 0, err
		}
		return vals{}, 0, 0, errs.NotFound("no such person")
	}
	var v vals
	var ns [numCols]sql.NullString
	var got, pts, last int64
	dest := []any{&got}
	for i := range ns {
		dest = append(dest, &ns[i])
	}
	dest = append(dest, &pts, &last)
	if err := rows.Scan(dest...); err != nil {
		return vals{}, 0, 0, err
	}
	for i := range ns {
		v[i] = ns[i].String
		if personCols[i].kind == kInt && v[i] == "0" {
			v[i] = ""
		}
	}
	return v, pts, last, nil
}

func writeVals(ctx context.Context, tx *store.Tx, nationID, id int64, v *vals, points, last, now int64) error {
	q := `UPDATE people SET `
	args := []any{}
	for c, col := range personCols {
		q += col.name + " = ?, "
		args = append(args, sqlArg(c, v[c]))
	}
	q += `points = ?, last_activity_at = ?, updated_at = ? WHERE nation_id = ? AND id = ?`
	args = append(args, points, last, now, nationID, id)
	_, err := tx.Exec(ctx, q, args...)
	return err
}

func addActivity(ctx context.Context, tx *store.Tx, nationID, personID int64, typ string, src Source, fields, details string, at int64) (int64, error) {
	id, err := reserveIDs(ctx, tx, nationID, "activities", 1)
	if err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO activities (`+joinCols(activityCols)+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		nationID, id, personID, typ, src.Kind, src.Ref, src.Line, src.UserID, fields, details, at)
	return id, err
}

func auditTx(ctx context.Context, tx *store.Tx, nationID, actor int64, action, kind string, objectID, now int64) error {
	id, err := reserveIDs(ctx, tx, nationID, "audit_log", 1)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log (nation_id, id, at, actor_id, action, object_kind, object_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		nationID, id, now, actor, action, kind, objectID)
	return err
}

func scanAll(ctx context.Context, q querier, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func collectIDs(ctx context.Context, q querier, query string, args []any, out *[]int64) error {
	return scanAll(ctx, q, query, args, func(r *sql.Rows) error {
		var id int64
		err := r.Scan(&id)
		*out = append(*out, id)
		return err
	})
}

func joinComma(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
