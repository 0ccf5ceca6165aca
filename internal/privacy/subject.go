package privacy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// SourceSubject is the source kind of what the person did themselves on
// the "my data" page (provenance, consent ledger, timeline).
const SourceSubject = "subject"

// Correction is what the person may correct themselves (Art. 16). Empty
// fields are left as they are.
type Correction struct {
	FirstName, LastName string
	Mobile, Phone       string
	Line1, Postcode     string
	City, Country       string
	Language            string
}

// Correct applies the person's own corrections, overwriting the values held,
// recorded with source "subject".
func (s *Service) Correct(ctx context.Context, nationID, personID int64, c Correction) error {
	p, err := s.d.People.Get(ctx, nationID, personID)
	if err != nil {
		return err
	}
	if p.Email == "" {
		return errs.Invalid("this record has no e-mail address to correct it through")
	}
	rec := people.Record{Emails: []string{p.Email}, FirstName: c.FirstName, LastName: c.LastName,
		Mobile: c.Mobile, Phone: c.Phone, Language: c.Language,
		Home: people.Address{Line1: c.Line1, Postcode: c.Postcode, City: c.City, Country: c.Country}}
	if c.Line1 == "" && c.Postcode == "" && c.City == "" && c.Country == "" {
		rec.Home = people.Address{}
	} else {
		// An address is corrected as a whole: keep the parts not given.
		if rec.Home.Line1 == "" {
			rec.Home.Line1 = p.Home.Line1
		}
		if rec.Home.Postcode == "" {
			rec.Home.Postcode = p.Home.Postcode
		}
		if rec.Home.City == "" {
			rec.Home.City = p.Home.City
		}
		if rec.Home.Country == "" {
			rec.Home.Country = p.Home.Country
		}
	}
	res, err := s.d.People.Upsert(ctx, nationID, rec, people.Source{Kind: SourceSubject, Ref: "my-data", At: s.d.Now()},
		people.UpsertOptions{Overwrite: true})
	if err != nil {
		return fmt.Errorf("privacy: correct: %w", err)
	}
	if res.Outcome == people.Rejected {
		return res.Err
	}
	if res.PersonID != personID {
		return errs.Conflict("the correction matched another record; please contact us")
	}
	if len(res.FieldErrors) > 0 {
		return res.FieldErrors[0]
	}
	return nil
}

// Withdraw records the withdrawal of the person's consent for channel
// (Art. 7(3)); channel "all" withdraws every channel currently granted and
// unsubscribes every topic — the objection to all messaging (Art. 21).
func (s *Service) Withdraw(ctx context.Context, nationID, personID int64, channel, ip string) error {
	cur, err := s.d.People.CurrentConsents(ctx, nationID, personID)
	if err != nil {
		return err
	}
	var chans []string
	switch {
	case channel == "all":
		for _, c := range people.Channels {
			if e, ok := cur[c]; ok && e.Granted() {
				chans = append(chans, c)
			}
		}
	case slices.Contains(people.Channels, channel):
		chans = []string{channel}
	default:
		return errs.InvalidField("channel", "unknown channel")
	}
	src := people.Source{Kind: SourceSubject, Ref: "my-data", IP: ip, At: s.d.Now()}
	wording := "Withdrawn by the person on the my-data page"
	if channel == "all" {
		wording = "Objection to all messaging, made by the person on the my-data page"
	}
	for _, c := range chans {
		if _, err := s.d.People.RecordConsent(ctx, nationID, personID,
			people.ConsentInput{Channel: c, Granted: false, Basis: "consent", Wording: wording}, src); err != nil {
			return err
		}
	}
	if channel == "all" {
		// In one transaction with the change-log entry that segment
		// indexes follow (subscribed: filters read these rows).
		err := s.d.DB.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE topic_subscriptions SET status = 'unsubscribed', at = ?, source_kind = ?, source_ref = 'my-data'
				WHERE nation_id = ? AND person_id = ? AND status = 'subscribed'`, store.Millis(src.At), SourceSubject, nationID, personID); err != nil {
				return err
			}
			return changes.Record(ctx, tx, nationID, personID)
		})
		if err != nil {
			return fmt.Errorf("privacy: withdraw topics: %w", err)
		}
		r := &Request{NationID: nationID, Kind: "objection", Channel: "web", PersonID: personID,
			Details: strings.TrimSpace("Objection to all messaging (my-data page)")}
		if err := s.CreateRequest(ctx, r); err != nil {
			return err
		}
		return s.CloseRequest(ctx, nationID, r.ID, StatusDone, "All consents withdrawn and all topics unsubscribed at once, as asked.", 0)
	}
	return nil
}

// EraseSelf executes an erasure the person confirmed on the "my data"
// page: a request is recorded (kept, without contact details, as evidence),
// the person erased, and the request closed.
func (s *Service) EraseSelf(ctx context.Context, nationID, personID int64) (*Erasure, error) {
	r := &Request{NationID: nationID, Kind: "erasure", Channel: "web", PersonID: personID}
	if err := s.CreateRequest(ctx, r); err != nil {
		return nil, err
	}
	rep, err := s.Erase(ctx, nationID, personID, 0)
	if err != nil {
		return rep, err
	}
	return rep, s.CloseRequest(ctx, nationID, r.ID, StatusDone, "Erased at the person's confirmed request on the my-data page.", 0)
}
