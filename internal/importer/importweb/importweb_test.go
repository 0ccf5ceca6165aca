package importweb_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/auth"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/importer/importweb"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/servertest"
)

// nbFile is a small NationBuilder export: a duplicate of Anne (merged), a
// row with no identity (rejected, line 5), and a column ("Portable") the
// format does not know, which the test maps to the mobile number.
const nbFile = `nationbuilder_id,first_name,last_name,email,tag_list,Portable
101,Anne,Dupont,anne@example.org,"pensions, climate",+32 470 12 34 56
102,Bart,Peeters,bart@example.org,pensions,
103,ANNE,Dupont,ANNE@example.org,housing,
,,,,orphan-tag,
104,Chloé,Martin,chloe@example.org,,0471 22 33 44
`

// upload posts a file to the upload form as a browser does.
func upload(t *testing.T, c *servertest.Client, s *servertest.Server, slug, name string, content []byte) *servertest.Response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/admin/"+slug+"/people/import", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return c.Do(req)
}

// worker runs a jobs queue with the import handler on the test's database,
// as `muster serve` does, until the test ends.
func worker(t *testing.T, s *servertest.Server) {
	t.Helper()
	q := jobs.New(s.DB, slog.New(slog.NewTextHandler(io.Discard, nil)), jobs.WithPollInterval(20*time.Millisecond))
	importweb.RegisterJobs(q, s.App.Imports, people.NewStore(s.DB))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(ctx, 1) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitStatus polls the import until it reaches want (or fails the test
// after a generous bound; this is a wait, not a timing assertion).
func waitStatus(t *testing.T, s *servertest.Server, nationID, id int64, want importer.Status) *importer.Import {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		imp, err := s.App.Imports.Get(context.Background(), nationID, id)
		if err != nil {
			t.Fatal(err)
		}
		if imp.Status == want {
			return imp
		}
		if imp.Status == importer.StatusFailed || time.Now().After(deadline) {
			t.Fatalf("import status %q (%s), want %q", imp.Status, imp.Error, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var countRe = regexp.MustCompile(`data-count="(\w+)">([\d\s,.\x{a0}\x{202f}]+)<`)

// countsOf reads the figures of a preview or summary page.
func countsOf(body string) map[string]int {
	out := map[string]int{}
	for _, m := range countRe.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, m[2]))
		out[m[1]] = n
	}
	return out
}

func setup(t *testing.T, s *servertest.Server) (*nation.Nation, *servertest.Client) {
	n := s.CreateNation("north")
	s.CreateUser("org@example.org", n, auth.RoleOrganizer)
	c := s.Client()
	c.Login("org@example.org", servertest.Password)
	return n, c
}

func TestImportFlow(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n, c := setup(t, s)
		ps := people.NewStore(s.DB)

		if res := c.Get("/admin/north/people"); !res.Has(`href="/admin/north/people/import"`) {
			t.Errorf("people list has no import link")
		}
		if res := c.Get("/admin/north/people/import"); res.Status != 200 || !res.Has(`enctype="multipart/form-data"`) {
			t.Fatalf("import page: %d", res.Status)
		}

		// Upload → mapping screen with the detected format and samples.
		res := upload(t, c, s, "north", "members.csv", []byte(nbFile))
		if res.Status != http.StatusSeeOther || !strings.HasSuffix(res.Location, "/mapping") {
			t.Fatalf("upload: %d %s %s", res.Status, res.Location, res.Body)
		}
		mappingURL := res.Location
		id, _ := strconv.ParseInt(strings.Split(strings.TrimPrefix(mappingURL, "/admin/north/people/import/"), "/")[0], 10, 64)
		imp, err := s.App.Imports.Get(ctx, n.ID, id)
		if err != nil || imp.Status != importer.StatusUploaded || imp.FileName != "members.csv" {
			t.Fatalf("import row: %+v %v", imp, err)
		}
		if st, err := os.Stat(s.App.Imports.Path(imp)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("stored file: %v %v", st, err)
		}
		res = c.Get(mappingURL)
		if res.Status != 200 || !res.Has("NationBuilder export") || !res.Has("anne@example.org") || !res.Has("Portable") {
			t.Fatalf("mapping page: %d %s", res.Status, res.Body)
		}
		if !regexp.MustCompile(`name="col_3">.*<option value="email" selected>`).MatchString(strings.ReplaceAll(res.Body, "\n", "")) {
			t.Errorf("email column not detected as email")
		}

		// Change a mapping: Portable → mobile; add a tag.
		form := url.Values{"format": {"auto"}, "tags": {"fair-2026"}}
		for i, f := range []string{"nationbuilder_id", "first_name", "last_name", "email", "tags", "mobile"} {
			form.Set("col_"+strconv.Itoa(i), f)
		}
		res = c.PostForm(mappingURL, form)
		if res.Status != http.StatusSeeOther || !strings.HasSuffix(res.Location, "/status") {
			t.Fatalf("mapping submit: %d %s", res.Status, res.Body)
		}
		statusURL := res.Location
		// Queued dry run: a progress page that refreshes itself.
		res = c.Get(statusURL)
		if res.Status != 200 || res.Header.Get("Refresh") == "" || !res.Has(`<progress`) {
			t.Errorf("progress page of the queued dry run: %d refresh %q", res.Status, res.Header.Get("Refresh"))
		}

		worker(t, s)
		waitStatus(t, s, n.ID, id, importer.StatusPreviewed)
		res = c.Get(statusURL)
		got := countsOf(res.Body)
		want := map[string]int{"rows": 5, "created": 3, "updated": 0, "unchanged": 0, "merged": 1, "rejected": 1}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("preview %s = %d, want %d (%v)", k, got[k], v, got)
			}
		}
		if res.Header.Get("Refresh") != "" || !res.Has(`id="run-import"`) || !regexp.MustCompile(`<td>5</td><td>row rejected`).MatchString(res.Body) {
			t.Errorf("preview page: refresh %q, body %s", res.Header.Get("Refresh"), res.Body)
		}
		if found, _ := ps.Search(ctx, n.ID, "", people.Page{Limit: 10}); len(found) != 0 {
			t.Fatalf("the dry run wrote %d people", len(found))
		}

		// Run it.
		res = c.PostForm(strings.TrimSuffix(statusURL, "/status")+"/run", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("run: %d %s", res.Status, res.Body)
		}
		done := waitStatus(t, s, n.ID, id, importer.StatusDone)
		if done.Summary == nil || done.Summary.Created != 3 || done.Summary.Rejected != 1 || done.Summary.Merged != 1 {
			t.Errorf("summary: %+v", done.Summary)
		}
		res = c.Get(statusURL)
		if got := countsOf(res.Body); got["created"] != 3 || got["rejected"] != 1 || !res.Has(`id="rejects-download"`) {
			t.Errorf("summary page: %v %s", got, res.Body)
		}
		res = c.Get(strings.TrimSuffix(statusURL, "/status") + "/rejects")
		if res.Status != 200 || !strings.HasPrefix(res.Body, "nationbuilder_id,first_name,last_name,email,tag_list,Portable,line,reason\n") ||
			!res.Has(`,,,,orphan-tag,,5,"row rejected: no identity`) || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("rejects download: %d %q", res.Status, res.Body)
		}
		found, _ := ps.Search(ctx, n.ID, "anne", people.Page{Limit: 10})
		if len(found) != 1 {
			t.Fatalf("anne: %+v", found)
		}
		anne, _ := ps.Get(ctx, n.ID, found[0].ID)
		if anne.Mobile.E164 != "+32470123456" || !contains(anne.Tags, "fair-2026") || !contains(anne.Tags, "housing") {
			t.Errorf("anne: mobile %+v tags %v", anne.Mobile, anne.Tags)
		}
		var audits int
		if err := s.DB.QueryRow(ctx, `SELECT COUNT(*) FROM audit_log WHERE nation_id = ? AND action = 'people.import' AND object_id = ?`, n.ID, id).Scan(&audits); err != nil || audits != 1 {
			t.Errorf("import audit entries: %d %v", audits, err)
		}
		// The list shows it with its outcome; a done import cannot run again.
		if res := c.Get("/admin/north/people/import"); !res.Has("members.csv") || !res.Has("Imported") {
			t.Errorf("imports list: %s", res.Body)
		}
		if res := c.PostForm(strings.TrimSuffix(statusURL, "/status")+"/run", nil); res.Status != http.StatusConflict {
			t.Errorf("second run: %d", res.Status)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestImportRefused: files that cannot be people files, and files over the
// cap, are refused with a clear page and leave nothing behind.
func TestImportRefused(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n, c := setup(t, s)
		dir := filepath.Dir(s.App.Imports.Path(&importer.Import{NationID: n.ID, ID: 1}))
		for _, tc := range []struct {
			name, content, want string
		}{
			{"junk.csv", "colour,size\nred,L\n", "no usable header"},
			{"empty.csv", "", "empty"},
			{"sheet.xlsx", "PK\x03\x04\x14\x00\x06\x00binary\x00\x00stuff", "cannot be imported"},
		} {
			res := upload(t, c, s, "north", tc.name, []byte(tc.content))
			if res.Status != http.StatusUnprocessableEntity || !res.Has("cannot be imported") || !res.Has(tc.want) || !res.Has("Nothing was stored") {
				t.Errorf("%s: %d %s", tc.name, res.Status, res.Body)
			}
		}
		s.App.ImportWeb.SetMaxUpload(4 << 10)
		big := "email\n" + strings.Repeat("someone@example.org\n", 3000)
		res := upload(t, c, s, "north", "big.csv", []byte(big))
		if res.Status != http.StatusRequestEntityTooLarge || !res.Has("larger than") {
			t.Errorf("oversized: %d %s", res.Status, res.Body)
		}
		// Other routes keep the global cap of a form.
		res = c.PostForm("/admin/north/people/new", url.Values{"first_name": {strings.Repeat("x", 2<<20)}})
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("global body cap on a form: %d", res.Status)
		}
		if list, _ := s.App.Imports.List(ctx, n.ID, 10); len(list) != 0 {
			t.Errorf("refused uploads left %d imports", len(list))
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("refused uploads left files: %v", entries)
		}
	})
}

// TestImportProgressPage shows a running import: rows done of the total,
// a progress bar and a self-refresh, and no summary yet.
func TestImportProgressPage(t *testing.T) {
	servertest.Each(t, func(t *testing.T, s *servertest.Server) {
		ctx := context.Background()
		n, c := setup(t, s)
		res := upload(t, c, s, "north", "members.csv", []byte(nbFile))
		base := strings.TrimSuffix(res.Location, "/mapping")
		id, _ := strconv.ParseInt(strings.TrimPrefix(base, "/admin/north/people/import/"), 10, 64)
		c.PostForm(base+"/mapping", url.Values{"format": {"auto"}})
		worker(t, s)
		waitStatus(t, s, n.ID, id, importer.StatusPreviewed)
		imp, _ := s.App.Imports.Get(ctx, n.ID, id)
		// Start the run as the page does, but with no worker for it: a
		// worker's claim is simulated so the page shows a running job.
		j, err := s.App.Imports.Start(ctx, s.App.Jobs, imp, imp.Options, false, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.Exec(ctx, `UPDATE jobs SET state = 'running', locked_by = 'elsewhere', locked_until = ?, progress_done = 2, progress_total = 5
			WHERE nation_id = ? AND id = ?`, time.Now().Add(time.Hour).UnixMilli(), n.ID, j.ID); err != nil {
			t.Fatal(err)
		}
		res = c.Get(base + "/status")
		if res.Status != 200 || res.Header.Get("Refresh") == "" || !res.Has(`<progress max="100" value="40">`) ||
			!res.Has("2 of 5 rows") || !res.Has("Importing") || res.Has(`id="summary"`) || res.Has(`id="run-import"`) {
			t.Errorf("progress page: %d %s", res.Status, res.Body)
		}
		// Running twice is refused while it runs.
		if res := c.PostForm(base+"/run", nil); res.Status != http.StatusConflict {
			t.Errorf("run while running: %d", res.Status)
		}
		// The list shows it running.
		if res := c.Get("/admin/north/people/import"); !res.Has("Importing…") {
			t.Errorf("list: %s", res.Body)
		}
	})
}
