package segment

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
)

// GenOptions shape the people GeneratePeople writes.
type GenOptions struct {
	Seed  uint64
	Today time.Time // some people have their birthday on it, to probe age boundaries
	// Tags is how many distinct tags there are (default 12).
	Tags int
	// BulkLoad, if set, writes rows instead of multi-row INSERTs (the
	// benchmark passes PostgreSQL's COPY). Rows are only valid during the
	// call.
	BulkLoad func(ctx context.Context, table string, cols []string, rows [][]any) error
}

// GenTags returns the names of the generated tags (mixed case on purpose).
func GenTags(n int) []string {
	base := []string{"pensions", "Climate Strike", "member", "Volunteer", "donor", "youth", "TRANSPORT", "housing", "health", "Schools"}
	out := make([]string, n)
	for i := range out {
		if i < len(base) {
			out[i] = base[i]
		} else {
			out[i] = "topic-" + strconv.Itoa(i)
		}
	}
	return out
}

// GenActivityRefs are the campaign slugs generated activities refer to.
var GenActivityRefs = []string{"pensions-petition", "climate-march", "spring-gala", "doorstep-2026"}

// GenPageSlugs are the petitions generated people sign, and GenTopicSlugs
// the e-mail topics they subscribe to (or unsubscribed from).
var (
	GenPageSlugs  = []string{"save-the-park", "pensions-petition", "clean-air"}
	GenTopicSlugs = []string{"news", "climate", "local-events"}
)

// GeneratePeople writes n random people of a nation straight into the
// tables (bulk multi-row INSERTs, not the people store's upsert path), with
// tags, consent ledgers, actions, a custom field, petition signatures and
// topic subscriptions (some unsubscribed, some signatures of a page that no
// longer exists), a few restricted people, and with unknown values
// everywhere the filter language has to handle them. It is for tests and
// `muster bench segment`; nothing here is realistic beyond the shape.
func GeneratePeople(ctx context.Context, db *store.DB, nationID int64, n int, opt GenOptions) error {
	if opt.Tags <= 0 {
		opt.Tags = 12
	}
	if opt.Today.IsZero() {
		opt.Today = time.Now()
	}
	r := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	key, err := crypt.NationKeyOf(ctx, db, nationID) // support levels are stored sealed
	if err != nil {
		return err
	}
	sealed := key.Support()
	now := time.Now().UnixMilli()
	first, err := db.NextIDs(ctx, nationID, "people", int64(n))
	if err != nil {
		return err
	}
	// Tags: ids allocated once; each tag has its own frequency.
	tagNames := GenTags(opt.Tags)
	tagFirst, err := db.NextIDs(ctx, nationID, "tags", int64(len(tagNames)))
	if err != nil {
		return err
	}
	var tagRows [][]any
	probs := make([]float64, len(tagNames))
	for i, name := range tagNames {
		tagRows = append(tagRows, []any{nationID, tagFirst + int64(i), name, strings.ToLower(name), now})
		probs[i] = 0.02 + 0.3*r.Float64()
	}
	if err := bulkInsert(ctx, db, "tags", []string{"nation_id", "id", "name", "key", "created_at"}, tagRows, ""); err != nil {
		return err
	}
	fieldID, err := db.NextID(ctx, nationID, "custom_fields")
	if err != nil {
		return err
	}
	if err := bulkInsert(ctx, db, "custom_fields", []string{"nation_id", "id", "name", "kind", "created_at"},
		[][]any{{nationID, fieldID, "member_since", "text", now}}, " ON CONFLICT DO NOTHING"); err != nil {
		return err
	}

	// Petitions and topics, plus one page id with no page (its signatures
	// must match nothing).
	pageFirst, err := db.NextIDs(ctx, nationID, "pages", int64(len(GenPageSlugs)+1))
	if err != nil {
		return err
	}
	var pageRows [][]any
	for i, slug := range GenPageSlugs {
		pageRows = append(pageRows, []any{nationID, pageFirst + int64(i), slug, "petition", slug, now, now})
	}
	if err := bulkInsert(ctx, db, "pages", []string{"nation_id", "id", "slug", "type", "title", "created_at", "updated_at"}, pageRows, ""); err != nil {
		return err
	}
	topicFirst, err := db.NextIDs(ctx, nationID, "topics", int64(len(GenTopicSlugs)))
	if err != nil {
		return err
	}
	var topicRows [][]any
	for i, slug := range GenTopicSlugs {
		topicRows = append(topicRows, []any{nationID, topicFirst + int64(i), slug, now})
	}
	if err := bulkInsert(ctx, db, "topics", []string{"nation_id", "id", "slug", "created_at"}, topicRows, ""); err != nil {
		return err
	}

	cities := []string{"Brussels", "Gent", "Antwerpen", "Namur", "BRUSSELS", " gent"}
	countries := []string{"BE", "BE", "NL", "FR", "be"}
	channels := []string{"email", "sms", "phone", "post", "ads", "push"}
	types := []string{"signed", "form_submitted", "rsvp", "donated", "note", "imported"}
	ty, tm, td := opt.Today.Date()
	base := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	span := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli() - base

	peopleCols := []string{"nation_id", "id", "first_name", "last_name", "email", "email_norm", "phone_e164", "mobile_e164",
		"birth_date", "gender", "home_line1", "home_city", "home_postcode", "home_country", "home_lat", "home_lng",
		"support_level_enc", "points", "merged_into", "created_at", "updated_at", "last_activity_at", "restricted"}
	people := newGenTable("people", peopleCols)
	taggings := newGenTable("taggings", []string{"nation_id", "person_id", "tag_id", "created_at"})
	consents := newGenTable("consents", []string{"nation_id", "id", "person_id", "channel", "status", "basis", "at"})
	acts := newGenTable("activities", []string{"nation_id", "id", "person_id", "type", "source_kind", "source_ref", "at"})
	customs := newGenTable("custom_values", []string{"nation_id", "person_id", "field_id", "value"})
	sigs := newGenTable("signatures", []string{"nation_id", "page_id", "person_id", "signed_at"})
	subs := newGenTable("topic_subscriptions", []string{"nation_id", "topic_id", "person_id", "status", "at"})
	tables := []*genTable{people, taggings, consents, acts, customs, sigs, subs}
	// Ids for at most 3 consents and 3 actions a person, reserved up front
	// (the SQLite writer is busy inside the write transactions below).
	consentID, err := db.NextIDs(ctx, nationID, "consents", 3*int64(n))
	if err != nil {
		return err
	}
	actID, err := db.NextIDs(ctx, nationID, "activities", 3*int64(n))
	if err != nil {
		return err
	}
	// Large batches: one transaction per table per batch of people.
	const flushAt = 50000
	flush := func(final bool) error {
		if !final && people.rows < flushAt {
			return nil
		}
		for _, t := range tables {
			if err := t.write(ctx, db, opt.BulkLoad); err != nil {
				return err
			}
		}
		return nil
	}
	pick := func(p float64) bool { return r.Float64() < p }
	for i := 0; i < n; i++ {
		id := first + int64(i)
		var birth string
		switch {
		case pick(0.15):
		case pick(0.05): // birthday today, yesterday or tomorrow
			y := ty - 18 - r.IntN(60)
			d := time.Date(y, tm, td+r.IntN(3)-1, 0, 0, 0, 0, time.UTC)
			birth = d.Format(time.DateOnly)
		default:
			birth = time.Date(1930+r.IntN(85), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		}
		var lat, lng, support any
		if !pick(0.2) {
			lat, lng = 50.85+(r.Float64()-0.5)*3, 4.35+(r.Float64()-0.5)*4
		}
		if !pick(0.3) {
			support = sealed[1+r.IntN(5)]
		}
		var postcode string
		switch {
		case pick(0.1):
		case pick(0.1):
			postcode = fmt.Sprintf("sw%d %da", 1+r.IntN(9), r.IntN(10))
		default:
			postcode = strconv.Itoa(1000 + r.IntN(9000))
		}
		email := ""
		if !pick(0.2) {
			email = "p" + strconv.FormatInt(id, 10) + "@example.org"
		}
		phone, mobile, line1 := "", "", ""
		if pick(0.5) {
			phone = "+3221" + strconv.Itoa(100000+r.IntN(900000))
		}
		if pick(0.6) {
			mobile = "+32470" + strconv.Itoa(100000+r.IntN(900000))
		}
		if pick(0.7) {
			line1 = "Rue " + strconv.Itoa(r.IntN(200))
		}
		city, country := "", ""
		if !pick(0.1) {
			city = cities[r.IntN(len(cities))]
		}
		if !pick(0.1) {
			country = countries[r.IntN(len(countries))]
		}
		points := 0
		if pick(0.5) {
			points = r.IntN(50)
		}
		merged := 0
		if pick(0.02) {
			merged = int(first) // merged away: never counted
		}
		created := base + r.Int64N(span)
		active := int64(0)
		if !pick(0.3) {
			active = created + r.Int64N(span/4)
		}
		people.add(nationID, id, "First", "Last", email, email, phone, mobile,
			birth, []string{"", "f", "m", "x"}[r.IntN(4)], line1, city, postcode, country, lat, lng,
			support, points, merged, created, created, active, store.Bool(pick(0.03)))
		for t, p := range probs {
			if pick(p) {
				taggings.add(nationID, id, tagFirst+int64(t), now)
			}
		}
		for k := r.IntN(4); k > 0; k-- {
			st := "granted"
			if pick(0.35) {
				st = "withdrawn"
			}
			// A narrow range of times makes ties, broken by id.
			consents.add(nationID, consentID, id, channels[r.IntN(len(channels))], st, "consent", base+r.Int64N(3))
			consentID++
		}
		if pick(0.15) {
			for k := 1 + r.IntN(3); k > 0; k-- {
				ref := GenActivityRefs[r.IntN(len(GenActivityRefs))]
				if pick(0.1) {
					ref = ""
				}
				acts.add(nationID, actID, id, types[r.IntN(len(types))], "page", ref, created)
				actID++
			}
		}
		for pg := range len(GenPageSlugs) + 1 { // the last is the missing page
			if pick(0.12) {
				sigs.add(nationID, pageFirst+int64(pg), id, created)
			}
		}
		for tp := range GenTopicSlugs {
			if pick(0.2) {
				st := "subscribed"
				if pick(0.3) {
					st = "unsubscribed"
				}
				subs.add(nationID, topicFirst+int64(tp), id, st, created)
			}
		}
		if pick(0.2) {
			customs.add(nationID, id, fieldID, []string{"2020", "2021", " 2020 "}[r.IntN(3)])
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	return flush(true)
}

// genTable buffers generated rows of one table, flat.
type genTable struct {
	name string
	cols []string
	vals []any
	rows int
}

func newGenTable(name string, cols []string) *genTable { return &genTable{name: name, cols: cols} }

func (t *genTable) add(vals ...any) {
	t.vals = append(t.vals, vals...)
	t.rows++
}

// write writes the buffered rows (with load if set, else as bulkInsert)
// and empties the buffer.
func (t *genTable) write(ctx context.Context, db *store.DB, load func(context.Context, string, []string, [][]any) error) error {
	if t.rows == 0 {
		return nil
	}
	nc := len(t.cols)
	rows := make([][]any, t.rows)
	for i := range rows {
		rows[i] = t.vals[i*nc : (i+1)*nc : (i+1)*nc]
	}
	var err error
	if load != nil {
		err = load(ctx, t.name, t.cols, rows)
	} else {
		err = bulkInsert(ctx, db, t.name, t.cols, rows, "")
	}
	clear(t.vals)
	t.vals, t.rows = t.vals[:0], 0
	if err != nil {
		return fmt.Errorf("segment: generate %s: %w", t.name, err)
	}
	return nil
}

// bulkInsert writes rows with multi-row INSERT statements in one
// transaction: one statement of up to a few hundred rows, prepared once and
// executed again and again, then one for the remainder.
func bulkInsert(ctx context.Context, db *store.DB, table string, cols []string, rows [][]any, suffix string) error {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, min(500, 30000/len(cols)))
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	args := make([]any, 0, per*len(cols))
	return db.InTx(ctx, func(tx *store.Tx) error {
		var stmt *sql.Stmt
		stmtRows := 0
		defer func() {
			if stmt != nil {
				stmt.Close()
			}
		}()
		for len(rows) > 0 {
			k := min(per, len(rows))
			if k != stmtRows {
				if stmt != nil {
					stmt.Close()
				}
				var err error
				if stmt, err = tx.Prepare(ctx, head+strings.TrimSuffix(strings.Repeat(one+",", k), ",")+suffix); err != nil {
					return fmt.Errorf("segment: generate %s: %w", table, err)
				}
				stmtRows = k
			}
			args = args[:0]
			for _, row := range rows[:k] {
				args = append(args, row...)
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("segment: generate %s: %w", table, err)
			}
			rows = rows[k:]
		}
		return nil
	})
}
