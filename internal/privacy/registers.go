package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/store"
)

// The registers GDPR asks a controller to keep or be able to produce: the
// record of processing activities (Art. 30), generated from what the nation
// actually holds and does rather than written once and left to rot, and the
// figures of a breach notification (Art. 33(3)) computed from the audit log.
// Neither holds personal data: counts, codes and configuration only.

// Setup is the installation configuration the record describes.
type Setup struct {
	SMTPURL string // MUSTER_SMTP_URL; only its host is shown
	BaseURL string // the public URL (https means TLS)
	// Encryption describes field-level encryption of opinion data, as the
	// installation has it ("" when not enabled).
	Encryption string
}

// Count is a named figure of the record.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Record is the record of processing activities of one nation.
type Record struct {
	Controller       string    `json:"controller"`
	GeneratedAt      time.Time `json:"generated_at"`
	Purposes         []Count   `json:"purposes"`          // broadcasts and audience exports per stated purpose
	DataCategories   []Count   `json:"data_categories"`   // people holding each kind of datum
	PeopleCategories []Count   `json:"people_categories"` // people in each category
	Recipients       []string  `json:"recipients"`
	Retention        []string  `json:"retention"`
	Security         []string  `json:"security"`
}

// ProcessingRecord builds the nation's Art. 30 record from the live data and
// configuration.
func (s *Service) ProcessingRecord(ctx context.Context, nationID int64, controller string, setup Setup) (*Record, error) {
	rec := &Record{Controller: controller, GeneratedAt: s.d.Now().UTC()}
	one := func(q string, args ...any) (int64, error) {
		var n int64
		if err := s.d.DB.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("privacy: record: %w", err)
		}
		return n, nil
	}

	// Purposes: what messages and audience exports were for.
	purposes := map[string]int64{}
	for _, q := range []string{
		`SELECT purpose, COUNT(*) FROM broadcasts WHERE nation_id = ? GROUP BY purpose`,
		`SELECT purpose, COUNT(*) FROM targeting_register WHERE nation_id = ? GROUP BY purpose`,
	} {
		rows, err := s.d.DB.Query(ctx, q, nationID)
		if err != nil {
			return nil, fmt.Errorf("privacy: record purposes: %w", err)
		}
		for rows.Next() {
			var p string
			var n int64
			if err := rows.Scan(&p, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("privacy: record purposes: %w", err)
			}
			if p = strings.TrimSpace(p); p == "" {
				p = "(purpose not stated)"
			}
			purposes[p] += n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("privacy: record purposes: %w", err)
		}
	}
	for p, n := range purposes {
		rec.Purposes = append(rec.Purposes, Count{p, n})
	}
	sort.Slice(rec.Purposes, func(i, j int) bool { return rec.Purposes[i].Name < rec.Purposes[j].Name })

	// Categories of data: which fields are in use, and by how many people.
	const live = ` FROM people WHERE nation_id = ? AND merged_into = 0`
	fields := []struct{ name, cond string }{
		{"name", `first_name <> '' OR last_name <> ''`},
		{"e-mail address", `email_norm <> ''`},
		{"telephone number", `phone <> '' OR mobile <> '' OR work_phone <> ''`},
		{"postal address", `home_line1 <> '' OR home_city <> '' OR home_postcode <> ''`},
		{"date of birth", `birth_date <> ''`},
		{"gender", `gender <> ''`},
		{"support level (political opinion)", `support_level_enc IS NOT NULL`},
		{"membership", `membership_status <> ''`},
	}
	for _, f := range fields {
		n, err := one(`SELECT COUNT(*)`+live+` AND (`+f.cond+`)`, nationID)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			rec.DataCategories = append(rec.DataCategories, Count{f.name, n})
		}
	}
	side := []struct{ name, q string }{
		{"tags", `SELECT COUNT(DISTINCT person_id) FROM taggings WHERE nation_id = ?`},
		{"sensitive tags (political opinion)", `SELECT COUNT(DISTINCT tg.person_id) FROM taggings tg JOIN tags t ON t.nation_id = tg.nation_id AND t.id = tg.tag_id WHERE tg.nation_id = ? AND t.sensitive = 1`},
		{"custom fields", `SELECT COUNT(DISTINCT person_id) FROM custom_values WHERE nation_id = ?`},
		{"staff notes", `SELECT COUNT(DISTINCT person_id) FROM activities WHERE nation_id = ? AND type = 'note'`},
		{"consent records", `SELECT COUNT(DISTINCT person_id) FROM consents WHERE nation_id = ?`},
		{"activity timeline", `SELECT COUNT(DISTINCT person_id) FROM activities WHERE nation_id = ?`},
		{"messages sent", `SELECT COUNT(*) FROM deliveries WHERE nation_id = ?`},
	}
	for _, f := range side {
		n, err := one(f.q, nationID)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			rec.DataCategories = append(rec.DataCategories, Count{f.name, n})
		}
	}

	// Categories of people. Support levels are stored sealed (internal/crypt):
	// the sealed forms of 1 and 2 are base64 text, safe to write inline.
	key, err := crypt.ReadKeyOf(ctx, s.d.DB, nationID)
	if err != nil {
		return nil, fmt.Errorf("privacy: record: nation key: %w", err)
	}
	cats := []struct{ name, q string }{
		{"all people", `SELECT COUNT(*)` + live},
		{"members", `SELECT COUNT(*)` + live + ` AND membership_status <> ''`},
		{"supporters (support level 1–2)", `SELECT COUNT(*)` + live + ` AND support_level_enc IN ('` + key.SealSupport(1) + `', '` + key.SealSupport(2) + `')`},
		{"petition signers", `SELECT COUNT(DISTINCT person_id) FROM signatures WHERE nation_id = ?`},
		{"topic subscribers", `SELECT COUNT(DISTINCT person_id) FROM topic_subscriptions WHERE nation_id = ? AND status = 'subscribed'`},
		{"people from imported lists", `SELECT COUNT(DISTINCT person_id) FROM activities WHERE nation_id = ? AND source_kind = 'import'`},
		{"people under restriction (Art. 18)", `SELECT COUNT(*)` + live + ` AND restricted = 1`},
		{"staff and volunteers", `SELECT COUNT(*) FROM memberships WHERE nation_id = ?`},
	}
	for _, c := range cats {
		n, err := one(c.q, nationID)
		if err != nil {
			return nil, err
		}
		rec.PeopleCategories = append(rec.PeopleCategories, Count{c.name, n})
	}

	// Recipients and providers.
	if host := smtpHost(setup.SMTPURL); host != "" {
		rec.Recipients = append(rec.Recipients, "e-mail relay (SMTP): "+host)
	} else {
		rec.Recipients = append(rec.Recipients, "no e-mail relay configured")
	}
	rec.Recipients = append(rec.Recipients, "payment provider: none")
	audiences, err := one(`SELECT COUNT(*) FROM targeting_register WHERE nation_id = ? AND format = 'audience'`, nationID)
	if err != nil {
		return nil, err
	}
	if audiences > 0 {
		rec.Recipients = append(rec.Recipients, fmt.Sprintf("advertising platforms: %d audience export(s) by staff (see the targeting register)", audiences))
	}
	rec.Recipients = append(rec.Recipients, "no third-party scripts or tracking on public pages")

	// Retention.
	rules, err := s.Rules(ctx, nationID)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		rec.Retention = append(rec.Retention, r.Describe())
	}
	if len(rules) == 0 {
		rec.Retention = append(rec.Retention, "no retention rule: people are kept until erased on request")
	}

	// Security measures. The nation's data key exists once opinion data
	// has been sealed under it (internal/crypt).
	var keyVersion int64
	err = s.d.DB.QueryRow(ctx, `SELECT version FROM nation_keys WHERE nation_id = ?`, nationID).Scan(&keyVersion)
	switch {
	case setup.Encryption != "":
		rec.Security = append(rec.Security, "field-level encryption: "+setup.Encryption)
	case err == nil:
		rec.Security = append(rec.Security, fmt.Sprintf("field-level encryption of opinion data (support level, sensitive tags, notes): AES-256-GCM under the nation's key (version %d), wrapped by the organisation's master key kept outside the database", keyVersion))
	case errors.Is(err, sql.ErrNoRows):
		rec.Security = append(rec.Security, "field-level encryption of opinion data: no nation key yet (no opinion data sealed)")
	default:
		return nil, fmt.Errorf("privacy: record keys: %w", err)
	}
	if u, err := url.Parse(setup.BaseURL); err == nil && u.Scheme == "https" {
		rec.Security = append(rec.Security, "TLS: the public address is https")
	} else {
		rec.Security = append(rec.Security, "TLS: the public address is not https (terminate TLS in front of Muster)")
	}
	entries, err := one(`SELECT COUNT(*) FROM audit_log WHERE nation_id = ?`, nationID)
	if err != nil {
		return nil, err
	}
	rec.Security = append(rec.Security,
		"staff passwords hashed with argon2id; roles admin, organizer, volunteer",
		fmt.Sprintf("audit log of staff access: %d entries", entries),
		"erasure with suppression hashes (HMAC-SHA256) and an erasure journal replayed after restores",
		"SQLite secure_delete and WAL checkpoint after erasure; PostgreSQL VACUUM")
	return rec, nil
}

// smtpHost returns the host of an SMTP URL (never its credentials).
func smtpHost(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable address)"
	}
	return u.Host
}

// Describe says what the rule does, in English (the record is a document
// for the authority; the admin page translates).
func (r Rule) Describe() string {
	done := "erased"
	if r.Action == ActionAnonymise {
		done = "anonymised (only country and creation year kept)"
	}
	switch r.Kind {
	case RuleProspects:
		return fmt.Sprintf("prospects (no relationship, membership or consent) without activity for %d months are %s", r.Months, done)
	case RuleImport:
		return fmt.Sprintf("people who came only from import #%d and have no other basis are %s after %s", r.ImportID, done, r.ExpiresOn)
	}
	return r.Kind
}

// Markdown renders the record as a Markdown document.
func (r *Record) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Record of processing activities (GDPR Art. 30)\n\n")
	fmt.Fprintf(&b, "- Controller: %s\n- Generated: %s\n\n", r.Controller, r.GeneratedAt.Format(time.RFC3339))
	counts := func(title string, cs []Count, empty string) {
		fmt.Fprintf(&b, "## %s\n\n", title)
		if len(cs) == 0 {
			fmt.Fprintf(&b, "- %s\n", empty)
		}
		for _, c := range cs {
			fmt.Fprintf(&b, "- %s: %d\n", c.Name, c.Count)
		}
		b.WriteString("\n")
	}
	lines := func(title string, ls []string) {
		fmt.Fprintf(&b, "## %s\n\n", title)
		for _, l := range ls {
			fmt.Fprintf(&b, "- %s\n", l)
		}
		b.WriteString("\n")
	}
	counts("Purposes (messages and audience exports)", r.Purposes, "none recorded yet")
	counts("Categories of personal data (people concerned)", r.DataCategories, "none held")
	counts("Categories of data subjects", r.PeopleCategories, "none")
	lines("Recipients and processors", r.Recipients)
	lines("Retention", r.Retention)
	lines("Security measures (Art. 32)", r.Security)
	return b.String()
}

// Breach is a draft of the Art. 33(3) notification of a personal data
// breach. The figures come from the audit log; the text is for staff to
// complete.
type Breach struct {
	ActorID       int64 // 0: the whole nation
	From, To      time.Time
	People        int64 // approximate number of people concerned
	Records       int64 // approximate number of records concerned
	Views         int64 // profiles opened in the window
	Exports       int64 // exports made in the window
	Nature        string
	Categories    string
	Contact       string
	Consequences  string
	Measures      string
	NationPeople  int64
	NationRecords int64
}

// BreachDraft computes the figures of a breach draft: for a staff member
// (actorID) in [from, to), the distinct people whose profiles they opened
// and the exports they made; for the whole nation (actorID 0), everyone held.
func (s *Service) BreachDraft(ctx context.Context, nationID, actorID int64, from, to time.Time) (*Breach, error) {
	b := &Breach{ActorID: actorID, From: from, To: to}
	q := func(dst *int64, sql string, args ...any) error {
		if err := s.d.DB.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
			return fmt.Errorf("privacy: breach draft: %w", err)
		}
		return nil
	}
	if err := q(&b.NationPeople, `SELECT COUNT(*) FROM people WHERE nation_id = ? AND merged_into = 0`, nationID); err != nil {
		return nil, err
	}
	if err := q(&b.NationRecords, `SELECT (SELECT COUNT(*) FROM people WHERE nation_id = ?) + (SELECT COUNT(*) FROM activities WHERE nation_id = ?)
		+ (SELECT COUNT(*) FROM consents WHERE nation_id = ?) + (SELECT COUNT(*) FROM taggings WHERE nation_id = ?)`,
		nationID, nationID, nationID, nationID); err != nil {
		return nil, err
	}
	where := `nation_id = ? AND at >= ? AND at < ?`
	args := []any{nationID, store.Millis(from), store.Millis(to)}
	if actorID != 0 {
		where += ` AND actor_id = ?`
		args = append(args, actorID)
	}
	if err := q(&b.Views, `SELECT COUNT(DISTINCT object_id) FROM audit_log WHERE `+where+` AND object_kind = 'person'`, args...); err != nil {
		return nil, err
	}
	// Export audit lines carry the number of rows as their object id when
	// the action is an export of people; count the lines.
	if err := q(&b.Exports, `SELECT COUNT(*) FROM audit_log WHERE `+where+` AND action LIKE '%export%'`, args...); err != nil {
		return nil, err
	}
	if actorID == 0 {
		b.People, b.Records = b.NationPeople, b.NationRecords
		b.Nature = "Possible unauthorised access to the whole people database of the nation."
	} else {
		b.People, b.Records = b.Views, b.Views
		b.Nature = fmt.Sprintf("Possible misuse of the access of staff member #%d between %s and %s: %d profile(s) opened, %d export(s) made.",
			actorID, from.Format("2006-01-02 15:04"), to.Format("2006-01-02 15:04"), b.Views, b.Exports)
		if b.Exports > 0 {
			b.Nature += " Exports may have reached anyone in the nation's database: consider the whole nation."
		}
	}
	b.Categories = "Identity and contact data (name, e-mail, telephone, address); possibly political opinion (support level, sensitive tags, notes) — special category, Art. 9."
	b.Consequences = "Unsolicited contact, phishing using the organisation's name, disclosure of political opinion."
	b.Measures = "Access of the staff member suspended; passwords reset; audit log reviewed; people concerned to be informed if the risk is high (Art. 34)."
	return b, nil
}

// Text renders the (edited) draft as plain text.
func (b *Breach) Text(nation string) string {
	var w strings.Builder
	fmt.Fprintf(&w, "Personal data breach notification — draft (GDPR Art. 33(3))\nController: %s\n\n", nation)
	for _, f := range []struct{ title, body string }{
		{"(a) Nature of the breach", b.Nature},
		{"(a) Categories of data subjects and of personal data", b.Categories},
		{"(a) Approximate number of data subjects", strconv.FormatInt(b.People, 10)},
		{"(a) Approximate number of personal data records", strconv.FormatInt(b.Records, 10)},
		{"(b) Contact point (data protection officer)", b.Contact},
		{"(c) Likely consequences", b.Consequences},
		{"(d) Measures taken or proposed", b.Measures},
	} {
		fmt.Fprintf(&w, "%s\n%s\n\n", f.title, strings.TrimSpace(f.body))
	}
	return w.String()
}
