package crypt_test

import (
	"context"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// TestRotationSeenByAnotherProcess: two keyrings over one database, as
// serve and `muster keys rotate` hold. After a rotation through one, the
// other opens values sealed under the new key (a failed open reloads) and
// notices the new version by itself within RefreshEvery, without a
// restart; what it wrote under the old key in the rotation's race (during
// the grace period) is re-sealed by the rotation's final sweep, so that a
// new process opens everything and `support:` matches in SQL.
func TestRotationSeenByAnotherProcess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nid := newNation(t, db, "north")
		keyring := func() *crypt.Keyring {
			t.Helper()
			k, err := crypt.NewKeyring(db, storetest.TestMasterKey())
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		nation := func(k *crypt.Keyring) *crypt.NationKey {
			t.Helper()
			nk, err := k.Nation(ctx, nid)
			if err != nil {
				t.Fatal(err)
			}
			return nk
		}
		var nextID int64
		write := func(nk *crypt.NationKey, level int, note string) {
			t.Helper()
			nextID++
			if _, err := db.Exec(ctx, `INSERT INTO people (nation_id, id, support_level_enc, created_at, updated_at) VALUES (?, ?, ?, 0, 0)`,
				nid, nextID, nk.SealSupport(level)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(ctx, `INSERT INTO activities (nation_id, id, person_id, type, details, at) VALUES (?, ?, ?, 'note', ?, 0)`,
				nid, nextID, nextID, nk.SealNote(note)); err != nil {
				t.Fatal(err)
			}
		}
		want := map[int64]struct {
			level int
			note  string
		}{}
		record := func(level int, note string) {
			want[nextID] = struct {
				level int
				note  string
			}{level, note}
		}
		// opensAll checks, as a process started now would, that every
		// stored value opens under the current key, and that SQL finds
		// every level.
		opensAll := func(when string, version int64) {
			t.Helper()
			nk := nation(keyring())
			if nk.Version != version {
				t.Fatalf("%s: version %d, want %d", when, nk.Version, version)
			}
			for id, w := range want {
				var sealed, details string
				if err := db.QueryRow(ctx, `SELECT p.support_level_enc, a.details FROM people p JOIN activities a
					ON a.nation_id = p.nation_id AND a.person_id = p.id WHERE p.nation_id = ? AND p.id = ?`, nid, id).Scan(&sealed, &details); err != nil {
					t.Fatal(err)
				}
				if l, err := nk.OpenSupport(sealed); err != nil || l != w.level {
					t.Errorf("%s: person %d: level %d %v, want %d", when, id, l, err, w.level)
				}
				if n, err := nk.OpenText("note", 0, details); err != nil || n != w.note {
					t.Errorf("%s: person %d: note %q %v, want %q", when, id, n, err, w.note)
				}
				var n int
				if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ? AND id = ? AND support_level_enc = ?`,
					nid, id, nk.SealSupport(w.level)).Scan(&n); err != nil || n != 1 {
					t.Errorf("%s: person %d: support:%d does not match in SQL", when, id, w.level)
				}
			}
		}

		a := keyring() // the rotating command
		b := keyring() // a running server, whose clock moves only when told
		clock := time.Now()
		crypt.SetClock(b, func() time.Time { return clock })
		nation(a) // creates the key
		nation(b)
		nation(b) // reads the versions once: b now trusts its cache until its clock moves
		write(nation(b), 4, "before the rotation")
		record(4, "before the rotation")

		// Rotate through a. In its grace period b, not having noticed yet,
		// writes under the old key, as a writer racing the rotation would.
		raced := false
		crypt.SetSleep(a, func(ctx context.Context, d time.Duration) error {
			stale := nation(b)
			if stale.Version != 1 {
				t.Errorf("b noticed the rotation already (version %d): the race is not exercised", stale.Version)
			}
			write(stale, 2, "written in the race")
			record(2, "written in the race")
			raced = true
			return nil
		})
		if v, err := a.Rotate(ctx, nid); err != nil || v != 2 || !raced {
			t.Fatalf("rotate: version %d, %v (race written: %v)", v, err, raced)
		}
		opensAll("after the first rotation", 2)

		// b, not restarted and its clock unmoved, opens what was sealed
		// under the new key: the failed open reloaded the key.
		stale := nation(b)
		if stale.Version != 1 {
			t.Fatalf("b's cached key: version %d, want the stale 1", stale.Version)
		}
		sealedNew := nation(keyring()).SealNote("sealed under version 2")
		if got, err := stale.OpenText("note", 0, sealedNew); err != nil || got != "sealed under version 2" {
			t.Fatalf("b opens a new-key value: %q %v", got, err)
		}
		if got := stale.OpenNote(sealedNew); got != "sealed under version 2" {
			t.Errorf("b's OpenNote: %q", got)
		}
		cur := nation(b)
		if cur.Version != 2 {
			t.Fatalf("after the reload b holds version %d, want 2", cur.Version)
		}
		write(cur, 3, "written by b after reloading")
		record(3, "written by b after reloading")
		opensAll("after b's writes", 2)

		// A second rotation, without race: b notices it from the versions
		// alone once its refresh interval has passed.
		crypt.SetSleep(a, func(context.Context, time.Duration) error { return nil })
		if v, err := a.Rotate(ctx, nid); err != nil || v != 3 {
			t.Fatalf("second rotation: %d %v", v, err)
		}
		if nk := nation(b); nk.Version != 2 {
			t.Fatalf("b refreshed before its interval: version %d", nk.Version)
		}
		clock = clock.Add(crypt.RefreshEvery)
		cur = nation(b)
		if cur.Version != 3 {
			t.Fatalf("b after its refresh interval: version %d, want 3", cur.Version)
		}
		write(cur, 5, "written by b after refreshing")
		record(5, "written by b after refreshing")
		opensAll("after the second rotation", 3)
	})
}
