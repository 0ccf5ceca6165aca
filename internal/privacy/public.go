package privacy

import (
	"context"

	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// PublicSite is the public site as these pages need it (internal/site).
type PublicSite interface {
	View(w http.ResponseWriter, r *http.Request, n *nation.Nation, langs []string) *web.View
	Fail(w http.ResponseWriter, r *http.Request, n *nation.Nation, err error)
	ErrorPage(w http.ResponseWriter, v *web.View, status int, title, message string)
}

// cookieName holds the "my data" session; its path is the nation's
// /my-data, so it never travels elsewhere.
const cookieName = "muster_mydata"

// publicData is what the public/mydata_* templates receive.
type publicData struct {
	Sent     bool
	Token    string // the link's token, on the page that opens it
	Export   *Export
	Consents []currentConsent
	Done     string
	Erased   bool
	// CorrectFields are the fields the person may correct (Art. 16).
	CorrectFields []string
}

type currentConsent struct {
	Channel string
	Granted bool
}

// sendRequest is one link to send, handed to the background sender.
type sendRequest struct {
	nationID int64
	slug     string
	email    string
	lang     string
}

// startSend looks the address up and mails a link in the background, so
// that the answer (and its timing) is the same whether or not the nation
// holds the address. At most a few sends run at once; past that, requests
// are dropped (the rate limits make that rare) with a log line that holds
// no personal data.
func (h *Handlers) startSend(req sendRequest) {
	select {
	case h.sendSlots <- struct{}{}:
	default:
		h.Log.Warn("privacy: access link dropped: too many pending sends")
		return
	}
	h.sending.Add(1)
	go func() {
		defer func() { <-h.sendSlots; h.sending.Done() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		token, ok, err := h.Service.IssueLink(ctx, req.nationID, req.email)
		if err != nil {
			h.Log.Error("privacy: issue access link", "err", err)
			return
		}
		if !ok {
			return
		}
		link := h.BaseURL + "/" + req.slug + "/my-data/access?t=" + url.QueryEscape(token)
		T := func(key string) string { return h.Renderer.Bundle().T(req.lang, key) }
		body := T("privacy.mail.body") + "\n\n" + link + "\n\n" + T("privacy.mail.footer") + "\n"
		if err := h.Mailer.Send(ctx, req.email, T("privacy.mail.subject"), body); err != nil {
			h.Log.Error("privacy: send access link", "err", err)
		}
	}()
}

// WaitSends waits for the links being sent (tests, shutdown).
func (h *Handlers) WaitSends() { h.sending.Wait() }

func (h *Handlers) nation(w http.ResponseWriter, r *http.Request) (*nation.Nation, *web.View, bool) {
	n, err := h.Nations.BySlug(r.Context(), r.PathValue("nation"))
	if err != nil {
		h.Site.Fail(w, r, nil, err)
		return nil, nil, false
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	return n, h.Site.View(w, r, n, nil), true
}

func (h *Handlers) render(w http.ResponseWriter, status int, page string, v *web.View, d *publicData) {
	v.Data = d
	h.Renderer.Render(w, status, "public/"+page, v)
}

// start: the form asking for an address; ?sent=1 after a request; ?t=… the
// page of a link, whose button spends it (a GET never does: mail scanners
// open links).
func (h *Handlers) start(w http.ResponseWriter, r *http.Request) {
	_, v, ok := h.nation(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := &publicData{Sent: q.Get("sent") != "", Token: q.Get("t")}
	if d.Token != "" {
		h.render(w, http.StatusOK, "mydata_open", v, d)
		return
	}
	h.render(w, http.StatusOK, "mydata_request", v, d)
}

func (h *Handlers) tooMany(w http.ResponseWriter, v *web.View) {
	w.Header().Set("Retry-After", "60")
	h.Site.ErrorPage(w, v, http.StatusTooManyRequests, v.T("privacy.public.too_many_title"), v.T("privacy.public.too_many_text"))
}

// request takes an address and always answers the same redirect.
func (h *Handlers) request(w http.ResponseWriter, r *http.Request) {
	n, v, ok := h.nation(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Site.Fail(w, r, n, errs.Invalid("bad form"))
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostForm.Get("email")))
	if !h.perIP.Allow(web.ClientIP(r, h.TrustProxy)) || (email != "" && !h.perAddress.Allow(email)) {
		h.tooMany(w, v)
		return
	}
	if r.PostForm.Get("website") == "" && email != "" && len(email) <= 254 {
		h.startSend(sendRequest{nationID: n.ID, slug: n.Slug, email: email, lang: v.Lang})
	}
	http.Redirect(w, r, "/"+n.Slug+"/my-data/access?sent=1&lang="+url.QueryEscape(v.Lang), http.StatusSeeOther)
}

// open spends a link and opens a session.
func (h *Handlers) open(w http.ResponseWriter, r *http.Request) {
	n, v, ok := h.nation(w, r)
	if !ok {
		return
	}
	if !h.perIP.Allow(web.ClientIP(r, h.TrustProxy)) {
		h.tooMany(w, v)
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Site.Fail(w, r, n, errs.Invalid("bad form"))
		return
	}
	session, _, err := h.Service.OpenLink(r.Context(), n.ID, r.PostForm.Get("t"))
	if err != nil {
		h.linkGone(w, r, n, v, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: session, Path: "/" + n.Slug + "/my-data", HttpOnly: true,
		Secure: web.IsTLS(r, h.TrustProxy), SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL.Seconds())})
	http.Redirect(w, r, "/"+n.Slug+"/my-data/view", http.StatusSeeOther)
}

func (h *Handlers) linkGone(w http.ResponseWriter, r *http.Request, n *nation.Nation, v *web.View, err error) {
	if errs.KindOf(err) == errs.KindNotFound {
		h.Site.ErrorPage(w, v, http.StatusGone, v.T("privacy.public.expired_title"), v.T("privacy.public.expired_text"))
		return
	}
	h.Site.Fail(w, r, n, err)
}

// session resolves the request's "my data" session, or answers itself.
func (h *Handlers) session(w http.ResponseWriter, r *http.Request) (*nation.Nation, *web.View, int64, bool) {
	n, v, ok := h.nation(w, r)
	if !ok {
		return nil, nil, 0, false
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		h.linkGone(w, r, n, v, errLink)
		return nil, nil, 0, false
	}
	pid, err := h.Service.Session(r.Context(), n.ID, c.Value)
	if err != nil {
		h.linkGone(w, r, n, v, err)
		return nil, nil, 0, false
	}
	return n, v, pid, true
}

func (h *Handlers) view(w http.ResponseWriter, r *http.Request) {
	n, v, pid, ok := h.session(w, r)
	if !ok {
		return
	}
	exp, err := h.Service.Collect(r.Context(), n.ID, pid)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	d := &publicData{Export: exp, Done: r.URL.Query().Get("done"),
		CorrectFields: []string{"first_name", "last_name", "mobile", "phone", "address", "postcode", "city", "country", "language"}}
	if d.Done != "corrected" && d.Done != "withdrawn" {
		d.Done = ""
	}
	cur, err := h.Service.d.People.CurrentConsents(r.Context(), n.ID, pid)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	for _, c := range exp.Consents {
		if e, ok := cur[c.Channel]; ok && !containsChannel(d.Consents, c.Channel) {
			d.Consents = append(d.Consents, currentConsent{c.Channel, e.Granted()})
		}
	}
	h.render(w, http.StatusOK, "mydata_view", v, d)
}

func containsChannel(cs []currentConsent, ch string) bool {
	for _, c := range cs {
		if c.Channel == ch {
			return true
		}
	}
	return false
}

func (h *Handlers) download(w http.ResponseWriter, r *http.Request) {
	n, _, pid, ok := h.session(w, r)
	if !ok {
		return
	}
	exp, err := h.Service.Collect(r.Context(), n.ID, pid)
	if err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="my-data.csv"`)
		_ = exp.WriteCSV(w)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="my-data.json"`)
	_ = exp.WriteJSON(w)
}

func (h *Handlers) correct(w http.ResponseWriter, r *http.Request) {
	n, v, pid, ok := h.session(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Site.Fail(w, r, n, errs.Invalid("bad form"))
		return
	}
	f := r.PostForm
	c := Correction{FirstName: f.Get("first_name"), LastName: f.Get("last_name"), Mobile: f.Get("mobile"), Phone: f.Get("phone"),
		Line1: f.Get("address"), Postcode: f.Get("postcode"), City: f.Get("city"), Country: f.Get("country"), Language: f.Get("language")}
	if err := h.Service.Correct(r.Context(), n.ID, pid, c); err != nil {
		if errs.KindOf(err) == errs.KindInvalid || errs.KindOf(err) == errs.KindConflict {
			h.Site.ErrorPage(w, v, http.StatusUnprocessableEntity, v.T("privacy.public.correct_failed"), v.T("privacy.public.correct_failed_text"))
			return
		}
		h.Site.Fail(w, r, n, err)
		return
	}
	http.Redirect(w, r, "/"+n.Slug+"/my-data/view?done=corrected", http.StatusSeeOther)
}

func (h *Handlers) withdraw(w http.ResponseWriter, r *http.Request) {
	n, _, pid, ok := h.session(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Site.Fail(w, r, n, errs.Invalid("bad form"))
		return
	}
	if err := h.Service.Withdraw(r.Context(), n.ID, pid, r.PostForm.Get("channel"), web.ClientIP(r, h.TrustProxy)); err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	http.Redirect(w, r, "/"+n.Slug+"/my-data/view?done=withdrawn", http.StatusSeeOther)
}

func (h *Handlers) eraseForm(w http.ResponseWriter, r *http.Request) {
	_, v, _, ok := h.session(w, r)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, "mydata_erase", v, &publicData{})
}

// erase executes the erasure the person confirmed.
func (h *Handlers) erase(w http.ResponseWriter, r *http.Request) {
	n, v, pid, ok := h.session(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Site.Fail(w, r, n, errs.Invalid("bad form"))
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.render(w, http.StatusUnprocessableEntity, "mydata_erase", v, &publicData{})
		return
	}
	if _, err := h.Service.EraseSelf(r.Context(), n.ID, pid); err != nil {
		h.Site.Fail(w, r, n, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/" + n.Slug + "/my-data", MaxAge: -1, HttpOnly: true})
	h.render(w, http.StatusOK, "mydata_erase", v, &publicData{Erased: true})
}

func (h *Handlers) logout(w http.ResponseWriter, r *http.Request) {
	n, _, ok := h.nation(w, r)
	if !ok {
		return
	}
	if c, err := r.Cookie(cookieName); err == nil {
		_ = h.Service.EndSession(r.Context(), n.ID, c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/" + n.Slug + "/my-data", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/"+n.Slug+"/", http.StatusSeeOther)
}
