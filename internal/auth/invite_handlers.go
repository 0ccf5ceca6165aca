package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

// How an invitation page offers to accept, depending on who opens it.
const (
	inviteSelf     = "self"     // signed in with the invited e-mail: one button
	inviteOther    = "other"    // signed in as someone else: sign out first
	inviteExisting = "existing" // an account with that e-mail exists: its password
	inviteNew      = "new"      // no account yet: name and a new password
)

type invitePage struct {
	Mode       string
	Email      string
	NationName string
	Role       Role
	Fields     []field
	Error      string
}

// inviteState loads the invitation of the link, its nation, the signed-in
// user if any and the page mode.
type inviteState struct {
	inv    *Invitation
	nation *nation.Nation
	user   *User // signed in
	mode   string
}

func (h *Handlers) loadInvite(r *http.Request) (*inviteState, error) {
	ctx := r.Context()
	inv, err := h.Store.InvitationByToken(ctx, r.PathValue("token"))
	if err != nil {
		return nil, err
	}
	n, err := h.Nations.ByID(ctx, inv.NationID)
	if err != nil {
		return nil, err
	}
	st := &inviteState{inv: inv, nation: n}
	if u, err := h.Guard.CurrentUser(r); err == nil {
		st.user = u
		st.mode = inviteOther
		if u.Email == inv.Email {
			st.mode = inviteSelf
		}
		return st, nil
	}
	switch _, err := h.Store.UserByEmail(ctx, inv.Email); {
	case err == nil:
		st.mode = inviteExisting
	case errors.Is(err, errs.ErrNotFound):
		st.mode = inviteNew
	default:
		return nil, err
	}
	return st, nil
}

func (h *Handlers) inviteView(r *http.Request, st *inviteState, fe fieldErrors, general string) *web.View {
	v := h.View(r, st.user)
	p := invitePage{Mode: st.mode, Email: st.inv.Email, NationName: st.nation.Name, Role: st.inv.Role, Error: general}
	switch st.mode {
	case inviteExisting:
		p.Fields = []field{
			{Name: "password", Label: v.T("admin.field.password"), Type: "password", Autocomplete: "current-password", Required: true, Error: fe["password"]},
		}
	case inviteNew:
		p.Fields = []field{
			{Name: "name", Label: v.T("admin.field.name"), Type: "text", Value: r.PostForm.Get("name"), Autocomplete: "name", Required: true, Error: fe["name"]},
			{Name: "password", Label: v.T("admin.field.password"), Type: "password", Autocomplete: "new-password", Required: true,
				Hint: v.T("admin.hint.password", MinPasswordLength), Error: fe["password"]},
			{Name: "password2", Label: v.T("admin.field.password_again"), Type: "password", Autocomplete: "new-password", Required: true, Error: fe["password2"]},
		}
	}
	v.Data = p
	return v
}

func (h *Handlers) inviteGone(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, errs.ErrNotFound) {
		web.Error(w, r, h.Log, err)
		return
	}
	h.message(w, r, http.StatusNotFound, nil, "admin.invite.gone_title", "admin.invite.gone")
}

func (h *Handlers) inviteForm(w http.ResponseWriter, r *http.Request) {
	st, err := h.loadInvite(r)
	if err != nil {
		h.inviteGone(w, r, err)
		return
	}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "invite", h.inviteView(r, st, nil, ""))
}

// inviteSubmit accepts an invitation: as the signed-in user, by signing in
// to the existing account of the invited e-mail, or by creating that
// account. The invitation is claimed only after the input checks out, and
// released again if a later write fails, so it is used exactly once.
func (h *Handlers) inviteSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	if !web.ParseForm(w, r) {
		return
	}
	st, err := h.loadInvite(r)
	if err != nil {
		h.inviteGone(w, r, err)
		return
	}
	v := h.View(r, st.user)
	var u *User
	switch st.mode {
	case inviteOther:
		h.Renderer.RenderPrivate(w, r, http.StatusConflict, "invite", h.inviteView(r, st, nil, ""))
		return
	case inviteSelf:
		u = st.user
	case inviteExisting:
		u, err = h.checkCredentials(r, st.inv.Email, r.PostForm.Get("password"))
		switch {
		case errors.Is(err, errs.ErrTooMany):
			h.Renderer.RenderPrivate(w, r, http.StatusTooManyRequests, "invite", h.inviteView(r, st, nil, v.T("admin.login.throttled", int(ThrottleWindow.Minutes()))))
			return
		case errors.Is(err, errs.ErrUnauthorized):
			fe := fieldErrors{"password": v.T("admin.err.password_wrong")}
			h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "invite", h.inviteView(r, st, fe, v.T("admin.err.form")))
			return
		case err != nil:
			web.Error(w, r, h.Log, err)
			return
		}
	case inviteNew:
		name := strings.TrimSpace(r.PostForm.Get("name"))
		fe := validateNewPassword(v, r.PostForm.Get("password"), r.PostForm.Get("password2"))
		validateName(v, fe, "name", name)
		if len(fe) > 0 {
			h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "invite", h.inviteView(r, st, fe, v.T("admin.err.form")))
			return
		}
		if err := h.Store.ClaimInvitation(ctx, token); err != nil {
			h.inviteGone(w, r, err)
			return
		}
		u, err = h.Store.CreateUser(ctx, st.inv.Email, name, r.PostForm.Get("password"))
		if err != nil {
			h.undo("invite: release", h.Store.ReleaseInvitation(ctx, token))
			if errs.KindOf(err) == errs.KindConflict {
				h.Renderer.RenderPrivate(w, r, http.StatusConflict, "invite", h.inviteView(r, st, nil, v.T("admin.err.conflict")))
				return
			}
			web.Error(w, r, h.Log, err)
			return
		}
		if err := h.Store.AcceptInvitation(ctx, st.inv, u.ID); err != nil {
			h.undo("invite: undo user", h.Store.DeleteUser(ctx, u.ID))
			h.undo("invite: release", h.Store.ReleaseInvitation(ctx, token))
			web.Error(w, r, h.Log, err)
			return
		}
		h.inviteDone(w, r, st, u)
		return
	}

	if err := h.Store.ClaimInvitation(ctx, token); err != nil {
		h.inviteGone(w, r, err)
		return
	}
	if err := h.Store.AcceptInvitation(ctx, st.inv, u.ID); err != nil {
		h.undo("invite: release", h.Store.ReleaseInvitation(ctx, token))
		web.Error(w, r, h.Log, err)
		return
	}
	h.inviteDone(w, r, st, u)
}

// inviteDone signs the new member in (unless they already were) and takes
// them to the nation's dashboard.
func (h *Handlers) inviteDone(w http.ResponseWriter, r *http.Request, st *inviteState, u *User) {
	if st.user == nil {
		if err := h.startSession(w, r, u); err != nil {
			web.Error(w, r, h.Log, err)
			return
		}
	}
	http.Redirect(w, r, "/admin/"+st.nation.Slug+"/", http.StatusSeeOther)
}
