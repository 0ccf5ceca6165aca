package crypt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// tagMarker is the name of the tag marked sensitive; tests search the raw
// database for it case-insensitively.
const tagMarker = "ZqxLeftWing"

// TestSensitiveTagSealedAtRest: a tag in use, marked sensitive, leaves no
// plaintext of its name in the tags table, the timeline or the raw database
// (SQLite file and WAL after the marking's checkpoint, or a pg_dump); tag:NAME
// still counts the same people by SQL and by the index; an import naming it
// attaches the same tag id; profile, timeline and export show the name; the
// ad-audience refusal still names it; a key rotation keeps all of that; and
// unmarking stores it in the clear again.
func TestSensitiveTagSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		st := people.NewStore(db)
		csv := "first_name,email,tags\n" +
			"Ann,ann@example.org,\"" + tagMarker + ", housing\"\n" +
			"Bob,bob@example.org,\"" + strings.ToLower(tagMarker) + "\"\n" +
			"Cid,cid@example.org,housing\n"
		if sum, err := importer.RunReader(ctx, st, nid, strings.NewReader(csv), "t.csv", importer.RunOptions{}, nil); err != nil || sum.Created != 3 {
			t.Fatalf("import: %+v %v", sum, err)
		}
		tagID := func() int64 {
			t.Helper()
			var id int64
			if err := db.QueryRow(ctx, `SELECT id FROM tags WHERE nation_id = ? AND id IN
				(SELECT tag_id FROM taggings WHERE nation_id = ? AND person_id = (SELECT id FROM people WHERE nation_id = ? AND email_norm = 'bob@example.org'))`,
				nid, nid, nid).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		before := tagID()
		svc := segment.NewService(db, segment.Options{})
		// An index built before the marking keeps answering after it.
		if _, err := svc.CountVia(ctx, nid, "tag:housing", segment.ViaIndex); err != nil {
			t.Fatal(err)
		}
		expect := func(when string, filter string, want int64) {
			t.Helper()
			for _, s := range []*segment.Service{svc, segment.NewService(db, segment.Options{})} {
				for _, via := range []segment.Path{segment.ViaSQL, segment.ViaIndex} {
					n, err := s.CountVia(ctx, nid, filter, via)
					if err != nil || n != want {
						t.Errorf("%s: %q via %v: %d, %v; want %d", when, filter, via, n, err, want)
					}
				}
			}
		}
		expect("plain", "tag:"+tagMarker, 2)

		if raw := strings.ToLower(rawDB(t, db)); !strings.Contains(raw, "zqxleftwing") {
			t.Fatal("before marking, the raw database read lacks the tag name: the check below could not fail")
		}
		if err := svc.SetTagSensitive(ctx, nid, strings.ToUpper(tagMarker), true); err != nil {
			t.Fatal(err)
		}
		var name, key string
		if err := db.QueryRow(ctx, `SELECT name, key FROM tags WHERE nation_id = ? AND id = ?`, nid, before).Scan(&name, &key); err != nil {
			t.Fatal(err)
		}
		if !crypt.IsSealed(name) || !crypt.IsBlind(key) {
			t.Fatalf("marked tag stored as name %q, key %q", name, key)
		}
		noPlaintext := func(when string) {
			t.Helper()
			var n int64
			if err := db.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM tags WHERE LOWER(name) LIKE ? OR LOWER(key) LIKE ?)
				+ (SELECT COUNT(*) FROM activities WHERE LOWER(details) LIKE ?)`,
				"%zqxleftwing%", "%zqxleftwing%", "%zqxleftwing%").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%s: %d rows of tags or activities hold the tag name in the clear", when, n)
			}
			raw := strings.ToLower(rawDB(t, db))
			if strings.Contains(raw, "zqxleftwing") {
				t.Errorf("%s: the raw database holds the sensitive tag's name", when)
			}
			if !strings.Contains(raw, "ann@example.org") {
				t.Fatalf("%s: the raw database read is not the database", when)
			}
		}
		noPlaintext("marked")
		expect("marked", "tag:"+tagMarker, 2)
		expect("marked", "-tag:"+strings.ToUpper(tagMarker), 1)
		expect("marked", "tag:"+tagMarker+" tag:housing", 1)

		// Importing the tag again (another case) finds the sealed row.
		csv2 := "first_name,email,tags\nDee,dee@example.org," + strings.ToUpper(tagMarker) + "\nAnn,ann@example.org," + tagMarker + "\n"
		if sum, err := importer.RunReader(ctx, st, nid, strings.NewReader(csv2), "t2.csv", importer.RunOptions{}, nil); err != nil || sum.Created != 1 {
			t.Fatalf("second import: %+v %v", sum, err)
		}
		var tags int64
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM tags WHERE nation_id = ?`, nid).Scan(&tags); err != nil || tags != 2 {
			t.Fatalf("%d tags after importing the sensitive one again (%v), want 2: a plaintext duplicate was created", tags, err)
		}
		noPlaintext("re-imported")
		expect("re-imported", "tag:"+tagMarker, 3)

		// Reading back: profile, timeline, export, audience refusal.
		read := func(when string) {
			t.Helper()
			var dee int64
			if err := db.QueryRow(ctx, `SELECT id FROM people WHERE nation_id = ? AND email_norm = 'dee@example.org'`, nid).Scan(&dee); err != nil {
				t.Fatal(err)
			}
			p, err := st.Get(ctx, nid, dee)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Tags) != 1 || p.Tags[0] != tagMarker {
				t.Errorf("%s: profile tags %q, want [%s]", when, p.Tags, tagMarker)
			}
			acts, err := st.Timeline(ctx, nid, dee, 0)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, a := range acts {
				found = found || a.Details == "tags: "+tagMarker
			}
			if !found {
				t.Errorf("%s: timeline does not read \"tags: %s\": %+v", when, tagMarker, acts)
			}
			var out bytes.Buffer
			if _, err := importer.Export(ctx, db, nid, &out, importer.ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			if strings.Count(out.String(), tagMarker) != 3 || strings.Contains(out.String(), "e1.") {
				t.Errorf("%s: export does not show the tag in the clear 3 times:\n%s", when, out.String())
			}
			// The person's own copy of their data (subject access).
			exp, err := privacy.NewService(privacy.Deps{DB: db, People: st}).Collect(ctx, nid, dee)
			if err != nil {
				t.Fatal(err)
			}
			if body, _ := json.Marshal(exp); !slices.Contains(exp.Tags, tagMarker) || strings.Contains(string(body), "e1.") {
				t.Errorf("%s: subject-access export tags %q, or sealed text in it", when, exp.Tags)
			}
			err = svc.CheckAudienceFilter(ctx, nid, "tag:"+strings.ToLower(tagMarker))
			if errs.KindOf(err) != errs.KindInvalid || !strings.Contains(errs.Message(err), tagMarker) {
				t.Errorf("%s: audience filter on the sensitive tag: %v", when, err)
			}
		}
		read("marked")

		kr, err := crypt.Of(db)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Rotate(ctx, nid); err != nil {
			t.Fatal(err)
		}
		var rotated string
		if err := db.QueryRow(ctx, `SELECT key FROM tags WHERE nation_id = ? AND id = ?`, nid, before).Scan(&rotated); err != nil {
			t.Fatal(err)
		}
		if rotated == key || !crypt.IsBlind(rotated) {
			t.Errorf("rotation left the blind index %q (was %q)", rotated, key)
		}
		read("rotated")
		expect("rotated", "tag:"+tagMarker, 3)

		if err := svc.SetTagSensitive(ctx, nid, tagMarker, false); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT name, key FROM tags WHERE nation_id = ? AND id = ?`, nid, before).Scan(&name, &key); err != nil {
			t.Fatal(err)
		}
		if name != tagMarker || key != strings.ToLower(tagMarker) {
			t.Errorf("unmarked tag stored as name %q, key %q", name, key)
		}
		expect("unmarked", "tag:"+tagMarker, 3)
		if err := svc.CheckAudienceFilter(ctx, nid, "tag:"+tagMarker); err != nil {
			t.Errorf("unmarked tag still refused for audiences: %v", err)
		}
		if tagID() != before {
			t.Error("the tag's id changed")
		}
	})
}

// TestTagHelpers: the blind index is deterministic per nation and differs
// between nations; sealed names open only under their nation's key.
func TestTagHelpers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		a, err := crypt.NationKeyOf(ctx, db, newNation(t, db, "aa"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := crypt.NationKeyOf(ctx, db, newNation(t, db, "bb"))
		if err != nil {
			t.Fatal(err)
		}
		if a.TagBlind("x") != a.TagBlind("x") || a.TagBlind("x") == a.TagBlind("y") || a.TagBlind("x") == b.TagBlind("x") {
			t.Error("blind index is not a per-nation deterministic function")
		}
		n, k := a.TagColumns("Pensions", "pensions", true)
		if pn, pk := a.OpenTagRow(n, k, true); pn != "Pensions" || pk != "pensions" {
			t.Errorf("open row: %q %q", pn, pk)
		}
		if pn, _ := b.OpenTagRow(n, k, true); strings.Contains(pn, "Pensions") || crypt.IsSealed(pn) {
			t.Errorf("another nation's key opened a tag as %q", pn)
		}
		if a.OpenTag("e1.not-really") != "e1.not-really" || a.OpenTag("plain") != "plain" || a.OpenTag(n) != "Pensions" {
			t.Error("OpenTag")
		}
		if !crypt.NamesTag("tags: A, Pensions", "pensions") || crypt.NamesTag("tags: A", "pensions") || crypt.NamesTag("note", "note") {
			t.Error("NamesTag")
		}
	})
}
