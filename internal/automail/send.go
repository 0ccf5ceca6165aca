package automail

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/pages"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// Register adds the job handler to a queue.
func (s *Service) Register(q *jobs.Queue) { q.Register(JobKind, s.Handle) }

// Handle is the job handler of JobKind: it sends one automatic message, or
// records why it did not.
func (s *Service) Handle(ctx context.Context, j *jobs.Job) error {
	var a jobArgs
	if err := j.Decode(&a); err != nil {
		return jobs.Permanent(err)
	}
	return s.SendNow(ctx, j.NationID, a.SendID)
}

// SendNow sends automatic message id unless it was already handled.
func (s *Service) SendNow(ctx context.Context, nationID, id int64) error {
	var x Send
	err := s.d.DB.QueryRowWriter(ctx, `SELECT kind, page_id, person_id, step, state FROM automail_sends WHERE nation_id = ? AND id = ?`,
		nationID, id).Scan(&x.Kind, &x.PageID, &x.PersonID, &x.Step, &x.State)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Permanent(errs.NotFound("no such automatic message"))
	}
	if err != nil {
		return fmt.Errorf("automail: load: %w", err)
	}
	x.ID = id
	if x.State != "queued" {
		return nil
	}
	skip := func(reason string) error { return s.finish(ctx, nationID, id, "skipped", reason) }
	page, err := s.d.Pages.ByID(ctx, nationID, x.PageID)
	if errs.KindOf(err) == errs.KindNotFound {
		return skip("page_gone")
	} else if err != nil {
		return err
	}
	person, err := s.d.People.Get(ctx, nationID, x.PersonID)
	if errs.KindOf(err) == errs.KindNotFound || (err == nil && person.MergedInto != 0) {
		return skip("person_gone")
	} else if err != nil {
		return err
	}
	// Restricted processing (GDPR Art. 18): no message of any kind, not
	// even a transactional one.
	var restricted int
	if err := s.d.DB.QueryRowWriter(ctx, `SELECT restricted FROM people WHERE nation_id = ? AND id = ?`,
		nationID, x.PersonID).Scan(&restricted); err != nil {
		return fmt.Errorf("automail: restricted: %w", err)
	}
	if restricted != 0 {
		if x.Kind == KindWelcome {
			return s.stopWelcome(ctx, nationID, x.PageID, x.PersonID, "restricted")
		}
		return skip("restricted")
	}
	if reason, err := s.d.Broadcasts.Sendable(ctx, nationID, person.Email); err != nil {
		return err
	} else if reason != "" {
		if x.Kind == KindWelcome {
			return s.stopWelcome(ctx, nationID, x.PageID, x.PersonID, reason)
		}
		return skip(reason)
	}
	d, err := s.content(ctx, nationID, page, person, x)
	if err != nil {
		return err
	}
	if d == nil {
		return skip("not_configured")
	}
	if x.Kind == KindWelcome {
		// Marketing: the consent basis, checked now, as a broadcast does
		// for each message.
		ok, err := s.d.Broadcasts.HasEmailConsent(ctx, nationID, x.PersonID)
		if err != nil {
			return err
		}
		if !ok {
			return s.stopWelcome(ctx, nationID, x.PageID, x.PersonID, "consent")
		}
	}
	r, err := s.d.Broadcasts.RenderFor(ctx, nationID, broadcast.AutoMessageBase+id, *d, person, "")
	if err != nil {
		if errs.KindOf(err) == errs.KindInvalid {
			return s.finish(ctx, nationID, id, "failed", "render")
		}
		return err
	}
	if err := s.d.Broadcasts.SendRaw(ctx, r.To, r.Raw); err != nil {
		if errs.KindOf(err) == errs.KindInvalid {
			return s.finish(ctx, nationID, id, "failed", "refused")
		}
		return err // temporary: the job retries with backoff
	}
	return s.finish(ctx, nationID, id, "sent", "")
}

func (s *Service) finish(ctx context.Context, nationID, id int64, state, note string) error {
	sent := int64(0)
	if state == "sent" {
		sent = store.Millis(s.d.Now())
	}
	_, err := s.d.DB.Exec(context.WithoutCancel(ctx), `UPDATE automail_sends SET state = ?, note = ?, sent_at = ? WHERE nation_id = ? AND id = ? AND state = 'queued'`,
		state, note, sent, nationID, id)
	if err != nil {
		return fmt.Errorf("automail: record: %w", err)
	}
	return nil
}

// stopWelcome skips this and every later queued message of a person's
// welcome series: once consent is withdrawn (or the address suppressed)
// the series is over, even if consent is given again later.
func (s *Service) stopWelcome(ctx context.Context, nationID, pageID, personID int64, reason string) error {
	_, err := s.d.DB.Exec(ctx, `UPDATE automail_sends SET state = 'skipped', note = ? WHERE nation_id = ? AND kind = 'welcome'
		AND page_id = ? AND person_id = ? AND state = 'queued'`, reason, nationID, pageID, personID)
	if err != nil {
		return fmt.Errorf("automail: stop welcome: %w", err)
	}
	return nil
}

// content is the subject and body of message x for the person (nil: the
// page no longer has it).
func (s *Service) content(ctx context.Context, nationID int64, page *pages.Page, person *people.Person, x Send) (*broadcast.Draft, error) {
	switch x.Kind {
	case KindAutoResponse:
		ar := page.Settings.AutoResponse
		if !ar.Enabled || strings.TrimSpace(ar.Body) == "" {
			return nil, nil
		}
		subj := ar.Subject
		if strings.TrimSpace(subj) == "" {
			subj = page.Title
		}
		return &broadcast.Draft{Subject: subj, Body: ar.Body, Format: "md", Purpose: "auto-response"}, nil
	case KindWelcome:
		st, err := s.Settings(ctx, nationID, page.ID)
		if err != nil {
			return nil, err
		}
		if x.Step >= len(st.Welcome) {
			return nil, nil
		}
		m := st.Welcome[x.Step]
		return &broadcast.Draft{Subject: m.Subject, Body: m.Body, Format: "md", Purpose: "welcome series"}, nil
	case KindConfirm:
		st, err := s.Settings(ctx, nationID, page.ID)
		if err != nil {
			return nil, err
		}
		lang := ""
		_ = s.d.DB.QueryRowWriter(ctx, `SELECT lang FROM optin_tokens WHERE nation_id = ? AND token_hash = ?`,
			nationID, tokenHash(s.token(nationID, x.ID))).Scan(&lang)
		if lang == "" {
			lang = person.Language
		}
		t := func(key string, args ...any) string {
			if s.d.Bundle == nil {
				return key
			}
			return s.d.Bundle.T(lang, key, args...)
		}
		subj, body := st.ConfirmSubject, st.ConfirmBody
		if strings.TrimSpace(subj) == "" {
			subj = t("broadcastweb.confirm.mail_subject", page.Title)
		}
		if strings.TrimSpace(body) == "" {
			body = t("broadcastweb.confirm.mail_body", page.Title)
		}
		link := s.d.BaseURL + "/u/" + s.token(nationID, x.ID) + "/confirm"
		body += "\n\n[" + t("broadcastweb.confirm.mail_button") + "](" + link + ")\n\n" + t("broadcastweb.confirm.mail_expiry") + "\n"
		return &broadcast.Draft{Subject: subj, Body: body, Format: "md", Purpose: "double opt-in confirmation"}, nil
	}
	return nil, nil
}
