package mail

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Unsubscribe tokens are carried in links and List-Unsubscribe headers, so
// they must need no database to check, must not be forgeable, and must not
// show the person id to whoever reads the link. A token is
//
//	base64url( version(1) | tag(16) | ciphertext(24) )
//
// where the 24-byte payload is (nation, person, broadcast) as big-endian
// int64s, tag = HMAC-SHA256(macKey, version|payload)[:16], and ciphertext =
// payload XOR HMAC-SHA256(encKey, tag)[:24]: a synthetic-IV construction,
// so the same triple always gives the same token (a retried message keeps
// its link) and nothing in the token is readable without the key. Both
// keys are derived from the one secret the nation holds.

const tokenVersion = 1

// ErrBadToken is returned for a token that was not made with this key.
var ErrBadToken = errors.New("mail: invalid unsubscribe token")

func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("muster unsubscribe " + purpose))
	return m.Sum(nil)
}

func tokenTag(macKey []byte, payload []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write([]byte{tokenVersion})
	m.Write(payload)
	return m.Sum(nil)[:16]
}

func tokenStream(encKey, tag []byte) []byte {
	m := hmac.New(sha256.New, encKey)
	m.Write(tag)
	return m.Sum(nil)[:24]
}

// SignUnsubscribe returns the URL-safe token for one person's unsubscribe
// link in one broadcast (broadcastID 0 for messages outside a broadcast).
func SignUnsubscribe(key []byte, nationID, personID, broadcastID int64) string {
	var payload [24]byte
	binary.BigEndian.PutUint64(payload[0:], uint64(nationID))
	binary.BigEndian.PutUint64(payload[8:], uint64(personID))
	binary.BigEndian.PutUint64(payload[16:], uint64(broadcastID))
	tag := tokenTag(deriveKey(key, "mac"), payload[:])
	stream := tokenStream(deriveKey(key, "enc"), tag)
	var raw [41]byte
	raw[0] = tokenVersion
	copy(raw[1:17], tag)
	for i := range payload {
		raw[17+i] = payload[i] ^ stream[i]
	}
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// VerifyUnsubscribe checks a token made by SignUnsubscribe with key and
// returns what it names.
func VerifyUnsubscribe(key []byte, token string) (nationID, personID, broadcastID int64, err error) {
	if len(token) != 55 {
		return 0, 0, 0, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 41 || raw[0] != tokenVersion {
		return 0, 0, 0, ErrBadToken
	}
	tag := raw[1:17]
	stream := tokenStream(deriveKey(key, "enc"), tag)
	var payload [24]byte
	for i := range payload {
		payload[i] = raw[17+i] ^ stream[i]
	}
	if !hmac.Equal(tag, tokenTag(deriveKey(key, "mac"), payload[:])) {
		return 0, 0, 0, ErrBadToken
	}
	return int64(binary.BigEndian.Uint64(payload[0:])),
		int64(binary.BigEndian.Uint64(payload[8:])),
		int64(binary.BigEndian.Uint64(payload[16:])), nil
}

// Webhook signatures follow the widely used "t=<unix seconds>,v1=<hex>"
// header shape: the MAC covers the timestamp and the body, and a receiver
// refuses timestamps outside its tolerance, so a captured request cannot
// be replayed later.

// WebhookHeader is the HTTP header that carries the signature.
const WebhookHeader = "Muster-Signature"

// Webhook verification errors.
var (
	ErrWebhookSignature = errors.New("mail: webhook signature mismatch")
	ErrWebhookExpired   = errors.New("mail: webhook timestamp outside tolerance")
	ErrWebhookMalformed = errors.New("mail: webhook signature header malformed")
)

func webhookMAC(secret, body []byte, ts int64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignWebhook returns the signature header value for body sent at ts.
func SignWebhook(secret, body []byte, ts time.Time) string {
	t := ts.Unix()
	return "t=" + strconv.FormatInt(t, 10) + ",v1=" + hex.EncodeToString(webhookMAC(secret, body, t))
}

// VerifyWebhook checks header (as made by SignWebhook) against body. The
// timestamp must lie within tolerance of now, either side.
func VerifyWebhook(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	var ts int64
	var sigs [][]byte
	haveTS := false
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrWebhookMalformed
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ErrWebhookMalformed
			}
			ts, haveTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil {
				return ErrWebhookMalformed
			}
			sigs = append(sigs, b)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return ErrWebhookMalformed
	}
	d := now.Sub(time.Unix(ts, 0))
	if d > tolerance || d < -tolerance {
		return ErrWebhookExpired
	}
	want := webhookMAC(secret, body, ts)
	for _, s := range sigs { // several v1 during a secret rotation
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrWebhookSignature
}
