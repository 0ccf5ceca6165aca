package pages

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// Submission is a validated public form submission.
type Submission struct {
	Values       map[string]string // contract field → value as typed (trimmed)
	Consents     []people.ConsentInput
	Interests    []string
	Skills       []string
	Topics       []Topic
	ShowPublicly bool
	Lang         string
	IP           string // consent evidence; never logged
}

// ParseSubmission reads a public form posted to page p, shown in lang (one
// of langs, the page's languages), against the nation's topics and default
// phone country. Only the fields the page asks are read. Every problem is
// reported with its field, so the form can show it next to that field.
func ParseSubmission(p *Page, form url.Values, lang string, langs []string, topics []Topic, country string) (Submission, Problems) {
	var ps Problems
	sub := Submission{Values: map[string]string{}, Lang: lang}
	for _, f := range p.Settings.Fields {
		v := strings.TrimSpace(form.Get(f.Name))
		switch {
		case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			ps.add(f.Name, "invalid", 0)
			continue
		case utf8.RuneCountInString(v) > MaxLen[f.Name]:
			ps.add(f.Name, "too_long", MaxLen[f.Name])
			continue
		case v == "" && f.Required:
			ps.add(f.Name, "required", 0)
			continue
		case v == "":
			continue
		}
		switch f.Name {
		case "email":
			if _, norm, err := people.NormaliseEmail(v); err != nil || norm == "" {
				ps.add(f.Name, "email", 0)
			}
		case "phone", "mobile":
			if people.NormalisePhone(v, country).Invalid {
				ps.add(f.Name, "phone", 0)
			}
		case "birth_date":
			if _, err := people.NormaliseDate(v); err != nil {
				ps.add(f.Name, "date", 0)
			}
		}
		sub.Values[f.Name] = v
	}
	if sub.Values["email"] == "" && sub.Values["mobile"] == "" && sub.Values["phone"] == "" {
		for _, name := range []string{"email", "mobile", "phone"} {
			if asked, _ := p.Settings.Asks(name); asked {
				ps.add(name, "identity", 0)
				break
			}
		}
	}
	for _, q := range p.Settings.Consents {
		if form.Get("consent_"+q.Channel) == "yes" {
			sub.Consents = append(sub.Consents, people.ConsentInput{
				Channel: q.Channel, Granted: true, Basis: "consent", Wording: q.WordingIn(lang, langs)})
		}
	}
	for _, v := range form["interests"] {
		if slices.Contains(p.Settings.Interests, v) && !slices.Contains(sub.Interests, v) {
			sub.Interests = append(sub.Interests, v)
		}
	}
	for _, v := range form["skills"] {
		if slices.Contains(p.Settings.Skills, v) && !slices.Contains(sub.Skills, v) {
			sub.Skills = append(sub.Skills, v)
		}
	}
	for _, t := range OfferedTopics(p, topics) {
		if slices.Contains(form["topics"], t.Slug) {
			sub.Topics = append(sub.Topics, t)
		}
	}
	sub.ShowPublicly = p.Type == TypePetition && p.Settings.PublicSigners && form.Get("show_publicly") == "yes"
	return sub, ps
}

// OfferedTopics are the topics a page offers: those its settings name, or
// every topic of the nation.
func OfferedTopics(p *Page, all []Topic) []Topic {
	if p.Type != TypeTopics && p.Type != TypeSignup {
		return nil
	}
	if len(p.Settings.Topics) == 0 {
		if p.Type == TypeSignup {
			return nil
		}
		return all
	}
	var out []Topic
	for _, t := range all {
		if slices.Contains(p.Settings.Topics, t.Slug) {
			out = append(out, t)
		}
	}
	return out
}

// Forms applies public form submissions.
type Forms struct {
	Pages  *Store
	People *people.Store
	// Automation, if set, sends the page's automatic messages
	// (internal/automail) and may hold e-mail consent for double opt-in.
	Automation Automation
}

// Automation is what a submission tells the automatic messages of its page
// (internal/automail implements it).
type Automation interface {
	// DoubleOptIn reports whether the page confirms e-mail consent by a
	// link sent to the address: the ticked consent is then not written to
	// the ledger but handed to AfterSubmit as Result.PendingEmail.
	DoubleOptIn(ctx context.Context, nationID, pageID int64) (bool, error)
	// AfterSubmit queues the page's automatic messages for the person.
	AfterSubmit(ctx context.Context, nationID int64, p *Page, sub Submission, res Result) error
}

// Result is what a submission did.
type Result struct {
	PersonID     int64
	Outcome      people.Outcome
	NewSignature bool // a petition signature was added (false when the person had signed)
	// PendingEmail is the e-mail consent ticked on a double opt-in page,
	// waiting for the person to confirm it (nil otherwise).
	PendingEmail *people.ConsentInput
}

// Submit applies a submission to page p of a nation: the person is matched
// or created (internal/people rules) with the page's tags and the chosen
// interests and skills as tags and the page language; each ticked consent
// becomes a ledger entry with the wording shown and the IP; then, in one
// transaction, the petition signature (once per person), the topic
// subscriptions, the timeline activity ('signed' or 'form_submitted', ref =
// the page slug) with the page's points (first time only for a petition)
// and the change-log entry for the segment index.
func (f *Forms) Submit(ctx context.Context, nationID int64, p *Page, sub Submission) (Result, error) {
	v := sub.Values
	rec := people.Record{
		FirstName: v["first_name"], LastName: v["last_name"],
		Phone: v["phone"], Mobile: v["mobile"], BirthDate: v["birth_date"], Language: sub.Lang,
		Home: people.Address{Postcode: v["postcode"], City: v["city"], Country: v["country"]},
	}
	if v["email"] != "" {
		rec.Emails = []string{v["email"]}
	}
	rec.Tags = append(append(append(rec.Tags, p.Settings.Tags...), sub.Interests...), sub.Skills...)
	if p.Type != TypePetition && v["comment"] != "" {
		rec.Note = v["comment"]
	}
	src := people.Source{Kind: "form", Ref: p.Slug, IP: sub.IP}
	res, err := f.People.Upsert(ctx, nationID, rec, src, people.UpsertOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("pages: submit: %w", err)
	}
	if res.Outcome == people.Rejected {
		return Result{}, res.Err
	}
	out := Result{PersonID: res.PersonID, Outcome: res.Outcome}
	doubleOptIn := false
	if f.Automation != nil {
		if doubleOptIn, err = f.Automation.DoubleOptIn(ctx, nationID, p.ID); err != nil {
			return out, fmt.Errorf("pages: submit: %w", err)
		}
	}
	for _, c := range sub.Consents {
		if doubleOptIn && c.Channel == "email" && c.Granted {
			out.PendingEmail = &c
			continue
		}
		if _, err := f.People.RecordConsent(ctx, nationID, res.PersonID, c, src); err != nil {
			return out, fmt.Errorf("pages: submit: consent: %w", err)
		}
	}
	now := store.Millis(f.Pages.now())
	err = f.Pages.db.InTx(ctx, func(tx *store.Tx) error {
		act := true
		typ := "form_submitted"
		if p.Type == TypePetition {
			typ = "signed"
			r, err := tx.Exec(ctx, `INSERT INTO signatures (nation_id, page_id, person_id, signed_at, comment, show_publicly, lang, first_name, city)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (nation_id, page_id, person_id) DO NOTHING`,
				nationID, p.ID, res.PersonID, now, v["comment"], store.Bool(sub.ShowPublicly), sub.Lang, v["first_name"], v["city"])
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			out.NewSignature = n == 1
			act = out.NewSignature
		}
		for _, t := range sub.Topics {
			if _, err := tx.Exec(ctx, `INSERT INTO topic_subscriptions (nation_id, topic_id, person_id, status, at, source_kind, source_ref)
				VALUES (?, ?, ?, 'subscribed', ?, 'form', ?)
				ON CONFLICT (nation_id, topic_id, person_id) DO UPDATE SET status = 'subscribed', at = excluded.at,
				source_kind = excluded.source_kind, source_ref = excluded.source_ref
				WHERE topic_subscriptions.status <> 'subscribed'`, nationID, t.ID, res.PersonID, now, p.Slug); err != nil {
				return err
			}
		}
		if act {
			if err := f.People.RecordActionTx(ctx, tx, nationID, res.PersonID, typ, src, "", p.Settings.Points); err != nil {
				return err
			}
		}
		return changes.Record(ctx, tx, nationID, res.PersonID)
	})
	if err != nil {
		return out, fmt.Errorf("pages: submit: %w", err)
	}
	if out.NewSignature {
		f.Pages.bumpCount(nationID, p.ID)
	}
	if f.Automation != nil {
		if err := f.Automation.AfterSubmit(ctx, nationID, p, sub, out); err != nil {
			return out, fmt.Errorf("pages: submit: automatic messages: %w", err)
		}
	}
	return out, nil
}
