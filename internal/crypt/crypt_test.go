package crypt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

func newNation(t *testing.T, db *store.DB, slug string) int64 {
	t.Helper()
	n, err := nation.NewStore(db).Create(context.Background(), nation.NewNation{Slug: slug, Name: slug, TimeZone: "Europe/Brussels"})
	if err != nil {
		t.Fatal(err)
	}
	return n.ID
}

// seed writes people with support levels through the normal paths: a CSV
// import and a staff upsert. want[level] counts them.
func seed(t *testing.T, db *store.DB, nid int64) (want [6]int64, ids []int64) {
	t.Helper()
	ctx := context.Background()
	var csv strings.Builder
	csv.WriteString("first_name,last_name,email,support_level\n")
	for i := 0; i < 40; i++ {
		l := 1 + i%5
		fmt.Fprintf(&csv, "P%d,Q,p%d@example.org,%d\n", i, i, l)
		want[l]++
	}
	st := people.NewStore(db)
	sum, err := importer.RunReader(ctx, st, nid, strings.NewReader(csv.String()), "people.csv", importer.RunOptions{}, nil)
	if err != nil || sum.Created != 40 {
		t.Fatalf("import: %+v %v", sum, err)
	}
	res, err := st.Upsert(ctx, nid, people.Record{FirstName: "Staff", LastName: "Entry", Emails: []string{"staff@example.org"},
		SupportLevel: "2"}, people.Source{Kind: "staff"}, people.UpsertOptions{})
	if err != nil || res.Outcome != people.Created {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	want[2]++
	ids = append(ids, res.PersonID)
	return want, ids
}

func counts(t *testing.T, db *store.DB, nid int64, filter string) (sqlN, indexN int64) {
	t.Helper()
	ctx := context.Background()
	svc := segment.NewService(db, segment.Options{})
	var err error
	if sqlN, err = svc.CountVia(ctx, nid, filter, segment.ViaSQL); err != nil {
		t.Fatal(err)
	}
	if indexN, err = svc.CountVia(ctx, nid, filter, segment.ViaIndex); err != nil {
		t.Fatal(err)
	}
	return sqlN, indexN
}

// TestSupportLevelSealedAndTargetable: support levels written by import and
// staff entry are stored sealed (never in the plaintext column), read back
// through the store, and `support:` counts via SQL and via the index agree
// with what was written — before and after a key rotation.
func TestSupportLevelSealedAndTargetable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		other := newNation(t, db, "south")
		want, ids := seed(t, db, nid)
		seed(t, db, other)

		var plain, sealed int64
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE support_level IS NOT NULL`).Scan(&plain); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ? AND support_level_enc LIKE 'e1.%'`, nid).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if plain != 0 || sealed != 41 {
			t.Fatalf("plaintext levels %d (want 0), sealed %d (want 41)", plain, sealed)
		}
		// Two nations' keys differ: the same level is stored differently.
		var a, b string
		q := `SELECT support_level_enc FROM people WHERE nation_id = ? AND email_norm = 'p0@example.org'`
		if err := db.QueryRow(ctx, q, nid).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(ctx, q, other).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a == b {
			t.Fatalf("two nations store level 1 identically: %q", a)
		}

		check := func(when string) {
			t.Helper()
			for _, c := range []struct {
				filter string
				want   int64
			}{
				{"support:1..2", want[1] + want[2]},
				{"support:5", want[5]},
				{"-support:1..2", want[3] + want[4] + want[5]},
				{"support:>=3", want[3] + want[4] + want[5]},
			} {
				s, i := counts(t, db, nid, c.filter)
				if s != c.want || i != c.want {
					t.Errorf("%s: %q: SQL %d, index %d, want %d", when, c.filter, s, i, c.want)
				}
			}
			p, err := people.NewStore(db).Get(ctx, nid, ids[0])
			if err != nil {
				t.Fatal(err)
			}
			if p.SupportLevel != 2 {
				t.Errorf("%s: Get: support level %d, want 2", when, p.SupportLevel)
			}
		}
		check("before rotation")

		k, err := crypt.Of(db)
		if err != nil {
			t.Fatal(err)
		}
		v, err := k.Rotate(ctx, nid)
		if err != nil || v != 2 {
			t.Fatalf("rotate: version %d, %v", v, err)
		}
		var after string
		if err := db.QueryRow(ctx, q, nid).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after == a {
			t.Fatal("rotation left the stored value unchanged")
		}
		check("after rotation")
		// The other nation is untouched by this nation's rotation.
		if err := db.QueryRow(ctx, q, other).Scan(&after); err != nil || after != b {
			t.Fatalf("other nation's value changed: %q %v", after, err)
		}
	})
}

// TestDumpHoldsNoPlainLevel: a pg_dump of the database, read as an attacker
// would, has every person's support level only in sealed form.
func TestDumpHoldsNoPlainLevel(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Engine != store.Postgres {
			t.Skip("the SQLite side is covered by the SQL checks of TestSupportLevelSealedAndTargetable")
		}
		nid := newNation(t, db, "north")
		seed(t, db, nid)
		dump := pgDump(t, db)
		var cols []string
		var rows [][]string
		in := false
		for _, line := range strings.Split(dump, "\n") {
			switch {
			case strings.HasPrefix(line, "COPY ") && strings.Contains(line, ".people ("):
				list := line[strings.Index(line, "(")+1 : strings.Index(line, ")")]
				cols = strings.Split(list, ", ")
				in = true
			case in && line == "\\.":
				in = false
			case in:
				rows = append(rows, strings.Split(line, "\t"))
			}
		}
		plain, sealed := -1, -1
		for i, c := range cols {
			switch c {
			case "support_level":
				plain = i
			case "support_level_enc":
				sealed = i
			}
		}
		if plain < 0 || sealed < 0 || len(rows) != 41 {
			t.Fatalf("dump: columns %v, %d people rows", cols, len(rows))
		}
		for _, r := range rows {
			if r[plain] != "\\N" || !crypt.IsSealed(r[sealed]) {
				t.Fatalf("dump row holds support_level %q, support_level_enc %q", r[plain], r[sealed])
			}
		}
	})
}

// TestNotesSealedAtRest: a note imported with a person is stored sealed —
// the raw database (SQLite file and WAL, or a pg_dump) does not hold its
// text — and reads back in the timeline; re-importing it adds no duplicate.
func TestNotesSealedAtRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		const marker = "zqxopinionmarker votes against the pension reform"
		csv := "first_name,email,note\nNora,nora@example.org," + marker + "\n"
		st := people.NewStore(db)
		for range 2 {
			if _, err := importer.RunReader(ctx, st, nid, strings.NewReader(csv), "n.csv", importer.RunOptions{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		var id int64
		if err := db.QueryRow(ctx, `SELECT id FROM people WHERE nation_id = ? AND email_norm = 'nora@example.org'`, nid).Scan(&id); err != nil {
			t.Fatal(err)
		}
		acts, err := st.Timeline(ctx, nid, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		notes := 0
		for _, a := range acts {
			if a.Type == "note" {
				notes++
				if a.Details != marker {
					t.Errorf("note reads %q", a.Details)
				}
			}
		}
		if notes != 1 {
			t.Errorf("%d notes after importing the same one twice, want 1", notes)
		}
		if raw := rawDB(t, db); strings.Contains(raw, "zqxopinionmarker") {
			t.Error("the raw database holds the note's text")
		} else if !strings.Contains(raw, "nora@example.org") {
			t.Fatal("the raw database read is not the database: it lacks the person's e-mail")
		}
	})
}

// rawDB returns what a thief of the database would read: the bytes of the
// SQLite file and its WAL, or a pg_dump of the test's schema.
func rawDB(t *testing.T, db *store.DB) string {
	t.Helper()
	if db.Engine == store.Postgres {
		return pgDump(t, db)
	}
	var all []byte
	for _, p := range []string{db.Path, db.Path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return string(all)
}

func pgDump(t *testing.T, db *store.DB) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(found) == 0 {
		t.Skip("pg_dump not available")
	}
	var schema string
	if err := db.QueryRow(context.Background(), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	out, err := exec.Command(found[len(found)-1], "--schema="+schema, "--no-owner", u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}

func TestWrongMasterKeyRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		seed(t, db, nid)
		wrong := bytes.Repeat([]byte{7}, crypt.KeySize)
		_, err := crypt.Attach(ctx, db, &crypt.Master{Key: wrong})
		if !errors.Is(err, crypt.ErrMasterKey) || !strings.Contains(err.Error(), crypt.EnvKeyFile) {
			t.Fatalf("attach with a wrong key: %v, want ErrMasterKey naming %s", err, crypt.EnvKeyFile)
		}
		// A key generated because none was configured is removed again,
		// so it is not mistaken for the database's key.
		dir := t.TempDir()
		m, err := crypt.LoadMaster(func(string) string { return "" }, dir, nil)
		if err != nil || !m.Generated {
			t.Fatalf("load: %+v %v", m, err)
		}
		if _, err := crypt.Attach(ctx, db, m); !errors.Is(err, crypt.ErrMasterKey) {
			t.Fatalf("attach with a generated key: %v", err)
		}
		if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("generated key left behind: %v", err)
		}
	})
}

func TestRotateMaster(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		want, _ := seed(t, db, nid)
		k, err := crypt.Of(db)
		if err != nil {
			t.Fatal(err)
		}
		fresh := bytes.Repeat([]byte{9}, crypt.KeySize)
		if n, err := k.RotateMaster(ctx, fresh); err != nil || n != 1 {
			t.Fatalf("rotate master: %d %v", n, err)
		}
		if _, err := crypt.Attach(ctx, db, &crypt.Master{Key: storetest.TestMasterKey()}); !errors.Is(err, crypt.ErrMasterKey) {
			t.Fatalf("old master key still opens the database: %v", err)
		}
		if _, err := crypt.Attach(ctx, db, &crypt.Master{Key: fresh}); err != nil {
			t.Fatal(err)
		}
		if s, i := counts(t, db, nid, "support:1..2"); s != want[1]+want[2] || i != s {
			t.Fatalf("after master rotation: SQL %d, index %d, want %d", s, i, want[1]+want[2])
		}
	})
}

// TestLegacyPlaintextSealedAtStart: rows written before encryption (the
// plaintext column) are sealed when the keyring is attached.
func TestLegacyPlaintextSealedAtStart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		_, ids := seed(t, db, nid)
		if _, err := db.Exec(ctx, `UPDATE people SET support_level = 4, support_level_enc = NULL WHERE nation_id = ? AND id = ?`, nid, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := crypt.Attach(ctx, db, &crypt.Master{Key: storetest.TestMasterKey()}); err != nil {
			t.Fatal(err)
		}
		p, err := people.NewStore(db).Get(ctx, nid, ids[0])
		if err != nil || p.SupportLevel != 4 {
			t.Fatalf("legacy level: %v %v", p, err)
		}
		var plain int64
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE support_level IS NOT NULL`).Scan(&plain); err != nil || plain != 0 {
			t.Fatalf("plaintext left: %d %v", plain, err)
		}
	})
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{1}, 32)
	for _, in := range [][]byte{raw, []byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"), []byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE")} {
		k, err := crypt.ParseKey(in)
		if err != nil || !bytes.Equal(k, raw) {
			t.Errorf("ParseKey(%q) = %x, %v", in, k, err)
		}
	}
	for _, in := range []string{"", "short", strings.Repeat("A", 60)} {
		if _, err := crypt.ParseKey([]byte(in)); err == nil {
			t.Errorf("ParseKey(%q) accepted", in)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="))
	f.Add(bytes.Repeat([]byte{0}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := crypt.ParseKey(b)
		if err == nil && len(k) != crypt.KeySize {
			t.Fatalf("ParseKey returned %d bytes", len(k))
		}
	})
}
