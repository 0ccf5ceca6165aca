package segmentweb_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/segment"
	"github.com/muster-org/muster/internal/segment/segmentweb"
	"github.com/muster-org/muster/internal/servertest"
	"github.com/muster-org/muster/internal/store"
)

// fixture is a nation with an administrator, an organizer and a volunteer
// signed in, and three people: two tagged pensions (one consenting to ads).
type fixture struct {
	s               *servertest.Server
	n               *nation.Nation
	admin, org, vol *servertest.Client
	adminUser       *auth.User
	ann, bob, cat   int64
}

func setup(t *testing.T, s *servertest.Server) *fixture {
	t.Helper()
	f := &fixture{s: s, n: s.CreateNation("liege")}
	f.adminUser = s.CreateUser("admin@example.org", f.n, auth.RoleAdmin)
	s.CreateUser("org@example.org", f.n, auth.RoleOrganizer)
	s.CreateUser("vol@example.org", f.n, auth.RoleVolunteer)
	f.admin, f.org, f.vol = s.Client(), s.Client(), s.Client()
	f.admin.Login("admin@example.org", servertest.Password)
	f.org.Login("org@example.org", servertest.Password)
	f.vol.Login("vol@example.org", servertest.Password)
	ps := people.NewStore(s.DB)
	add := func(rec people.Record) int64 {
		res, err := ps.Upsert(context.Background(), f.n.ID, rec, people.Source{Kind: "staff"}, people.UpsertOptions{})
		if err != nil || res.Outcome != people.Created {
			t.Fatalf("person: %+v %v", res, err)
		}
		return res.PersonID
	}
	f.ann = add(people.Record{FirstName: "Ann", LastName: "Alpha", Emails: []string{"test@example.com"}, Tags: []string{"Pensions"},
		Home: people.Address{Country: "BE", City: "Liège"}, Consents: []people.ConsentInput{{Channel: "ads", Granted: true, Basis: "consent"}}})
	f.bob = add(people.Record{FirstName: "Bob", LastName: "Beta", Emails: []string{"bob@example.org"}, Tags: []string{"pensions"}, SupportLevel: "2"})
	f.cat = add(people.Record{FirstName: "Cat", LastName: "Gamma", Emails: []string{"cat@example.org"}})
	return f
}

func (f *fixture) path(p string) string { return "/admin/" + f.n.Slug + p }

func TestCountEndpoint(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		res := f.org.Get(f.path("/segments/count?q=" + url.QueryEscape("tag:PENSIONS")))
		var ok struct {
			Count *int64 `json:"count"`
			MS    *int64 `json:"ms"`
		}
		if res.Status != 200 || json.Unmarshal([]byte(res.Body), &ok) != nil || ok.Count == nil || *ok.Count != 2 || ok.MS == nil {
			t.Fatalf("count: %d %s", res.Status, res.Body)
		}
		for q, col := range map[string]int{"tga:x": 1, "tag:pensions (age:45..": 14, "tag:x age:abc": 11} {
			res := f.org.Get(f.path("/segments/count?q=" + url.QueryEscape(q)))
			var bad struct {
				Error  string `json:"error"`
				Column int    `json:"column"`
			}
			if res.Status != http.StatusOK || json.Unmarshal([]byte(res.Body), &bad) != nil || bad.Error == "" || bad.Column != col || strings.Contains(res.Body, `"count"`) {
				t.Errorf("%q: %d %s, want an error at column %d", q, res.Status, res.Body, col)
			}
		}
		if res := f.vol.Get(f.path("/segments/count?q=")); res.Status != 404 {
			t.Errorf("volunteer: %d", res.Status)
		}
	})
}

func TestSegmentsPage(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		res := f.org.Get(f.path("/segments?q=" + url.QueryEscape("tag:pensions")))
		if res.Status != 200 || !res.Has("2 people match") ||
			!res.Has(fmt.Sprintf(`href="/admin/liege/people/%d"`, f.ann)) || !res.Has(fmt.Sprintf(`href="/admin/liege/people/%d"`, f.bob)) ||
			res.Has(fmt.Sprintf(`href="/admin/liege/people/%d"`, f.cat)) {
			t.Fatalf("list: %d\n%s", res.Status, res.Body)
		}
		if !res.Has(`src="/static/segments.js"`) || !res.Has(`aria-live="polite"`) || !res.Has("near:50.85,4.35,10km") {
			t.Errorf("page lacks the script, the live region or the syntax help")
		}
		if f.org.Get(f.path("/segments")).Has("segments.audience.title") {
			t.Errorf("untranslated key on the page")
		}
		res = f.org.Get(f.path("/segments?q=" + url.QueryEscape("tga:pensions")))
		if res.Status != http.StatusUnprocessableEntity || !res.Has("at column 1") || !res.Has(`aria-invalid="true"`) {
			t.Errorf("bad filter: %d", res.Status)
		}
		// French help.
		fr := f.s.Client()
		fr.Lang = "fr"
		fr.Login("org@example.org", servertest.Password)
		if res := fr.Get(f.path("/segments?q=tag:pensions")); !res.Has("2 personnes correspondent") || !res.Has("Syntaxe des filtres") {
			t.Errorf("French page lacks translations")
		}
		// The builder without JavaScript.
		res = f.org.Get(f.path("/segments/build?" + url.Values{"q": {"tag:pensions"}, "bq": {"support"}, "bop": {"<="}, "bv": {"2"}, "bneg": {"1"}}.Encode()))
		if res.Status != 200 || !res.Has(`value="tag:pensions -support:&lt;=2"`) || !res.Has("1 people match") {
			t.Errorf("builder: %d %s", res.Status, regexp.MustCompile(`id="q"[^>]*`).FindString(res.Body))
		}
		if f.vol.Get(f.path("/segments")).Status != 404 || f.vol.Get(f.path("/ladder")).Status != 404 {
			t.Errorf("a volunteer can see segments or the ladder")
		}
		if f.org.PostForm(f.path("/segments/audience"), url.Values{"q": {""}, "purpose": {"x"}}).Status != 404 ||
			f.org.Get(f.path("/segments/register")).Status != 404 {
			t.Errorf("an organizer can reach the audience export or the register")
		}
	})
}

func TestBuildTerm(t *testing.T) {
	for _, tt := range []struct {
		q, op, v string
		neg      bool
		want     string
	}{
		{"tag", "", "climate strike", false, `tag:"climate strike"`},
		{"TAG", "", `say "hi"`, true, `-tag:"say \"hi\""`},
		{"age", ">=", "45", false, "age:>=45"},
		{"age", "", "45..60", false, "age:45..60"},
		{"field", "", "ward:north", false, "field.ward:north"},
		{"field", "", "ward", false, ""},
		{"bogus", "", "x", false, ""},
		{"tag", "", "  ", false, ""},
		{"points", "!=", "3", false, "points:3"},
	} {
		if got := segmentweb.BuildTerm(tt.q, tt.op, tt.v, tt.neg); got != tt.want {
			t.Errorf("BuildTerm(%q, %q, %q, %v) = %q, want %q", tt.q, tt.op, tt.v, tt.neg, got, tt.want)
		}
	}
}

var savedURL = regexp.MustCompile(`/segments/saved/(\d+)`)

func TestSavedSegments(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		res := f.org.PostForm(f.path("/segments/saved"), url.Values{"name": {"Pension fans"}, "q": {"tag:pensions"}, "description": {"for the visual"}})
		m := savedURL.FindStringSubmatch(res.Location)
		if res.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("save: %d %s", res.Status, res.Location)
		}
		id, _ := strconv.ParseInt(m[1], 10, 64)
		if res := f.org.PostForm(f.path("/segments/saved"), url.Values{"name": {"Pension fans"}, "q": {"tag:x"}}); res.Status != http.StatusUnprocessableEntity || !res.Has("already exists") {
			t.Errorf("duplicate name: %d", res.Status)
		}
		if res := f.org.PostForm(f.path("/segments/saved"), url.Values{"name": {""}, "q": {"tag:x"}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("empty name: %d", res.Status)
		}
		// segment:NAME reuses it.
		res = f.org.Get(f.path("/segments/count?q=" + url.QueryEscape(`segment:"pension fans" -support:2`)))
		if !strings.Contains(res.Body, `"count":1`) {
			t.Errorf("segment:NAME: %s", res.Body)
		}
		// The list shows it with its count; its page shows the chart.
		if res := f.org.Get(f.path("/segments")); !res.Has("Pension fans") || !res.Has(`id="saved"`) {
			t.Errorf("list of saved segments lacks it")
		}
		ctx := context.Background()
		people.NewStore(s.DB).Upsert(ctx, f.n.ID, people.Record{FirstName: "Dan", Emails: []string{"dan@example.org"}, Tags: []string{"pensions"}}, people.Source{Kind: "staff"}, people.UpsertOptions{})
		if _, err := s.App.Segments.RecordCount(ctx, f.n.ID, id); err != nil {
			t.Fatal(err)
		}
		res = f.org.Get(f.path(fmt.Sprintf("/segments/saved/%d", id)))
		if res.Status != 200 || !res.Has(`<svg id="chart"`) || strings.Count(res.Body, "<circle") != 2 || !res.Has("between 2 and 3 people") {
			t.Fatalf("chart: %d\n%s", res.Status, res.Body)
		}
		poly := regexp.MustCompile(`<polyline points="([^"]+)"`).FindStringSubmatch(res.Body)
		if poly == nil || len(strings.Fields(poly[1])) != 2 {
			t.Errorf("polyline: %v", poly)
		}
		// Edit, then delete.
		res = f.org.PostForm(f.path(fmt.Sprintf("/segments/saved/%d", id)), url.Values{"name": {"Pensioners"}, "q": {"tag:pensions -support:2"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("update: %d %s", res.Status, res.Body)
		}
		if g, err := s.App.Segments.GetSaved(ctx, f.n.ID, id); err != nil || g.Name != "Pensioners" || g.Filter != "tag:pensions -support:2" {
			t.Errorf("after update: %+v %v", g, err)
		}
		if res := f.org.PostForm(f.path(fmt.Sprintf("/segments/saved/%d", id)), url.Values{"name": {"Pensioners"}, "q": {"tag:("}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("update with a bad filter: %d", res.Status)
		}
		if res := f.org.PostForm(f.path(fmt.Sprintf("/segments/saved/%d/delete", id)), nil); res.Status != http.StatusSeeOther {
			t.Fatalf("delete: %d", res.Status)
		}
		if res := f.org.Get(f.path(fmt.Sprintf("/segments/saved/%d", id))); res.Status != 404 {
			t.Errorf("deleted segment: %d", res.Status)
		}
	})
}

func TestExportAudited(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		res := f.org.PostForm(f.path("/segments/export"), url.Values{"q": {"tag:pensions"}})
		if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %v", res.Status, res.Header)
		}
		recs, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
		if err != nil || len(recs) != 3 || recs[1][3] != "test@example.com" {
			t.Fatalf("csv: %q %v", recs, err)
		}
		ctx := context.Background()
		log, err := people.NewStore(s.DB).AuditByTime(ctx, f.n.ID, time.Unix(0, 0), time.Now().Add(time.Hour), 10)
		if err != nil || len(log) != 1 || log[0].Action != "export" || log[0].ObjectKind != "export" {
			t.Fatalf("audit: %+v %v", log, err)
		}
		reg, err := s.App.Segments.Register(ctx, f.n.ID, 10, 0)
		if err != nil || len(reg) != 1 || reg[0].ID != log[0].ObjectID || reg[0].Count != 2 || reg[0].Format != "csv" || reg[0].Filter != "tag:pensions" {
			t.Errorf("register: %+v %v", reg, err)
		}
		if res := f.org.PostForm(f.path("/segments/export"), url.Values{"q": {"tag:("}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("export of a bad filter: %d", res.Status)
		}
	})
}

func TestAudienceHTTP(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		res := f.admin.PostForm(f.path("/segments/audience"), url.Values{"q": {"tag:pensions"}, "purpose": {"pensions visual"}})
		want := "email,phone,fn,ln,country\n" + strings.Join(segment.AudienceRow("test@example.com", "", "ann", "alpha", "be"), ",") + "\n"
		if res.Status != 200 || res.Body != want || !strings.HasPrefix(res.Body, "email,phone,fn,ln,country\n973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b,,") {
			t.Fatalf("audience: %d %q", res.Status, res.Body)
		}
		res = f.admin.PostForm(f.path("/segments/audience"), url.Values{"q": {"tag:pensions support:1..2"}, "purpose": {"x"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("2024/900") {
			t.Errorf("sensitive filter: %d", res.Status)
		}
		// Mark the tag sensitive through the register page's form.
		if res := f.admin.PostForm(f.path("/segments/sensitive"), url.Values{"tag": {"PENSIONS"}, "sensitive": {"yes"}}); res.Status != http.StatusSeeOther {
			t.Fatalf("mark sensitive: %d", res.Status)
		}
		if res := f.admin.PostForm(f.path("/segments/audience"), url.Values{"q": {"-tag:pensions"}, "purpose": {"x"}}); res.Status != http.StatusUnprocessableEntity || !res.Has("2024/900") {
			t.Errorf("sensitive tag: %d", res.Status)
		}
		res = f.admin.Get(f.path("/segments/register"))
		if res.Status != 200 || !res.Has("pensions visual") || !res.Has("audience") || !res.Has(`id="sensitive-tags"`) || !res.Has("Name of admin@example.org") {
			t.Errorf("register page: %d\n%s", res.Status, res.Body)
		}
	})
}

func TestTagJob(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		ctx := context.Background()
		if n, _ := s.App.Segments.Count(ctx, f.n.ID, "tag:newbie"); n != 0 { // builds the index first
			t.Fatal(n)
		}
		res := f.org.PostForm(f.path("/segments/tag"), url.Values{"q": {"tag:pensions"}, "tag": {"Newbie"}, "op": {"add"}})
		m := regexp.MustCompile(`/segments/jobs/(\d+)$`).FindStringSubmatch(res.Location)
		if res.Status != http.StatusSeeOther || m == nil {
			t.Fatalf("tag: %d %s", res.Status, res.Location)
		}
		jobID, _ := strconv.ParseInt(m[1], 10, 64)
		if res := f.org.Get(res.Location); res.Status != 200 || !res.Has("waiting") || !res.Has(`data-job-running`) {
			t.Errorf("progress page before the run: %d", res.Status)
		}
		if res := f.org.PostForm(f.path("/segments/tag"), url.Values{"q": {"tag:pensions"}, "tag": {" "}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("no tag: %d", res.Status)
		}
		runJobs(t, s, jobID)
		if res := f.org.Get(f.path(fmt.Sprintf("/segments/jobs/%d", jobID))); !res.Has("done") || !res.Has("2 of 2 people") || res.Has("data-job-running") {
			t.Errorf("progress page after the run:\n%s", res.Body)
		}
		if n, err := s.App.Segments.Count(ctx, f.n.ID, "tag:newbie"); err != nil || n != 2 {
			t.Fatalf("tag:newbie = %d %v, want 2 (index kept right)", n, err)
		}
		ps := people.NewStore(s.DB)
		for _, id := range []int64{f.ann, f.bob} {
			acts, _ := ps.Timeline(ctx, f.n.ID, id, 10)
			if len(acts) == 0 || acts[0].Type != "tagged" || acts[0].Details != "tags: Newbie" || acts[0].Source.UserID == 0 {
				t.Errorf("timeline of %d: %+v", id, acts)
			}
		}
		log, _ := ps.AuditByTime(ctx, f.n.ID, time.Unix(0, 0), time.Now().Add(time.Hour), 10)
		if len(log) != 1 || log[0].Action != "segment.tag" || log[0].ObjectID != jobID {
			t.Errorf("audit: %+v", log)
		}

		// Remove it from everyone who has it.
		res = f.org.PostForm(f.path("/segments/tag"), url.Values{"q": {"tag:newbie"}, "tag": {"NEWBIE"}, "op": {"remove"}})
		m = regexp.MustCompile(`/segments/jobs/(\d+)$`).FindStringSubmatch(res.Location)
		if m == nil {
			t.Fatalf("untag: %d", res.Status)
		}
		id2, _ := strconv.ParseInt(m[1], 10, 64)
		runJobs(t, s, id2)
		if n, _ := s.App.Segments.Count(ctx, f.n.ID, "tag:newbie"); n != 0 {
			t.Errorf("after removal tag:newbie = %d", n)
		}
		if acts, _ := ps.Timeline(ctx, f.n.ID, f.ann, 1); len(acts) != 1 || acts[0].Type != "untagged" {
			t.Errorf("timeline after removal: %+v", acts)
		}
		if res := f.org.Get(f.path("/segments/jobs/999999")); res.Status != 404 {
			t.Errorf("unknown job: %d", res.Status)
		}
	})
}

// runJobs works the queue (with this package's handlers) until job id has
// finished, and fails unless it succeeded.
func runJobs(t *testing.T, s *servertest.Server, id int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q := jobs.New(s.DB, slog.New(slog.NewTextHandler(io.Discard, nil)), jobs.WithPollInterval(10*time.Millisecond))
	segmentweb.RegisterJobs(q, s.App.Segments, s.DB)
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, 1) }()
	defer func() { cancel(); <-done }()
	for range 1000 {
		j, err := q.Get(context.Background(), 1, id)
		if err == nil && j.State.Finished() {
			if j.State != jobs.StateSucceeded {
				t.Fatalf("job %d: %s %s", id, j.State, j.LastError)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("job %d did not finish", id)
}

func TestLadderPages(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		f := setup(t, s)
		ctx := context.Background()
		// Bob volunteers on three campaigns: ready to be invited as organizer.
		ps := people.NewStore(s.DB)
		if _, err := ps.Upsert(ctx, f.n.ID, people.Record{Emails: []string{"bob@example.org"}, Tags: []string{"volunteer"}}, people.Source{Kind: "staff"}, people.UpsertOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"a", "b", "c"} {
			err := s.DB.InTx(ctx, func(tx *store.Tx) error {
				return ps.RecordActionTx(ctx, tx, f.n.ID, f.bob, "volunteered", people.Source{Kind: "event", Ref: ref}, "", 15)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		res := f.org.Get(f.path("/ladder/ready"))
		if res.Status != 200 || !res.Has(fmt.Sprintf(`/ladder/people/%d"`, f.bob)) || !res.Has("tag:volunteer actions:&gt;=3") || !res.Has("Organizer") {
			t.Fatalf("ready: %d\n%s", res.Status, res.Body)
		}
		res = f.org.PostForm(f.path(fmt.Sprintf("/ladder/people/%d", f.bob)), url.Values{"rung": {"organizer"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("set rung: %d", res.Status)
		}
		res = f.org.Get(f.path(fmt.Sprintf("/ladder/people/%d", f.bob)))
		if !regexp.MustCompile(`id="current-rung">Organizer<`).MatchString(res.Body) || !res.Has("Name of org@example.org") {
			t.Errorf("person's rung page:\n%s", res.Body)
		}
		if acts, _ := ps.Timeline(ctx, f.n.ID, f.bob, 1); len(acts) != 1 || acts[0].Type != "rung_set" || acts[0].Details != "rung: Organizer" {
			t.Errorf("timeline: %+v", acts)
		}
		if res := f.org.Get(f.path("/ladder/ready")); res.Has(fmt.Sprintf(`/ladder/people/%d"`, f.bob)) {
			t.Errorf("Bob is still listed as ready")
		}
		// Configuration is for administrators.
		if res := f.org.PostForm(f.path("/ladder/points"), url.Values{"points_signed": {"9"}}); res.Status != 404 {
			t.Errorf("organizer set points: %d", res.Status)
		}
		if res := f.admin.PostForm(f.path("/ladder/points"), url.Values{"points_signed": {"9"}}); res.Status != http.StatusSeeOther {
			t.Errorf("admin set points: %d", res.Status)
		}
		if res := f.admin.PostForm(f.path("/ladder/points"), url.Values{"points_signed": {"-1"}}); res.Status != http.StatusUnprocessableEntity {
			t.Errorf("negative points: %d", res.Status)
		}
		res = f.admin.PostForm(f.path("/ladder/rungs"), url.Values{"key_0": {"base"}, "name_0": {"Base"}, "key_1": {"busy"}, "name_1": {"Busy"}, "filter_1": {"tga:x"}})
		if res.Status != http.StatusUnprocessableEntity || !res.Has("unknown qualifier") {
			t.Errorf("bad rung filter: %d", res.Status)
		}
		res = f.admin.PostForm(f.path("/ladder/rungs"), url.Values{"key_0": {"base"}, "name_0": {"Base"}, "key_1": {"busy"}, "name_1": {"Busy"}, "filter_1": {"actions:>=3"}})
		if res.Status != http.StatusSeeOther {
			t.Fatalf("rungs: %d %s", res.Status, res.Body)
		}
		if res := f.admin.Get(f.path("/ladder")); !res.Has("Busy") || !res.Has("9") {
			t.Errorf("ladder page does not show the new configuration")
		}
		if res := f.admin.PostForm(f.path("/ladder/recompute"), nil); res.Status != http.StatusSeeOther {
			t.Errorf("recompute: %d", res.Status)
		}
	})
}
