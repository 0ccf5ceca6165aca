package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/web"
)

// SafeNext returns where to send a user after signing in: next when it is a
// path on this site (one leading "/", no scheme, host or backslash trick),
// else the nation switcher. It stops the sign-in page from being an open
// redirect.
func SafeNext(next string) string {
	const home = "/admin/"
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return home
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return home
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return home
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	return next
}

type loginPage struct {
	Fields []field
	Next   string
	Error  string
}

func (h *Handlers) loginView(r *http.Request, email, next string, errs fieldErrors, general string) *web.View {
	v := h.View(r, nil)
	v.Data = loginPage{
		Fields: []field{
			{Name: "email", Label: v.T("admin.field.email"), Type: "email", Value: email, Autocomplete: "username", Required: true, Error: errs["email"]},
			{Name: "password", Label: v.T("admin.field.password"), Type: "password", Autocomplete: "current-password", Required: true, Error: errs["password"]},
		},
		Next:  SafeNext(next),
		Error: general,
	}
	return v
}

func (h *Handlers) loginForm(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if _, err := h.Guard.CurrentUser(r); err == nil {
		http.Redirect(w, r, SafeNext(next), http.StatusSeeOther)
		return
	}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "login", h.loginView(r, "", next, nil, ""))
}

// loginSubmit checks the throttle first (a refused attempt is not counted,
// so waiting always ends the block), then the password. An unknown e-mail
// costs a hash like a known one and gets the same message.
func (h *Handlers) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !web.ParseForm(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	password := r.PostForm.Get("password")
	next := r.PostForm.Get("next")
	v := h.View(r, nil)

	fe := fieldErrors{}
	if email == "" {
		fe.add("email", v.T("admin.err.required"))
	}
	if password == "" {
		fe.add("password", v.T("admin.err.required"))
	}
	if len(fe) > 0 {
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "login", h.loginView(r, email, next, fe, v.T("admin.err.form")))
		return
	}

	u, err := h.checkCredentials(r, email, password)
	switch {
	case errors.Is(err, errs.ErrTooMany):
		h.Renderer.RenderPrivate(w, r, http.StatusTooManyRequests, "login", h.loginView(r, email, next, nil, v.T("admin.login.throttled", int(ThrottleWindow.Minutes()))))
		return
	case errors.Is(err, errs.ErrUnauthorized):
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "login", h.loginView(r, email, next, nil, v.T("admin.login.failed")))
		return
	case err != nil:
		web.Error(w, r, h.Log, err)
		return
	}
	if err := h.startSession(w, r, u); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, SafeNext(next), http.StatusSeeOther)
}

// checkCredentials verifies an e-mail and password under the throttle. It
// returns errs.ErrTooMany while throttled and errs.ErrUnauthorized for any
// wrong e-mail or password; a success clears the account's failures.
func (h *Handlers) checkCredentials(r *http.Request, email, password string) (*User, error) {
	ctx := r.Context()
	now := time.Now()
	acct, ip := AccountKey(email), IPKey(web.ClientIP(r, h.TrustProxy))
	throttled, err := h.Store.Throttled(ctx, now, acct, ip)
	if err != nil {
		return nil, err
	}
	if throttled {
		return nil, errs.ErrTooMany
	}
	var u *User
	normalised, err := NormaliseEmail(email)
	if err == nil {
		u, err = h.Store.UserByEmail(ctx, normalised)
	}
	ok := false
	switch {
	case err == nil:
		ok = CheckPassword(u.passwordHash, password)
	case errors.Is(err, errs.ErrNotFound), errors.Is(err, errs.ErrInvalid):
		CheckPassword(h.dummy(), password)
	default:
		return nil, err
	}
	if !ok {
		if err := h.Store.RecordFailure(ctx, now, acct, ip); err != nil {
			return nil, err
		}
		return nil, errs.ErrUnauthorized
	}
	if err := h.Store.ClearFailures(ctx, acct); err != nil {
		return nil, err
	}
	return u, nil
}

func (h *Handlers) dummy() string {
	h.dummyOnce.Do(func() {
		token, _ := NewToken()
		h.dummyHash, _ = h.Store.hash(token) // same cost as real hashes, so timing matches
	})
	return h.dummyHash
}

// startSession signs u in on this browser.
func (h *Handlers) startSession(w http.ResponseWriter, r *http.Request, u *User) error {
	token, err := h.Store.CreateSession(r.Context(), u.ID)
	if err != nil {
		return err
	}
	h.Guard.SetSessionCookie(w, token)
	return nil
}

func (h *Handlers) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := h.Store.DeleteSession(r.Context(), c.Value); err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
	}
	h.Guard.ClearSessionCookie(w)
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

type passwordPage struct {
	Fields []field
	Done   bool
	Error  string
}

func (h *Handlers) passwordView(r *http.Request, u *User, fe fieldErrors, general string) *web.View {
	v := h.View(r, u)
	v.Data = passwordPage{
		Fields: []field{
			{Name: "current", Label: v.T("admin.field.current_password"), Type: "password", Autocomplete: "current-password", Required: true, Error: fe["current"]},
			{Name: "password", Label: v.T("admin.field.new_password"), Type: "password", Autocomplete: "new-password", Required: true,
				Hint: v.T("admin.hint.password", MinPasswordLength), Error: fe["password"]},
			{Name: "password2", Label: v.T("admin.field.password_again"), Type: "password", Autocomplete: "new-password", Required: true, Error: fe["password2"]},
		},
		Done:  r.Method == http.MethodGet && r.URL.Query().Get("changed") == "1",
		Error: general,
	}
	return v
}

func (h *Handlers) passwordForm(w http.ResponseWriter, r *http.Request, u *User) {
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "password", h.passwordView(r, u, nil, ""))
}

// passwordSubmit changes the signed-in user's password. Every session of
// the user ends (a thief holding an old cookie is shut out) and this browser
// gets a fresh one. Wrong current passwords count against the throttle, so a
// stolen session cannot be used to guess the password.
func (h *Handlers) passwordSubmit(w http.ResponseWriter, r *http.Request, u *User) {
	if !web.ParseForm(w, r) {
		return
	}
	ctx := r.Context()
	v := h.View(r, u)
	current, pw, pw2 := r.PostForm.Get("current"), r.PostForm.Get("password"), r.PostForm.Get("password2")
	fe := validateNewPassword(v, pw, pw2)
	if current == "" {
		fe.add("current", v.T("admin.err.required"))
	}
	if len(fe) > 0 {
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "password", h.passwordView(r, u, fe, v.T("admin.err.form")))
		return
	}
	if _, err := h.checkCredentials(r, u.Email, current); err != nil {
		switch {
		case errors.Is(err, errs.ErrTooMany):
			h.Renderer.RenderPrivate(w, r, http.StatusTooManyRequests, "password", h.passwordView(r, u, nil, v.T("admin.login.throttled", int(ThrottleWindow.Minutes()))))
		case errors.Is(err, errs.ErrUnauthorized):
			fe.add("current", v.T("admin.err.current_password"))
			h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "password", h.passwordView(r, u, fe, v.T("admin.err.form")))
		default:
			web.Error(w, r, h.Log, err)
		}
		return
	}
	if err := h.changePassword(ctx, u.ID, pw); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	if err := h.startSession(w, r, u); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, "/admin/account/password?changed=1", http.StatusSeeOther)
}

func (h *Handlers) changePassword(ctx context.Context, userID int64, pw string) error {
	if err := h.Store.SetPassword(ctx, userID, pw); err != nil {
		return err
	}
	return h.Store.DeleteUserSessions(ctx, userID)
}

// validateNewPassword checks a new password typed twice, with translated
// messages on the fields "password" and "password2".
func validateNewPassword(v *web.View, pw, pw2 string) fieldErrors {
	fe := fieldErrors{}
	switch {
	case pw == "":
		fe.add("password", v.T("admin.err.required"))
	case ValidatePassword(pw) != nil:
		if len([]rune(pw)) < MinPasswordLength {
			fe.add("password", v.T("admin.err.password_short", MinPasswordLength))
		} else {
			fe.add("password", v.T("admin.err.password_long"))
		}
	case pw != pw2:
		fe.add("password2", v.T("admin.err.password_mismatch"))
	}
	return fe
}
