package broadcast

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
)

// audience is an audience definition compiled to SQL over "people p".
type audience struct {
	where    string // who is in the audience
	args     []any
	eligible string // SQL boolean: may be sent to under the basis
	eargs    []any
}

// eligibleSQL is the condition, over "people p", that a person may receive
// a broadcast under basis: the latest e-mail consent entry (by time, then
// id) is a grant; or, for membership, the person is a current member who
// has not withdrawn e-mail consent (an unsubscribe always wins).
func eligibleSQL(nationID int64, basis string) (string, []any) {
	latest := `SELECT 1 FROM consents c WHERE c.nation_id = ? AND c.person_id = p.id AND c.channel = 'email' AND c.status = '%s'
		AND NOT EXISTS (SELECT 1 FROM consents c2 WHERE c2.nation_id = ? AND c2.person_id = p.id AND c2.channel = 'email'
		AND (c2.at > c.at OR (c2.at = c.at AND c2.id > c.id)))`
	if basis == BasisMembership {
		return `(p.membership_status NOT IN ('', 'lapsed', 'expired', 'cancelled', 'canceled', 'former', 'none', 'no')
			AND NOT EXISTS (` + fmt.Sprintf(latest, "withdrawn") + `))`, []any{nationID, nationID}
	}
	return `EXISTS (` + fmt.Sprintf(latest, "granted") + `)`, []any{nationID, nationID}
}

// audienceSQL compiles a filter and/or topic. A topic needs the pages
// feature's topics tables; an unknown topic is refused.
func (s *Service) audienceSQL(ctx context.Context, nationID int64, filter, topic, basis string) (*audience, error) {
	return compileAudience(ctx, s.d.DB, nationID, filter, topic, basis, s.d.Now())
}

func compileAudience(ctx context.Context, db *store.DB, nationID int64, filter, topic, basis string, now time.Time) (*audience, error) {
	a := &audience{}
	expr, err := segment.Parse(filter)
	if err != nil {
		return nil, err
	}
	loc := time.UTC
	var tz string
	if err := db.QueryRow(ctx, `SELECT timezone FROM nations WHERE id = ?`, nationID).Scan(&tz); err == nil && tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	key, err := segment.ReadKey(ctx, db, nationID)
	if err != nil {
		return nil, err
	}
	env := segment.Env{Engine: db.Engine, NationID: nationID, Today: now, Loc: loc, Key: key,
		Segments: func(name string) (segment.Expr, bool) {
			var f string
			if err := db.QueryRow(ctx, `SELECT filter FROM segments WHERE nation_id = ? AND name = ?`, nationID, name).Scan(&f); err != nil {
				return nil, false
			}
			e, err := segment.Parse(f)
			return e, err == nil
		}}
	a.where, a.args, err = segment.Compile(expr, env)
	if err != nil {
		return nil, err
	}
	if topic != "" {
		var topicID int64
		err := db.QueryRow(ctx, `SELECT id FROM topics WHERE nation_id = ? AND slug = ?`, nationID, topic).Scan(&topicID)
		if err != nil {
			if strings.Contains(err.Error(), "no rows") {
				return nil, errs.InvalidField("topic", "no topic %q in this nation", topic)
			}
			return nil, errs.InvalidField("topic", "topics are not available (%v)", err)
		}
		a.where = "(" + a.where + `) AND EXISTS (SELECT 1 FROM topic_subscriptions ts WHERE ts.nation_id = ? AND ts.topic_id = ?
			AND ts.person_id = p.id AND ts.status = 'subscribed')`
		a.args = append(a.args, nationID, topicID)
	}
	a.eligible, a.eargs = eligibleSQL(nationID, basis)
	return a, nil
}

// Estimate is the live count of the compose screen: who would receive the
// broadcast now, and who is left out, by reason.
type Estimate struct {
	Audience   int64 `json:"audience"`
	Sendable   int64 `json:"sendable"`
	NoConsent  int64 `json:"no_consent"`
	Suppressed int64 `json:"suppressed"`
	BadAddress int64 `json:"bad_address"`
}

// Estimate counts an audience definition without writing anything.
func (s *Service) Estimate(ctx context.Context, nationID int64, filter, topic, basis string) (*Estimate, error) {
	if basis == "" {
		basis = BasisConsent
	}
	a, err := s.audienceSQL(ctx, nationID, filter, topic, basis)
	if err != nil {
		return nil, err
	}
	sup, err := loadSuppressed(ctx, s.d.DB, nationID)
	if err != nil {
		return nil, err
	}
	key := s.hashKey()
	e := &Estimate{}
	err = scanAudience(ctx, s.d.DB, a, func(c candidate) error {
		e.Audience++
		switch c.classify(key, sup) {
		case "":
			e.Sendable++
		case "consent":
			e.NoConsent++
		case "suppressed":
			e.Suppressed++
		case "bad":
			e.BadAddress++
		}
		return nil
	})
	return e, err
}

func (s *Service) hashKey() []byte {
	if s.d.Mail == nil {
		return nil
	}
	return s.d.Mail.SecretKey
}

// candidate is one person of the audience.
type candidate struct {
	id       int64
	email    string // normalised
	eligible bool
	hash     string
}

// classify says why c cannot be sent to ("" when it can), filling c.hash.
func (c *candidate) classify(key []byte, suppressed map[string]bool) string {
	if !plausibleEmail(c.email) {
		return "bad"
	}
	c.hash = EmailHash(key, c.email)
	if suppressed[c.hash] {
		return "suppressed"
	}
	if !c.eligible {
		return "consent"
	}
	return ""
}

// plausibleEmail is a cheap check that an address can be written into an
// envelope: one @, something on both sides, a dot in the domain, no space
// or control character.
func plausibleEmail(e string) bool {
	at := strings.IndexByte(e, '@')
	if at <= 0 || at != strings.LastIndexByte(e, '@') || at == len(e)-1 || len(e) > 254 {
		return false
	}
	if !strings.Contains(e[at+1:], ".") || strings.HasSuffix(e, ".") {
		return false
	}
	for i := 0; i < len(e); i++ {
		if e[i] <= ' ' || e[i] == 0x7f || e[i] == '<' || e[i] == '>' || e[i] == ',' {
			return false
		}
	}
	return true
}

// scanAudience walks the audience by person id in pages (keyset), so that a
// million people never sit in memory at once.
func scanAudience(ctx context.Context, db *store.DB, a *audience, fn func(candidate) error) error {
	const page = 5000
	// Restricted people (GDPR Art. 18) are never messaged: segment.Compile
	// already leaves them out of a.where, so they are not in the audience
	// (nor in audience_count); the condition here makes that a fact of
	// this query rather than a promise.
	q := `SELECT p.id, p.email_norm, CASE WHEN ` + a.eligible + ` THEN 1 ELSE 0 END FROM people p WHERE (` + a.where + `) AND p.restricted = 0 AND p.id > ? ORDER BY p.id LIMIT ?`
	var after int64
	for {
		args := append(append(append([]any{}, a.eargs...), a.args...), after, page)
		rows, err := db.Query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("broadcast: audience: %w", err)
		}
		n := 0
		var batch []candidate
		for rows.Next() {
			var c candidate
			var el int
			if err := rows.Scan(&c.id, &c.email, &el); err != nil {
				rows.Close()
				return fmt.Errorf("broadcast: audience: %w", err)
			}
			c.eligible = el != 0
			batch = append(batch, c)
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("broadcast: audience: %w", err)
		}
		for _, c := range batch {
			if err := fn(c); err != nil {
				return err
			}
		}
		if n < page {
			return nil
		}
		after = batch[len(batch)-1].id
	}
}

// materialise writes one delivery per sendable person of the audience, in
// batches, and records the counts and the targeting register entry. It is
// idempotent (ON CONFLICT DO NOTHING), so a worker that dies half-way simply
// runs it again.
func materialise(ctx context.Context, db *store.DB, key []byte, b *Broadcast, now time.Time) error {
	a, err := compileAudience(ctx, db, b.NationID, b.Filter, b.Topic, b.Basis, now)
	if err != nil {
		return err
	}
	sup, err := loadSuppressed(ctx, db, b.NationID)
	if err != nil {
		return err
	}
	var total, queued, noConsent, suppressed, bad int64
	const batchSize = 500
	batch := make([]candidate, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var sb strings.Builder
		sb.WriteString(`INSERT INTO deliveries (nation_id, broadcast_id, person_id, email, email_hash) VALUES `)
		args := make([]any, 0, len(batch)*5)
		for i, c := range batch {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, b.NationID, b.ID, c.id, c.email, c.hash)
		}
		sb.WriteString(` ON CONFLICT (nation_id, broadcast_id, person_id) DO NOTHING`)
		if _, err := db.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("broadcast: write deliveries: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	err = scanAudience(ctx, db, a, func(c candidate) error {
		total++
		switch c.classify(key, sup) {
		case "consent":
			noConsent++
			return nil
		case "suppressed":
			suppressed++
			return nil
		case "bad":
			bad++
			return nil
		}
		queued++
		batch = append(batch, c)
		if len(batch) == batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	audienceText := b.Filter
	if b.Topic != "" {
		audienceText = strings.TrimSpace(audienceText + " topic:" + b.Topic)
	}
	audienceText += " (basis: " + b.Basis + ")"
	return db.InTx(ctx, func(tx *store.Tx) error {
		var regID int64
		if err := tx.QueryRow(ctx, `SELECT register_id FROM broadcasts WHERE nation_id = ? AND id = ?`, b.NationID, b.ID).Scan(&regID); err != nil {
			return err
		}
		if regID == 0 {
			if regID, err = tx.NextID(ctx, b.NationID, "targeting_register"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO targeting_register (nation_id, id, at, actor_id, format, filter, purpose, count)
				VALUES (?, ?, ?, ?, 'email', ?, ?, ?)`, b.NationID, regID, store.Millis(now), b.CreatedBy, audienceText, purposeOf(b), queued); err != nil {
				return fmt.Errorf("broadcast: targeting register: %w", err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE broadcasts SET materialised = 1, audience_count = ?, queued_count = ?, skipped_consent = ?,
			skipped_suppressed = ?, skipped_bad = ?, register_id = ? WHERE nation_id = ? AND id = ?`,
			total, queued, noConsent, suppressed, bad, regID, b.NationID, b.ID)
		return err
	})
}

func purposeOf(b *Broadcast) string {
	if b.Purpose != "" {
		return b.Purpose
	}
	return fmt.Sprintf("e-mail broadcast %d", b.ID)
}
