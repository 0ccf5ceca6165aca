package privacy

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// SchemaURL is where the JSON Schema of Export is published (served from
// web/static; a copy is committed as docs/person-export.schema.json).
const SchemaURL = "/static/person-export.schema.json"

// SchemaVersion is the version of the export format.
const SchemaVersion = 1

// Export is everything a nation holds on one person (Art. 15 and 20), in
// the shape of the published JSON Schema. Every slice is present (empty
// rather than null) so that the schema can require it.
type Export struct {
	Schema        string         `json:"$schema"`
	Version       int            `json:"version"`
	Nation        ExportNation   `json:"nation"`
	GeneratedAt   time.Time      `json:"generated_at"`
	PersonID      int64          `json:"person_id"`
	Restricted    bool           `json:"restricted"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	Fields        []Field        `json:"fields"`
	Emails        []Email        `json:"emails"`
	Phones        []Phone        `json:"phones"`
	Addresses     []Address      `json:"addresses"`
	Tags          []string       `json:"tags"`
	Custom        []Custom       `json:"custom_fields"`
	Consents      []Consent      `json:"consents"`
	Activities    []Activity     `json:"activities"`
	Messages      []Message      `json:"messages"`
	Signatures    []Signature    `json:"signatures"`
	Subscriptions []Subscription `json:"topic_subscriptions"`
	Requests      []RequestEntry `json:"requests"`
}

// ExportNation names who holds the data.
type ExportNation struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// Source says where a datum came from.
type Source struct {
	Kind string    `json:"kind"` // import, form, staff, api, subject, …
	Ref  string    `json:"ref"`  // import file, page, …
	Line int       `json:"line"` // import line
	At   time.Time `json:"at"`
}

// Field is one field of the person with its provenance (nil when no
// recorded touch set it).
type Field struct {
	Name   string  `json:"name"`
	Value  string  `json:"value"`
	Source *Source `json:"source"`
}

// Email is one of the person's addresses.
type Email struct {
	Address string `json:"address"`
	Primary bool   `json:"primary"`
}

// Phone is one of the person's numbers.
type Phone struct {
	Kind   string `json:"kind"`
	Number string `json:"number"`
	E164   string `json:"e164"`
	Valid  bool   `json:"valid"`
}

// Address is a mailing or work address.
type Address struct {
	Kind     string `json:"kind"`
	Line1    string `json:"line1"`
	Line2    string `json:"line2"`
	City     string `json:"city"`
	Postcode string `json:"postcode"`
	Region   string `json:"region"`
	Country  string `json:"country"`
}

// Custom is a custom field value.
type Custom struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Consent is one entry of the consent ledger, with the wording shown.
type Consent struct {
	Channel string `json:"channel"`
	Status  string `json:"status"`
	Basis   string `json:"basis"`
	Wording string `json:"wording"`
	Source  Source `json:"source"`
}

// Activity is one entry of the timeline.
type Activity struct {
	Type    string   `json:"type"`
	Fields  []string `json:"fields"`
	Details string   `json:"details"`
	Source  Source   `json:"source"`
}

// Message is one e-mail sent (or queued) to the person.
type Message struct {
	BroadcastID int64     `json:"broadcast_id"`
	Subject     string    `json:"subject"`
	Address     string    `json:"address"`
	State       string    `json:"state"`
	SentAt      time.Time `json:"sent_at"`
}

// Signature is a petition signature.
type Signature struct {
	Page      string    `json:"page"`
	Title     string    `json:"title"`
	SignedAt  time.Time `json:"signed_at"`
	Comment   string    `json:"comment"`
	FirstName string    `json:"first_name"`
	City      string    `json:"city"`
	Public    bool      `json:"public"`
}

// Subscription is a topic subscription.
type Subscription struct {
	Topic      string    `json:"topic"`
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	SourceKind string    `json:"source_kind"`
	SourceRef  string    `json:"source_ref"`
}

// RequestEntry is a privacy request the person made.
type RequestEntry struct {
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	ReceivedAt  time.Time `json:"received_at"`
	Response    string    `json:"response"`
	RespondedAt time.Time `json:"responded_at"`
}

func source(s people.Source) Source {
	return Source{Kind: s.Kind, Ref: s.Ref, Line: s.Line, At: s.At.UTC()}
}

// Collect gathers everything the nation holds on a person.
func (s *Service) Collect(ctx context.Context, nationID, personID int64) (*Export, error) {
	st := s.d.People
	p, err := st.Get(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	var slug, name string
	if err := s.d.DB.QueryRow(ctx, `SELECT slug, name FROM nations WHERE id = ?`, nationID).Scan(&slug, &name); err != nil {
		return nil, fmt.Errorf("privacy: export: nation: %w", err)
	}
	restricted, err := s.Restricted(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	prov, err := st.Provenance(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	e := &Export{Schema: SchemaURL, Version: SchemaVersion, Nation: ExportNation{slug, name},
		GeneratedAt: s.d.Now().UTC().Truncate(time.Second), PersonID: p.ID, Restricted: restricted,
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
		Fields: []Field{}, Emails: []Email{}, Phones: []Phone{}, Addresses: []Address{}, Tags: []string{},
		Custom: []Custom{}, Consents: []Consent{}, Activities: []Activity{}, Messages: []Message{},
		Signatures: []Signature{}, Subscriptions: []Subscription{}, Requests: []RequestEntry{}}
	support := ""
	if p.SupportLevel != 0 {
		support = strconv.Itoa(p.SupportLevel)
	}
	for _, f := range []struct{ name, value string }{
		{"prefix", p.Prefix}, {"first_name", p.FirstName}, {"middle_name", p.MiddleName}, {"last_name", p.LastName},
		{"email", p.Email}, {"phone", p.Phone.Raw}, {"mobile", p.Mobile.Raw}, {"work_phone", p.WorkPhone.Raw},
		{"birth_date", p.BirthDate}, {"gender", p.Gender}, {"language", p.Language},
		{"home_line1", p.Home.Line1}, {"home_line2", p.Home.Line2}, {"home_city", p.Home.City},
		{"home_postcode", p.Home.Postcode}, {"home_region", p.Home.Region}, {"home_country", p.Home.Country},
		{"support_level", support}, {"relationship", p.Relationship},
		{"membership_status", p.Membership.Status}, {"membership_started", p.Membership.StartedAt}, {"membership_ends", p.Membership.EndsAt},
		{"nationbuilder_id", p.NationBuilderID}, {"civicrm_id", p.CiviCRMID}, {"external_id", p.ExternalID},
		{"points", strconv.FormatInt(p.Points, 10)},
	} {
		if f.value == "" {
			continue
		}
		fd := Field{Name: f.name, Value: f.value}
		if pv, ok := prov[provenanceName(f.name)]; ok {
			src := source(pv.Source)
			src.At = pv.At.UTC()
			fd.Source = &src
		}
		e.Fields = append(e.Fields, fd)
	}
	for _, m := range p.Emails {
		e.Emails = append(e.Emails, Email{m.Address, m.Primary})
	}
	for _, ph := range []struct {
		kind string
		p    people.Phone
	}{{"phone", p.Phone}, {"mobile", p.Mobile}, {"work", p.WorkPhone}} {
		if ph.p.Raw != "" {
			e.Phones = append(e.Phones, Phone{ph.kind, ph.p.Raw, ph.p.E164, !ph.p.Invalid})
		}
	}
	for _, ph := range p.OtherPhones {
		e.Phones = append(e.Phones, Phone{"other", ph.Raw, ph.E164, !ph.Invalid})
	}
	kinds := make([]string, 0, len(p.Addresses))
	for k := range p.Addresses {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		a := p.Addresses[k]
		e.Addresses = append(e.Addresses, Address{k, a.Line1, a.Line2, a.City, a.Postcode, a.Region, a.Country})
	}
	e.Tags = append(e.Tags, p.Tags...)
	names := make([]string, 0, len(p.Custom))
	for k := range p.Custom {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		e.Custom = append(e.Custom, Custom{k, p.Custom[k]})
	}
	hist, err := st.ConsentHistory(ctx, nationID, personID)
	if err != nil {
		return nil, err
	}
	wordings := map[string]string{}
	for _, c := range hist {
		w, ok := wordings[c.WordingHash]
		if !ok && c.WordingHash != "" {
			if w, err = st.ConsentWording(ctx, nationID, c.WordingHash); err != nil {
				w = ""
			}
			wordings[c.WordingHash] = w
		}
		src := source(c.Source)
		src.At = c.At.UTC()
		e.Consents = append(e.Consents, Consent{c.Channel, c.Status, c.Basis, w, src})
	}
	acts, err := st.Timeline(ctx, nationID, personID, 1_000_000)
	if err != nil {
		return nil, err
	}
	for _, a := range acts {
		src := source(a.Source)
		src.At = a.At.UTC()
		f := a.Fields
		if f == nil {
			f = []string{}
		}
		e.Activities = append(e.Activities, Activity{a.Type, f, a.Details, src})
	}
	if err := s.collectRows(ctx, nationID, personID, e); err != nil {
		return nil, err
	}
	return e, nil
}

// provenanceName maps an export field to the name people.Provenance uses.
func provenanceName(f string) string {
	switch {
	case strings.HasPrefix(f, "home_"):
		return "home_address"
	case strings.HasPrefix(f, "membership_"):
		return "membership"
	}
	return f
}

// collectRows reads what other domains keep about the person.
func (s *Service) collectRows(ctx context.Context, nationID, personID int64, e *Export) error {
	db := s.d.DB
	rows, err := db.Query(ctx, `SELECT d.broadcast_id, COALESCE(b.subject, ''), d.email, d.state, d.sent_at
		FROM deliveries d LEFT JOIN broadcasts b ON b.nation_id = d.nation_id AND b.id = d.broadcast_id
		WHERE d.nation_id = ? AND d.person_id = ? ORDER BY d.broadcast_id`, nationID, personID)
	if err != nil {
		return fmt.Errorf("privacy: export: messages: %w", err)
	}
	for rows.Next() {
		var m Message
		var at int64
		if err := rows.Scan(&m.BroadcastID, &m.Subject, &m.Address, &m.State, &at); err != nil {
			rows.Close()
			return fmt.Errorf("privacy: export: messages: %w", err)
		}
		m.SentAt = optTime(at)
		e.Messages = append(e.Messages, m)
	}
	rows.Close()
	rows, err = db.Query(ctx, `SELECT COALESCE(p.slug, ''), COALESCE(p.title, ''), s.signed_at, s.comment, s.first_name, s.city, s.show_publicly
		FROM signatures s LEFT JOIN pages p ON p.nation_id = s.nation_id AND p.id = s.page_id
		WHERE s.nation_id = ? AND s.person_id = ? ORDER BY s.signed_at`, nationID, personID)
	if err != nil {
		return fmt.Errorf("privacy: export: signatures: %w", err)
	}
	for rows.Next() {
		var g Signature
		var at int64
		var pub int
		if err := rows.Scan(&g.Page, &g.Title, &at, &g.Comment, &g.FirstName, &g.City, &pub); err != nil {
			rows.Close()
			return fmt.Errorf("privacy: export: signatures: %w", err)
		}
		g.SignedAt, g.Public = optTime(at), pub != 0
		e.Signatures = append(e.Signatures, g)
	}
	rows.Close()
	rows, err = db.Query(ctx, `SELECT COALESCE(t.slug, ''), ts.status, ts.at, ts.source_kind, ts.source_ref FROM topic_subscriptions ts
		LEFT JOIN topics t ON t.nation_id = ts.nation_id AND t.id = ts.topic_id
		WHERE ts.nation_id = ? AND ts.person_id = ? ORDER BY t.slug`, nationID, personID)
	if err != nil {
		return fmt.Errorf("privacy: export: subscriptions: %w", err)
	}
	for rows.Next() {
		var sub Subscription
		var at int64
		if err := rows.Scan(&sub.Topic, &sub.Status, &at, &sub.SourceKind, &sub.SourceRef); err != nil {
			rows.Close()
			return fmt.Errorf("privacy: export: subscriptions: %w", err)
		}
		sub.At = optTime(at)
		e.Subscriptions = append(e.Subscriptions, sub)
	}
	rows.Close()
	reqs, err := s.listRequests(ctx, nationID, `AND person_id = ?`, personID)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		e.Requests = append(e.Requests, RequestEntry{r.Kind, r.Status, r.ReceivedAt.UTC(), r.Response, r.RespondedAt.UTC()})
	}
	return nil
}

func optTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return store.Time(ms).UTC()
}

// WriteJSON writes the export as indented JSON.
func (e *Export) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(e)
}

// WriteCSV writes the export as one CSV table: section, name, value,
// source, reference and time, one row per datum, so that it opens in any
// spreadsheet.
func (e *Export) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(section, name, value string, src *Source) {
		rec := []string{section, name, value, "", "", ""}
		if src != nil {
			rec[3], rec[4] = src.Kind, src.Ref
			if !src.At.IsZero() {
				rec[5] = src.At.Format(time.RFC3339)
			}
		}
		_ = cw.Write(rec)
	}
	at := func(t time.Time) *Source {
		if t.IsZero() {
			return nil
		}
		return &Source{At: t}
	}
	_ = cw.Write([]string{"section", "name", "value", "source", "reference", "at"})
	for _, f := range e.Fields {
		row("field", f.Name, f.Value, f.Source)
	}
	for _, m := range e.Emails {
		row("email", strconv.FormatBool(m.Primary), m.Address, nil)
	}
	for _, p := range e.Phones {
		row("phone", p.Kind, p.Number, nil)
	}
	for _, a := range e.Addresses {
		row("address", a.Kind, strings.Join([]string{a.Line1, a.Line2, a.Postcode, a.City, a.Region, a.Country}, ", "), nil)
	}
	for _, t := range e.Tags {
		row("tag", "", t, nil)
	}
	for _, c := range e.Custom {
		row("custom_field", c.Name, c.Value, nil)
	}
	for _, c := range e.Consents {
		src := c.Source
		row("consent", c.Channel+" "+c.Status+" ("+c.Basis+")", c.Wording, &src)
	}
	for _, a := range e.Activities {
		src := a.Source
		row("activity", a.Type, strings.TrimSpace(strings.Join(a.Fields, ",")+" "+a.Details), &src)
	}
	for _, m := range e.Messages {
		row("message", m.State, m.Subject+" <"+m.Address+">", at(m.SentAt))
	}
	for _, g := range e.Signatures {
		row("signature", g.Page, strings.TrimSpace(g.Title+" "+g.Comment), at(g.SignedAt))
	}
	for _, sub := range e.Subscriptions {
		row("topic", sub.Topic, sub.Status, &Source{Kind: sub.SourceKind, Ref: sub.SourceRef, At: sub.At})
	}
	for _, r := range e.Requests {
		row("request", r.Kind, r.Status+" "+r.Response, at(r.ReceivedAt))
	}
	cw.Flush()
	return cw.Error()
}
