// Package privacy serves the rights of the people a nation holds data on
// (GDPR Art. 15–21): the subject-access export (JSON with a published
// schema, and CSV), rectification by the person, withdrawal and objection,
// erasure that stays erased (suppression hashes, purge of stored import
// files and queued jobs, an erasure journal replayed after a restore),
// restriction of processing, and the staff queue of requests with their
// legal deadlines. The public "my data" page reaches a person through a
// single-use link sent by e-mail.
//
// The pieces:
//   - access.go: everything held on a person (Export), as JSON and CSV;
//   - erase.go, files.go, journal.go: erasure and what it must reach;
//   - requests.go: the requests queue and its deadlines;
//   - links.go: the magic links and the short sessions they open;
//   - public.go, admin.go: the HTTP handlers.
package privacy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// Deps are what the service is built from.
type Deps struct {
	DB     *store.DB
	People *people.Store
	// Key is the installation's secret key (config.Mail.SecretKey): it
	// keys the suppression hashes, exactly as internal/broadcast does.
	Key []byte
	// ImportsDir is where control-panel imports keep their files
	// (server.ImportsDir); "" when there is none.
	ImportsDir string
	// JournalPath is the erasure journal file (JournalFile); "" disables it.
	JournalPath string
	Log         *slog.Logger
	// Now is the clock (tests pin it); nil means time.Now.
	Now func() time.Time
}

// Service is the privacy API used by the handlers and the command line.
type Service struct {
	d Deps
}

// NewService returns the service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.People == nil {
		d.People = people.NewStore(d.DB).WithSuppression(d.Key)
	}
	return &Service{d: d}
}

// FindByEmail returns the id of the person of the nation who holds the
// address (any of their e-mails), or a not-found error.
func (s *Service) FindByEmail(ctx context.Context, nationID int64, email string) (int64, error) {
	_, norm, err := people.NormaliseEmail(email)
	if err != nil || norm == "" {
		return 0, errs.NotFound("no person with this address")
	}
	var id int64
	err = s.d.DB.QueryRowWriter(ctx, `SELECT pe.person_id FROM person_emails pe
		JOIN people p ON p.nation_id = pe.nation_id AND p.id = pe.person_id
		WHERE pe.nation_id = ? AND pe.email_norm = ? AND p.merged_into = 0`, nationID, norm).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errs.NotFound("no person with this address")
	}
	if err != nil {
		return 0, fmt.Errorf("privacy: find by e-mail: %w", err)
	}
	return id, nil
}

// Restricted reports whether the person's processing is restricted.
func (s *Service) Restricted(ctx context.Context, nationID, personID int64) (bool, error) {
	var r int
	err := s.d.DB.QueryRowWriter(ctx, `SELECT restricted FROM people WHERE nation_id = ? AND id = ?`, nationID, personID).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return false, errs.NotFound("no such person")
	}
	if err != nil {
		return false, fmt.Errorf("privacy: restricted: %w", err)
	}
	return r != 0, nil
}
