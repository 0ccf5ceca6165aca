package broadcast

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/muster-org/muster/internal/changes"
	"github.com/muster-org/muster/internal/errs"
	mmail "github.com/muster-org/muster/internal/mail"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/web"
)

// CSRFBypass lists the routes that must accept cross-site POSTs: mail
// clients post RFC 8058 one-click unsubscribes, providers post signed
// webhooks. Neither carries a cookie or changes anything of a session.
var CSRFBypass = []string{"POST /u/{token}", "POST /webhooks/bounces/{nation}"}

// PublicSite is the public site as these pages need it (internal/site).
type PublicSite interface {
	View(w http.ResponseWriter, r *http.Request, n *nation.Nation, langs []string) *web.View
	Fail(w http.ResponseWriter, r *http.Request, n *nation.Nation, err error)
}

// HandlerDeps are what the HTTP handlers need.
type HandlerDeps struct {
	Service  *Service
	Nations  *nation.Store
	Site     PublicSite
	Renderer *web.Renderer
	Log      *slog.Logger
}

// Handlers serves unsubscribe pages and the bounce webhook.
type Handlers struct{ HandlerDeps }

// NewHandlers returns the handlers.
func NewHandlers(d HandlerDeps) *Handlers { return &Handlers{d} }

// Register adds the routes.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /u/{token}", h.preferences)
	mux.HandleFunc("POST /u/{token}", h.unsubscribe)
	mux.HandleFunc("POST /webhooks/bounces/{nation}", h.bounces)
}

// recipient resolves an unsubscribe token to its nation and person; a
// token that was not made with our key, or names a person the nation does
// not hold, is not found.
func (h *Handlers) recipient(r *http.Request) (*nation.Nation, int64, int64, error) {
	nid, pid, bid, err := mmail.VerifyUnsubscribe(h.Service.hashKey(), r.PathValue("token"))
	if err != nil {
		return nil, 0, 0, errs.NotFound("unknown link")
	}
	n, err := h.Nations.ByID(r.Context(), nid)
	if err != nil {
		return nil, 0, 0, errs.NotFound("unknown link")
	}
	if _, err := h.Service.d.People.Get(r.Context(), nid, pid); err != nil {
		return n, 0, 0, errs.NotFound("unknown link")
	}
	return n, pid, bid, nil
}

// topicChoice is one topic on the preferences page.
type topicChoice struct {
	Slug       string
	Name       string
	Subscribed bool
}

// prefsData is what public/unsubscribe receives.
type prefsData struct {
	Token        string
	Topics       []topicChoice
	Done         bool
	Unsubscribed bool // e-mail consent is withdrawn now
}

func (h *Handlers) preferences(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	n, pid, _, err := h.recipient(r)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	v := h.Site.View(w, r, n, nil)
	d := prefsData{Token: r.PathValue("token"), Done: r.URL.Query().Get("done") != ""}
	cur, err := h.Service.d.People.CurrentConsents(r.Context(), n.ID, pid)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	if c, ok := cur["email"]; ok && !c.Granted() {
		d.Unsubscribed = true
	}
	d.Topics, _ = h.topics(r, n.ID, pid, v.Lang) // no topics feature: no choices
	v.Data = d
	h.Renderer.Render(w, http.StatusOK, "public/unsubscribe", v)
}

// topics lists the nation's topics with the person's subscriptions.
func (h *Handlers) topics(r *http.Request, nationID, personID int64, lang string) ([]topicChoice, error) {
	rows, err := h.Service.d.DB.Query(r.Context(), `SELECT t.slug, t.names, COALESCE(ts.status, '') FROM topics t
		LEFT JOIN topic_subscriptions ts ON ts.nation_id = t.nation_id AND ts.topic_id = t.id AND ts.person_id = ?
		WHERE t.nation_id = ? ORDER BY t.slug`, personID, nationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []topicChoice
	for rows.Next() {
		var c topicChoice
		var names, status string
		if err := rows.Scan(&c.Slug, &names, &status); err != nil {
			return nil, err
		}
		m := map[string]string{}
		_ = json.Unmarshal([]byte(names), &m)
		c.Name = m[lang]
		for _, l := range []string{"en", "fr", "nl"} {
			if c.Name == "" {
				c.Name = m[l]
			}
		}
		if c.Name == "" {
			c.Name = c.Slug
		}
		c.Subscribed = status == "subscribed"
		out = append(out, c)
	}
	return out, rows.Err()
}

// unsubscribe takes RFC 8058 one-click POSTs (body
// "List-Unsubscribe=One-Click") and the preferences form: "all" withdraws
// e-mail consent; otherwise the checked "topic" values are kept and the
// others unsubscribed.
func (h *Handlers) unsubscribe(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	n, pid, bid, err := h.recipient(r)
	if err != nil {
		if n == nil {
			http.Error(w, "Unknown link.", http.StatusNotFound)
			return
		}
		http.Error(w, "Unknown link.", web.Status(err))
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "Bad request.", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	oneClick := r.PostForm.Get("List-Unsubscribe") == "One-Click"
	now := h.Service.d.Now()
	if oneClick || r.PostForm.Get("scope") == "all" {
		wording := "Unsubscribe from everything (preferences page)"
		if oneClick {
			wording = "List-Unsubscribe one-click (RFC 8058)"
		}
		if _, err := h.Service.d.People.RecordConsent(ctx, n.ID, pid,
			people.ConsentInput{Channel: "email", Granted: false, Basis: "consent", Wording: wording},
			people.Source{Kind: "unsubscribe", Ref: broadcastRef(bid), At: now}); err != nil {
			h.Log.Error("broadcast: unsubscribe", "err", err)
			http.Error(w, "Please try again.", http.StatusInternalServerError)
			return
		}
	} else {
		keep := map[string]bool{}
		for _, s := range r.PostForm["topic"] {
			keep[s] = true
		}
		if err := h.setTopics(r, n.ID, pid, keep, store.Millis(now)); err != nil {
			h.Log.Error("broadcast: topic preferences", "err", err)
			http.Error(w, "Please try again.", http.StatusInternalServerError)
			return
		}
	}
	if oneClick {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "You are unsubscribed.\n")
		return
	}
	http.Redirect(w, r, "/u/"+r.PathValue("token")+"?done=1", http.StatusSeeOther)
}

func (h *Handlers) setTopics(r *http.Request, nationID, personID int64, keep map[string]bool, at int64) error {
	ctx := r.Context()
	rows, err := h.Service.d.DB.Query(ctx, `SELECT id, slug FROM topics WHERE nation_id = ?`, nationID)
	if err != nil {
		return err
	}
	type topic struct {
		id   int64
		slug string
	}
	var ts []topic
	for rows.Next() {
		var t topic
		if err := rows.Scan(&t.id, &t.slug); err != nil {
			rows.Close()
			return err
		}
		ts = append(ts, t)
	}
	rows.Close()
	return h.Service.d.DB.InTx(ctx, func(tx *store.Tx) error {
		for _, t := range ts {
			status := "unsubscribed"
			if keep[t.slug] {
				status = "subscribed"
			}
			if _, err := tx.Exec(ctx, `INSERT INTO topic_subscriptions (nation_id, topic_id, person_id, status, at, source_kind)
				VALUES (?, ?, ?, ?, ?, 'preferences') ON CONFLICT (nation_id, topic_id, person_id) DO UPDATE SET status = excluded.status, at = excluded.at,
				source_kind = excluded.source_kind`, nationID, t.id, personID, status, at); err != nil {
				return err
			}
		}
		// subscribed: filters read these rows; segment indexes follow the change log.
		return changes.Record(ctx, tx, nationID, personID)
	})
}

// maxWebhook caps a webhook body.
const maxWebhook = 1 << 20

// webhookBody is the documented JSON shape (docs/bounces.md).
type webhookBody struct {
	Events []BounceEvent `json:"events"`
}

func (h *Handlers) bounces(w http.ResponseWriter, r *http.Request) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhook+1))
	if err != nil || len(body) > maxWebhook {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	secret := WebhookSecret(h.Service.hashKey(), n.ID)
	if err := mmail.VerifyWebhook([]byte(secret), body, r.Header.Get(mmail.WebhookHeader), h.Service.d.Now(), 5*time.Minute); err != nil {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var wb webhookBody
	if err := json.Unmarshal(body, &wb); err != nil {
		http.Error(w, "body is not the documented JSON", http.StatusBadRequest)
		return
	}
	applied, ignored := 0, 0
	for _, ev := range wb.Events {
		err := h.Service.ApplyBounce(r.Context(), n.ID, ev)
		switch {
		case err == nil:
			applied++
		case errs.KindOf(err) == errs.KindInvalid:
			ignored++
		default:
			h.Log.Error("broadcast: bounce webhook", "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"applied": applied, "ignored": ignored})
}
