package broadcast

// The outbox: one deliveries row per recipient per broadcast, its primary
// key (nation_id, broadcast_id, person_id) making "one message per person"
// a database fact rather than a hope.
//
// States and who moves them:
//
//	queued    waiting (next_attempt_at says from when)
//	claimed   a worker took it (locked_by, lease_until) but has NOT begun to
//	          hand it to the relay; a dead worker's claimed rows go back to
//	          queued once the lease expires, at no risk.
//	sending   on a connection: the worker may be handing it to the relay.
//	sent | failed | ambiguous | skipped   final.
//
// The invariant that makes kill -9 safe:
//
//	A message's bytes reach the relay only while its row is durably
//	'sending', and each connection has at most one 'sending' row.
//
// Every connection goroutine asks a single committer for permission before
// each message ("mark this one sending, and here is the outcome of my last
// one"); the committer gathers the requests of the connections — until
// every running connection is waiting on it, or for at most commitWindow
// (1 ms) after the first — and commits them in ONE transaction (group
// commit), then answers all of them. Committing each request as it came
// wrote ~2–3 requests per transaction, and the fixed cost of a transaction
// made the single committer the bottleneck. A connection that has just
// finished message k gets k recorded and k+1 marked 'sending' in the same
// commit (k+1 is not on the wire before that commit returns, so the
// invariant holds), and the number of transactions is about messages /
// connections — that is what lets the outbox keep up with 7,000 messages
// a second. Statements reach rows by primary key (see claim), never by
// scanning the rows of a state.
//
// After a crash, a row left 'sending' (its lease expired) may or may not
// have reached the relay. It is sent again, with the same Message-ID, and
// counted (recovered = 1, "resent" in Progress): no one is lost, and at
// most one message per open connection per crash can arrive twice. A live
// connection that loses the relay after the whole message was sent
// (mail.Ambiguous) is different: the relay very probably has it, so the row
// is marked 'ambiguous' and not resent.
//
// Leases: a worker renews the lease of the rows it holds every third of
// the lease, from the committer between two commits (a renewal running
// beside a commit would lock the same rows in another order: a deadlock on
// PostgreSQL); a row is only ever taken from another worker after its lease
// has expired, and the committer marks 'sending' only rows still claimed by
// this worker (UPDATE … WHERE locked_by = me … RETURNING), so two processes
// never send the same delivery. On PostgreSQL claims use FOR UPDATE SKIP
// LOCKED so that workers do not queue behind each other.

import (
	"context"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/store"
)

// outbox runs the SQL of one broadcast's deliveries for one worker.
type outbox struct {
	db       *store.DB
	nationID int64
	id       int64
	worker   string
}

func placeholders(n int) string {
	if n == 0 {
		return ""
	}
	return "?" + strings.Repeat(", ?", n-1)
}

func (o *outbox) idArgs(head []any, ids []int64) []any {
	args := append(head, o.nationID, o.id)
	for _, id := range ids {
		args = append(args, id)
	}
	return args
}

// recover returns expired rows of dead workers to the queue: claimed rows
// as they were, sending rows flagged recovered (they are resent). It
// returns how many sending rows it recovered.
func (o *outbox) recover(ctx context.Context, now int64) (int64, error) {
	var n int64
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'queued', locked_by = '', lease_until = 0
			WHERE nation_id = ? AND broadcast_id = ? AND state = 'claimed' AND lease_until < ?`, o.nationID, o.id, now); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'queued', locked_by = '', lease_until = 0, recovered = 1
			WHERE nation_id = ? AND broadcast_id = ? AND state = 'sending' AND lease_until < ?`, o.nationID, o.id, now)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("broadcast: recover deliveries: %w", err)
	}
	return n, nil
}

// claim takes up to limit due queued rows for this worker.
//
// Two statements rather than UPDATE … WHERE person_id IN (SELECT … LIMIT):
// the SELECT walks deliveries_state in its own order (ordering by
// person_id would walk the primary key past every row already sent,
// quadratic over a broadcast), and the UPDATE finds the chosen rows by
// primary key. In one statement, PostgreSQL with stale statistics on a
// freshly written outbox may plan a nested loop that runs the locking
// subquery once per queued row, and SQLite scans every queued row through
// deliveries_state. On PostgreSQL the SELECT locks the rows (FOR UPDATE
// SKIP LOCKED) so that workers do not wait for each other; on SQLite the
// transaction holds the write lock.
func (o *outbox) claim(ctx context.Context, now, leaseUntil int64, limit int) ([]int64, error) {
	lock := ""
	if o.db.Engine == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var ids []int64
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		ids = ids[:0]
		rows, err := tx.Query(ctx, `SELECT person_id FROM deliveries
			WHERE nation_id = ? AND broadcast_id = ? AND state = 'queued' AND next_attempt_at <= ?
			ORDER BY next_attempt_at LIMIT ?`+lock, o.nationID, o.id, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		// state || '': by primary key, not through deliveries_state. Only
		// the rows this UPDATE took (RETURNING) are ours.
		rows, err = tx.Query(ctx, `UPDATE deliveries SET state = 'claimed', locked_by = ?, lease_until = ?
			WHERE nation_id = ? AND broadcast_id = ? AND state || '' = 'queued' AND person_id IN (`+placeholders(len(ids))+`)
			RETURNING person_id`, o.idArgs([]any{o.worker, leaseUntil}, ids)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		ids = ids[:0]
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: claim deliveries: %w", err)
	}
	return ids, nil
}

// item is one claimed delivery with what rendering needs.
type item struct {
	personID  int64
	email     string
	attempts  int
	firstName string
	lastName  string
	city      string
	postcode  string
	country   string
	// skip is why the row must not be sent after all ("" to send).
	skip string
}

// load reads the claimed rows with the person's current fields and checks
// again, now, that they may be sent: consent may have been withdrawn (an
// unsubscribe takes effect for the very next message) or the address
// suppressed since the audience was materialised.
func (o *outbox) load(ctx context.Context, ids []int64, basis string) ([]item, error) {
	el, eargs := eligibleSQL(o.nationID, basis)
	q := `SELECT d.person_id, d.email, d.attempts, COALESCE(p.first_name, ''), COALESCE(p.last_name, ''),
		COALESCE(p.home_city, ''), COALESCE(p.home_postcode, ''), COALESCE(p.home_country, ''),
		CASE WHEN p.id IS NULL OR p.merged_into <> 0 THEN 'gone' WHEN NOT (` + el + `) THEN 'consent'
			WHEN EXISTS (SELECT 1 FROM suppressions s WHERE s.nation_id = d.nation_id AND s.kind = 'email' AND s.hash = d.email_hash) THEN 'suppressed'
			ELSE '' END
		FROM deliveries d LEFT JOIN people p ON p.nation_id = d.nation_id AND p.id = d.person_id
		WHERE d.nation_id = ? AND d.broadcast_id = ? AND d.person_id IN (` + placeholders(len(ids)) + `) ORDER BY d.person_id`
	rows, err := o.db.Query(ctx, q, o.idArgs(eargs, ids)...)
	if err != nil {
		return nil, fmt.Errorf("broadcast: load deliveries: %w", err)
	}
	defer rows.Close()
	out := make([]item, 0, len(ids))
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.personID, &it.email, &it.attempts, &it.firstName, &it.lastName, &it.city, &it.postcode, &it.country, &it.skip); err != nil {
			return nil, fmt.Errorf("broadcast: load deliveries: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// skip finalises rows that must not be sent, with their reason code.
func (o *outbox) skip(ctx context.Context, byReason map[string][]int64) error {
	if len(byReason) == 0 {
		return nil
	}
	return o.db.InTx(ctx, func(tx *store.Tx) error {
		for reason, ids := range byReason {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'skipped', last_error = ?, locked_by = ''
				WHERE nation_id = ? AND broadcast_id = ? AND person_id IN (`+placeholders(len(ids))+`)`, o.idArgs([]any{reason}, ids)...); err != nil {
				return fmt.Errorf("broadcast: skip deliveries: %w", err)
			}
		}
		return nil
	})
}

// release hands this worker's claimed (not sending) rows back to the queue,
// when it stops early (pause, cancel, shutdown).
func (o *outbox) release(ctx context.Context) error {
	_, err := o.db.Exec(ctx, `UPDATE deliveries SET state = 'queued', locked_by = '', lease_until = 0
		WHERE nation_id = ? AND broadcast_id = ? AND state = 'claimed' AND locked_by = ?`, o.nationID, o.id, o.worker)
	if err != nil {
		return fmt.Errorf("broadcast: release deliveries: %w", err)
	}
	return nil
}

// renew extends the lease of every row this worker holds.
func (o *outbox) renew(ctx context.Context, leaseUntil int64) error {
	_, err := o.db.Exec(ctx, `UPDATE deliveries SET lease_until = ?
		WHERE nation_id = ? AND broadcast_id = ? AND state IN ('claimed', 'sending') AND locked_by = ?`, leaseUntil, o.nationID, o.id, o.worker)
	if err != nil {
		return fmt.Errorf("broadcast: renew lease: %w", err)
	}
	return nil
}

// remaining counts rows not final, and the earliest time one becomes due
// (a queued row waiting for a retry, or another worker's lease).
func (o *outbox) remaining(ctx context.Context) (n, nextAt int64, err error) {
	err = o.db.QueryRowWriter(ctx, `SELECT COUNT(*), COALESCE(MIN(CASE WHEN state = 'queued' THEN next_attempt_at ELSE lease_until END), 0)
		FROM deliveries WHERE nation_id = ? AND broadcast_id = ? AND state IN ('queued', 'claimed', 'sending')`, o.nationID, o.id).Scan(&n, &nextAt)
	if err != nil {
		return 0, 0, fmt.Errorf("broadcast: remaining deliveries: %w", err)
	}
	return n, nextAt, nil
}

// outcome is the result of one message, to be recorded.
type outcome struct {
	personID int64
	state    string // sent, failed, ambiguous, retry
	code     string // last_error code
	nextAt   int64  // retry: when
}

// commit records outcomes and marks the rows of start 'sending' in one
// transaction, returning which of start this worker still held (only those
// may be sent).
func (o *outbox) commit(ctx context.Context, outs []outcome, start []int64, now, leaseUntil int64) (map[int64]bool, error) {
	granted := make(map[int64]bool, len(start))
	err := o.db.InTx(ctx, func(tx *store.Tx) error {
		clear(granted)
		var sent, amb []int64
		for _, oc := range outs {
			switch oc.state {
			case "sent":
				sent = append(sent, oc.personID)
			case "ambiguous":
				amb = append(amb, oc.personID)
			case "failed":
				if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'failed', attempts = attempts + 1, last_error = ?, locked_by = ''
					WHERE nation_id = ? AND broadcast_id = ? AND person_id = ?`, oc.code, o.nationID, o.id, oc.personID); err != nil {
					return err
				}
			case "retry":
				if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'queued', attempts = attempts + 1, last_error = ?, locked_by = '',
					lease_until = 0, next_attempt_at = ? WHERE nation_id = ? AND broadcast_id = ? AND person_id = ?`,
					oc.code, oc.nextAt, o.nationID, o.id, oc.personID); err != nil {
					return err
				}
			}
		}
		if len(sent) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, locked_by = ''
				WHERE nation_id = ? AND broadcast_id = ? AND person_id IN (`+placeholders(len(sent))+`)`, o.idArgs([]any{now}, sent)...); err != nil {
				return err
			}
		}
		if len(amb) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET state = 'ambiguous', attempts = attempts + 1, sent_at = ?, last_error = 'no_reply_after_data', locked_by = ''
				WHERE nation_id = ? AND broadcast_id = ? AND person_id IN (`+placeholders(len(amb))+`)`, o.idArgs([]any{now}, amb)...); err != nil {
				return err
			}
		}
		if len(start) == 0 {
			return nil
		}
		args := append([]any{leaseUntil, o.nationID, o.id, o.worker}, idsAny(start)...)
		// state || '': find the rows by primary key, not by scanning every
		// claimed row through deliveries_state (see claim).
		rows, err := tx.Query(ctx, `UPDATE deliveries SET state = 'sending', lease_until = ?
			WHERE nation_id = ? AND broadcast_id = ? AND state || '' = 'claimed' AND locked_by = ? AND person_id IN (`+placeholders(len(start))+`)
			RETURNING person_id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			granted[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("broadcast: record deliveries: %w", err)
	}
	return granted, nil
}

func idsAny(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
