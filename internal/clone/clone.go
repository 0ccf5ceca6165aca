// Package clone turns one template nation into many: `muster nation clone`
// and the control panel's cloning page make a child nation per row of a CSV
// file (slug, name, candidate, e-mail, optional domain, language and
// constituency) with the template's pages — their texts filled with the
// row's {{candidate_name}}, {{constituency}} and {{nation_name}} —, topics,
// tag names, settings and theme, and invite the named person as its
// administrator. Never people, signatures, consents, taggings or any other
// personal data: only what the template's staff wrote.
//
// The package also holds what a parent sees of its children (Rollup:
// aggregate counts only) and custom domains (Domains, HostRouter: a nation
// bound to host names is served at the root of those hosts).
package clone

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/theme"
)

// Cloner makes child nations from a template.
type Cloner struct {
	DB      *store.DB
	Nations *nation.Store
	Pages   *pages.Store
	Auth    *auth.Store
	// BaseURL is the installation's public URL, for invitation links.
	BaseURL string
	// Changed is told about each nation made (to refresh caches); may be nil.
	Changed func(nationID int64)
}

// Created is a child nation made by a run.
type Created struct {
	Line       int    `json:"line"`
	Slug       string `json:"slug"`
	ID         int64  `json:"id"`
	Email      string `json:"email"`
	Domain     string `json:"domain,omitempty"`
	InviteLink string `json:"invite_link"`
}

// Skipped is a row whose nation already exists.
type Skipped struct {
	Line   int    `json:"line"`
	Slug   string `json:"slug"`
	Reason string `json:"reason"`
}

// Report is what a run did, row by row.
type Report struct {
	Template string     `json:"template"`
	Rows     int        `json:"rows"`
	Created  []Created  `json:"created"`
	Skipped  []Skipped  `json:"skipped"`
	Rejected []RowError `json:"rejected"`
	Seconds  float64    `json:"seconds"`
}

// template is what is copied from the template nation, read once per run.
type template struct {
	nation *nation.Nation
	pages  []*pages.Page
	topics []pages.Topic
	tags   []crypt.Tag // in the clear: sensitive ones are sealed again under the child's key
}

func (c *Cloner) load(ctx context.Context, slug string) (*template, error) {
	n, err := c.Nations.BySlug(ctx, slug)
	if err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			return nil, errs.InvalidField("from", "template nation %q does not exist", slug)
		}
		return nil, err
	}
	t := &template{nation: n}
	if t.pages, err = c.Pages.List(ctx, n.ID, false); err != nil {
		return nil, err
	}
	if t.topics, err = c.Pages.Topics(ctx, n.ID); err != nil {
		return nil, err
	}
	// Tags marked sensitive are stored sealed under the template's key
	// (crypt.MarkTag); a child has its own key, so they are opened here and
	// sealed again for each child.
	k, err := crypt.ReadKeyOf(ctx, c.DB, n.ID)
	if err != nil {
		return nil, fmt.Errorf("clone: template key: %w", err)
	}
	if t.tags, err = crypt.Tags(ctx, c.DB, k, n.ID); err != nil {
		return nil, fmt.Errorf("clone: template tags: %w", err)
	}
	return t, nil
}

// Run makes a child of the template nation fromSlug for each row, in order.
// Rows whose slug is taken are skipped (so a run can be repeated); a row
// that fails (a domain already bound, say) is rejected with its line and
// reason, leaving nothing of it behind, and the rest proceeds. invitedBy is
// the staff member running it (0 from the command line).
func (c *Cloner) Run(ctx context.Context, fromSlug string, rows []Row, invitedBy int64) (*Report, error) {
	start := time.Now()
	tpl, err := c.load(ctx, fromSlug)
	if err != nil {
		return nil, err
	}
	existing, err := c.existingSlugs(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{Template: fromSlug, Rows: len(rows), Created: []Created{}, Skipped: []Skipped{}, Rejected: []RowError{}}
	for _, row := range rows {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if existing[row.Slug] {
			rep.Skipped = append(rep.Skipped, Skipped{Line: row.Line, Slug: row.Slug, Reason: "a nation with this slug already exists"})
			continue
		}
		made, err := c.one(ctx, tpl, row, invitedBy)
		if err != nil {
			if errs.KindOf(err) == errs.KindInternal {
				return rep, fmt.Errorf("clone: line %d: %w", row.Line, err)
			}
			rep.Rejected = append(rep.Rejected, RowError{Line: row.Line, Slug: row.Slug, Reason: errs.Message(err)})
			continue
		}
		existing[row.Slug] = true
		rep.Created = append(rep.Created, *made)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func (c *Cloner) existingSlugs(ctx context.Context) (map[string]bool, error) {
	rows, err := c.DB.Query(ctx, `SELECT slug FROM nations`)
	if err != nil {
		return nil, fmt.Errorf("clone: nations: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("clone: nations: %w", err)
		}
		out[s] = true
	}
	return out, rows.Err()
}

// one makes one child nation with everything copied, in one transaction,
// then its administrator's invitation.
func (c *Cloner) one(ctx context.Context, tpl *template, row Row, invitedBy int64) (*Created, error) {
	parent := tpl.nation
	nn := nation.NewNation{Slug: row.Slug, Name: row.Name, ParentSlug: parent.Slug, DefaultLang: row.Language,
		Languages: parent.Languages, Country: parent.Country, TimeZone: parent.TimeZone}
	if nn.DefaultLang == "" {
		nn.DefaultLang = parent.DefaultLang
	}
	if err := nn.Validate(); err != nil {
		return nil, err
	}
	// Validate normalised a copy; apply the same defaults here.
	langs := nn.Languages
	if !contains(langs, nn.DefaultLang) {
		langs = append([]string{nn.DefaultLang}, langs...)
	}
	id, err := c.DB.NextID(ctx, 0, "nations")
	if err != nil {
		return nil, fmt.Errorf("clone: nation id: %w", err)
	}
	vars := strings.NewReplacer("{{candidate_name}}", row.CandidateName, "{{constituency}}", row.Constituency,
		"{{nation_name}}", row.Name)
	now := store.Millis(time.Now())
	err = c.DB.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO nations
			(id, slug, name, parent_id, default_lang, languages, country, timezone, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, row.Slug, row.Name, parent.ID, nn.DefaultLang, strings.Join(langs, ","), parent.Country, parent.TimeZone, now, now)
		if store.IsUniqueViolation(err) {
			return errs.Conflict("a nation with slug %q already exists", row.Slug)
		}
		if err != nil {
			return fmt.Errorf("insert nation: %w", err)
		}
		if err := copyPages(ctx, tx, id, tpl.pages, parent.DefaultLang, vars, now); err != nil {
			return err
		}
		if err := copyTopics(ctx, tx, id, tpl.topics, now); err != nil {
			return err
		}
		if err := c.copyTags(ctx, tx, id, tpl.tags, now); err != nil {
			return err
		}
		if err := theme.CopyTx(ctx, tx, parent.ID, id); err != nil {
			return err
		}
		if row.Domain != "" {
			if err := addDomainTx(ctx, tx, id, row.Domain); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errs.KindOf(err) != errs.KindInternal {
			return nil, err
		}
		return nil, fmt.Errorf("clone: %s: %w", row.Slug, err)
	}
	token, err := c.Auth.CreateInvitation(ctx, id, row.Email, auth.RoleAdmin, invitedBy)
	if err != nil {
		return nil, fmt.Errorf("clone: %s: invitation: %w", row.Slug, err)
	}
	if c.Changed != nil {
		c.Changed(id)
	}
	return &Created{Line: row.Line, Slug: row.Slug, ID: id, Email: row.Email, Domain: row.Domain,
		InviteLink: strings.TrimRight(c.BaseURL, "/") + "/invite/" + token}, nil
}

// copyPages copies the template's pages with their translations, the
// variables filled in every language. A page written in "the nation's
// default language" is written in the template's, which the child's
// default may not be: it keeps that language explicitly.
func copyPages(ctx context.Context, tx *store.Tx, nationID int64, ps []*pages.Page, templateLang string, vars *strings.Replacer, now int64) error {
	if len(ps) == 0 {
		return nil
	}
	first, err := reserve(ctx, tx, nationID, "pages", len(ps))
	if err != nil {
		return err
	}
	for i, p := range ps {
		s := p.Settings
		s.ThankYou = vars.Replace(s.ThankYou)
		s.AutoResponse.Subject = vars.Replace(s.AutoResponse.Subject)
		s.AutoResponse.Body = vars.Replace(s.AutoResponse.Body)
		s.Consents = nil
		for _, q := range p.Settings.Consents {
			w := map[string]string{}
			for l, text := range q.Wording {
				w[l] = vars.Replace(text)
			}
			s.Consents = append(s.Consents, pages.ConsentQuestion{Channel: q.Channel, Wording: w})
		}
		settings, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("page settings: %w", err)
		}
		var trs []pages.Translation
		for _, t := range p.Translations {
			trs = append(trs, pages.Translation{Lang: t.Lang, Title: vars.Replace(t.Title), Body: vars.Replace(t.Body),
				ThankYou: vars.Replace(t.ThankYou)})
		}
		translations, err := pages.MarshalTranslations(trs)
		if err != nil {
			return fmt.Errorf("page translations: %w", err)
		}
		var published int64
		if p.Published() {
			published = now
		}
		_, err = tx.Exec(ctx, `INSERT INTO pages (nation_id, id, slug, type, title, body, lang, translations, share_image, status,
			target, goal, supports_party, settings, created_at, updated_at, published_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			nationID, first+int64(i), p.Slug, p.Type, vars.Replace(p.Title), vars.Replace(p.Body), p.DefaultLang(templateLang), translations,
			p.ShareImage, p.Status, vars.Replace(p.Target), p.Goal, store.Bool(p.SupportsParty), string(settings), now, now, published)
		if err != nil {
			return fmt.Errorf("copy page %s: %w", p.Slug, err)
		}
	}
	return nil
}

func copyTopics(ctx context.Context, tx *store.Tx, nationID int64, ts []pages.Topic, now int64) error {
	if len(ts) == 0 {
		return nil
	}
	first, err := reserve(ctx, tx, nationID, "topics", len(ts))
	if err != nil {
		return err
	}
	for i, t := range ts {
		names, err := json.Marshal(t.Names)
		if err != nil {
			return fmt.Errorf("topic names: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO topics (nation_id, id, slug, names, created_at) VALUES (?, ?, ?, ?, ?)`,
			nationID, first+int64(i), t.Slug, string(names), now); err != nil {
			return fmt.Errorf("copy topic %s: %w", t.Slug, err)
		}
	}
	return nil
}

// copyTags copies the template's tags, sensitive ones still marked and
// sealed under the child's own key (created here, in the transaction that
// creates the child).
func (c *Cloner) copyTags(ctx context.Context, tx *store.Tx, nationID int64, tags []crypt.Tag, now int64) error {
	if len(tags) == 0 {
		return nil
	}
	var key *crypt.NationKey
	if slices.ContainsFunc(tags, func(t crypt.Tag) bool { return t.Sensitive }) {
		kr, err := crypt.Of(c.DB)
		if err != nil {
			return err
		}
		if key, err = kr.NewNationTx(ctx, tx, nationID); err != nil {
			return err
		}
	}
	first, err := reserve(ctx, tx, nationID, "tags", len(tags))
	if err != nil {
		return err
	}
	for i, t := range tags {
		name, k := t.Name, t.Key
		if t.Sensitive {
			name, k = key.TagColumns(t.Name, t.Key, true)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO tags (nation_id, id, name, key, sensitive, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			nationID, first+int64(i), name, k, store.Bool(t.Sensitive), now); err != nil {
			return fmt.Errorf("copy tag: %w", err)
		}
	}
	return nil
}

// reserve takes n consecutive ids of a nation's sequence inside tx (the
// counter row store.DB.NextID uses, so ids never collide).
func reserve(ctx context.Context, tx *store.Tx, nationID int64, name string, n int) (int64, error) {
	var last int64
	err := tx.QueryRow(ctx, `
		INSERT INTO id_sequences (nation_id, name, last_id) VALUES (?, ?, ?)
		ON CONFLICT (nation_id, name) DO UPDATE SET last_id = id_sequences.last_id + excluded.last_id
		RETURNING last_id`, nationID, name, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("reserve %s ids: %w", name, err)
	}
	return last - int64(n) + 1, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
