package segment

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// testToday is 23:30 UTC on 15 March, already the 16th in Brussels: ages
// and dates must be counted in the nation's time zone.
var testToday = time.Date(2026, 3, 15, 23, 30, 0, 0, time.UTC)

func newNation(t *testing.T, db *store.DB, slug string) int64 {
	t.Helper()
	n, err := nation.NewStore(db).Create(context.Background(), nation.NewNation{Slug: slug, Name: slug, TimeZone: "Europe/Brussels"})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

func newService(t *testing.T, db *store.DB) *Service {
	brussels := mustLoc(t, "Europe/Brussels")
	return NewService(db, Options{
		Now:  func() time.Time { return testToday },
		Zone: func(context.Context, int64) (*time.Location, error) { return brussels, nil },
	})
}

// loadFacts reads every live person of a nation into the reference
// evaluator's form, with plain queries and Go code (independent of the
// compiler and of the index).
func loadFacts(t *testing.T, db *store.DB, nationID int64) map[int64]*Facts {
	t.Helper()
	ctx := context.Background()
	out := map[int64]*Facts{}
	each := func(q string, fn func(r *sql.Rows) error) {
		rows, err := db.Query(ctx, q, nationID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	key, err := crypt.NationKeyOf(ctx, db, nationID) // support levels are stored sealed
	if err != nil {
		t.Fatal(err)
	}
	each(`SELECT id, birth_date, gender, support_level_enc, home_lat, home_lng, home_postcode, home_city, home_country,
		email_norm, phone_e164, mobile_e164, home_line1, points, created_at, last_activity_at, restricted
		FROM people WHERE nation_id = ? AND merged_into = 0`, func(r *sql.Rows) error {
		var f Facts
		var id, created, active, restricted int64
		var support sql.NullString
		var lat, lng sql.NullFloat64
		var email, phone, mobile, line1 string
		if err := r.Scan(&id, &f.BirthDate, &f.Gender, &support, &lat, &lng, &f.Postcode, &f.City, &f.Country,
			&email, &phone, &mobile, &line1, &f.Points, &created, &active, &restricted); err != nil {
			return err
		}
		f.Restricted = restricted != 0
		if support.Valid {
			s, err := key.OpenSupport(support.String)
			if err != nil {
				return err
			}
			f.Support = &s
		}
		if lat.Valid && lng.Valid {
			f.Location = &Point{lat.Float64, lng.Float64}
		}
		f.HasEmail, f.HasPhone, f.HasMobile, f.HasAddress = email != "", phone != "", mobile != "", line1 != ""
		f.Created, f.Active = store.Time(created), store.Time(active)
		f.Consents, f.Fields = map[string]bool{}, map[string]string{}
		out[id] = &f
		return nil
	})
	each(`SELECT tg.person_id, t.name FROM taggings tg JOIN tags t ON t.nation_id = tg.nation_id AND t.id = tg.tag_id
		WHERE tg.nation_id = ?`, func(r *sql.Rows) error {
		var id int64
		var name string
		if err := r.Scan(&id, &name); err != nil {
			return err
		}
		if f := out[id]; f != nil {
			f.Tags = append(f.Tags, name)
		}
		return nil
	})
	type entry struct {
		at, id int64
		status string
	}
	latest := map[[2]string]entry{}
	each(`SELECT person_id, channel, status, at, id FROM consents WHERE nation_id = ?`, func(r *sql.Rows) error {
		var pid int64
		var e entry
		var ch string
		if err := r.Scan(&pid, &ch, &e.status, &e.at, &e.id); err != nil {
			return err
		}
		k := [2]string{fmt.Sprint(pid), ch}
		if old, ok := latest[k]; !ok || e.at > old.at || (e.at == old.at && e.id > old.id) {
			latest[k] = e
		}
		return nil
	})
	for k, e := range latest {
		var pid int64
		fmt.Sscan(k[0], &pid)
		if f := out[pid]; f != nil && e.status == "granted" {
			f.Consents[k[1]] = true
		}
	}
	campaigns := map[int64]map[string]bool{}
	each(`SELECT person_id, type, source_kind, source_ref FROM activities WHERE nation_id = ?`, func(r *sql.Rows) error {
		var pid int64
		var typ, kind, ref string
		if err := r.Scan(&pid, &typ, &kind, &ref); err != nil {
			return err
		}
		if ref != "" && slices.Contains(ActionTypes, typ) {
			if campaigns[pid] == nil {
				campaigns[pid] = map[string]bool{}
			}
			campaigns[pid][kind+":"+ref] = true
		}
		return nil
	})
	for pid, c := range campaigns {
		if f := out[pid]; f != nil {
			f.Actions = int64(len(c))
		}
	}
	each(`SELECT sg.person_id, pg.slug FROM signatures sg JOIN pages pg ON pg.nation_id = sg.nation_id AND pg.id = sg.page_id
		WHERE sg.nation_id = ?`, func(r *sql.Rows) error {
		var pid int64
		var slug string
		if err := r.Scan(&pid, &slug); err != nil {
			return err
		}
		if f := out[pid]; f != nil {
			f.Signed = append(f.Signed, slug)
		}
		return nil
	})
	each(`SELECT ts.person_id, tp.slug, ts.status FROM topic_subscriptions ts JOIN topics tp ON tp.nation_id = ts.nation_id AND tp.id = ts.topic_id
		WHERE ts.nation_id = ?`, func(r *sql.Rows) error {
		var pid int64
		var slug, status string
		if err := r.Scan(&pid, &slug, &status); err != nil {
			return err
		}
		if f := out[pid]; f != nil && status == "subscribed" {
			f.Subscribed = append(f.Subscribed, slug)
		}
		return nil
	})
	each(`SELECT cv.person_id, cf.name, cv.value FROM custom_values cv JOIN custom_fields cf ON cf.nation_id = cv.nation_id
		AND cf.id = cv.field_id WHERE cv.nation_id = ?`, func(r *sql.Rows) error {
		var pid int64
		var name, v string
		if err := r.Scan(&pid, &name, &v); err != nil {
			return err
		}
		if f := out[pid]; f != nil {
			f.Fields[strings.ToLower(name)] = v
		}
		return nil
	})
	return out
}

func evalCount(e Expr, facts map[int64]*Facts, loc *time.Location) int64 {
	var n int64
	for _, f := range facts {
		if Eval(e, f, testToday, loc) {
			n++
		}
	}
	return n
}

// randomFilter writes a random filter over the generated data's values.
func randomFilter(r *rand.Rand, depth int) string {
	if depth > 0 && r.IntN(3) > 0 {
		k := 2 + r.IntN(3)
		parts := make([]string, k)
		for i := range parts {
			parts[i] = randomFilter(r, depth-1)
		}
		switch r.IntN(4) {
		case 0:
			return "(" + strings.Join(parts, " OR ") + ")"
		case 1:
			return "NOT (" + strings.Join(parts, " ") + ")"
		default:
			return strings.Join(parts, " ")
		}
	}
	q := randomQualifier(r)
	if r.IntN(4) == 0 {
		return "-" + q
	}
	return q
}

func randomCmp(r *rand.Rand, lo, hi int, f func(int) string) string {
	a, b := lo+r.IntN(hi-lo+1), lo+r.IntN(hi-lo+1)
	if a > b {
		a, b = b, a
	}
	switch r.IntN(7) {
	case 0:
		return f(a)
	case 1:
		return ">=" + f(a)
	case 2:
		return "<" + f(a)
	case 3:
		return f(a) + ".."
	case 4:
		return ".." + f(b)
	case 5:
		return ">" + f(a)
	}
	return f(a) + ".." + f(b)
}

func randomQualifier(r *rand.Rand) string {
	itoa := func(n int) string { return fmt.Sprint(n) }
	date := func(n int) string { return time.Date(2023, 1, 1+n, 0, 0, 0, 0, time.UTC).Format(time.DateOnly) }
	tags := append(GenTags(12), "CLIMATE STRIKE", "nope")
	switch r.IntN(22) {
	case 0, 1, 2:
		return fmt.Sprintf("tag:%q", tags[r.IntN(len(tags))])
	case 3:
		return "age:" + randomCmp(r, 0, 100, itoa)
	case 4:
		return "gender:" + []string{"f", "m", "x"}[r.IntN(3)]
	case 5:
		return "support:" + randomCmp(r, 1, 5, itoa)
	case 6:
		return fmt.Sprintf("near:%.4f,%.4f,%s", 50.85+(r.Float64()-0.5)*3, 4.35+(r.Float64()-0.5)*4,
			[]string{"5km", "30km", "80km", "2500m", "150km"}[r.IntN(5)])
	case 7:
		return "postcode:" + []string{"1000", "1*", "12*", "SW1*", `"sw1 2a"`, "9*", "12345"}[r.IntN(7)]
	case 8:
		return "city:" + []string{"brussels", "GENT", "Namur", "Paris"}[r.IntN(4)]
	case 9:
		return "country:" + []string{"BE", "NL", "FR", "DE"}[r.IntN(4)]
	case 10:
		return []string{"signed:*", "rsvp:x", "attended:*", "subscribed:*", "donated:>=5", "donated:0", "donations:..2", "donations:>=1"}[r.IntN(8)]
	case 19:
		return "signed:" + append(slices.Clone(GenPageSlugs), "nope", "*")[r.IntN(len(GenPageSlugs)+2)]
	case 20:
		return "subscribed:" + append(slices.Clone(GenTopicSlugs), "nope", "*")[r.IntN(len(GenTopicSlugs)+2)]
	case 11:
		return "actions:" + randomCmp(r, 0, 3, itoa)
	case 12:
		return "points:" + randomCmp(r, 0, 50, itoa)
	case 13, 14:
		return "consent:" + []string{"email", "sms", "phone", "post", "ads", "push"}[r.IntN(6)]
	case 15:
		return "has:" + []string{"email", "phone", "mobile", "address"}[r.IntN(4)]
	case 16:
		return "created:" + randomCmp(r, 0, 1250, date)
	case 17:
		return "active:" + randomCmp(r, 0, 1500, date)
	case 18:
		return "field.member_since:" + []string{"2020", "2021", "1999"}[r.IntN(3)]
	}
	return "tag:member"
}

// TestCountsAgree is the property test: for hundreds of random filters,
// the SQL count, the reference evaluator's count and the index's count are
// equal, on both engines.
func TestCountsAgree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "agree")
		other := newNation(t, db, "other")
		brussels := mustLoc(t, "Europe/Brussels")
		if err := GeneratePeople(ctx, db, nid, 3000, GenOptions{Seed: 1, Today: testToday.In(brussels)}); err != nil {
			t.Fatal(err)
		}
		if err := GeneratePeople(ctx, db, other, 500, GenOptions{Seed: 2, Today: testToday}); err != nil {
			t.Fatal(err)
		}
		facts := loadFacts(t, db, nid)
		svc := newService(t, db)
		r := rand.New(rand.NewPCG(7, 7))
		filters := []string{"", "tag:pensions age:45.. consent:email -tag:member", "-age:..30", "age:..30", "-support:1..2"}
		for range 400 {
			filters = append(filters, randomFilter(r, 2))
		}
		nonEmpty := 0
		for _, text := range filters {
			e, err := Parse(text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", text, err)
			}
			canon := e.String()
			if e, err = Parse(canon); err != nil {
				t.Fatalf("Parse(canonical %q): %v", canon, err)
			}
			want := evalCount(e, facts, brussels)
			gotSQL, err := svc.CountVia(ctx, nid, canon, ViaSQL)
			if err != nil {
				t.Fatalf("SQL count %q: %v", canon, err)
			}
			gotIx, err := svc.CountVia(ctx, nid, canon, ViaIndex)
			if err != nil {
				t.Fatalf("index count %q: %v", canon, err)
			}
			if gotSQL != want || gotIx != want {
				t.Errorf("%q: eval %d, SQL %d, index %d", canon, want, gotSQL, gotIx)
			}
			if want > 0 && want < int64(len(facts)) {
				nonEmpty++
			}
		}
		if nonEmpty < len(filters)/3 {
			t.Errorf("only %d of %d filters select some but not all people: the test proves little", nonEmpty, len(filters))
		}
	})
}

// insertPerson writes one person directly, recording the change as the
// people store does.
func insertPerson(t *testing.T, db *store.DB, nid int64, cols map[string]any) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := db.NextID(ctx, nid, "people")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"nation_id", "id", "created_at", "updated_at"}
	args := []any{nid, id, testToday.UnixMilli(), testToday.UnixMilli()}
	for k, v := range cols {
		if l, ok := v.(int); ok && k == "support_level" { // stored sealed
			k, v = "support_level_enc", sealedSupport(t, db, nid, l)
		}
		names = append(names, k)
		args = append(args, v)
	}
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO people (`+strings.Join(names, ", ")+`) VALUES (`+
			strings.TrimSuffix(strings.Repeat("?,", len(names)), ",")+`)`, args...); err != nil {
			return err
		}
		return RecordChange(ctx, tx, nid, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// countBoth counts through SQL and the index and fails unless they agree.
func countBoth(t *testing.T, svc *Service, nid int64, text string) int64 {
	t.Helper()
	ctx := context.Background()
	a, err := svc.CountVia(ctx, nid, text, ViaSQL)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	b, err := svc.CountVia(ctx, nid, text, ViaIndex)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	if a != b {
		t.Fatalf("%q: SQL %d, index %d", text, a, b)
	}
	return a
}

// TestPinnedSemantics pins the rules of DESIGN §4 on a few chosen people.
func TestPinnedSemantics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		nid := newNation(t, db, "pinned")
		svc := newService(t, db)
		// Today is 16 March 2026 in Brussels (15 March in UTC).
		insertPerson(t, db, nid, map[string]any{"birth_date": "1981-03-16"}) // 45 today
		insertPerson(t, db, nid, map[string]any{"birth_date": "1981-03-17"}) // 45 tomorrow
		insertPerson(t, db, nid, map[string]any{"birth_date": ""})           // unknown
		insertPerson(t, db, nid, map[string]any{"birth_date": "2027-01-01"}) // not born yet: unknown
		// 10 km from the centre: one 9,999 m away, one 10,001 m away (north).
		deg := func(m float64) float64 { return m / EarthRadiusM * 180 / 3.141592653589793 }
		insertPerson(t, db, nid, map[string]any{"home_lat": 50.0 + deg(9999), "home_lng": 4.0})
		insertPerson(t, db, nid, map[string]any{"home_lat": 50.0 + deg(10001), "home_lng": 4.0})
		insertPerson(t, db, nid, map[string]any{"support_level": 1})
		for _, tc := range []struct {
			filter string
			want   int64
		}{
			{"age:45..", 1},
			{"age:45", 1},
			{"age:44", 1},
			{"age:..44", 1},
			{"-age:45..", 6}, // includes the unknowns and the not-yet-born
			{"age:0..", 2},
			{"-age:0..", 5},
			{"near:50,4,10km", 1},
			{"near:50,4,10002m", 2},
			{"near:50,4,9998m", 0},
			{"-near:50,4,10km", 6},
			{"support:1", 1},
			{"-support:2..5", 7},
			{"NOT (support:1 OR age:45..)", 5},
			{"-(age:..44 OR -has:email)", 0},
			{"donated:0", 7},
			{"-signed:*", 7},
			{"signed:*", 0},
		} {
			if got := countBoth(t, svc, nid, tc.filter); got != tc.want {
				t.Errorf("%q: got %d, want %d", tc.filter, got, tc.want)
			}
		}
	})
}

// TestWritesDuringCounting: a writer changes people while another
// goroutine counts; once writes stop, the index agrees with SQL, and a
// second service (another process on the same database) sees the writes.
func TestWritesDuringCounting(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "writes")
		if err := GeneratePeople(ctx, db, nid, 800, GenOptions{Seed: 3, Today: testToday}); err != nil {
			t.Fatal(err)
		}
		a, b := newService(t, db), newService(t, db)
		filters := []string{"tag:pensions", "-tag:pensions consent:email", "age:30..50 has:email", "support:1..2 OR tag:member", "points:>=10"}
		for _, f := range filters { // build both indexes before the writes
			countBoth(t, a, nid, f)
			countBoth(t, b, nid, f)
		}
		var tagID int64
		if err := db.QueryRow(ctx, `SELECT id FROM tags WHERE nation_id = ? AND key = 'pensions'`, nid).Scan(&tagID); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		rows, err := db.Query(ctx, `SELECT id FROM people WHERE nation_id = ? AND merged_into = 0 ORDER BY id`, nid)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // counting while writes happen: any answer, but no error
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := a.Count(ctx, nid, filters[0]); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		two := sealedSupport(t, db, nid, 2)
		r := rand.New(rand.NewPCG(9, 9))
		for i := range 60 {
			id := ids[r.IntN(len(ids))]
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				switch i % 4 {
				case 0:
					_, err = tx.Exec(ctx, `INSERT INTO taggings (nation_id, person_id, tag_id, created_at) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`, nid, id, tagID)
				case 1:
					_, err = tx.Exec(ctx, `DELETE FROM taggings WHERE nation_id = ? AND person_id = ? AND tag_id = ?`, nid, id, tagID)
				case 2:
					var cid int64
					if cid, err = tx.NextID(ctx, nid, "consents"); err == nil {
						_, err = tx.Exec(ctx, `INSERT INTO consents (nation_id, id, person_id, channel, status, basis, at) VALUES (?, ?, ?, 'email', 'granted', 'consent', ?)`,
							nid, cid, id, testToday.UnixMilli()+int64(i))
					}
				case 3:
					_, err = tx.Exec(ctx, `UPDATE people SET birth_date = '1986-01-01', points = points + 10, support_level_enc = ? WHERE nation_id = ? AND id = ?`, two, nid, id)
				}
				if err != nil {
					return err
				}
				return changes.Record(ctx, tx, nid, id)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		// A new person and a merged-away one.
		insertPerson(t, db, nid, map[string]any{"support_level": 1, "email_norm": "new@example.org"})
		gone := ids[0]
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE people SET merged_into = ? WHERE nation_id = ? AND id = ?`, ids[1], nid, gone); err != nil {
				return err
			}
			return changes.Record(ctx, tx, nid, gone, ids[1])
		}); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		facts := loadFacts(t, db, nid)
		brussels := mustLoc(t, "Europe/Brussels")
		for _, f := range filters {
			want := evalCount(MustParse(f), facts, brussels)
			for name, svc := range map[string]*Service{"writer's": a, "other process's": b} {
				if got := countBoth(t, svc, nid, f); got != want {
					t.Errorf("%s index, %q: got %d, want %d", name, f, got, want)
				}
			}
		}
	})
}

func TestCompileScopesNation(t *testing.T) {
	e := MustParse("tag:x consent:email field.a:b actions:>=2 -near:50,4,1km")
	where, args, err := Compile(e, Env{NationID: 42})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(where, "p.nation_id = ?") {
		t.Errorf("where does not start with the nation scope: %s", where)
	}
	// Every table in a subquery is scoped by a nation_id = ? argument.
	scopes := strings.Count(where, "nation_id = ?")
	got := 0
	for _, a := range args {
		if a == int64(42) {
			got++
		}
	}
	if scopes != 6 || got != scopes {
		t.Errorf("%d nation_id placeholders, %d nation arguments (want 6 of each):\n%s", scopes, got, where)
	}
	if !strings.HasPrefix(where, "p.nation_id = ? AND p.merged_into = 0 AND p.restricted = 0 AND ") {
		t.Errorf("restriction is not in the top-level conjunction: %s", where)
	}
	if strings.Count(where, "?") != len(args) {
		t.Errorf("%d placeholders for %d arguments", strings.Count(where, "?"), len(args))
	}
}

// sealedSupport returns the stored (sealed) form of a support level.
func sealedSupport(t *testing.T, db *store.DB, nid int64, level int) string {
	t.Helper()
	k, err := crypt.NationKeyOf(context.Background(), db, nid)
	if err != nil {
		t.Fatal(err)
	}
	return k.SealSupport(level)
}
