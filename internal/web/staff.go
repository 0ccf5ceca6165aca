package web

import (
	"net/http"
	"strconv"

	"github.com/muster-org/muster/internal/i18n"
)

// AdminView starts a control-panel view: every staff page offers all three
// languages, whatever the nation's public ones are.
func (rd *Renderer) AdminView(r *http.Request, user *ViewUser, nation *ViewNation, role string) *View {
	lang := i18n.Negotiate(r, i18n.Languages, "en")
	v := rd.NewView(r, lang, i18n.Languages)
	v.User, v.Nation, v.Role = user, nation, role
	return v
}

// RenderPrivate renders an admin/ page that may hold personal data: browsers
// and proxies must not cache it, and an explicit language choice is kept.
func (rd *Renderer) RenderPrivate(w http.ResponseWriter, r *http.Request, status int, page string, v *View) {
	i18n.Remember(w, r, v.Lang)
	w.Header().Set("Cache-Control", "no-store")
	rd.Render(w, status, "admin/"+page, v)
}

// PathID parses a positive numeric path value; anything else answers 404,
// as if the page did not exist.
func PathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(w, r)
		return 0, false
	}
	return id, true
}

// ParseForm reads a posted form; a body that cannot be read is the client's
// fault and gets 400 (413 when too large), never 500.
func ParseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		if IsTooLarge(err) {
			status = http.StatusRequestEntityTooLarge
		}
		http.Error(w, http.StatusText(status), status)
		return false
	}
	return true
}
