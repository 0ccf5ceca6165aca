package peopleweb_test

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// env is one nation with an administrator signed in.
type env struct {
	s      *servertest.Server
	n      *nation.Nation
	admin  *auth.User
	c      *servertest.Client
	people *people.Store
	base   string
}

func setup(t *testing.T, s *servertest.Server, slug string) *env {
	t.Helper()
	n := s.CreateNation(slug)
	admin := s.CreateUser("admin-"+slug+"@example.org", n, auth.RoleAdmin)
	c := s.Client()
	c.Lang = "en"
	c.Login(admin.Email, servertest.Password)
	return &env{s: s, n: n, admin: admin, c: c, people: people.NewStore(s.DB), base: "/admin/" + slug + "/people"}
}

// add creates a person through the store and returns the id.
func (e *env) add(t *testing.T, rec people.Record, src people.Source) int64 {
	t.Helper()
	if src.Kind == "" {
		src = people.Source{Kind: "import", Ref: "seed.csv", Line: 2}
	}
	res, err := e.people.Upsert(context.Background(), e.n.ID, rec, src, people.UpsertOptions{})
	if err != nil || res.Outcome != people.Created {
		t.Fatalf("seed person: %+v %v", res, err)
	}
	return res.PersonID
}

func (e *env) get(t *testing.T, id int64) *people.Person {
	t.Helper()
	p, err := e.people.Get(context.Background(), e.n.ID, id)
	if err != nil {
		t.Fatalf("get person %d: %v", id, err)
	}
	return p
}

func want(t *testing.T, res *servertest.Response, status int, what string) {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: status %d, want %d\n%s", what, res.Status, status, res.Body)
	}
}

var rowLink = regexp.MustCompile(`<td><a href="/admin/[a-z-]+/people/(\d+)"><bdi>`)

// rowIDs returns the person ids of the list's rows, in order.
func rowIDs(body string) []string {
	var out []string
	for _, m := range rowLink.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestListSearchSortAndPages(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "list")
		res := e.c.Get(e.base)
		want(t, res, 200, "empty list")
		if !res.Has("No one is in this nation yet") {
			t.Errorf("empty list has no empty state:\n%s", res.Body)
		}

		var ids []int64
		for i := range 55 {
			ids = append(ids, e.add(t, people.Record{FirstName: fmt.Sprintf("Zed%02d", i), LastName: fmt.Sprintf("Member%02d", i),
				Emails: []string{fmt.Sprintf("m%02d@example.org", i)}}, people.Source{}))
		}
		ann := e.add(t, people.Record{FirstName: "Ann", LastName: "Aalders", Emails: []string{"ann@example.org"}, Mobile: "+32 470 12 34 56"}, people.Source{})

		res = e.c.Get(e.base)
		want(t, res, 200, "list")
		rows := rowIDs(res.Body)
		if len(rows) != 50 {
			t.Fatalf("page 1 has %d rows, want 50", len(rows))
		}
		if rows[0] != fmt.Sprint(ann) {
			t.Errorf("by name, Aalders should come first, got id %s", rows[0])
		}
		if !res.Has(`rel="next"`) || res.Has(`rel="prev"`) {
			t.Errorf("page 1 should link to next only")
		}
		res = e.c.Get(e.base + "?page=2")
		if rows := rowIDs(res.Body); len(rows) != 6 || !res.Has(`rel="prev"`) || res.Has(`rel="next"`) {
			t.Errorf("page 2: %d rows, want 6, with a previous link only", len(rows))
		}

		res = e.c.Get(e.base + "?sort=created")
		if rows := rowIDs(res.Body); len(rows) == 0 || rows[0] != fmt.Sprint(ann) || rows[1] != fmt.Sprint(ids[54]) {
			t.Errorf("newest first: got %v…", rows[:min(3, len(rows))])
		}

		for q, wantIDs := range map[string][]int64{
			"ann":           {ann},
			"ANN@EXAMPLE":   {ann},
			"0470123456":    {ann},
			"zed07":         {ids[7]},
			"zed07 member0": {ids[7]},
			"nobody":        nil,
		} {
			res := e.c.Get(e.base + "?q=" + url.QueryEscape(q))
			want(t, res, 200, "search "+q)
			var wantStr []string
			for _, id := range wantIDs {
				wantStr = append(wantStr, fmt.Sprint(id))
			}
			if got := rowIDs(res.Body); !slices.Equal(got, wantStr) {
				t.Errorf("search %q: got %v, want %v", q, got, wantStr)
			}
			// The list agrees with the store's own search.
			found, err := e.people.Search(context.Background(), e.n.ID, q, people.Page{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			var storeIDs []string
			for _, p := range found {
				storeIDs = append(storeIDs, fmt.Sprint(p.ID))
			}
			if !slices.Equal(storeIDs, wantStr) {
				t.Errorf("store search %q: %v, list shows %v", q, storeIDs, wantStr)
			}
		}
		if res := e.c.Get(e.base + "?q=nobody"); !res.Has("No one matches") {
			t.Errorf("no-match state missing")
		}
	})
}

func TestProfileShowsConsentsTimelineAndIsAudited(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "prof")
		ctx := context.Background()
		id := e.add(t, people.Record{FirstName: "Marie", LastName: "Dubois", Emails: []string{"marie@example.org"}, Tags: []string{"pensions"},
			Consents: []people.ConsentInput{{Channel: "email", Granted: true, Basis: "consent", Wording: "Yes, send me the newsletter"}}},
			people.Source{Kind: "import", Ref: "members.csv", Line: 7})
		if _, err := e.people.RecordConsent(ctx, e.n.ID, id, people.ConsentInput{Channel: "sms", Granted: false, Basis: "consent"},
			people.Source{Kind: "form", Ref: "petition"}); err != nil {
			t.Fatal(err)
		}
		res := e.c.Get(fmt.Sprintf("%s/%d", e.base, id))
		want(t, res, 200, "profile")
		for _, s := range []string{"Marie Dubois", "marie@example.org", "pensions", "Yes, send me the newsletter",
			"Granted", "Withdrawn", "Import members.csv, line 7", "Form petition", "Imported", "First name"} {
			if !res.Has(s) {
				t.Errorf("profile lacks %q", s)
			}
		}
		log, err := e.people.AuditByObject(ctx, e.n.ID, "person", id, 10)
		if err != nil || len(log) != 1 || log[0].Action != "person.view" || log[0].ActorID != e.admin.ID {
			t.Fatalf("audit after a view = %+v %v, want one person.view by the admin", log, err)
		}
		if res := e.c.Get(e.base + "/999999"); res.Status != 404 {
			t.Errorf("unknown person: %d", res.Status)
		}
		if res := e.c.Get(e.base + "/abc"); res.Status != 404 {
			t.Errorf("bad id: %d", res.Status)
		}
	})
}

func editForm(p *people.Person) url.Values {
	return url.Values{"first_name": {p.FirstName}, "last_name": {p.LastName}, "email": {p.Email},
		"mobile": {p.Mobile.Raw}, "home_postcode": {p.Home.Postcode}, "home_city": {p.Home.City}, "language": {p.Language}}
}

func TestEdit(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "edit")
		ctx := context.Background()
		id := e.add(t, people.Record{FirstName: "Jan", LastName: "Peeters", Emails: []string{"jan@example.org"}, Home: people.Address{Postcode: "9000", City: "Gent"}}, people.Source{})
		other := e.add(t, people.Record{FirstName: "Els", Emails: []string{"els@example.org"}}, people.Source{})
		before := e.get(t, id)
		path := fmt.Sprintf("%s/%d/edit", e.base, id)

		res := e.c.Get(path)
		want(t, res, 200, "edit form")
		if !res.Has(`value="jan@example.org"`) {
			t.Errorf("edit form not filled")
		}

		// Invalid: message next to the field, 422, nothing changed.
		f := editForm(before)
		f.Set("first_name", "Johannes")
		f.Set("email", "not-an-email")
		f.Set("birth_date", "31/02/1980")
		res = e.c.PostForm(path, f)
		want(t, res, 422, "invalid edit")
		if !regexp.MustCompile(`id="f-email-error">Enter a valid e-mail address`).MatchString(res.Body) ||
			!res.Has(`id="f-birth_date-error"`) || !res.Has(`value="Johannes"`) {
			t.Errorf("errors not next to their fields, or form not refilled:\n%s", res.Body)
		}
		if after := e.get(t, id); after.FirstName != "Jan" || after.Email != "jan@example.org" || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("an invalid edit changed the person: %+v", after)
		}

		// Another person's e-mail is refused.
		f = editForm(before)
		f.Set("email", "ELS@example.org")
		res = e.c.PostForm(path, f)
		want(t, res, 422, "taken e-mail")
		if !res.Has("already belongs to another person") || !res.Has(fmt.Sprintf("/people/%d", other)) {
			t.Errorf("taken e-mail not explained")
		}

		// Valid.
		f = editForm(before)
		f.Set("first_name", "Johannes")
		f.Set("email", "johannes@example.org")
		f.Set("other_emails", "jan@example.org\njp@example.org")
		f.Set("mobile", "+32 470 11 22 33")
		f.Set("birth_date", "23/04/1980")
		f.Set("gender", "m")
		f.Set("support_level", "2")
		f.Set("relationship", "member")
		f.Set("home_country", "be")
		res = e.c.PostForm(path, f)
		want(t, res, 303, "valid edit")
		p := e.get(t, id)
		if p.FirstName != "Johannes" || p.Email != "johannes@example.org" || len(p.Emails) != 3 || p.Mobile.E164 != "+32470112233" ||
			p.BirthDate != "1980-04-23" || p.Gender != "m" || p.SupportLevel != 2 || p.Relationship != "member" || p.Home.Country != "BE" {
			t.Errorf("after edit: %+v", p)
		}
		// The new address matches; the old one still does.
		for _, q := range []string{"johannes@example.org", "jan@example.org"} {
			if r, err := e.people.Upsert(ctx, e.n.ID, people.Record{Emails: []string{q}}, people.Source{Kind: "api"}, people.UpsertOptions{DryRun: true}); err != nil || r.PersonID != id {
				t.Errorf("%s no longer matches the person: %+v %v", q, r, err)
			}
		}
		acts, _ := e.people.Timeline(ctx, e.n.ID, id, 5)
		if len(acts) == 0 || acts[0].Type != "updated" || acts[0].Source.Kind != "staff" || acts[0].Source.UserID != e.admin.ID ||
			!slices.Contains(acts[0].Fields, "first_name") || !slices.Contains(acts[0].Fields, "mobile") || slices.Contains(acts[0].Fields, "last_name") {
			t.Errorf("timeline after edit: %+v", acts)
		}
		prov, _ := e.people.Provenance(ctx, e.n.ID, id)
		if prov["first_name"].Source.Kind != "staff" || prov["last_name"].Source.Kind != "import" {
			t.Errorf("provenance after edit: %+v", prov)
		}
		log, _ := e.people.AuditByObject(ctx, e.n.ID, "person", id, 10)
		if len(log) == 0 || log[0].Action != "person.update" {
			t.Errorf("audit after edit: %+v", log)
		}
		// Posting the same again changes nothing.
		res = e.c.PostForm(path, f)
		if res.Status != 303 || !strings.Contains(res.Location, "done=unchanged") {
			t.Errorf("unchanged edit: %d %s", res.Status, res.Location)
		}
		if acts2, _ := e.people.Timeline(ctx, e.n.ID, id, 5); len(acts2) != len(acts) {
			t.Errorf("an unchanged edit added an activity")
		}
	})
}

func TestTagsAndNotes(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "tags")
		ctx := context.Background()
		id := e.add(t, people.Record{FirstName: "Tom", Emails: []string{"tom@example.org"}}, people.Source{})
		p := fmt.Sprintf("%s/%d", e.base, id)

		want(t, e.c.PostForm(p+"/tags", url.Values{"tag": {"  Climate   strike "}}), 303, "tag")
		want(t, e.c.PostForm(p+"/tags", url.Values{"tag": {"climate STRIKE"}}), 303, "same tag again")
		if got := e.get(t, id).Tags; !slices.Equal(got, []string{"Climate strike"}) {
			t.Errorf("tags = %q", got)
		}
		acts, _ := e.people.Timeline(ctx, e.n.ID, id, 10)
		if len(acts) != 2 || acts[0].Type != "tagged" || acts[0].Details != "tags: Climate strike" {
			t.Errorf("timeline after tagging twice: %+v", acts)
		}
		res := e.c.PostForm(p+"/tags", url.Values{"tag": {"   "}})
		want(t, res, 422, "empty tag")
		if !res.Has(`id="f-tag-error"`) {
			t.Errorf("empty tag error not next to the field")
		}
		want(t, e.c.PostForm(p+"/tags/remove", url.Values{"tag": {"CLIMATE strike"}}), 303, "untag")
		if got := e.get(t, id).Tags; len(got) != 0 {
			t.Errorf("tags after removal = %q", got)
		}

		want(t, e.c.PostForm(p+"/notes", url.Values{"note": {"Called back, wants to canvass."}}), 303, "note")
		acts, _ = e.people.Timeline(ctx, e.n.ID, id, 1)
		if acts[0].Type != "note" || acts[0].Details != "Called back, wants to canvass." || acts[0].Source.UserID != e.admin.ID {
			t.Errorf("note activity: %+v", acts[0])
		}
		res = e.c.PostForm(p+"/notes", url.Values{"note": {"  "}})
		want(t, res, 422, "empty note")
		if !res.Has(`id="f-note-error"`) {
			t.Errorf("empty note error not next to the field")
		}
		if res := e.c.Get(p); !res.Has("Called back, wants to canvass.") || !res.Has("Tag removed") {
			t.Errorf("profile does not show the note and the untagging")
		}
		log, _ := e.people.AuditByActor(ctx, e.n.ID, e.admin.ID, time.Unix(0, 0), time.Now().Add(time.Hour), 50)
		var actions []string
		for _, l := range log {
			actions = append(actions, l.Action)
		}
		for _, a := range []string{"person.tag", "person.untag", "person.note"} {
			if !slices.Contains(actions, a) {
				t.Errorf("audit lacks %s: %v", a, actions)
			}
		}
	})
}

func TestNewPerson(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "new")
		want(t, e.c.Get(e.base+"/new"), 200, "new form")
		res := e.c.PostForm(e.base+"/new", url.Values{"email": {"nobody"}})
		want(t, res, 422, "invalid new")
		if !res.Has(`id="f-email-error"`) {
			t.Errorf("no e-mail error")
		}
		res = e.c.PostForm(e.base+"/new", url.Values{})
		want(t, res, 422, "empty new")
		if !res.Has("Give at least a name") {
			t.Errorf("no identity error")
		}

		res = e.c.PostForm(e.base+"/new", url.Values{"first_name": {"Sofie"}, "last_name": {"Claes"}, "email": {"Sofie@Example.org"},
			"mobile": {"+32 470 99 88 77"}, "home_postcode": {"2000"}, "language": {"nl"}})
		want(t, res, 303, "new person")
		var id int64
		if _, err := fmt.Sscanf(res.Location, e.base+"/%d", &id); err != nil {
			t.Fatalf("redirect to %q", res.Location)
		}
		p := e.get(t, id)
		if p.FirstName != "Sofie" || p.Email != "Sofie@Example.org" || p.Mobile.E164 != "+32470998877" || p.Language != "nl" {
			t.Errorf("created: %+v", p)
		}
		acts, _ := e.people.Timeline(context.Background(), e.n.ID, id, 5)
		if len(acts) != 1 || acts[0].Type != "created" || acts[0].Source.Kind != "staff" || acts[0].Source.UserID != e.admin.ID {
			t.Errorf("timeline of new person: %+v", acts)
		}
		// The same e-mail again is not merged silently.
		res = e.c.PostForm(e.base+"/new", url.Values{"first_name": {"S."}, "email": {"sofie@example.org"}})
		want(t, res, 422, "existing person")
		if !res.Has(fmt.Sprintf("/people/%d", id)) {
			t.Errorf("no link to the existing person")
		}
		if n, _ := e.people.Search(context.Background(), e.n.ID, "", people.Page{}); len(n) != 1 {
			t.Errorf("%d people, want 1", len(n))
		}
	})
}

func TestMergeThroughQueueThenUndo(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "merge")
		ctx := context.Background()
		a := e.add(t, people.Record{FirstName: "Luc", LastName: "Maes", Emails: []string{"luc@example.org"}, Home: people.Address{Postcode: "1000"}, Tags: []string{"red"}}, people.Source{})
		b := e.add(t, people.Record{FirstName: "Luc", LastName: "Maes", Emails: []string{"luc.maes@example.org"}, BirthDate: "1970-01-02", Home: people.Address{Postcode: "1000"}, Tags: []string{"blue"}}, people.Source{})
		c1 := e.add(t, people.Record{FirstName: "Ina", Emails: []string{"ina@example.org"}, Mobile: "+32470000001"}, people.Source{})
		c2 := e.add(t, people.Record{FirstName: "Ina", Emails: []string{"ina2@example.org"}, Mobile: "+32470000002"}, people.Source{})
		// A staff member corrects c2's mobile to c1's: the store matched by
		// phone on creation, so only an edit makes such a pair.
		f := editForm(e.get(t, c2))
		f.Set("mobile", "+32470000001")
		want(t, e.c.PostForm(fmt.Sprintf("%s/%d/edit", e.base, c2), f), 303, "edit c2's mobile")

		res := e.c.Get(e.base + "/duplicates")
		want(t, res, 200, "queue")
		dups, _ := e.people.ListDuplicates(ctx, e.n.ID, "", people.Page{})
		if len(dups) != 1 || !res.Has("Same name and postcode") {
			t.Fatalf("queue: %+v", dups)
		}
		// Detect the pair sharing a phone.
		res = e.c.PostForm(e.base+"/duplicates/detect", nil)
		want(t, res, 303, "detect")
		if res := e.c.Get(res.Location); !res.Has("1 new pairs proposed") {
			t.Errorf("detect notice missing")
		}
		dups, _ = e.people.ListDuplicates(ctx, e.n.ID, "", people.Page{})
		if len(dups) != 2 {
			t.Fatalf("after detect: %+v", dups)
		}
		var nameDup, phoneDup people.Duplicate
		for _, d := range dups {
			if d.Reason == "same_phone" {
				phoneDup = d
			} else {
				nameDup = d
			}
		}
		if phoneDup.PersonA != c1 || phoneDup.PersonB != c2 {
			t.Errorf("phone pair: %+v", phoneDup)
		}

		prev := fmt.Sprintf("%s/duplicates/%d/merge", e.base, nameDup.ID)
		res = e.c.Get(prev)
		want(t, res, 200, "preview")
		if !res.Has("<strong>1970-01-02</strong>") || !res.Has("red, blue") || !res.Has("luc@example.org, luc.maes@example.org") {
			t.Errorf("preview does not show the surviving values:\n%s", res.Body)
		}
		if res := e.c.Get(prev + fmt.Sprintf("?keep=%d", b)); !res.Has(fmt.Sprintf(`name="keep" value="%d"`, b)) {
			t.Errorf("swapped preview does not keep b")
		}
		want(t, e.c.PostForm(prev, url.Values{"keep": {"12345"}}), 422, "keep outside the pair")

		res = e.c.PostForm(prev, url.Values{"keep": {fmt.Sprint(a)}})
		want(t, res, 303, "merge")
		if got := e.get(t, b).MergedInto; got != a {
			t.Fatalf("b merged into %d, want %d", got, a)
		}
		if p := e.get(t, a); p.BirthDate != "1970-01-02" || len(p.Tags) != 2 {
			t.Errorf("survivor: %+v", p)
		}
		// The merged-away profile leads to the survivor.
		if res := e.c.Get(fmt.Sprintf("%s/%d", e.base, b)); res.Status != 303 || !strings.HasSuffix(res.Location, fmt.Sprintf("/people/%d", a)) {
			t.Errorf("merged-away profile: %d %s", res.Status, res.Location)
		}
		// A second merge of the same pair is refused.
		want(t, e.c.PostForm(prev, url.Values{"keep": {fmt.Sprint(a)}}), 409, "merge twice")

		// Dismiss the other pair.
		want(t, e.c.PostForm(fmt.Sprintf("%s/duplicates/%d/dismiss", e.base, phoneDup.ID), nil), 303, "dismiss")
		if open, _ := e.people.ListDuplicates(ctx, e.n.ID, "", people.Page{}); len(open) != 0 {
			t.Errorf("open pairs after merge and dismiss: %+v", open)
		}

		// Undo from the queue's recent merges.
		res = e.c.Get(e.base + "/duplicates")
		merges, _ := e.people.Merges(ctx, e.n.ID, a)
		if len(merges) != 1 {
			t.Fatalf("merges: %+v", merges)
		}
		undo := fmt.Sprintf("%s/merges/%d/undo", e.base, merges[0].ID)
		if !res.Has(`action="` + undo + `"`) {
			t.Errorf("queue has no undo button for the merge")
		}
		want(t, e.c.PostForm(undo, nil), 303, "undo")
		if e.get(t, b).MergedInto != 0 || len(e.get(t, a).Tags) != 1 {
			t.Errorf("undo did not restore both people")
		}
		want(t, e.c.PostForm(undo, nil), 409, "undo twice")
		log, _ := e.people.AuditByActor(ctx, e.n.ID, e.admin.ID, time.Unix(0, 0), time.Now().Add(time.Hour), 50)
		var actions []string
		for _, l := range log {
			actions = append(actions, l.Action)
		}
		for _, act := range []string{"person.merge", "person.unmerge", "duplicate.dismiss"} {
			if !slices.Contains(actions, act) {
				t.Errorf("audit lacks %s: %v", act, actions)
			}
		}
	})
}

func TestAuditLogFilters(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "audit")
		org := s.CreateUser("organizer@example.org", e.n, auth.RoleOrganizer)
		oc := s.Client()
		oc.Login(org.Email, servertest.Password)
		x := e.add(t, people.Record{FirstName: "Xavier", Emails: []string{"x@example.org"}}, people.Source{})
		y := e.add(t, people.Record{FirstName: "Yara", Emails: []string{"y@example.org"}}, people.Source{})
		want(t, oc.Get(fmt.Sprintf("%s/%d", e.base, x)), 200, "organizer views x")
		want(t, e.c.Get(fmt.Sprintf("%s/%d", e.base, y)), 200, "admin views y")

		audit := "/admin/audit/audit"
		if res := oc.Get(audit); res.Status != 404 {
			t.Errorf("organizer sees the audit log: %d", res.Status)
		}
		res := e.c.Get(audit)
		want(t, res, 200, "audit log")
		if !res.Has("Viewed the profile") || !res.Has("Name of organizer@example.org") || !res.Has("Name of admin-audit@example.org") {
			t.Errorf("audit log lacks entries:\n%s", res.Body)
		}
		count := func(body string) int { return strings.Count(body, "Viewed the profile") }
		if n := count(e.c.Get(fmt.Sprintf("%s?actor=%d", audit, org.ID)).Body); n != 1 {
			t.Errorf("by organizer: %d views, want 1", n)
		}
		res = e.c.Get(fmt.Sprintf("%s?person=%d", audit, x))
		if count(res.Body) != 1 || !res.Has("Entries about Xavier") {
			t.Errorf("about x: %d views\n%s", count(res.Body), res.Body)
		}
		if n := count(e.c.Get(fmt.Sprintf("%s?person=%d&actor=%d", audit, x, e.admin.ID)).Body); n != 0 {
			t.Errorf("admin's views of x: %d, want 0", n)
		}
		yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
		tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
		if n := count(e.c.Get(audit + "?to=" + yesterday).Body); n != 0 {
			t.Errorf("views until yesterday: %d, want 0", n)
		}
		if n := count(e.c.Get(audit + "?from=" + yesterday + "&to=" + tomorrow).Body); n < 2 {
			t.Errorf("views around today: %d, want ≥ 2", n)
		}
		want(t, e.c.Get(audit+"?from=garbage"), 422, "bad date")
		// The profile links to the person's audit trail for administrators only.
		link := fmt.Sprintf(`href="/admin/audit/audit?person=%d"`, x)
		if !e.c.Get(fmt.Sprintf("%s/%d", e.base, x)).Has(link) || oc.Get(fmt.Sprintf("%s/%d", e.base, x)).Has(link) {
			t.Errorf("who-looked link shown to the wrong roles")
		}
	})
}

// TestVolunteerGets404 checks that a volunteer without an assigned scope
// sees nobody (internal/privacy tests volunteers with a scope) and reaches
// none of the editing pages.
func TestVolunteerGets404(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "vol")
		id := e.add(t, people.Record{FirstName: "Secret", LastName: "Volunteerless", Emails: []string{"sv@example.org"}}, people.Source{})
		v := s.CreateUser("volunteer@example.org", e.n, auth.RoleVolunteer)
		c := s.Client()
		c.Login(v.Email, servertest.Password)
		p := fmt.Sprintf("%s/%d", e.base, id)
		if res := c.Get(e.base); res.Status != 200 || res.Has("Volunteerless") {
			t.Errorf("volunteer without scope, list: %d", res.Status)
		}
		for _, path := range []string{p, p + "/edit", e.base + "/new", e.base + "/duplicates", "/admin/vol/audit"} {
			if res := c.Get(path); res.Status != 404 || res.Has("Volunteerless") {
				t.Errorf("volunteer GET %s: %d", path, res.Status)
			}
		}
		if res := c.PostForm(p+"/tags", url.Values{"tag": {"x"}}); res.Status != 404 {
			t.Errorf("volunteer tags: %d", res.Status)
		}
		if len(e.get(t, id).Tags) != 0 {
			t.Errorf("volunteer tagged someone")
		}
		if res := c.Get("/admin/vol/"); res.Has(`href="/admin/vol/people/new"`) {
			t.Errorf("volunteer's dashboard links to adding people")
		}
	})
}

func TestHostileStringsAreStoredAndEscaped(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		e := setup(t, s, "hostile")
		first := `<script>alert("x")</script>`
		last := "O'Brien \"the\" \u202eevil\u202c 🎉 مرحبا"
		tag := `<b onmouseover=alert(1)>tag</b>`
		note := `</textarea><img src=x onerror=alert(1)> & more`
		res := e.c.PostForm(e.base+"/new", url.Values{"first_name": {first}, "last_name": {last}, "home_city": {`"><svg onload=alert(1)>`}})
		want(t, res, 303, "new hostile person")
		var id int64
		fmt.Sscanf(res.Location, e.base+"/%d", &id)
		p := fmt.Sprintf("%s/%d", e.base, id)
		want(t, e.c.PostForm(p+"/tags", url.Values{"tag": {tag}}), 303, "hostile tag")
		want(t, e.c.PostForm(p+"/notes", url.Values{"note": {note}}), 303, "hostile note")

		got := e.get(t, id)
		if got.FirstName != first || got.LastName != last || got.Tags[0] != tag {
			t.Errorf("not stored as typed: %q %q %q", got.FirstName, got.LastName, got.Tags)
		}
		for _, path := range []string{p, p + "/edit", e.base, e.base + "?q=" + url.QueryEscape("<script>"), "/admin/hostile/audit"} {
			res := e.c.Get(path)
			want(t, res, 200, path)
			for _, raw := range []string{"<script>alert", "<b onmouseover", "<img src=x", "<svg onload"} {
				if res.Has(raw) {
					t.Errorf("%s renders %q unescaped", path, raw)
				}
			}
		}
		body := e.c.Get(p).Body
		for _, s := range []string{first, last, tag, note} {
			if !strings.Contains(body, html.EscapeString(s)) && !strings.Contains(body, escapeLikeTemplate(s)) {
				t.Errorf("profile does not show %q escaped", s)
			}
		}
	})
}

// escapeLikeTemplate escapes as html/template does in text (it uses &#34;
// and &#39; for quotes where html.EscapeString uses &#34; and &#39; too, but
// writes + and others as-is).
func escapeLikeTemplate(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// Staff of nation A asking for nation B's people under A's own slug (where
// the wall is the handlers' nation scoping, not the guard) get 404, see
// nothing of B and change nothing of B.
func TestOtherNationsIDsAre404(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		a := setup(t, s, "wall-a")
		b := setup(t, s, "wall-b")
		// A has two people; B's ids go beyond them, so they name no one in A.
		a.add(t, people.Record{FirstName: "Alpha", Emails: []string{"alpha@example.org"}}, people.Source{})
		a.add(t, people.Record{FirstName: "Alpha2", Emails: []string{"alpha2@example.org"}}, people.Source{})
		var bIDs []int64
		for i := range 6 {
			bIDs = append(bIDs, b.add(t, people.Record{FirstName: "Bravo", LastName: "Hidden", Emails: []string{fmt.Sprintf("b%d@example.org", i)}, Home: people.Address{Postcode: "1"}}, people.Source{}))
		}
		bp := bIDs[5]
		mergeID, err := b.people.Merge(ctx, b.n.ID, bIDs[3], bIDs[4], b.admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		dups, _ := b.people.ListDuplicates(ctx, b.n.ID, "", people.Page{Limit: 100})
		if len(dups) == 0 {
			t.Fatal("no duplicate in B")
		}
		// Ids beyond anything A has.
		var dupID int64
		for _, d := range dups {
			dupID = max(dupID, d.ID)
		}
		if dupID <= 1 {
			t.Fatalf("B's duplicate id %d would also name A's", dupID)
		}

		p := fmt.Sprintf("%s/%d", a.base, bp)
		for _, path := range []string{p, p + "/edit", fmt.Sprintf("%s/duplicates/%d/merge", a.base, dupID)} {
			if res := a.c.Get(path); res.Status != 404 || res.Has("Hidden") {
				t.Errorf("GET %s: %d", path, res.Status)
			}
		}
		for path, form := range map[string]url.Values{
			p + "/edit":        {"first_name": {"Pwned"}},
			p + "/tags":        {"tag": {"pwned"}},
			p + "/tags/remove": {"tag": {"x"}},
			p + "/notes":       {"note": {"pwned"}},
			fmt.Sprintf("%s/duplicates/%d/merge", a.base, dupID):   {"keep": {fmt.Sprint(dups[0].PersonA)}},
			fmt.Sprintf("%s/duplicates/%d/dismiss", a.base, dupID): nil,
			fmt.Sprintf("%s/merges/%d/undo", a.base, mergeID):      nil,
		} {
			if res := a.c.PostForm(path, form); res.Status != 404 {
				t.Errorf("POST %s: %d", path, res.Status)
			}
		}
		got := b.get(t, bp)
		if got.FirstName != "Bravo" || len(got.Tags) != 0 {
			t.Errorf("B's person changed: %+v", got)
		}
		if acts, _ := b.people.Timeline(ctx, b.n.ID, bp, 10); len(acts) != 1 {
			t.Errorf("B's timeline changed: %+v", acts)
		}
		if open, _ := b.people.ListDuplicates(ctx, b.n.ID, "", people.Page{Limit: 100}); len(open) != len(dups) {
			t.Errorf("B's duplicates changed")
		}
		if b.get(t, bIDs[4]).MergedInto != bIDs[3] {
			t.Errorf("B's merge was undone")
		}
		if log, _ := b.people.AuditByObject(ctx, b.n.ID, "person", bp, 10); len(log) != 0 {
			t.Errorf("A's requests left audit lines in B: %+v", log)
		}
	})
}
