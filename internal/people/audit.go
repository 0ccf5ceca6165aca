package people

import (
	"context"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/store"
)

// AuditEntry is one line of the audit log: who did what to which object,
// never the personal data itself.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorID    int64
	Action     string // e.g. person.view, person.update, person.merge, people.export
	ObjectKind string // e.g. person, export, import
	ObjectID   int64
}

// Audit appends an entry to the nation's audit log. action and objectKind
// are short codes chosen by the caller; they must not hold personal data.
func (s *Store) Audit(ctx context.Context, nationID, actorUserID int64, action, objectKind string, objectID int64) error {
	if action == "" || objectKind == "" || len(action) > 64 || len(objectKind) > 64 {
		return errs.Invalid("audit: action and object kind are short codes")
	}
	id, err := s.db.NextID(ctx, nationID, "audit_log")
	if err != nil {
		return wrap("audit", err)
	}
	_, err = s.db.Exec(ctx, `INSERT INTO audit_log (nation_id, id, at, actor_id, action, object_kind, object_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, nationID, id, s.now().UnixMilli(), actorUserID, action, objectKind, objectID)
	return wrap("audit", err)
}

// AuditByActor lists what a staff member did in [from, to), newest first.
func (s *Store) AuditByActor(ctx context.Context, nationID, actorUserID int64, from, to time.Time, limit int) ([]AuditEntry, error) {
	return s.auditQuery(ctx, `WHERE nation_id = ? AND actor_id = ? AND at >= ? AND at < ?`,
		[]any{nationID, actorUserID, store.Millis(from), store.Millis(to)}, limit)
}

// AuditByTime lists every entry of the nation in [from, to), newest first.
func (s *Store) AuditByTime(ctx context.Context, nationID int64, from, to time.Time, limit int) ([]AuditEntry, error) {
	return s.auditQuery(ctx, `WHERE nation_id = ? AND at >= ? AND at < ?`,
		[]any{nationID, store.Millis(from), store.Millis(to)}, limit)
}

// AuditByObject lists what was done to one object (e.g. kind "person" and
// a person id), newest first.
func (s *Store) AuditByObject(ctx context.Context, nationID int64, objectKind string, objectID int64, limit int) ([]AuditEntry, error) {
	return s.auditQuery(ctx, `WHERE nation_id = ? AND object_kind = ? AND object_id = ?`,
		[]any{nationID, objectKind, objectID}, limit)
}

func (s *Store) auditQuery(ctx context.Context, where string, args []any, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.db.Query(ctx, `SELECT id, at, actor_id, action, object_kind, object_id FROM audit_log `+where+
		` ORDER BY at DESC, id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, wrap("audit query", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorID, &e.Action, &e.ObjectKind, &e.ObjectID); err != nil {
			return nil, wrap("audit query", err)
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	return out, wrap("audit query", rows.Err())
}
