package crypt

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/muster-org/muster/internal/store"
)

// ErrMasterKey is returned when the master key does not open the nation keys
// held in the database: the wrong MUSTER_MASTER_KEY_FILE, or none.
var ErrMasterKey = errors.New("crypt: the master key does not open this database's nation keys: " +
	"set MUSTER_MASTER_KEY_FILE to the organisation's master key (the one this database was created with)")

// EnvKeyFile names the environment variable giving the master key file.
const EnvKeyFile = "MUSTER_MASTER_KEY_FILE"

// Master is a loaded master key and where it came from.
type Master struct {
	Key  []byte
	Path string
	// Generated is set when no key was configured and a new one was written
	// into the data directory: it must be backed up apart from the database.
	Generated bool
}

// ReadKeyFile reads a key file: 32 raw bytes, or their base64 (standard or
// URL alphabet, padded or not, surrounding space ignored).
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypt: read master key file: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("crypt: %s: %w", path, err)
	}
	return k, nil
}

// ParseKey parses the contents of a key file.
func ParseKey(b []byte) ([]byte, error) {
	if len(b) == KeySize {
		return append([]byte(nil), b...), nil
	}
	s := strings.TrimSpace(string(b))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("a master key is %d random bytes, raw or in base64", KeySize)
}

// LoadMaster returns the master key named by MUSTER_MASTER_KEY_FILE (env
// reads the environment; nil means os.Getenv) or else the file master.key in
// the data directory, generating the latter (0600) when absent with a loud
// warning: a key kept next to the database protects nothing against the theft
// of the whole directory, and losing it loses every opinion field.
func LoadMaster(env func(string) string, dataDir string, log *slog.Logger) (*Master, error) {
	if env == nil {
		env = os.Getenv
	}
	if p := strings.TrimSpace(env(EnvKeyFile)); p != "" {
		k, err := ReadKeyFile(p)
		if err != nil {
			return nil, err
		}
		return &Master{Key: k, Path: p}, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("crypt: no %s and no data directory to keep a master key in", EnvKeyFile)
	}
	p := filepath.Join(dataDir, "master.key")
	if k, err := ReadKeyFile(p); err == nil {
		return &Master{Key: k, Path: p}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("crypt: generate master key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("crypt: create data directory: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("crypt: write master key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("crypt: write master key: %w", werr)
	}
	m := &Master{Key: k, Path: p, Generated: true}
	Warn(log, m)
	return m, nil
}

// Warn logs, loudly, that the master key lives in the data directory.
func Warn(log *slog.Logger, m *Master) {
	if log == nil || m == nil {
		return
	}
	log.Warn("ENCRYPTION MASTER KEY IN THE DATA DIRECTORY: no "+EnvKeyFile+" is set, so the master key sits next to the database. "+
		"BACK IT UP SEPARATELY from the database (without it the encrypted opinion fields cannot be read), "+
		"and move it out of the data directory, pointing "+EnvKeyFile+" at it", "path", m.Path)
}

// Keyring holds a database's nation keys, unwrapped on first use and kept in
// memory. One Keyring is attached to a store.DB (see Attach, Of).
//
// Several processes (serve, worker, a command) each hold a Keyring over the
// same database, and any of them may rotate a nation's key. So a cached key
// is not trusted for ever: at most every RefreshEvery the keyring reads the
// version of every nation key (one small query) and reloads the keys whose
// version changed; and a sealed value that does not open under a cached key
// makes the keyring read that nation's version at once and retry under the
// new key (NationKey.open). A key replaced in memory stays reachable from
// its successor (prev), so that values a process sealed with it in the
// moment of the switch still open. What a process writes under the old key
// after the rotation committed is re-sealed by the rotation's final sweep
// (Rotate, SetGrace).
type Keyring struct {
	db     *store.DB
	master cipher.AEAD
	now    func() time.Time
	src    *Master // where the master key came from (nil: given in code)
	// sleep waits during a rotation's grace period (a hook for tests).
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	keys    map[int64]*NationKey
	checked time.Time           // when the versions were last read
	forced  map[int64]time.Time // when a failed open last read a nation's version
	refresh time.Duration
	grace   time.Duration

	refreshing sync.Mutex // one version read at a time
}

// RefreshEvery is how often at most a keyring reads the nation key versions
// to notice a rotation made by another process.
const RefreshEvery = 2 * time.Second

// DefaultGrace is how long `muster keys rotate` lets running processes
// notice a rotation (RefreshEvery, plus the time a writer takes from
// fetching its key to committing its transaction) before its final sweep.
const DefaultGrace = 10 * time.Second

// forcedEvery limits how often failed opens read a nation's key version:
// a page listing many values that truly do not open costs one query, not
// one per value.
const forcedEvery = 250 * time.Millisecond

// NewKeyring returns a Keyring of db under a master key.
func NewKeyring(db *store.DB, master []byte) (*Keyring, error) {
	a, err := newGCM(master)
	if err != nil {
		return nil, err
	}
	return &Keyring{db: db, master: a, now: time.Now, sleep: sleepCtx, keys: map[int64]*NationKey{},
		forced: map[int64]time.Time{}, refresh: RefreshEvery}, nil
}

// SetGrace sets how long Rotate waits, after its transaction committed,
// before re-sealing what other processes wrote meanwhile under the old key
// (0, the default, sweeps at once: enough when no other process runs).
func (k *Keyring) SetGrace(d time.Duration) {
	k.mu.Lock()
	k.grace = d
	k.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cached returns the cached key of a nation (nil when none), first reading
// the key versions when the last read is older than the refresh interval.
func (k *Keyring) cached(ctx context.Context, nationID int64) *NationKey {
	k.mu.Lock()
	nk := k.keys[nationID]
	due := nk != nil && k.now().Sub(k.checked) >= k.refresh
	k.mu.Unlock()
	if !due {
		return nk
	}
	k.refreshVersions(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[nationID]
}

// refreshVersions reads every nation key's version and reloads the cached
// keys whose version changed (a rotation by another process). A failed
// read keeps the cached keys; the next use tries again.
func (k *Keyring) refreshVersions(ctx context.Context) {
	k.refreshing.Lock()
	defer k.refreshing.Unlock()
	k.mu.Lock()
	if k.now().Sub(k.checked) < k.refresh {
		k.mu.Unlock()
		return // another goroutine just did it
	}
	k.mu.Unlock()
	rows, err := k.db.Query(ctx, `SELECT nation_id, version FROM nation_keys`)
	if err != nil {
		return
	}
	versions := map[int64]int64{}
	for rows.Next() {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			rows.Close()
			return
		}
		versions[id] = v
	}
	rows.Close()
	if rows.Err() != nil {
		return
	}
	k.mu.Lock()
	var stale []int64
	for id, nk := range k.keys {
		if v, ok := versions[id]; !ok || v != nk.Version {
			stale = append(stale, id)
		}
	}
	k.checked = k.now()
	k.mu.Unlock()
	for _, id := range stale {
		nk, err := k.load(ctx, id)
		if err != nil {
			// Gone (the nation was deleted) or unreadable: drop it, so the
			// next use loads it again and reports the error there.
			k.mu.Lock()
			delete(k.keys, id)
			k.mu.Unlock()
			continue
		}
		k.install(nk)
	}
}

// install caches a freshly loaded key, keeping the key it replaces as its
// predecessor for opening.
func (k *Keyring) install(nk *NationKey) *NationKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	cur := k.keys[nk.NationID]
	if cur != nil && cur.Version == nk.Version {
		return cur
	}
	if cur != nil {
		// A copy without its own predecessor: a process keeps one
		// replaced key in memory, not every key it ever held.
		p := *cur
		p.prev = nil
		nk.prev = &p
	}
	k.keys[nk.NationID] = nk
	return nk
}

// newer returns the nation's key when it is no longer the one old was
// loaded as (a rotation by another process): the cached key if it is
// already newer, else the key read again from the database. nil when old
// is current. Called when a value does not open under old.
func (k *Keyring) newer(old *NationKey) *NationKey {
	k.mu.Lock()
	cur := k.keys[old.NationID]
	if cur != nil && cur != old && cur.Version != old.Version {
		k.mu.Unlock()
		return cur
	}
	now := k.now()
	if last, ok := k.forced[old.NationID]; ok && now.Sub(last) >= 0 && now.Sub(last) < forcedEvery {
		k.mu.Unlock()
		return nil
	}
	k.forced[old.NationID] = now
	k.mu.Unlock()
	// The callers of open have no context (they are formatting a page or
	// a row); the read is one row by primary key.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v int64
	if err := k.db.QueryRow(ctx, `SELECT version FROM nation_keys WHERE nation_id = ?`, old.NationID).Scan(&v); err != nil || v == old.Version {
		return nil
	}
	nk, err := k.load(ctx, old.NationID)
	if err != nil {
		return nil
	}
	return k.install(nk)
}

// Attach checks that the master key opens every nation key of the database
// (refusing to start otherwise: silently writing under a new key would make
// the old data unreadable), seals support levels written in plaintext before
// encryption existed, and attaches the keyring to db for Of.
func Attach(ctx context.Context, db *store.DB, m *Master) (*Keyring, error) {
	k, err := NewKeyring(db, m.Key)
	if err != nil {
		return nil, err
	}
	if err := k.Verify(ctx); err != nil {
		if m.Generated {
			// Not the key of this database: do not leave it to be backed up
			// as if it were.
			os.Remove(m.Path)
			return nil, fmt.Errorf("%w (no %s was set and the database already holds encrypted data)", err, EnvKeyFile)
		}
		return nil, err
	}
	if err := k.SealPlaintext(ctx); err != nil {
		return nil, err
	}
	k.src = m
	db.Keys = k
	return k, nil
}

// WarnDefault repeats the warning of LoadMaster at every start while the
// master key is the one generated into the data directory.
func (k *Keyring) WarnDefault(log *slog.Logger) {
	// A key generated by this very process was announced when it was made.
	if k.src != nil && !k.src.Generated && filepath.Base(k.src.Path) == "master.key" && os.Getenv(EnvKeyFile) == "" {
		Warn(log, k.src)
	}
}

// Of returns the keyring attached to db.
func Of(db *store.DB) (*Keyring, error) {
	if k, ok := db.Keys.(*Keyring); ok && k != nil {
		return k, nil
	}
	return nil, errors.New("crypt: no master key attached to the database (crypt.Attach)")
}

// NationKeyOf is Of(db).Nation(ctx, nationID).
func NationKeyOf(ctx context.Context, db *store.DB, nationID int64) (*NationKey, error) {
	k, err := Of(db)
	if err != nil {
		return nil, err
	}
	return k.Nation(ctx, nationID)
}

// ReadKeyOf returns a nation's data key for reading, without ever writing:
// when the nation has no key yet it holds no sealed value, and an ephemeral
// key (not stored, not cached) is returned, whose sealed forms match
// nothing. Read paths use it so that they never need the writer (which an
// enclosing SQLite transaction may hold).
func ReadKeyOf(ctx context.Context, db *store.DB, nationID int64) (*NationKey, error) {
	k, err := Of(db)
	if err != nil {
		return nil, err
	}
	if nk := k.cached(ctx, nationID); nk != nil {
		return nk, nil
	}
	nk, err := k.load(ctx, nationID)
	if errors.Is(err, sql.ErrNoRows) {
		data := make([]byte, KeySize)
		if _, err := rand.Read(data); err != nil {
			return nil, fmt.Errorf("crypt: generate data key: %w", err)
		}
		return newNationKey(nationID, 0, data)
	}
	if err != nil {
		return nil, err
	}
	return k.install(nk), nil
}

// Verify unwraps every nation key, so that a wrong master key is found at
// start and not at the first read.
func (k *Keyring) Verify(ctx context.Context) error {
	rows, err := k.db.Query(ctx, `SELECT nation_id, version, wrapped FROM nation_keys ORDER BY nation_id`)
	if err != nil {
		return fmt.Errorf("crypt: read nation keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, version int64
		var w string
		if err := rows.Scan(&id, &version, &w); err != nil {
			return fmt.Errorf("crypt: read nation keys: %w", err)
		}
		if _, err := unwrap(k.master, id, w); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Nation returns a nation's data key, creating it on first use.
func (k *Keyring) Nation(ctx context.Context, nationID int64) (*NationKey, error) {
	if nk := k.cached(ctx, nationID); nk != nil {
		return nk, nil
	}
	nk, err := k.load(ctx, nationID)
	if errors.Is(err, sql.ErrNoRows) {
		data := make([]byte, KeySize)
		if _, rerr := rand.Read(data); rerr != nil {
			return nil, fmt.Errorf("crypt: generate data key: %w", rerr)
		}
		k.mu.Lock()
		master := k.master
		k.mu.Unlock()
		w, werr := wrap(master, nationID, data)
		if werr != nil {
			return nil, werr
		}
		if _, err := k.db.Exec(ctx, `INSERT INTO nation_keys (nation_id, version, wrapped, created_at) VALUES (?, 1, ?, ?)
			ON CONFLICT (nation_id) DO NOTHING`, nationID, w, store.Millis(k.now())); err != nil {
			return nil, fmt.Errorf("crypt: store nation key: %w", err)
		}
		nk, err = k.load(ctx, nationID)
	}
	if err != nil {
		return nil, err
	}
	return k.install(nk), nil
}

func (k *Keyring) load(ctx context.Context, nationID int64) (*NationKey, error) {
	var version int64
	var w string
	err := k.db.QueryRow(ctx, `SELECT version, wrapped FROM nation_keys WHERE nation_id = ?`, nationID).Scan(&version, &w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("crypt: read nation key: %w", err)
	}
	k.mu.Lock()
	master := k.master
	k.mu.Unlock()
	data, err := unwrap(master, nationID, w)
	if err != nil {
		return nil, err
	}
	nk, err := newNationKey(nationID, version, data)
	if err != nil {
		return nil, err
	}
	nk.ring = k
	return nk, nil
}

// Forget drops cached keys, so the next use reads them again. (A rotation
// by another process is noticed without it: see Keyring.)
func (k *Keyring) Forget() {
	k.mu.Lock()
	k.keys = map[int64]*NationKey{}
	k.mu.Unlock()
}

// SealPlaintext encrypts support levels still held in the plaintext column
// (rows written before encryption, or by bulk loaders that write plaintext)
// and clears that column. Five statements per nation that has any.
func (k *Keyring) SealPlaintext(ctx context.Context) error {
	rows, err := k.db.Query(ctx, `SELECT DISTINCT nation_id FROM people WHERE support_level IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("crypt: find plaintext support levels: %w", err)
	}
	var nations []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("crypt: find plaintext support levels: %w", err)
		}
		nations = append(nations, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("crypt: find plaintext support levels: %w", err)
	}
	for _, n := range nations {
		if err := k.SealNation(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// SealNation encrypts one nation's plaintext support levels.
func (k *Keyring) SealNation(ctx context.Context, nationID int64) error {
	nk, err := k.Nation(ctx, nationID)
	if err != nil {
		return err
	}
	return k.db.InTx(ctx, func(tx *store.Tx) error {
		for l := 1; l <= 5; l++ {
			if _, err := tx.Exec(ctx, `UPDATE people SET support_level_enc = ?, support_level = NULL
				WHERE nation_id = ? AND support_level = ?`, nk.SealSupport(l), nationID, l); err != nil {
				return fmt.Errorf("crypt: seal support levels: %w", err)
			}
		}
		return nil
	})
}

// Rotate gives a nation a new data key and re-encrypts its fields under it,
// in one transaction: readers see either the old key and old ciphertexts or
// the new ones. Other processes notice the new version within RefreshEvery,
// or at once when a value does not open under their cached key.
//
// A writer of another process may have fetched the old key just before the
// rotation committed and write with it just after (a support level sealed
// deterministically under the old key would then match no `support:`
// filter, a note would not open under the new key). So once the grace
// period (SetGrace) has let every process switch, a final sweep re-seals
// under the new key whatever still opens under the old one — five UPDATE
// statements for support levels, and the sensitive tags and sealed timeline
// entries that open under the old key. The old key is known to this
// process only: the sweep is the rotation's last step, and an error in it
// is returned with the new version.
func (k *Keyring) Rotate(ctx context.Context, nationID int64) (version int64, err error) {
	if _, err := k.Nation(ctx, nationID); err != nil { // creates the key on first use
		return 0, err
	}
	old, err := k.load(ctx, nationID) // the current key, even if the cache is behind
	if err != nil {
		return 0, err
	}
	data := make([]byte, KeySize)
	if _, err := rand.Read(data); err != nil {
		return 0, fmt.Errorf("crypt: generate data key: %w", err)
	}
	nk, err := newNationKey(nationID, old.Version+1, data)
	if err != nil {
		return 0, err
	}
	nk.ring = k
	k.mu.Lock()
	master, grace := k.master, k.grace
	k.mu.Unlock()
	w, err := wrap(master, nationID, data)
	if err != nil {
		return 0, err
	}
	err = k.db.InTx(ctx, func(tx *store.Tx) error {
		if err := resealSupport(ctx, tx, old, nk, nationID); err != nil {
			return err
		}
		var left int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM people WHERE nation_id = ? AND support_level_enc IS NOT NULL AND support_level_enc <> ''
			AND support_level_enc NOT IN (?, ?, ?, ?, ?)`, nationID, nk.support[1], nk.support[2], nk.support[3],
			nk.support[4], nk.support[5]).Scan(&left); err != nil {
			return fmt.Errorf("crypt: check re-encryption: %w", err)
		}
		if left > 0 {
			return fmt.Errorf("crypt: %d support levels do not open under the current key; nothing was changed", left)
		}
		if err := resealRows(ctx, tx, old, nk, nationID, true); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE nation_keys SET version = ?, wrapped = ?, created_at = ? WHERE nation_id = ? AND version = ?`,
			nk.Version, w, store.Millis(k.now()), nationID, old.Version)
		if err != nil {
			return fmt.Errorf("crypt: store new nation key: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errors.New("crypt: the nation key changed during rotation; nothing was changed")
		}
		return nil
	})
	if err != nil {
		k.Forget()
		return 0, err
	}
	k.mu.Lock()
	delete(k.keys, nationID) // install below: the new key, with old as its predecessor
	k.mu.Unlock()
	k.install(old)
	k.install(nk)
	if err := k.sleep(ctx, grace); err != nil {
		return nk.Version, fmt.Errorf("crypt: rotated to version %d, but the final sweep did not run: %w", nk.Version, err)
	}
	if err := k.sweep(ctx, old, nk, nationID); err != nil {
		return nk.Version, fmt.Errorf("crypt: rotated to version %d, but the final sweep failed: %w", nk.Version, err)
	}
	return nk.Version, nil
}

// sweep re-seals under nk what was written under old after a rotation
// committed (see Rotate). Values sealed under nk do not open under old and
// are left as they are.
func (k *Keyring) sweep(ctx context.Context, old, nk *NationKey, nationID int64) error {
	return k.db.InTx(ctx, func(tx *store.Tx) error {
		var v int64
		if err := tx.QueryRow(ctx, `SELECT version FROM nation_keys WHERE nation_id = ?`, nationID).Scan(&v); err != nil {
			return fmt.Errorf("crypt: sweep: %w", err)
		}
		if v != nk.Version {
			return nil // rotated again since: that rotation re-sealed what opened under nk
		}
		if err := resealSupport(ctx, tx, old, nk, nationID); err != nil {
			return err
		}
		return resealRows(ctx, tx, old, nk, nationID, false)
	})
}

// resealSupport re-seals support levels from one key to another.
// Deterministic sealing makes it five statements, whatever the number of
// people.
func resealSupport(ctx context.Context, tx *store.Tx, old, nk *NationKey, nationID int64) error {
	for l := 1; l <= 5; l++ {
		if _, err := tx.Exec(ctx, `UPDATE people SET support_level_enc = ? WHERE nation_id = ? AND support_level_enc = ?`,
			nk.SealSupport(l), nationID, old.SealSupport(l)); err != nil {
			return fmt.Errorf("crypt: re-encrypt support levels: %w", err)
		}
	}
	return nil
}

// RotateMaster re-wraps every nation key under a new master key, in one
// transaction. Afterwards only the new master key opens the database.
func (k *Keyring) RotateMaster(ctx context.Context, newMaster []byte) (nations int, err error) {
	na, err := newGCM(newMaster)
	if err != nil {
		return 0, err
	}
	err = k.db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT nation_id, wrapped FROM nation_keys ORDER BY nation_id`)
		if err != nil {
			return fmt.Errorf("crypt: read nation keys: %w", err)
		}
		type row struct {
			id int64
			w  string
		}
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.w); err != nil {
				rows.Close()
				return fmt.Errorf("crypt: read nation keys: %w", err)
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("crypt: read nation keys: %w", err)
		}
		for _, r := range all {
			data, err := unwrap(k.master, r.id, r.w)
			if err != nil {
				return err
			}
			w, err := wrap(na, r.id, data)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE nation_keys SET wrapped = ? WHERE nation_id = ?`, w, r.id); err != nil {
				return fmt.Errorf("crypt: store re-wrapped key: %w", err)
			}
		}
		nations = len(all)
		return nil
	})
	if err != nil {
		return 0, err
	}
	k.mu.Lock()
	k.master = na
	k.mu.Unlock()
	return nations, nil
}

// resealRows re-encrypts, inside a rotation's transaction, the values sealed
// with a random nonce: sensitive tags (name sealed, key blind-indexed) and
// sealed timeline details (notes, entries naming a sensitive tag). When
// strict, a sensitive tag that does not open under the old key stops the
// rotation; otherwise (the sweep after a rotation) it is left alone.
func resealRows(ctx context.Context, tx *store.Tx, old, nk *NationKey, nationID int64, strict bool) error {
	trows, err := tx.Query(ctx, `SELECT id, name FROM tags WHERE nation_id = ? AND sensitive <> 0`, nationID)
	if err != nil {
		return fmt.Errorf("crypt: read sensitive tags: %w", err)
	}
	type tagRow struct {
		id        int64
		name, key string
	}
	var tags []tagRow
	for trows.Next() {
		var id int64
		var sealed string
		if err := trows.Scan(&id, &sealed); err != nil {
			trows.Close()
			return fmt.Errorf("crypt: read sensitive tags: %w", err)
		}
		plain, err := old.openOnly(tagField, 0, sealed)
		if err != nil && !strict {
			continue // sealed under the new key already
		}
		if err != nil {
			trows.Close()
			return errors.New("crypt: a sensitive tag does not open under the current key; nothing was changed")
		}
		name, key := nk.TagColumns(plain, strings.ToLower(plain), true)
		tags = append(tags, tagRow{id, name, key})
	}
	trows.Close()
	if err := trows.Err(); err != nil {
		return fmt.Errorf("crypt: read sensitive tags: %w", err)
	}
	for _, t := range tags {
		if _, err := tx.Exec(ctx, `UPDATE tags SET name = ?, key = ? WHERE nation_id = ? AND id = ?`, t.name, t.key, nationID, t.id); err != nil {
			return fmt.Errorf("crypt: re-encrypt tag: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT id, type, details FROM activities WHERE nation_id = ? AND details LIKE 'e1.%'`, nationID)
	if err != nil {
		return fmt.Errorf("crypt: read sealed timeline entries: %w", err)
	}
	type entry struct {
		id            int64
		typ, resealed string
	}
	var all []entry
	for rows.Next() {
		var e entry
		var details string
		if err := rows.Scan(&e.id, &e.typ, &details); err != nil {
			rows.Close()
			return fmt.Errorf("crypt: read sealed timeline entries: %w", err)
		}
		field := detailsField
		if e.typ == "note" {
			field = "note"
		}
		plain, err := old.openOnly(field, 0, details)
		if err != nil {
			// Plaintext that merely starts like a sealed value, or (in the
			// sweep) an entry sealed under the new key already.
			continue
		}
		if e.resealed, err = nk.SealText(field, 0, plain); err != nil {
			rows.Close()
			return err
		}
		all = append(all, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("crypt: read sealed timeline entries: %w", err)
	}
	for _, e := range all {
		if _, err := tx.Exec(ctx, `UPDATE activities SET details = ? WHERE nation_id = ? AND id = ?`, e.resealed, nationID, e.id); err != nil {
			return fmt.Errorf("crypt: re-encrypt timeline entry: %w", err)
		}
	}
	return nil
}

// NewNationTx creates the data key of a nation being created inside tx (a
// clone that copies sensitive tags must seal them under the child's key
// before the nation exists outside the transaction). The key is cached only
// when it is next loaded, after the commit.
func (k *Keyring) NewNationTx(ctx context.Context, tx *store.Tx, nationID int64) (*NationKey, error) {
	data := make([]byte, KeySize)
	if _, err := rand.Read(data); err != nil {
		return nil, fmt.Errorf("crypt: generate data key: %w", err)
	}
	k.mu.Lock()
	master := k.master
	k.mu.Unlock()
	w, err := wrap(master, nationID, data)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO nation_keys (nation_id, version, wrapped, created_at) VALUES (?, 1, ?, ?)`,
		nationID, w, store.Millis(k.now())); err != nil {
		return nil, fmt.Errorf("crypt: store nation key: %w", err)
	}
	return newNationKey(nationID, 1, data)
}
