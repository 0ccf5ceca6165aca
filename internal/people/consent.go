package people

import (
	"context"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// Consent is one entry of the append-only consent ledger.
type Consent struct {
	ID          int64
	PersonID    int64
	Channel     string // email, sms, phone, post, ads, push
	Status      string // granted, withdrawn
	Basis       string // consent, membership, legitimate_interest, legal_obligation
	WordingHash string // SHA-256 of the wording shown; "" when unknown
	Source      Source
	At          time.Time
}

// Granted reports whether the entry grants the channel.
func (c Consent) Granted() bool { return c.Status == "granted" }

// RecordConsent appends an entry to the person's consent ledger, whatever
// the current state (a form that shows a new wording is evidence worth
// keeping). The wording is stored once, referenced by its hash.
func (s *Store) RecordConsent(ctx context.Context, nationID, personID int64, in ConsentInput, src Source) (Consent, error) {
	if err := validConsent(&in); err != nil {
		return Consent{}, err
	}
	if err := s.mustExist(ctx, nationID, personID); err != nil {
		return Consent{}, err
	}
	at := millisOr(src.At, s.now())
	c := Consent{PersonID: personID, Channel: in.Channel, Status: "withdrawn", Basis: in.Basis, Source: src, At: store.Time(at)}
	if in.Granted {
		c.Status = "granted"
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := reserveIDs(ctx, tx, nationID, "consents", 1)
		if err != nil {
			return err
		}
		c.ID = id
		if in.Wording != "" {
			c.WordingHash = WordingHash(in.Wording)
			if _, err := tx.Exec(ctx, `INSERT INTO consent_wordings (nation_id, hash, wording, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, nationID, c.WordingHash, in.Wording, at); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO consents (`+joinCols(consentCols)+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			nationID, id, personID, c.Channel, c.Status, c.Basis, c.WordingHash, src.Kind, src.Ref, src.Line, src.UserID, src.IP, at)
		if err != nil {
			return err
		}
		return changes.Record(ctx, tx, nationID, personID)
	})
	return c, wrap("record consent", err)
}

// ConsentHistory returns the person's ledger, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, nationID, personID int64) ([]Consent, error) {
	rows, err := s.db.Query(ctx, `SELECT id, person_id, channel, status, basis, wording_hash, source_kind, source_ref,
		source_line, source_user, ip, at FROM consents WHERE nation_id = ? AND person_id = ? ORDER BY at, id`, nationID, personID)
	if err != nil {
		return nil, wrap("consent history", err)
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		var c Consent
		var at int64
		if err := rows.Scan(&c.ID, &c.PersonID, &c.Channel, &c.Status, &c.Basis, &c.WordingHash, &c.Source.Kind,
			&c.Source.Ref, &c.Source.Line, &c.Source.UserID, &c.Source.IP, &at); err != nil {
			return nil, wrap("consent history", err)
		}
		c.At = store.Time(at)
		c.Source.At = c.At
		out = append(out, c)
	}
	return out, wrap("consent history", rows.Err())
}

// CurrentConsents derives the person's current consent per channel from the
// ledger: the latest entry of each channel (by time, then by id). A channel
// with no entry is absent from the map, which means no consent.
func (s *Store) CurrentConsents(ctx context.Context, nationID, personID int64) (map[string]Consent, error) {
	hist, err := s.ConsentHistory(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	cur := map[string]Consent{}
	for _, c := range hist {
		cur[c.Channel] = c
	}
	return cur, nil
}

// ConsentWording returns the text stored under a wording hash.
func (s *Store) ConsentWording(ctx context.Context, nationID int64, hash string) (string, error) {
	var w string
	err := s.db.QueryRow(ctx, `SELECT wording FROM consent_wordings WHERE nation_id = ? AND hash = ?`, nationID, hash).Scan(&w)
	if isNoRows(err) {
		return "", errs.NotFound("no such consent wording")
	}
	return w, wrap("consent wording", err)
}
