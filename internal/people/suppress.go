package people

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"strings"

	"github.com/muster-org/muster/internal/errs"
)

// Erasure suppression. When a person is erased (internal/privacy), a keyed
// hash of each of their e-mails and phones stays in the suppressions table
// with reason "erased", so that a later import or staff entry cannot
// silently re-create them. The check lives here, in the one path every
// creation goes through (the batch upsert), and only for creations: a
// record that matches an existing person is not about the erased one.
//
// The person's own new form submission that grants a consent lifts the
// suppression of the identifiers it brings (their fresh, informed choice);
// anything else is Rejected with a field error on "email".

// WithSuppression turns the erasure check on, with the installation's
// secret key (config.Mail.SecretKey) that keys the suppression hashes; it
// returns s. Without it the store cannot compute the hashes and creates
// people unchecked, so every store that imports or takes staff entries
// must be built with it.
func (s *Store) WithSuppression(key []byte) *Store {
	s.suppressKey = key
	return s
}

// SuppressionHash is the keyed hash of a normalised identifier (a
// lower-cased e-mail or an E.164 phone). It must equal
// broadcast.EmailHash, which keys the same table (a test checks).
func SuppressionHash(key []byte, v string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(v))))
	return hex.EncodeToString(m.Sum(nil))
}

// loadErased reads which of the batch's identifiers are suppressed by an
// erasure, as "kind:hash" keys. It costs one indexed query when the nation
// has no erased identifier at all.
func (b *batch) loadErased(ctx context.Context, preps []prepared) error {
	if b.s.suppressKey == nil {
		return nil
	}
	var some int
	err := b.tx.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM suppressions WHERE nation_id = ? AND reason = 'erased' LIMIT 1) x`, b.nationID).Scan(&some)
	if err != nil || some == 0 {
		return wrap("suppressions", err)
	}
	hashes := set{}
	for i := range preps {
		for _, k := range erasedKeys(b.s.suppressKey, &preps[i]) {
			hashes.add(k[strings.IndexByte(k, ':')+1:])
		}
	}
	b.erased = map[string]bool{}
	return wrap("suppressions", eachIn(ctx, b.tx, `SELECT kind, hash FROM suppressions WHERE nation_id = ? AND reason = 'erased' AND hash IN IN_LIST`,
		[]any{b.nationID}, hashes.list(), func(rows *sql.Rows) error {
			var kind, h string
			if err := rows.Scan(&kind, &h); err != nil {
				return err
			}
			b.erased[kind+":"+h] = true
			return nil
		}))
}

// erasedKeys lists the "kind:hash" keys of a record's identifiers.
func erasedKeys(key []byte, r *prepared) []string {
	var out []string
	for _, e := range r.emails {
		out = append(out, "email:"+SuppressionHash(key, e.norm))
	}
	for _, p := range []string{r.v[cMobileE164], r.v[cPhoneE164]} {
		if p != "" {
			out = append(out, "phone:"+SuppressionHash(key, p))
		}
	}
	return out
}

// checkErased decides whether a record that would create a person may: nil
// when none of its identifiers was erased, or when the person's own form
// grants a consent (the suppression of its identifiers is then lifted in
// the batch's transaction); reject says why it is refused otherwise, and
// err is a database failure.
func (b *batch) checkErased(ctx context.Context, r *prepared, src Source) (reject, err error) {
	if len(b.erased) == 0 {
		return nil, nil
	}
	var hit []string
	for _, k := range erasedKeys(b.s.suppressKey, r) {
		if b.erased[k] {
			hit = append(hit, k)
		}
	}
	if len(hit) == 0 {
		return nil, nil
	}
	fresh := false
	for _, c := range r.consents {
		fresh = fresh || c.Granted
	}
	if src.Kind != "form" || !fresh {
		return errs.InvalidField("email", "this person's data was erased at their request; only their own form with consent can add them again"), nil
	}
	for _, k := range hit {
		i := strings.IndexByte(k, ':')
		if _, err := b.tx.Exec(ctx, `DELETE FROM suppressions WHERE nation_id = ? AND kind = ? AND hash = ? AND reason = 'erased'`,
			b.nationID, k[:i], k[i+1:]); err != nil {
			return nil, wrap("lift suppression", err)
		}
		delete(b.erased, k)
	}
	return nil, nil
}
