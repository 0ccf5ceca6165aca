package servertest

import (
	"net/url"
	"strings"
)

// Route is one control-panel route inside a nation, as its method and
// path pattern. Besides {nation}, a path or form value may hold {user} (a
// staff member's id) or {invitation} (an invitation's token hash); the
// probe fills them with things of the other nation, so that a route must
// refuse both the nation and anything of it.
type Route struct {
	Method string
	Path   string     // e.g. "/admin/{nation}/staff/{user}/role"
	Form   url.Values // posted for POST routes; nil posts an empty form
}

// NationRoutes lists every /admin/{nation}/… route of the application, for
// the isolation probe (TestNationIsolation) that signs in as an
// administrator of nation A and asks each of them with nation B's slug.
//
// To extend it: whenever a feature registers a route under
// /admin/{nation}/, add a line here in the same change, with a plausible
// Form for POST routes (so that only the wall, not input validation, can
// answer 404). If the route needs another placeholder, make the probe
// create such a thing in nation B and add it to the probe's values.
func NationRoutes() []Route {
	return []Route{
		// auth: dashboard and staff management
		{Method: "GET", Path: "/admin/{nation}/"},
		{Method: "GET", Path: "/admin/{nation}/staff"},
		{Method: "POST", Path: "/admin/{nation}/staff/{user}/role", Form: url.Values{"role": {"volunteer"}}},
		{Method: "POST", Path: "/admin/{nation}/staff/{user}/remove"},
		{Method: "POST", Path: "/admin/{nation}/invitations", Form: url.Values{"email": {"probe@example.org"}, "role": {"admin"}}},
		{Method: "POST", Path: "/admin/{nation}/invitations/revoke", Form: url.Values{"invitation": {"{invitation}"}}},
	}
}

// Fill replaces the placeholders of a route pattern with values.
func Fill(pattern string, values map[string]string) string {
	for k, v := range values {
		pattern = strings.ReplaceAll(pattern, "{"+k+"}", url.PathEscape(v))
	}
	return pattern
}

// FillForm returns a copy of form with placeholders in its values replaced.
func FillForm(form url.Values, values map[string]string) url.Values {
	out := url.Values{}
	for k, vs := range form {
		for _, v := range vs {
			for name, val := range values {
				v = strings.ReplaceAll(v, "{"+name+"}", val)
			}
			out.Add(k, v)
		}
	}
	return out
}
