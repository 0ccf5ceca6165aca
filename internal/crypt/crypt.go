// Package crypt encrypts the fields that reveal a person's political opinion
// (support level, notes, tags marked sensitive; survey answers next) so that
// a stolen database file — SQLite file and WAL, or a PostgreSQL dump — reveals
// no opinions without a key the organisation holds outside the database.
//
// Keys: the organisation's master key (MUSTER_MASTER_KEY_FILE, 32 bytes)
// wraps one random data key per nation (AES-256-GCM, the nation id as
// associated data), stored in nation_keys. Field keys are derived from the
// data key with HMAC-SHA256 under fixed labels, so one data key never
// encrypts and authenticates under the same key.
//
// Small-domain fields that targeting filters on (support level 1..5) are
// sealed deterministically: the GCM nonce is an HMAC of the nation, field and
// value (a synthetic IV, as in AES-GCM-SIV), so equal values give equal
// ciphertexts and SQL can match `support:1..2` with an IN list of the
// nation's ciphertexts of 1 and 2. Someone holding the database but no key
// learns which people share a level (the distribution), not which level it
// is; docs/privacy.md "Encryption" records this trade-off. Free text is
// sealed with a random nonce (SealText).
package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// KeySize is the size of master and data keys: AES-256.
const KeySize = 32

// prefix marks a sealed value and its format version, so that a plaintext
// left over from before encryption is never mistaken for a ciphertext.
const prefix = "e1."

// ErrOpen is returned when a sealed value does not open: wrong key, another
// nation's or person's value, or tampering.
var ErrOpen = errors.New("crypt: sealed value does not open under this nation's key")

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("crypt: key must be %d bytes, not %d", KeySize, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("crypt: new cipher: %w", err)
	}
	return cipher.NewGCM(b)
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// NationKey is one nation's data key, unwrapped, with the keys derived from
// it and the ciphertexts of every support level (five values: sealing and
// opening them is a table look-up).
type NationKey struct {
	NationID int64
	Version  int64
	aead     cipher.AEAD
	siv      []byte // keys synthetic nonces
	blind    []byte // keys blind indexes (tag names)
	support  [6]string
	levels   map[string]int
	// ring is the keyring the key was loaded by (nil for a key made in
	// code): a value that does not open makes it check for a rotation.
	ring *Keyring
	// prev is the key this one replaced in the process's keyring, tried
	// when a value does not open: a value this process sealed with it
	// just as another rotated.
	prev *NationKey
}

func newNationKey(nationID, version int64, data []byte) (*NationKey, error) {
	enc := derive(data, "muster field encryption v1")
	aead, err := newGCM(enc)
	if err != nil {
		return nil, err
	}
	k := &NationKey{NationID: nationID, Version: version, aead: aead,
		siv: derive(data, "muster synthetic nonce v1"), blind: derive(data, "muster blind index v1"),
		levels: map[string]int{}}
	for l := 1; l <= 5; l++ {
		k.support[l] = k.sealDet("support_level", strconv.Itoa(l))
		k.levels[k.support[l]] = l
	}
	return k, nil
}

func (k *NationKey) ad(field string, id int64) []byte {
	return []byte("muster/" + strconv.FormatInt(k.NationID, 10) + "/" + field + "/" + strconv.FormatInt(id, 10))
}

// sealDet seals deterministically: equal plaintexts give equal ciphertexts.
func (k *NationKey) sealDet(field, plain string) string {
	m := hmac.New(sha256.New, k.siv)
	m.Write(k.ad(field, 0))
	m.Write([]byte{0})
	m.Write([]byte(plain))
	nonce := m.Sum(nil)[:k.aead.NonceSize()]
	return encode(k.aead.Seal(nonce, nonce, []byte(plain), k.ad(field, 0)))
}

func encode(b []byte) string { return prefix + base64.RawStdEncoding.EncodeToString(b) }

// open opens a sealed value under this key, else under the key it
// replaced, else — the nation's key having been rotated by another process
// since this one was loaded — under the nation's current key, read again.
func (k *NationKey) open(field string, id int64, sealed string) (string, error) {
	p, err := k.openOnly(field, id, sealed)
	if err == nil || !IsSealed(sealed) {
		return p, err
	}
	if k.prev != nil {
		if p, err := k.prev.openOnly(field, id, sealed); err == nil {
			return p, nil
		}
	}
	if k.ring == nil {
		return "", err
	}
	nk := k.ring.newer(k)
	if nk == nil {
		return "", err
	}
	if p, err := nk.openOnly(field, id, sealed); err == nil {
		return p, nil
	}
	if nk.prev != nil && nk.prev != k {
		if p, err := nk.prev.openOnly(field, id, sealed); err == nil {
			return p, nil
		}
	}
	return "", err
}

// openOnly opens a sealed value under this very key.
func (k *NationKey) openOnly(field string, id int64, sealed string) (string, error) {
	if !strings.HasPrefix(sealed, prefix) {
		return "", ErrOpen
	}
	b, err := base64.RawStdEncoding.DecodeString(sealed[len(prefix):])
	n := k.aead.NonceSize()
	if err != nil || len(b) < n+k.aead.Overhead() {
		return "", ErrOpen
	}
	p, err := k.aead.Open(nil, b[:n], b[n:], k.ad(field, id))
	if err != nil {
		return "", ErrOpen
	}
	return string(p), nil
}

// SealSupport returns the stored form of a support level 1..5; "" for 0
// (unknown), which is stored as NULL.
func (k *NationKey) SealSupport(level int) string {
	if level < 1 || level > 5 {
		return ""
	}
	return k.support[level]
}

// OpenSupport returns the support level of a stored value: 0 for "" (unknown).
func (k *NationKey) OpenSupport(sealed string) (int, error) {
	if sealed == "" {
		return 0, nil
	}
	if l, ok := k.levels[sealed]; ok {
		return l, nil
	}
	p, err := k.open("support_level", 0, sealed)
	if err != nil {
		return 0, err
	}
	l, err := strconv.Atoi(p)
	if err != nil || l < 1 || l > 5 {
		return 0, ErrOpen
	}
	return l, nil
}

// SupportIn returns the stored forms of the levels lo..hi (clipped to 1..5),
// for `support_level_enc IN (…)` in SQL.
func (k *NationKey) SupportIn(lo, hi int) []string {
	var out []string
	for l := max(lo, 1); l <= min(hi, 5); l++ {
		out = append(out, k.support[l])
	}
	return out
}

// Support returns the stored forms of the levels 1..5 (index = level).
func (k *NationKey) Support() [6]string { return k.support }

// SealText seals a free-text value of one row (a note) with a random nonce;
// the associated data binds it to the nation, field and row id, so it cannot
// be moved to another row unnoticed.
func (k *NationKey) SealText(field string, id int64, plain string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("crypt: nonce: %w", err)
	}
	return encode(k.aead.Seal(nonce, nonce, []byte(plain), k.ad(field, id))), nil
}

// OpenText opens a value sealed by SealText.
func (k *NationKey) OpenText(field string, id int64, sealed string) (string, error) {
	return k.open(field, id, sealed)
}

// SealNote seals the text of a note (an activity of type note). The
// associated data is the nation and field only, not the person: merging
// people moves their activities.
func (k *NationKey) SealNote(text string) string {
	s, err := k.SealText("note", 0, text)
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+)
	}
	return s
}

// OpenNote returns the text of a note as stored: opened when sealed, as is
// when it is plaintext from before encryption; a sealed note that does not
// open (wrong key) is shown as a marker, never as ciphertext.
func (k *NationKey) OpenNote(stored string) string {
	if !IsSealed(stored) {
		return stored
	}
	s, err := k.OpenText("note", 0, stored)
	if err != nil {
		return "[note: does not open under this nation's key]"
	}
	return s
}

// Blind returns a keyed blind index of a value (hex HMAC), for equality
// look-ups of a sealed value such as a sensitive tag's name.
func (k *NationKey) Blind(field, value string) string {
	m := hmac.New(sha256.New, k.blind)
	m.Write([]byte(field))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return "b1." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// IsSealed reports whether s looks like a sealed value (not plaintext).
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// wrap seals a data key under the master key for one nation.
func wrap(master cipher.AEAD, nationID int64, data []byte) (string, error) {
	nonce := make([]byte, master.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("crypt: nonce: %w", err)
	}
	return encode(master.Seal(nonce, nonce, data, wrapAD(nationID))), nil
}

func unwrap(master cipher.AEAD, nationID int64, wrapped string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(wrapped, prefix))
	n := master.NonceSize()
	if err != nil || len(b) < n+master.Overhead() {
		return nil, ErrMasterKey
	}
	data, err := master.Open(nil, b[:n], b[n:], wrapAD(nationID))
	if err != nil || len(data) != KeySize {
		return nil, ErrMasterKey
	}
	return data, nil
}

func wrapAD(nationID int64) []byte {
	return []byte("muster nation key/" + strconv.FormatInt(nationID, 10))
}
