package peopleweb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/crypt"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// maxNote bounds a note typed by staff.
const maxNote = 5000

// tagAdd tags a person. people.Store has no tag-by-id method (Upsert adds
// tags to whoever a record matches), so this is the small transaction here:
// the tag (created on first use, matched case-insensitively as the store
// does), the tagging, a "tagged" activity and an audit line.
func (h *Handlers) tagAdd(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.tagChange(w, r, s, true)
}

// tagRemove takes a tag off a person, with an "untagged" activity.
func (h *Handlers) tagRemove(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	h.tagChange(w, r, s, false)
}

func (h *Handlers) tagChange(w http.ResponseWriter, r *http.Request, s *auth.Staff, add bool) {
	p, ok := h.loadLive(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	name, key := people.NormaliseTag(r.PostForm.Get("tag"))
	if key == "" {
		v := s.View(h.Renderer, r)
		h.renderProfileErrors(w, r, s, p, fieldErrors{"tag": v.T("people.err.tag")})
		return
	}
	var err error
	done := "tagged"
	if add {
		err = h.tag(r.Context(), s, p.ID, name, key)
	} else {
		done = "untagged"
		err = h.untag(r.Context(), s, p.ID, key)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.profileURL(s, p.ID)+"?done="+done+"#tags", http.StatusSeeOther)
}

// renderProfileErrors shows the profile again with the errors of its tag or
// note form (422); nothing was changed.
func (h *Handlers) renderProfileErrors(w http.ResponseWriter, r *http.Request, s *auth.Staff, p *people.Person, fe fieldErrors) {
	v, err := h.profileView(r, s, p, fe)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "people_profile", v)
}

// A tag marked sensitive is found by the blind index of its name (its row is
// sealed: crypt.MarkTag), and the timeline entry naming it is sealed too.
func (h *Handlers) tag(ctx context.Context, s *auth.Staff, personID int64, name, key string) error {
	n := s.Nation.ID
	now := time.Now().UnixMilli()
	k, err := crypt.NationKeyOf(ctx, h.DB, n) // outside the transaction: it may create the key
	if err != nil {
		return fmt.Errorf("peopleweb: nation key: %w", err)
	}
	return h.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := mustBeLive(ctx, tx, n, personID); err != nil {
			return err
		}
		t, err := crypt.FindTag(ctx, tx, k, n, key)
		tagID := t.ID
		if errors.Is(err, sql.ErrNoRows) {
			if tagID, err = tx.NextID(ctx, n, "tags"); err != nil {
				return fmt.Errorf("peopleweb: tag id: %w", err)
			}
			_, err = tx.Exec(ctx, `INSERT INTO tags (nation_id, id, name, key, created_at) VALUES (?, ?, ?, ?, ?)`, n, tagID, name, key, now)
		}
		if err != nil {
			return fmt.Errorf("peopleweb: tag: %w", err)
		}
		res, err := tx.Exec(ctx, `INSERT INTO taggings (nation_id, person_id, tag_id, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			n, personID, tagID, now)
		if err != nil {
			return fmt.Errorf("peopleweb: tagging: %w", err)
		}
		if added, _ := res.RowsAffected(); added == 0 {
			return nil // had it already: nothing happened, nothing to record
		}
		return touch(ctx, tx, s, personID, "tagged", tagDetails(k, t, name), "person.tag", now)
	})
}

func (h *Handlers) untag(ctx context.Context, s *auth.Staff, personID int64, key string) error {
	n := s.Nation.ID
	now := time.Now().UnixMilli()
	k, err := crypt.NationKeyOf(ctx, h.DB, n)
	if err != nil {
		return fmt.Errorf("peopleweb: nation key: %w", err)
	}
	return h.DB.InTx(ctx, func(tx *store.Tx) error {
		if err := mustBeLive(ctx, tx, n, personID); err != nil {
			return err
		}
		t, err := crypt.FindTag(ctx, tx, k, n, key)
		tagID := t.ID
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("peopleweb: untag: %w", err)
		}
		res, err := tx.Exec(ctx, `DELETE FROM taggings WHERE nation_id = ? AND person_id = ? AND tag_id = ?`, n, personID, tagID)
		if err != nil {
			return fmt.Errorf("peopleweb: untag: %w", err)
		}
		if gone, _ := res.RowsAffected(); gone == 0 {
			return nil
		}
		return touch(ctx, tx, s, personID, "untagged", tagDetails(k, t, t.Name), "person.untag", now)
	})
}

// tagDetails is the timeline entry's details for tag t (typed as name):
// sealed when the tag is sensitive.
func tagDetails(k *crypt.NationKey, t crypt.Tag, name string) string {
	if t.Sensitive {
		return k.SealDetails("tags: " + name)
	}
	return "tags: " + name
}

// touch records a staff member's change to a person: the timeline entry,
// the person's updated and last-activity times, and the audit line.
func touch(ctx context.Context, tx *store.Tx, s *auth.Staff, personID int64, typ, details, action string, now int64) error {
	n := s.Nation.ID
	if err := addActivity(ctx, tx, n, personID, typ, s.User.ID, "", details, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE people SET updated_at = ?, last_activity_at = ? WHERE nation_id = ? AND id = ?`, now, now, n, personID); err != nil {
		return fmt.Errorf("peopleweb: touch person: %w", err)
	}
	return addAudit(ctx, tx, n, s.User.ID, action, personID, now)
}

// noteAdd adds a note to the person's timeline.
func (h *Handlers) noteAdd(w http.ResponseWriter, r *http.Request, s *auth.Staff) {
	p, ok := h.loadLive(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	note := strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get("note"), "\r\n", "\n"))
	v := s.View(h.Renderer, r)
	switch {
	case note == "":
		h.renderProfileErrors(w, r, s, p, fieldErrors{"note": v.T("people.err.note_empty")})
		return
	case utf8.RuneCountInString(note) > maxNote:
		h.renderProfileErrors(w, r, s, p, fieldErrors{"note": v.T("people.err.too_long", maxNote)})
		return
	}
	// Notes are opinion data: stored sealed under the nation's key.
	key, err := crypt.NationKeyOf(r.Context(), h.DB, s.Nation.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := time.Now().UnixMilli()
	err = h.DB.InTx(r.Context(), func(tx *store.Tx) error {
		if err := mustBeLive(r.Context(), tx, s.Nation.ID, p.ID); err != nil {
			return err
		}
		return touch(r.Context(), tx, s, p.ID, "note", key.SealNote(note), "person.note", now)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, h.profileURL(s, p.ID)+"?done=noted#timeline", http.StatusSeeOther)
}
