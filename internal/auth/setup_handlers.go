package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
	"github.com/muster-org/muster/internal/i18n"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/web"
)

type setupPage struct {
	Account []field
	Nation  []field
	Langs   []option
	LangErr string
	Error   string
}

func (h *Handlers) setupView(r *http.Request, fe fieldErrors, general string) *web.View {
	v := h.View(r, nil)
	f := r.PostForm
	lang := f.Get("default_lang")
	if lang == "" {
		lang = v.Lang
	}
	var langs []option
	for _, l := range nation.SupportedLanguages {
		langs = append(langs, option{Value: l, Label: i18n.Names[l], Selected: l == lang})
	}
	v.Data = setupPage{
		Account: []field{
			{Name: "email", Label: v.T("admin.field.email"), Type: "email", Value: f.Get("email"), Autocomplete: "username", Required: true, Error: fe["email"]},
			{Name: "name", Label: v.T("admin.field.name"), Type: "text", Value: f.Get("name"), Autocomplete: "name", Required: true, Error: fe["name"]},
			{Name: "password", Label: v.T("admin.field.password"), Type: "password", Autocomplete: "new-password", Required: true,
				Hint: v.T("admin.hint.password", MinPasswordLength), Error: fe["password"]},
			{Name: "password2", Label: v.T("admin.field.password_again"), Type: "password", Autocomplete: "new-password", Required: true, Error: fe["password2"]},
		},
		Nation: []field{
			{Name: "nation_name", Label: v.T("admin.field.nation_name"), Type: "text", Value: f.Get("nation_name"), Required: true, Error: fe["nation_name"]},
			{Name: "nation_slug", Label: v.T("admin.field.nation_slug"), Type: "text", Value: f.Get("nation_slug"), Required: true,
				Hint: v.T("admin.hint.slug"), Error: fe["nation_slug"]},
		},
		Langs:   langs,
		LangErr: fe["default_lang"],
		Error:   general,
	}
	return v
}

func (h *Handlers) setupForm(w http.ResponseWriter, r *http.Request) {
	if err := h.Store.CheckSetupToken(r.Context(), r.PathValue("token")); err != nil {
		h.setupGone(w, r, err)
		return
	}
	h.Renderer.RenderPrivate(w, r, http.StatusOK, "setup", h.setupView(r, nil, ""))
}

func (h *Handlers) setupGone(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, errs.ErrNotFound) {
		web.Error(w, r, h.Log, err)
		return
	}
	h.message(w, r, http.StatusNotFound, nil, "admin.setup.gone_title", "admin.setup.gone")
}

// setupSubmit creates the first administrator and their first nation. All
// input is validated before anything is written; if a write still fails
// (a race, a database error), what was made is undone, so a failure never
// leaves a half-made account or a used-up link.
func (h *Handlers) setupSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := r.PathValue("token")
	if err := h.Store.CheckSetupToken(ctx, token); err != nil {
		h.setupGone(w, r, err)
		return
	}
	if !web.ParseForm(w, r) {
		return
	}
	v := h.View(r, nil)
	f := r.PostForm
	fe := fieldErrors{}
	email, ok := emailField(f.Get("email"))
	if !ok {
		fe.add("email", v.T("admin.err.email"))
	}
	name := strings.TrimSpace(f.Get("name"))
	validateName(v, fe, "name", name)
	for k, msg := range validateNewPassword(v, f.Get("password"), f.Get("password2")) {
		fe.add(k, msg)
	}
	nn := nation.NewNation{
		Slug: strings.TrimSpace(f.Get("nation_slug")), Name: strings.TrimSpace(f.Get("nation_name")),
		DefaultLang: f.Get("default_lang"),
	}
	h.validateNation(ctx, v, fe, nn)
	if len(fe) > 0 {
		h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "setup", h.setupView(r, fe, v.T("admin.err.form")))
		return
	}

	if err := h.Store.ClaimSetupToken(ctx, token); err != nil {
		h.setupGone(w, r, err)
		return
	}
	u, n, err := h.createFirstAdmin(ctx, email, name, f.Get("password"), nn)
	if err != nil {
		if rerr := h.Store.ReleaseSetupToken(ctx, token); rerr != nil {
			h.Log.Error("setup: release token", "err", rerr)
		}
		if k := errs.KindOf(err); k == errs.KindConflict || k == errs.KindInvalid {
			h.Renderer.RenderPrivate(w, r, http.StatusUnprocessableEntity, "setup", h.setupView(r, fe, v.T("admin.err.conflict")))
			return
		}
		web.Error(w, r, h.Log, err)
		return
	}
	if err := h.startSession(w, r, u); err != nil {
		web.Error(w, r, h.Log, err)
		return
	}
	http.Redirect(w, r, "/admin/"+n.Slug+"/", http.StatusSeeOther)
}

// createFirstAdmin writes the account, the nation and the membership,
// undoing the earlier writes when a later one fails.
func (h *Handlers) createFirstAdmin(ctx context.Context, email, name, password string, nn nation.NewNation) (*User, *nation.Nation, error) {
	u, err := h.Store.CreateUser(ctx, email, name, password)
	if err != nil {
		return nil, nil, err
	}
	n, err := h.Nations.Create(ctx, nn)
	if err != nil {
		h.undo("setup: undo user", h.Store.DeleteUser(ctx, u.ID))
		return nil, nil, err
	}
	if err := h.Store.SetMembership(ctx, n.ID, u.ID, RoleAdmin); err != nil {
		h.undo("setup: undo user", h.Store.DeleteUser(ctx, u.ID))
		h.undo("setup: undo nation", h.Nations.DeleteEmpty(ctx, n.ID))
		return nil, nil, err
	}
	return u, n, nil
}

func (h *Handlers) undo(what string, err error) {
	if err != nil {
		h.Log.Error(what, "err", err)
	}
}

// emailField normalises a staff e-mail typed in a form.
func emailField(s string) (string, bool) {
	email, err := NormaliseEmail(s)
	return email, err == nil && len(email) <= 254
}

// validateName requires a name of sensible length.
func validateName(v *web.View, fe fieldErrors, field, name string) {
	switch {
	case name == "":
		fe.add(field, v.T("admin.err.required"))
	case len(name) > 200:
		fe.add(field, v.T("admin.err.too_long", 200))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		fe.add(field, v.T("admin.err.invalid"))
	}
}

// validateNation checks a new nation with translated messages on the set-up
// form's fields, including that its slug is free.
func (h *Handlers) validateNation(ctx context.Context, v *web.View, fe fieldErrors, nn nation.NewNation) {
	validateName(v, fe, "nation_name", nn.Name)
	switch {
	case nn.Slug == "":
		fe.add("nation_slug", v.T("admin.err.required"))
	case slices.Contains(nation.Reserved, nn.Slug):
		fe.add("nation_slug", v.T("admin.err.slug_reserved"))
	case nation.ValidateSlug(nn.Slug) != nil:
		fe.add("nation_slug", v.T("admin.err.slug"))
	default:
		if _, err := h.Nations.BySlug(ctx, nn.Slug); err == nil {
			fe.add("nation_slug", v.T("admin.err.slug_taken"))
		}
	}
	if !slices.Contains(nation.SupportedLanguages, nn.DefaultLang) {
		fe.add("default_lang", v.T("admin.err.language"))
	}
	if len(fe) == 0 {
		if err := nn.Validate(); err != nil {
			field := map[string]string{"slug": "nation_slug", "name": "nation_name", "default_lang": "default_lang"}[errs.FieldOf(err)]
			if field == "" {
				field = "nation_name"
			}
			fe.add(field, v.T("admin.err.invalid"))
		}
	}
}
