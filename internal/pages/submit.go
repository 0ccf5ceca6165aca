package pages

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

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

// Forms applies public form submissions. Concurrent submissions are
// committed together (see committer); a Forms must not be copied.
type Forms struct {
	Pages  *Store
	People *people.Store
	// Automation, if set, sends the page's automatic messages
	// (internal/automail) and may hold e-mail consent for double opt-in.
	Automation Automation

	once sync.Once
	c    *committer
}

func (f *Forms) committer() *committer {
	f.once.Do(func() {
		// SQLite has one writer: one batch at a time. On PostgreSQL a
		// second batch prepares while the first commits; they may lock
		// the same rows in different orders, and a deadlock is retried.
		workers := 1
		if f.Pages.db.Engine == store.Postgres {
			workers = 2
		}
		f.c = &committer{forms: f, workers: workers}
	})
	return f.c
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
// that changes the person's consent becomes a ledger entry with the wording
// shown and the IP; then, in one transaction, the petition signature (once
// per person), the topic subscriptions, the timeline activity ('signed' or
// 'form_submitted', ref = the page slug) with the page's points (first time
// only for a petition) and the change-log entry for the segment index.
//
// Concurrent submissions are written together (group commit, see
// committer); Submit returns once its own is committed.
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
	doubleOptIn := false
	if f.Automation != nil {
		var err error
		if doubleOptIn, err = f.Automation.DoubleOptIn(ctx, nationID, p.ID); err != nil {
			return Result{}, fmt.Errorf("pages: submit: %w", err)
		}
	}
	pd := &pending{ctx: ctx, nationID: nationID, page: p, sub: sub, rec: rec,
		src: people.Source{Kind: "form", Ref: p.Slug, IP: sub.IP}}
	// Ticked consents are written with the person, in the same upsert,
	// with the wording shown and the IP as evidence.
	for _, c := range sub.Consents {
		if doubleOptIn && c.Channel == "email" && c.Granted {
			pd.pendingEmail = &c
			continue
		}
		pd.rec.Consents = append(pd.rec.Consents, c)
	}
	f.committer().submit(pd)
	if pd.err != nil {
		return pd.res, pd.err
	}
	out := pd.res
	if f.Automation != nil {
		if err := f.Automation.AfterSubmit(ctx, nationID, p, sub, out); err != nil {
			return out, fmt.Errorf("pages: submit: automatic messages: %w", err)
		}
	}
	return out, nil
}
