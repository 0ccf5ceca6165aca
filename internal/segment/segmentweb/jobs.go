package segmentweb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
)

// Job kinds of this package.
const (
	// KindTag adds or removes a tag for everyone in a segment.
	KindTag = "segment.tag"
	// KindRecordCounts records every saved segment's count, once a day, for
	// the chart of its count over time.
	KindRecordCounts = "segment.record_counts"
)

// TagArgs are the arguments of a KindTag job. The filter is the text as
// typed; the people it selects are taken when the job runs.
type TagArgs struct {
	Filter string `json:"filter"`
	Tag    string `json:"tag"`
	Remove bool   `json:"remove"`
	Actor  int64  `json:"actor"`
}

// tagBatch is how many people one transaction tags: small enough to keep
// the single SQLite writer responsive, large enough to be quick.
const tagBatch = 500

// RegisterJobs registers this package's job handlers and the daily count
// recording on q. cmd/muster calls it for `serve` and `worker`.
func RegisterJobs(q *jobs.Queue, svc *segment.Service, db *store.DB) {
	q.Register(KindTag, func(ctx context.Context, j *jobs.Job) error { return runTag(ctx, svc, db, j) })
	q.Register(KindRecordCounts, func(ctx context.Context, j *jobs.Job) error { return recordCounts(ctx, svc, db) })
	q.Every(KindRecordCounts, 24*time.Hour, nil)
}

// runTag tags (or untags) the people of a segment in batches, each batch one
// transaction with the taggings, a timeline entry per person changed and
// the change-log rows that keep segment indexes right. It is idempotent: a
// run again after a crash skips the people already done.
func runTag(ctx context.Context, svc *segment.Service, db *store.DB, j *jobs.Job) error {
	var a TagArgs
	if err := j.Decode(&a); err != nil {
		return jobs.Permanent(fmt.Errorf("segmentweb: tag job args: %w", err))
	}
	name, key := people.NormaliseTag(a.Tag)
	if key == "" {
		return jobs.Permanent(errors.New("segmentweb: tag job without a tag"))
	}
	ids, err := svc.MatchingIDs(ctx, j.NationID, a.Filter)
	if err != nil {
		return jobs.Permanent(fmt.Errorf("segmentweb: tag job filter: %w", err))
	}
	k, err := crypt.NationKeyOf(ctx, db, j.NationID) // outside the batches' transactions
	if err != nil {
		return fmt.Errorf("segmentweb: nation key: %w", err)
	}
	total := int64(len(ids))
	var done, changed int64
	_ = j.Progress(ctx, 0, total, "")
	for len(ids) > 0 {
		n := min(tagBatch, len(ids))
		var c int
		err := db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			c, err = tagPeople(ctx, tx, k, j.NationID, ids[:n], name, key, a.Remove, a.Actor)
			return err
		})
		if err != nil {
			return err
		}
		ids = ids[n:]
		done += int64(n)
		changed += int64(c)
		_ = j.Progress(ctx, done, total, fmt.Sprintf("%d changed", changed))
	}
	return nil
}

// tagPeople tags or untags one batch of people inside tx and returns how
// many actually changed.
// A tag marked sensitive is found by its blind index (its row is sealed),
// and the timeline entries naming it are sealed too.
func tagPeople(ctx context.Context, tx *store.Tx, k *crypt.NationKey, nationID int64, ids []int64, name, key string, remove bool, actor int64) (int, error) {
	now := time.Now().UnixMilli()
	tag, err := crypt.FindTag(ctx, tx, k, nationID, key)
	tagID := tag.ID
	if err != nil && !isNoRows(err) {
		return 0, fmt.Errorf("segmentweb: tag: %w", err)
	}
	if isNoRows(err) {
		if remove {
			return 0, nil // nobody has a tag that does not exist
		}
		if tagID, err = tx.NextID(ctx, nationID, "tags"); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tags (nation_id, id, name, key, created_at) VALUES (?, ?, ?, ?, ?)`,
			nationID, tagID, name, key, now); err != nil {
			return 0, fmt.Errorf("segmentweb: create tag: %w", err)
		}
	}
	in, inArgs := inList(ids)
	// Who changes: live people without the tag (adding) or with it (removing).
	cond := "NOT EXISTS"
	if remove {
		cond = "EXISTS"
	}
	rows, err := tx.Query(ctx, `SELECT p.id FROM people p WHERE p.nation_id = ? AND p.merged_into = 0 AND p.id IN (`+in+`)
		AND `+cond+` (SELECT 1 FROM taggings t WHERE t.nation_id = p.nation_id AND t.person_id = p.id AND t.tag_id = ?) ORDER BY p.id`,
		append(append([]any{nationID}, inArgs...), tagID)...)
	if err != nil {
		return 0, fmt.Errorf("segmentweb: tag: %w", err)
	}
	var who []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		who = append(who, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(who) == 0 {
		return 0, nil
	}
	win, winArgs := inList(who)
	typ, details := "tagged", "tags: "+name
	if tag.Sensitive {
		details = k.SealDetails(details)
	}
	if remove {
		typ = "untagged"
		if _, err := tx.Exec(ctx, `DELETE FROM taggings WHERE nation_id = ? AND tag_id = ? AND person_id IN (`+win+`)`,
			append([]any{nationID, tagID}, winArgs...)...); err != nil {
			return 0, fmt.Errorf("segmentweb: untag: %w", err)
		}
	} else {
		var q strings.Builder
		args := make([]any, 0, len(who)*4)
		q.WriteString(`INSERT INTO taggings (nation_id, person_id, tag_id, created_at) VALUES `)
		for i, id := range who {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?)")
			args = append(args, nationID, id, tagID, now)
		}
		if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
			return 0, fmt.Errorf("segmentweb: tag: %w", err)
		}
	}
	first, err := reserveIDs(ctx, tx, nationID, "activities", len(who))
	if err != nil {
		return 0, err
	}
	var q strings.Builder
	args := make([]any, 0, len(who)*7)
	q.WriteString(`INSERT INTO activities (nation_id, id, person_id, type, source_kind, source_ref, source_line, source_user, fields, details, at) VALUES `)
	for i, id := range who {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,'staff','',0,?,'',?,?)")
		args = append(args, nationID, first+int64(i), id, typ, actor, details, now)
	}
	if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
		return 0, fmt.Errorf("segmentweb: tag timeline: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE people SET updated_at = ? WHERE nation_id = ? AND id IN (`+win+`)`,
		append([]any{now, nationID}, winArgs...)...); err != nil {
		return 0, fmt.Errorf("segmentweb: tag: %w", err)
	}
	if err := changes.Record(ctx, tx, nationID, who...); err != nil {
		return 0, err
	}
	return len(who), nil
}

// reserveIDs reserves n consecutive ids of a nation's counter inside tx
// (the counter row store.DB.NextID also uses) and returns the first.
func reserveIDs(ctx context.Context, tx *store.Tx, nationID int64, name string, n int) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, `INSERT INTO id_sequences (nation_id, name, last_id) VALUES (?, ?, ?)
		ON CONFLICT (nation_id, name) DO UPDATE SET last_id = id_sequences.last_id + excluded.last_id
		RETURNING last_id`, nationID, name, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("segmentweb: reserve %s ids: %w", name, err)
	}
	return last - int64(n) + 1, nil
}

func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return strings.TrimSuffix(strings.Repeat("?,", len(ids)), ","), args
}

// recordCounts appends today's count to every saved segment's history, in
// every nation. A segment whose filter no longer works is skipped.
func recordCounts(ctx context.Context, svc *segment.Service, db *store.DB) error {
	rows, err := db.Query(ctx, `SELECT nation_id, id FROM segments ORDER BY nation_id, id`)
	if err != nil {
		return fmt.Errorf("segmentweb: record counts: %w", err)
	}
	type ref struct{ nation, id int64 }
	var all []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.nation, &r.id); err != nil {
			rows.Close()
			return err
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if _, err := svc.RecordCount(ctx, r.nation, r.id); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue // a broken filter must not stop the others
		}
	}
	return nil
}
