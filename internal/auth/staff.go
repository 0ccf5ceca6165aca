package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/web"
)

type switcherPage struct{ Nations []switcherRow }

type switcherRow struct {
	Slug, Name string
	Role       Role
}

// switcher lists the nations the user serves, and only those. Even a single
// nation is shown as a list with a link, so the page never surprises.
func (h *Handlers) switcher(w http.ResponseWriter, r *http.Request, u *User) {
	ctx := r.Context()
	nations, err := h.Nations.ListForUser(ctx, u.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	roles, err := h.Store.RolesOf(ctx, u.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	var rows []switcherRow
	for _, n := range nations {
		rows = append(rows, switcherRow{Slug: n.Slug, Name: n.Name, Role: roles[n.ID]})
	}
	v := h.View(r, u)
	v.Data = switcherPage{Nations: rows}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "switcher", v)
}

type dashboardPage struct{ People, Staff int64 }

func (h *Handlers) dashboard(w http.ResponseWriter, r *http.Request, s *Staff) {
	c, err := h.Nations.CountsOf(r.Context(), s.Nation.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	v := h.nationView(r, s)
	v.Data = dashboardPage{People: c.People, Staff: c.Staff}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "dashboard", v)
}

type staffPage struct {
	Members     []memberRow
	Invitations []Invitation
	InviteLink  string
	InviteEmail field
	Roles       []option
	Notice      string
	Error       string
}

type memberRow struct {
	Member
	Self  bool
	Roles []option
}

// staffView builds the staff page; fe and invite carry the invitation
// form's errors and refill, link the link just created.
func (h *Handlers) staffView(r *http.Request, s *Staff, fe fieldErrors, link, general string) (*web.View, error) {
	ctx := r.Context()
	members, err := h.Store.Members(ctx, s.Nation.ID)
	if err != nil {
		return nil, err
	}
	invs, err := h.Store.PendingInvitations(ctx, s.Nation.ID)
	if err != nil {
		return nil, err
	}
	v := h.nationView(r, s)
	var rows []memberRow
	for _, m := range members {
		rows = append(rows, memberRow{Member: m, Self: m.UserID == s.User.ID, Roles: roleOptions(v, m.Role)})
	}
	inviteRole := Role(r.PostForm.Get("role"))
	if link != "" || inviteRole == "" {
		inviteRole = RoleOrganizer
	}
	email := r.PostForm.Get("email")
	if link != "" {
		email = ""
	}
	notice := ""
	switch r.URL.Query().Get("done") {
	case "role":
		notice = v.T("admin.staff.role_changed")
	case "removed":
		notice = v.T("admin.staff.removed")
	case "revoked":
		notice = v.T("admin.staff.revoked")
	}
	v.Data = staffPage{
		Members: rows, Invitations: invs, InviteLink: link,
		InviteEmail: field{Name: "email", Label: v.T("admin.field.email"), Type: "email", Value: email, Required: true, Error: fe["email"]},
		Roles:       roleOptions(v, inviteRole),
		Notice:      notice,
		Error:       general,
	}
	return v, nil
}

func (h *Handlers) renderStaff(w http.ResponseWriter, r *http.Request, s *Staff, status int, fe fieldErrors, link, general string) {
	v, err := h.staffView(r, s, fe, link, general)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.Renderer.RenderPrivate(w, r, status, "staff", v)
}

func (h *Handlers) staffPage(w http.ResponseWriter, r *http.Request, s *Staff) {
	h.renderStaff(w, r, s, http.StatusOK, nil, "", "")
}

// memberOf resolves the {user} of a staff route to a member of this nation
// only; anyone else is 404 as if the page did not exist.
func (h *Handlers) memberOf(w http.ResponseWriter, r *http.Request, s *Staff) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("user"), 10, 64)
	if err == nil {
		if _, err = h.Store.RoleIn(r.Context(), s.Nation.ID, id); err == nil {
			return id, true
		}
	}
	http.NotFound(w, r)
	return 0, false
}

func (h *Handlers) staffRole(w http.ResponseWriter, r *http.Request, s *Staff) {
	id, ok := h.memberOf(w, r, s)
	if !ok || !web.ParseForm(w, r) {
		return
	}
	v := h.nationView(r, s)
	role, err := ParseRole(r.PostForm.Get("role"))
	if err != nil {
		h.renderStaff(w, r, s, http.StatusUnprocessableEntity, nil, "", v.T("admin.err.role"))
		return
	}
	if err := h.Store.ChangeRole(r.Context(), s.Nation.ID, id, role); err != nil {
		h.staffChangeFailed(w, r, s, err)
		return
	}
	if id == s.User.ID && role != RoleAdmin {
		// The staff page is now closed to the user who demoted themselves.
		http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/staff?done=role", http.StatusSeeOther)
}

func (h *Handlers) staffRemove(w http.ResponseWriter, r *http.Request, s *Staff) {
	id, ok := h.memberOf(w, r, s)
	if !ok {
		return
	}
	if err := h.Store.RemoveMember(r.Context(), s.Nation.ID, id); err != nil {
		h.staffChangeFailed(w, r, s, err)
		return
	}
	if id == s.User.ID {
		http.Redirect(w, r, "/admin/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/staff?done=removed", http.StatusSeeOther)
}

func (h *Handlers) staffChangeFailed(w http.ResponseWriter, r *http.Request, s *Staff, err error) {
	if errors.Is(err, ErrLastAdmin) {
		v := h.nationView(r, s)
		h.renderStaff(w, r, s, http.StatusConflict, nil, "", v.T("admin.staff.last_admin"))
		return
	}
	web.Error(w, r, h.Log, err)
}

// inviteCreate records an invitation and shows its link once, on the page
// itself, for the administrator to send (only its hash is kept).
func (h *Handlers) inviteCreate(w http.ResponseWriter, r *http.Request, s *Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	v := h.nationView(r, s)
	fe := fieldErrors{}
	email, ok := emailField(r.PostForm.Get("email"))
	if !ok {
		fe.add("email", v.T("admin.err.email"))
	}
	role, err := ParseRole(r.PostForm.Get("role"))
	if err != nil {
		fe.add("role", v.T("admin.err.role"))
	}
	if len(fe) > 0 {
		general := v.T("admin.err.form")
		if fe["role"] != "" {
			general = fe["role"]
		}
		h.renderStaff(w, r, s, http.StatusUnprocessableEntity, fe, "", general)
		return
	}
	token, err := h.Store.CreateInvitation(r.Context(), s.Nation.ID, email, role, s.User.ID)
	if err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	h.renderStaff(w, r, s, http.StatusOK, nil, h.baseURL(r)+"/invite/"+token, "")
}

func (h *Handlers) inviteRevoke(w http.ResponseWriter, r *http.Request, s *Staff) {
	if !web.ParseForm(w, r) {
		return
	}
	if err := h.Store.RevokeInvitation(r.Context(), s.Nation.ID, r.PostForm.Get("invitation")); err != nil {
		if errors.Is(err, errs.ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, "/admin/"+s.Nation.Slug+"/staff?done=revoked", http.StatusSeeOther)
}

// baseURL is the public URL for links: the configured one, or else the
// address this request reached.
func (h *Handlers) baseURL(r *http.Request) string {
	if h.BaseURL != "" {
		return strings.TrimRight(h.BaseURL, "/")
	}
	scheme := "http"
	if web.IsTLS(r, h.TrustProxy) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
