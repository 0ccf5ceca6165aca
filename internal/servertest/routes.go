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

		// people (internal/people/peopleweb): {person} is a person, {duplicate}
		// an open proposed pair whose first person is {dup_a}, {merge} a merge
		// that can still be undone.
		{Method: "GET", Path: "/admin/{nation}/people"},
		{Method: "GET", Path: "/admin/{nation}/people/new"},
		{Method: "POST", Path: "/admin/{nation}/people/new", Form: url.Values{"first_name": {"Probe"}, "email": {"probe-person@example.org"}}},
		{Method: "GET", Path: "/admin/{nation}/people/{person}"},
		{Method: "GET", Path: "/admin/{nation}/people/{person}/edit"},
		{Method: "POST", Path: "/admin/{nation}/people/{person}/edit", Form: url.Values{"first_name": {"Probe"}, "email": {"probe-edit@example.org"}}},
		{Method: "POST", Path: "/admin/{nation}/people/{person}/tags", Form: url.Values{"tag": {"probe"}}},
		{Method: "POST", Path: "/admin/{nation}/people/{person}/tags/remove", Form: url.Values{"tag": {"probe-fixture"}}},
		{Method: "POST", Path: "/admin/{nation}/people/{person}/notes", Form: url.Values{"note": {"probe"}}},
		{Method: "GET", Path: "/admin/{nation}/people/duplicates"},
		{Method: "POST", Path: "/admin/{nation}/people/duplicates/detect"},
		{Method: "GET", Path: "/admin/{nation}/people/duplicates/{duplicate}/merge"},
		{Method: "POST", Path: "/admin/{nation}/people/duplicates/{duplicate}/merge", Form: url.Values{"keep": {"{dup_a}"}}},
		{Method: "POST", Path: "/admin/{nation}/people/duplicates/{duplicate}/dismiss"},
		{Method: "POST", Path: "/admin/{nation}/people/merges/{merge}/undo"},
		{Method: "GET", Path: "/admin/{nation}/audit"},

		// segments and the ladder (internal/segment/segmentweb): {segment} is
		// a saved segment, {tagjob} a queued tag job, {person} as above.
		{Method: "GET", Path: "/admin/{nation}/segments"},
		{Method: "GET", Path: "/admin/{nation}/segments/count?q=tag:probe"},
		{Method: "GET", Path: "/admin/{nation}/segments/build?q=&bq=tag&bv=probe"},
		{Method: "POST", Path: "/admin/{nation}/segments/saved", Form: url.Values{"name": {"probe"}, "q": {"tag:probe"}}},
		{Method: "GET", Path: "/admin/{nation}/segments/saved/{segment}"},
		{Method: "POST", Path: "/admin/{nation}/segments/saved/{segment}", Form: url.Values{"name": {"probe"}, "q": {"tag:probe"}}},
		{Method: "POST", Path: "/admin/{nation}/segments/saved/{segment}/delete"},
		{Method: "POST", Path: "/admin/{nation}/segments/export", Form: url.Values{"q": {""}}},
		{Method: "POST", Path: "/admin/{nation}/segments/tag", Form: url.Values{"q": {""}, "tag": {"probe"}, "op": {"add"}}},
		{Method: "GET", Path: "/admin/{nation}/segments/jobs/{tagjob}"},
		{Method: "POST", Path: "/admin/{nation}/segments/audience", Form: url.Values{"q": {""}, "purpose": {"probe"}}},
		{Method: "GET", Path: "/admin/{nation}/segments/register"},
		{Method: "POST", Path: "/admin/{nation}/segments/sensitive", Form: url.Values{"tag": {"probe-fixture"}, "sensitive": {"yes"}}},
		{Method: "GET", Path: "/admin/{nation}/ladder"},
		{Method: "POST", Path: "/admin/{nation}/ladder/points", Form: url.Values{"points_signed": {"9"}}},
		{Method: "POST", Path: "/admin/{nation}/ladder/rungs", Form: url.Values{"key_0": {"a"}, "name_0": {"A"}, "key_1": {"b"}, "name_1": {"B"}}},
		{Method: "POST", Path: "/admin/{nation}/ladder/recompute"},
		{Method: "GET", Path: "/admin/{nation}/ladder/ready"},
		{Method: "GET", Path: "/admin/{nation}/ladder/people/{person}"},
		{Method: "POST", Path: "/admin/{nation}/ladder/people/{person}", Form: url.Values{"rung": {"organizer"}}},

		// pages and topics (internal/pages): {page} is a petition with a
		// signature, {topic} a topic.
		{Method: "GET", Path: "/admin/{nation}/pages"},
		{Method: "GET", Path: "/admin/{nation}/pages/new"},
		{Method: "POST", Path: "/admin/{nation}/pages/new", Form: url.Values{"type": {"basic"}, "slug": {"probe-new"}, "title": {"Probe"}}},
		{Method: "GET", Path: "/admin/{nation}/pages/{page}/edit"},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/edit", Form: url.Values{"type": {"basic"}, "slug": {"probe-edit"}, "title": {"Probe"}}},
		{Method: "GET", Path: "/admin/{nation}/pages/{page}/preview"},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/publish"},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/unpublish"},
		{Method: "GET", Path: "/admin/{nation}/pages/{page}/submissions"},
		{Method: "GET", Path: "/admin/{nation}/pages/{page}/delete"},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/delete", Form: url.Values{"confirm": {"yes"}}},
		{Method: "GET", Path: "/admin/{nation}/pages/{page}/translations/fr"},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/translations/fr", Form: url.Values{"title_fr": {"Sonde"}, "consent_email_fr": {"Oui"}}},
		{Method: "POST", Path: "/admin/{nation}/pages/{page}/translations/fr/delete"},
		{Method: "GET", Path: "/admin/{nation}/topics"},
		{Method: "POST", Path: "/admin/{nation}/topics", Form: url.Values{"slug": {"probe-topic"}, "name_en": {"Probe"}}},
		{Method: "POST", Path: "/admin/{nation}/topics/{topic}/edit", Form: url.Values{"name_en": {"Probe"}}},
		{Method: "POST", Path: "/admin/{nation}/topics/{topic}/delete"},

		// e-mail (internal/broadcast/broadcastweb): {broadcast} is a draft
		// broadcast, {page} the petition above (its automatic messages).
		{Method: "GET", Path: "/admin/{nation}/broadcasts"},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/new"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/new", Form: url.Values{"subject": {"Probe"}, "body": {"Probe"}, "filter": {"tag:probe"}}},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/estimate?filter=tag:probe-fixture"},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/{broadcast}"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}", Form: url.Values{"subject": {"Probe"}, "body": {"Probe"}, "filter": {"tag:probe"}}},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/{broadcast}/preview?person={person}"},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/{broadcast}/preview.html?person={person}"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}/test"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}/send", Form: url.Values{"when": {"now"}}},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}/pause"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}/resume"},
		{Method: "POST", Path: "/admin/{nation}/broadcasts/{broadcast}/cancel"},
		{Method: "GET", Path: "/admin/{nation}/broadcasts/{broadcast}/progress"},
		{Method: "GET", Path: "/admin/{nation}/automail/{page}"},
		{Method: "POST", Path: "/admin/{nation}/automail/{page}", Form: url.Values{"double_opt_in": {"yes"}, "subject_0": {"Probe"}, "body_0": {"Probe"}}},

		// imports (internal/importer/importweb): {import} is an uploaded
		// import with a rejects file.
		{Method: "GET", Path: "/admin/{nation}/people/import"},
		{Method: "POST", Path: "/admin/{nation}/people/import"},
		{Method: "GET", Path: "/admin/{nation}/people/import/{import}/mapping"},
		{Method: "POST", Path: "/admin/{nation}/people/import/{import}/mapping", Form: url.Values{"col_0": {"email"}, "format": {"auto"}}},
		{Method: "GET", Path: "/admin/{nation}/people/import/{import}/status"},
		{Method: "POST", Path: "/admin/{nation}/people/import/{import}/run"},
		{Method: "GET", Path: "/admin/{nation}/people/import/{import}/rejects"},

		// privacy (internal/privacy): the requests queue. The routes of one
		// request (/privacy/requests/{id}/…) are probed with a request of
		// the other nation by internal/privacy's TestAdminIsolation.
		{Method: "GET", Path: "/admin/{nation}/privacy/requests"},
		{Method: "POST", Path: "/admin/{nation}/privacy/requests", Form: url.Values{"kind": {"access"}, "channel": {"post"}, "contact": {"probe-privacy@example.org"}}},
		// retention, registers and volunteers' scopes (internal/privacy,
		// admin_registers.go); a rule of the other nation is probed by
		// internal/privacy's TestRegistersIsolation.
		{Method: "GET", Path: "/admin/{nation}/privacy/retention"},
		{Method: "POST", Path: "/admin/{nation}/privacy/retention", Form: url.Values{"kind": {"prospects"}, "months": {"12"}}},
		{Method: "POST", Path: "/admin/{nation}/privacy/retention/apply"},
		{Method: "GET", Path: "/admin/{nation}/privacy/record"},
		{Method: "GET", Path: "/admin/{nation}/privacy/record.md"},
		{Method: "GET", Path: "/admin/{nation}/privacy/record.json"},
		{Method: "GET", Path: "/admin/{nation}/privacy/breach"},
		{Method: "POST", Path: "/admin/{nation}/privacy/breach.txt", Form: url.Values{"nature": {"probe"}, "people": {"1"}}},
		{Method: "GET", Path: "/admin/{nation}/privacy/volunteers"},
		{Method: "POST", Path: "/admin/{nation}/privacy/volunteers", Form: url.Values{"user": {"{user}"}, "filter": {"tag:probe"}}},

		// cloning, roll-up, custom domains (internal/clone) and theme
		// overrides (internal/theme).
		{Method: "GET", Path: "/admin/{nation}/clone"},
		{Method: "POST", Path: "/admin/{nation}/clone/preview", Form: url.Values{"csv": {"slug,name,candidate_name,email\nprobe-child,Probe,Probe,probe@example.org\n"}}},
		{Method: "POST", Path: "/admin/{nation}/clone/run", Form: url.Values{"csv": {"slug,name,candidate_name,email\nprobe-child,Probe,Probe,probe@example.org\n"}}},
		{Method: "GET", Path: "/admin/{nation}/children"},
		{Method: "GET", Path: "/admin/{nation}/domains"},
		{Method: "POST", Path: "/admin/{nation}/domains", Form: url.Values{"host": {"probe.example.org"}}},
		{Method: "POST", Path: "/admin/{nation}/domains/remove", Form: url.Values{"host": {"probe.example.org"}}},
		{Method: "GET", Path: "/admin/{nation}/theme"},
		{Method: "GET", Path: "/admin/{nation}/theme/edit?file=public/home.html"},
		{Method: "POST", Path: "/admin/{nation}/theme/edit", Form: url.Values{"file": {"theme.css"}, "source": {"body{color:red}"}}},
		{Method: "POST", Path: "/admin/{nation}/theme/publish"},
		{Method: "GET", Path: "/admin/{nation}/theme/preview"},
		{Method: "GET", Path: "/admin/{nation}/theme/preview.css"},
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
