package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/jobs"
	mmail "github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/store"
)

// WorkerConfig configures the sending engine.
type WorkerConfig struct {
	DB   *store.DB
	Mail *config.Mail
	// Sender hands messages to the relay; nil builds one from Mail when the
	// first broadcast runs.
	Sender *mmail.Sender
	Log    *slog.Logger
	// ID names this worker in locked_by (default: the job queue's worker id
	// plus a random part is up to the caller; "" uses a random id).
	ID string
	// Lease is how long a claim on deliveries lasts without renewal
	// (default 30 s, like the job queue's).
	Lease time.Duration
	// Chunk is how many deliveries one claim takes (default 500).
	Chunk int
	// MaxAttempts bounds retries of temporary failures (default 6).
	MaxAttempts int
	// RetryDelay is the wait before attempt n (default mail.RetryDelay).
	RetryDelay func(attempt int) time.Duration
	Now        func() time.Time
}

// Worker sends broadcasts: register Handle as the JobKind handler.
type Worker struct {
	c WorkerConfig

	mu     sync.Mutex
	sender *mmail.Sender
}

// NewWorker returns a worker.
func NewWorker(c WorkerConfig) *Worker {
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.Chunk <= 0 {
		c.Chunk = 500
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 6
	}
	if c.RetryDelay == nil {
		c.RetryDelay = mmail.RetryDelay
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.ID == "" {
		c.ID = "broadcast-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return &Worker{c: c, sender: c.Sender}
}

// Close closes the sender the worker built.
func (w *Worker) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sender != nil && w.c.Sender == nil {
		return w.sender.Close()
	}
	return nil
}

func (w *Worker) getSender() (*mmail.Sender, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sender != nil {
		return w.sender, nil
	}
	m := w.c.Mail
	if m == nil || m.SMTPURL == "" || m.From == "" {
		return nil, errors.New("e-mail is not configured: set MUSTER_SMTP_URL and MUSTER_SMTP_FROM")
	}
	addr, err := fromAddress(m)
	if err != nil {
		return nil, err
	}
	s, err := mmail.NewSender(mmail.SenderConfig{URL: m.SMTPURL, From: addr.Address, Connections: m.Connections,
		Rate: m.Rate, PerDomain: m.PerDomain, Logger: w.c.Log})
	if err != nil {
		return nil, err
	}
	w.sender = s
	return s, nil
}

// Handle is the job handler of JobKind.
func (w *Worker) Handle(ctx context.Context, j *jobs.Job) error {
	var a jobArgs
	if err := j.Decode(&a); err != nil {
		return jobs.Permanent(err)
	}
	return w.Run(ctx, j.NationID, a.BroadcastID, func(done, total int64) {
		_ = j.Progress(ctx, done, total, "")
	})
}

// Run sends one broadcast until no delivery is left to send now. It
// returns nil when the broadcast finished (or was paused or cancelled), and
// jobs.Snooze when retries wait for later.
func (w *Worker) Run(ctx context.Context, nationID, id int64, progress func(done, total int64)) error {
	db := w.c.DB
	if w.c.Mail == nil {
		return errors.New("broadcast: e-mail is not configured")
	}
	b, err := scan(db.QueryRowWriter(ctx, `SELECT `+columns+` FROM broadcasts WHERE nation_id = ? AND id = ?`, nationID, id))
	if err != nil {
		return jobs.Permanent(err)
	}
	switch b.State {
	case StateDraft, StatePaused, StateCancelled, StateFinished:
		return nil
	}
	now := w.c.Now()
	if _, err := db.Exec(ctx, `UPDATE broadcasts SET state = 'sending', started_at = CASE WHEN started_at = 0 THEN ? ELSE started_at END
		WHERE nation_id = ? AND id = ? AND state IN ('scheduled', 'sending')`, store.Millis(now), nationID, id); err != nil {
		return fmt.Errorf("broadcast: start: %w", err)
	}
	if !b.Materialised {
		var key []byte
		if w.c.Mail != nil {
			key = w.c.Mail.SecretKey
		}
		if err := materialise(ctx, db, key, b, now); err != nil {
			return err
		}
		if b, err = scan(db.QueryRowWriter(ctx, `SELECT `+columns+` FROM broadcasts WHERE nation_id = ? AND id = ?`, nationID, id)); err != nil {
			return err
		}
		// A large broadcast has just written most of the table: without
		// fresh statistics PostgreSQL plans the outbox's statements as if
		// it were empty (a range scan filtering 1,000 ids per row instead
		// of 1,000 primary-key look-ups) until autovacuum catches up.
		if db.Engine == store.Postgres && b.Queued >= 10000 {
			if _, err := db.Exec(ctx, `ANALYZE deliveries`); err != nil {
				return fmt.Errorf("broadcast: analyze deliveries: %w", err)
			}
		}
	}
	sender, err := w.getSender()
	if err != nil {
		return err
	}
	prep, err := prepareContent(ctx, db, w.c.Mail, nationID, id, draftOf(b))
	if err != nil {
		return jobs.Permanent(err)
	}
	var nationName string
	_ = db.QueryRow(ctx, `SELECT name FROM nations WHERE id = ?`, nationID).Scan(&nationName)

	o := &outbox{db: db, nationID: nationID, id: id, worker: w.c.ID}
	if n, err := o.recover(ctx, store.Millis(w.c.Now())); err != nil {
		return err
	} else if n > 0 {
		w.c.Log.Warn("broadcast: resending deliveries a dead worker left on a connection", "nation", nationID, "broadcast", id, "count", n)
	}
	r := &run{w: w, o: o, b: b, prep: prep, sender: sender, nationName: nationName, progress: progress}
	if err := r.send(ctx); err != nil {
		return err
	}
	return w.finishOrWait(ctx, o, b)
}

// finishOrWait marks the broadcast finished when nothing is left, or
// snoozes the job until the next delivery is due.
func (w *Worker) finishOrWait(ctx context.Context, o *outbox, b *Broadcast) error {
	if _, err := o.recover(ctx, store.Millis(w.c.Now())); err != nil {
		return err
	}
	n, nextAt, err := o.remaining(ctx)
	if err != nil {
		return err
	}
	var state string
	if err := o.db.QueryRowWriter(ctx, `SELECT state FROM broadcasts WHERE nation_id = ? AND id = ?`, o.nationID, o.id).Scan(&state); err != nil {
		return fmt.Errorf("broadcast: state: %w", err)
	}
	if state != StateSending {
		return nil // paused or cancelled: Resume enqueues again
	}
	if n > 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := max(time.Until(store.Time(nextAt)), 50*time.Millisecond)
		return jobs.Snooze(min(wait, time.Hour))
	}
	now := store.Millis(w.c.Now())
	return o.db.InTx(ctx, func(tx *store.Tx) error {
		var sent int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM deliveries WHERE nation_id = ? AND broadcast_id = ? AND state IN ('sent', 'ambiguous')`,
			o.nationID, o.id).Scan(&sent); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE broadcasts SET state = 'finished', finished_at = ?, updated_at = ? WHERE nation_id = ? AND id = ? AND state = 'sending'`,
			now, now, o.nationID, o.id); err != nil {
			return err
		}
		// The register records the number reached.
		_, err := tx.Exec(ctx, `UPDATE targeting_register SET count = ? WHERE nation_id = ? AND id = (SELECT register_id FROM broadcasts WHERE nation_id = ? AND id = ?)`,
			sent, o.nationID, o.nationID, o.id)
		return err
	})
}

// run is one pass of sending a broadcast.
type run struct {
	w          *Worker
	o          *outbox
	b          *Broadcast
	prep       *mmail.Prepared
	sender     *mmail.Sender
	nationName string
	progress   func(done, total int64)

	reqs chan request
	// active counts the connection goroutines still running: the committer
	// stops gathering once every one of them is waiting on it.
	active atomic.Int64
	stop   chan struct{} // closed when the pass must stop claiming (pause, cancel, error)
	once   sync.Once
	err    error
	done   int64
}

// request is one connection's turn at the committer: the outcome of its
// last message, and the delivery it wants to start next.
type request struct {
	out   *outcome
	start *item
	reply chan bool
}

func (r *run) fail(err error) {
	r.once.Do(func() {
		r.err = err
		close(r.stop)
	})
}

func (r *run) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *run) send(ctx context.Context) error {
	conns := 10
	if m := r.w.c.Mail; m != nil && m.Connections > 0 {
		conns = m.Connections
	}
	r.reqs = make(chan request, conns)
	r.stop = make(chan struct{})
	items := make(chan item, r.w.c.Chunk)

	// Committer: group commits (and lease renewals) until every connection
	// has left.
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		r.commitLoop(ctx)
	}()
	// Connections.
	var wg sync.WaitGroup
	r.active.Store(int64(conns))
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.active.Add(-1)
			r.connection(ctx, items)
		}()
	}
	// Claimer (here): claim, load, hand to the connections.
	r.claimLoop(ctx, items)
	close(items)
	wg.Wait()
	close(r.reqs)
	<-committed
	// Whatever is still claimed (stopped early) goes back to the queue.
	if err := r.o.release(context.WithoutCancel(ctx)); err != nil && r.err == nil {
		r.err = err
	}
	if r.err == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return r.err
}

func (r *run) leaseUntil() int64 { return store.Millis(r.w.c.Now().Add(r.w.c.Lease)) }

func (r *run) claimLoop(ctx context.Context, items chan<- item) {
	for !r.stopped() && ctx.Err() == nil {
		var state string
		if err := r.o.db.QueryRowWriter(ctx, `SELECT state FROM broadcasts WHERE nation_id = ? AND id = ?`, r.o.nationID, r.o.id).Scan(&state); err != nil {
			r.fail(fmt.Errorf("broadcast: state: %w", err))
			return
		}
		if state != StateSending {
			r.fail(nil)
			return
		}
		ids, err := r.o.claim(ctx, store.Millis(r.w.c.Now()), r.leaseUntil(), r.w.c.Chunk)
		if err != nil {
			r.fail(err)
			return
		}
		if len(ids) == 0 {
			return
		}
		its, err := r.o.load(ctx, ids, r.b.Basis)
		if err != nil {
			r.fail(err)
			return
		}
		skips := map[string][]int64{}
		for _, it := range its {
			if it.skip != "" {
				skips[it.skip] = append(skips[it.skip], it.personID)
			}
		}
		if err := r.o.skip(ctx, skips); err != nil {
			r.fail(err)
			return
		}
		for _, it := range its {
			if it.skip != "" {
				continue
			}
			select {
			case items <- it:
			case <-r.stop:
				return
			case <-ctx.Done():
				return
			}
		}
	}
}

// connection renders and sends messages one after another; before each it
// asks the committer to record the last outcome and mark the next delivery
// 'sending' (see outbox.go).
func (r *run) connection(ctx context.Context, items <-chan item) {
	var last *outcome
	var buf []byte
	reply := make(chan bool, 1)
	key := r.w.c.Mail.SecretKey
	base := r.w.c.Mail.BaseURL
	for {
		var it item
		var ok bool
		if r.stopped() || ctx.Err() != nil {
			ok = false
		} else {
			select {
			case it, ok = <-items:
			case <-r.stop:
			case <-ctx.Done():
			}
		}
		if !ok {
			if last != nil {
				r.reqs <- request{out: last, reply: reply}
				<-reply
			}
			return
		}
		token := mmail.SignUnsubscribe(key, r.o.nationID, it.personID, r.o.id)
		rcpt := mmail.Recipient{PersonID: it.personID, Email: it.email,
			Name: strings.TrimSpace(it.firstName + " " + it.lastName), UnsubscribeToken: token,
			Fields: mmail.Fields{FirstName: it.firstName, LastName: it.lastName, Email: it.email, City: it.city,
				Postcode: it.postcode, Country: it.country, NationName: r.nationName,
				UnsubscribeURL: base + "/u/" + token, PreferencesURL: base + "/u/" + token}}
		var err error
		buf, err = r.prep.Append(buf[:0], &rcpt)
		if err != nil {
			// Not sendable (bad address, template output too large): no
			// need to mark it sending first.
			code := "render"
			if errors.Is(err, mmail.ErrBadRecipient) {
				code = "bad_address"
			}
			r.reqs <- request{out: last, reply: reply}
			<-reply
			last = &outcome{personID: it.personID, state: "failed", code: code}
			continue
		}
		r.reqs <- request{out: last, start: &it, reply: reply}
		last = nil
		if !<-reply {
			continue // no longer ours (or the commit failed): do not send
		}
		// The message goes out even if ctx ends now: stopping half-way
		// would only make it ambiguous.
		res := r.sender.Send(context.WithoutCancel(ctx), mmail.Envelope{To: it.email}, buf)
		last = r.classify(it, res)
	}
}

func (r *run) classify(it item, res mmail.Result) *outcome {
	oc := &outcome{personID: it.personID}
	switch res.Status {
	case mmail.Sent:
		oc.state = "sent"
	case mmail.Ambiguous:
		oc.state = "ambiguous"
	case mmail.Permanent:
		oc.state, oc.code = "failed", "smtp_"+strconv.Itoa(res.Code)
	default:
		oc.code = "smtp_temporary"
		if res.Code != 0 {
			oc.code = "smtp_" + strconv.Itoa(res.Code)
		}
		if it.attempts+1 >= r.w.c.MaxAttempts {
			oc.state, oc.code = "failed", oc.code+"_gave_up"
		} else {
			oc.state = "retry"
			oc.nextAt = store.Millis(r.w.c.Now().Add(r.w.c.RetryDelay(it.attempts + 1)))
		}
	}
	return oc
}

// commitWindow is how long the committer waits, after a first request, for
// the other connections' requests before it writes. A transaction costs
// about the same for 2 rows as for 40 (BEGIN, two statements to parse,
// COMMIT with its WAL frames), and connections arrive one by one as their
// relay answers, so committing at once would write ~2–3 requests per
// transaction and make the single committer the bottleneck. Waiting at
// most this long groups 20–50 requests; the wait is a small part of a
// connection's cycle (render, commit, SMTP exchange) when the pool has
// 20–50 connections.
const commitWindow = time.Millisecond

// commitLoop is the group committer: it gathers the requests of the
// connections (until every running connection is waiting on it, or
// commitWindow has passed), writes them in one transaction and answers
// each.
func (r *run) commitLoop(ctx context.Context) {
	var outs []outcome
	var starts []int64
	var waiting []request
	wctx := context.WithoutCancel(ctx) // outcomes of sent messages must be recorded
	timer := time.NewTimer(commitWindow)
	timer.Stop()
	// Leases are renewed here, between commits, rather than by a goroutine
	// of their own: on PostgreSQL a renewal (every row this worker holds)
	// running beside a commit (rows turning sent, others sending) would
	// lock the same rows in different orders and deadlock.
	renew := time.NewTicker(r.w.c.Lease / 3)
	defer renew.Stop()
	for {
		var first request
		select {
		case q, ok := <-r.reqs:
			if !ok {
				return
			}
			first = q
		case <-renew.C:
			if err := r.o.renew(wctx, r.leaseUntil()); err != nil {
				r.fail(err)
			}
			continue
		}
		waiting = append(waiting[:0], first)
		timer.Reset(commitWindow)
	gather:
		for int64(len(waiting)) < r.active.Load() {
			select {
			case q, ok := <-r.reqs:
				if !ok {
					break gather
				}
				waiting = append(waiting, q)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		outs, starts = outs[:0], starts[:0]
		for _, q := range waiting {
			if q.out != nil {
				outs = append(outs, *q.out)
			}
			if q.start != nil && !r.stopped() {
				starts = append(starts, q.start.personID)
			}
		}
		granted, err := r.o.commit(wctx, outs, starts, store.Millis(r.w.c.Now()), r.leaseUntil())
		if err != nil {
			r.fail(err)
		}
		for _, q := range waiting {
			q.reply <- err == nil && q.start != nil && granted[q.start.personID]
		}
		if err == nil {
			r.done += int64(len(outs))
			if r.progress != nil && len(outs) > 0 {
				r.progress(r.done, r.b.Queued)
			}
		}
	}
}
