package pages

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// committer groups concurrent submissions into few transactions (group
// commit). Under load every signature would otherwise be its own write
// transactions on SQLite's single writer; here whoever finds no commit
// running becomes the leader, takes everything queued (up to maxBatch) and
// writes it in one people upsert and one transaction for signatures,
// subscriptions, timeline and change log, while the next submissions
// queue for the following batch. Each caller waits for the commit of its
// own batch: a submission is answered only once it is durable.
//
// No goroutine outlives the queue: the last leader leaves when it finds
// the queue empty.
type committer struct {
	forms   *Forms
	workers int // concurrent batches: 1 on SQLite (one writer), more on PostgreSQL

	mu      sync.Mutex
	queue   []*pending
	running int
}

// maxBatch bounds a batch, so that a spike still commits in steps whose
// latency stays short.
const maxBatch = 256

// pending is one submission waiting for its batch.
type pending struct {
	ctx          context.Context
	nationID     int64
	page         *Page
	sub          Submission
	rec          people.Record
	src          people.Source
	pendingEmail *people.ConsentInput

	res  Result
	err  error
	done chan struct{}
}

// submit queues p and returns once its batch is committed (or failed).
func (c *committer) submit(p *pending) {
	p.done = make(chan struct{})
	c.mu.Lock()
	c.queue = append(c.queue, p)
	lead := c.running < c.workers
	if lead {
		c.running++
	}
	c.mu.Unlock()
	if lead {
		go c.lead()
	}
	<-p.done
}

func (c *committer) lead() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		n := min(len(c.queue), maxBatch)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil
		}
		c.mu.Unlock()
		c.commit(batch)
		for _, p := range batch {
			close(p.done)
		}
	}
}

// commit writes a batch. Should a nation's part of the batch fail as a
// whole, each of its submissions is tried again on its own, so that one
// bad submission fails alone and the others are still written.
func (c *committer) commit(batch []*pending) {
	// The batch is everyone's: one client going away must not abort it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(batch[0].ctx), 30*time.Second)
	defer cancel()
	again := batch
	if len(batch) > 1 {
		again = c.write(ctx, batch)
	}
	for _, p := range again {
		for attempt := 0; ; attempt++ {
			p.res, p.err = Result{}, nil
			failed := c.write(ctx, []*pending{p})
			if len(failed) == 0 || !retryable(p.err) || attempt == 2 {
				break
			}
		}
	}
}

// retryable reports whether err is PostgreSQL telling a transaction to run
// again (a deadlock with another writer, a serialization failure).
func retryable(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		code := pg.SQLState()
		return code == "40P01" || code == "40001"
	}
	return false
}

// write applies submissions, one transaction per nation: the people
// upsert, and in the same transaction (people.UpsertOptions.Then) what the
// submissions record. A rejected record (no usable identity) is that
// submission's error only. It returns the submissions of the nations
// whose transaction failed (their err is set; nothing of theirs is
// written).
func (c *committer) write(ctx context.Context, batch []*pending) (failed []*pending) {
	byNation := map[int64][]*pending{}
	var order []int64
	for _, p := range batch {
		if _, ok := byNation[p.nationID]; !ok {
			order = append(order, p.nationID)
		}
		byNation[p.nationID] = append(byNation[p.nationID], p)
	}
	for _, nid := range order {
		if err := c.writeNation(ctx, nid, byNation[nid]); err != nil {
			failed = append(failed, byNation[nid]...)
		}
	}
	return failed
}

// writeNation writes the submissions of one nation in one transaction.
func (c *committer) writeNation(ctx context.Context, nid int64, ps []*pending) error {
	fail := func(err error) error {
		err = fmt.Errorf("pages: submit: %w", err)
		for _, p := range ps {
			p.err = err
			p.res.NewSignature = false
		}
		return err
	}
	// Timeline ids are reserved before the transaction (on SQLite a
	// reservation may take the one writer connection), one per
	// submission; those a rejected or repeated submission leaves unused
	// are a gap.
	firstID, err := c.forms.Pages.db.NextIDs(ctx, nid, "activities", int64(len(ps)))
	if err != nil {
		return fail(err)
	}
	now := store.Millis(c.forms.Pages.now())
	recs := make([]people.Record, len(ps))
	srcs := make([]people.Source, len(ps))
	for i, p := range ps {
		recs[i], srcs[i] = p.rec, p.src
	}
	record := func(ctx context.Context, tx *store.Tx, rs []people.RowResult) ([]int64, error) {
		var ok []*pending
		for i, p := range ps {
			p.res = Result{PersonID: rs[i].PersonID, Outcome: rs[i].Outcome, PendingEmail: p.pendingEmail}
			if rs[i].Outcome == people.Rejected {
				continue
			}
			ok = append(ok, p)
		}
		if len(ok) == 0 {
			return nil, nil
		}
		return recordBatch(ctx, tx, nid, ok, firstID, now)
	}
	rs, err := c.forms.People.UpsertBatch(ctx, nid, recs, srcs, people.UpsertOptions{Then: record})
	if err != nil {
		return fail(err)
	}
	for i, p := range ps {
		if rs[i].Outcome == people.Rejected {
			p.err = rs[i].Err
			continue
		}
		if p.res.NewSignature {
			c.forms.Pages.bumpCount(p.nationID, p.page.ID)
		}
	}
	return nil
}

// recordBatch writes, in tx, what submissions to pages of one nation add
// besides the people: the petition signatures (once per person and
// petition), the topic subscriptions, the timeline activities ('signed' or
// 'form_submitted', ref = the page slug) with the pages' points (first
// time only for a petition). It returns the people to add to the change
// log. Rows are written with a few multi-row statements per batch: on
// SQLite, parsing a statement per row costs more than writing the row.
func recordBatch(ctx context.Context, tx *store.Tx, nationID int64, ps []*pending, firstID, now int64) ([]int64, error) {
	var sigs []*pending
	for _, p := range ps {
		if p.page.Type == TypePetition {
			sigs = append(sigs, p)
		}
	}
	if err := insertSignatures(ctx, tx, nationID, sigs, now); err != nil {
		return nil, err
	}
	for _, p := range ps {
		for _, t := range p.sub.Topics {
			if _, err := tx.Exec(ctx, `INSERT INTO topic_subscriptions (nation_id, topic_id, person_id, status, at, source_kind, source_ref)
				VALUES (?, ?, ?, 'subscribed', ?, 'form', ?)
				ON CONFLICT (nation_id, topic_id, person_id) DO UPDATE SET status = 'subscribed', at = excluded.at,
				source_kind = excluded.source_kind, source_ref = excluded.source_ref
				WHERE topic_subscriptions.status <> 'subscribed'`, nationID, t.ID, p.res.PersonID, now, p.page.Slug); err != nil {
				return nil, err
			}
		}
	}
	// The timeline: one activity per new signature or form submission,
	// with the page's points.
	var acts [][]any
	points := map[int64]int{} // person → points earned in this batch
	var people []int64
	for _, p := range ps {
		people = append(people, p.res.PersonID)
		typ := "form_submitted"
		if p.page.Type == TypePetition {
			if !p.res.NewSignature {
				continue
			}
			typ = "signed"
		}
		acts = append(acts, []any{nationID, firstID + int64(len(acts)), p.res.PersonID, typ,
			p.src.Kind, p.src.Ref, p.src.Line, p.src.UserID, "", "", now})
		points[p.res.PersonID] += p.page.Settings.Points
	}
	if err := insertMulti(ctx, tx, `INSERT INTO activities (nation_id, id, person_id, type, source_kind, source_ref, source_line, source_user, fields, details, at) VALUES `, acts, ""); err != nil {
		return nil, err
	}
	// Points and last activity: one UPDATE per distinct number of points.
	byPoints := map[int][]int64{}
	for id, pts := range points {
		byPoints[pts] = append(byPoints[pts], id)
	}
	for pts, ids := range byPoints {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			args := []any{pts, now, now, nationID}
			for _, id := range ids[:n] {
				args = append(args, id)
			}
			if _, err := tx.Exec(ctx, `UPDATE people SET points = points + ?,
				last_activity_at = CASE WHEN last_activity_at < ? THEN ? ELSE last_activity_at END
				WHERE nation_id = ? AND id IN (?`+strings.Repeat(",?", n-1)+`)`, args...); err != nil {
				return nil, err
			}
			ids = ids[n:]
		}
	}
	return people, nil
}

// insertSignatures adds the signatures of petition submissions, skipping
// people who had signed, and marks each submission that added one.
func insertSignatures(ctx context.Context, tx *store.Tx, nationID int64, ps []*pending, now int64) error {
	type key struct{ page, person int64 }
	for len(ps) > 0 {
		n := min(len(ps), 500)
		chunk := ps[:n]
		ps = ps[n:]
		var q strings.Builder
		q.WriteString(`INSERT INTO signatures (nation_id, page_id, person_id, signed_at, comment, show_publicly, lang, first_name, city) VALUES `)
		args := make([]any, 0, n*9)
		for i, p := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?,?,?,?)")
			v := p.sub.Values
			args = append(args, nationID, p.page.ID, p.res.PersonID, now, v["comment"], store.Bool(p.sub.ShowPublicly), p.sub.Lang, v["first_name"], v["city"])
		}
		q.WriteString(` ON CONFLICT (nation_id, page_id, person_id) DO NOTHING RETURNING page_id, person_id`)
		rows, err := tx.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		added := map[key]bool{}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.page, &k.person); err != nil {
				rows.Close()
				return err
			}
			added[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range chunk {
			k := key{p.page.ID, p.res.PersonID}
			p.res.NewSignature = added[k]
			delete(added, k) // a second submission of the batch by the same person adds nothing
		}
	}
	return nil
}

// insertMulti inserts rows with multi-row INSERTs of at most 200 rows.
func insertMulti(ctx context.Context, tx *store.Tx, head string, rows [][]any, tail string) error {
	for len(rows) > 0 {
		n := min(len(rows), 200)
		var q strings.Builder
		q.WriteString(head)
		var args []any
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?" + strings.Repeat(",?", len(r)-1) + ")")
			args = append(args, r...)
		}
		q.WriteString(tail)
		if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
