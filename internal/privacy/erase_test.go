package privacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/broadcast"
	"github.com/muster-org/muster/internal/config"
	"github.com/muster-org/muster/internal/importer"
	"github.com/muster-org/muster/internal/jobs"
	"github.com/muster-org/muster/internal/mail/smtptest"
	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/privacy"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

var testKey = bytes.Repeat([]byte{7}, 32)

// markers are planted in every kind of datum of the erased person; none may
// survive anywhere after erasure.
var markers = []string{
	"zqxfirst", "zqxlast", "zqxmail@zqxdomain.example", "+32470918273", "+3227918273", "zqxstreet",
	"zqxcity", "zqxpost", "zqxtag", "zqxnote", "zqxcustom", "zqxmailing", "zqxcomment", "zqxsigner",
	"zqxrejected", "zqxnbid", "zqxtopic-sub",
}

const header = "nationbuilder_id,first_name,last_name,email,email_opt_in,mobile_number,phone_number,primary_address1,primary_city,primary_zip,primary_country_code,tag_list,born_at\n"

// file is an import of the person (twice: the second row has a bad date, so
// the rejects file holds the person too) and of someone else.
var file = header +
	"zqxnbid,Zqxfirst,Zqxlast,zqxmail@zqxdomain.example,true,+32 470 91 82 73,+32 2 791 82 73,1 Zqxstreet,Zqxcity,zqxpost,BE,zqxtag,\n" +
	"7001,Other,Person,other@example.org,true,+32 470 11 22 33,,2 Main street,Liège,4000,BE,members,\n" +
	"zqxnbid,Zqxfirst,Zqxlast,zqxmail@zqxdomain.example,true,,,,,,,zqxrejected,31/02/1980\n"

type world struct {
	db     *store.DB
	n      *nation.Nation
	dir    string // the data directory
	svc    *privacy.Service
	people *people.Store
	logs   *bytes.Buffer
	person int64
	other  int64
}

func setup(t *testing.T, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	n, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: "parti", Name: "Parti"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE nations SET country = 'BE' WHERE id = ?`, n.ID); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := people.NewStore(db).WithSuppression(testKey)
	w := &world{db: db, n: n, dir: dir, people: st, logs: logs,
		svc: privacy.NewService(privacy.Deps{DB: db, People: st, Key: testKey, ImportsDir: filepath.Join(dir, "imports"),
			JournalPath: privacy.JournalFile(dir), Log: log})}

	// The import, stored where control-panel imports keep their files.
	path := filepath.Join(dir, "imports", strconv.FormatInt(n.ID, 10), "1.csv")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Run(ctx, st, n.ID, path, importer.RunOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Created != 2 || sum.FieldErrors == 0 {
		t.Fatalf("import: %+v", sum)
	}
	if w.person, err = w.svc.FindByEmail(ctx, n.ID, "ZQXMAIL@zqxdomain.example"); err != nil {
		t.Fatal(err)
	}
	if w.other, err = w.svc.FindByEmail(ctx, n.ID, "other@example.org"); err != nil {
		t.Fatal(err)
	}
	// Staff additions: a note, a custom field, a mailing address.
	if _, err := st.DefineCustomField(ctx, n.ID, "shoe", "text", nil); err != nil {
		t.Fatal(err)
	}
	res, err := st.Upsert(ctx, n.ID, people.Record{Emails: []string{"zqxmail@zqxdomain.example"}, Note: "zqxnote called",
		Custom: map[string]string{"shoe": "zqxcustom"}, Mailing: people.Address{Line1: "zqxmailing 3", City: "Namur"}},
		people.Source{Kind: "staff", UserID: 1}, people.UpsertOptions{})
	if err != nil || res.PersonID != w.person {
		t.Fatalf("staff entry: %+v %v", res, err)
	}
	// A petition signature and a topic subscription.
	now := store.Millis(time.Now())
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO pages (nation_id, id, slug, type, title, created_at, updated_at) VALUES (?, 1, 'save-trees', 'petition', 'Save trees', ?, ?)`, []any{n.ID, now, now}},
		{`INSERT INTO signatures (nation_id, page_id, person_id, signed_at, comment, first_name, city) VALUES (?, 1, ?, ?, 'zqxcomment', 'zqxsigner', 'Zqxcity')`, []any{n.ID, w.person, now}},
		{`INSERT INTO topics (nation_id, id, slug, names, created_at) VALUES (?, 1, 'climate', '{}', ?)`, []any{n.ID, now}},
		{`INSERT INTO topic_subscriptions (nation_id, topic_id, person_id, status, at, source_ref) VALUES (?, 1, ?, 'subscribed', ?, 'zqxtopic-sub')`, []any{n.ID, w.person, now}},
		{`INSERT INTO jobs (nation_id, id, kind, args, run_at, max_attempts, created_at, updated_at) VALUES (?, 99, 'probe', ?, ?, 3, ?, ?)`,
			[]any{n.ID, `{"person_id":` + strconv.FormatInt(w.person, 10) + `}`, now + 3600_000, now, now}},
		{`INSERT INTO jobs (nation_id, id, kind, args, run_at, max_attempts, created_at, updated_at) VALUES (?, 98, 'probe', ?, ?, 3, ?, ?)`,
			[]any{n.ID, `{"person_ids":[` + strconv.FormatInt(w.person, 10) + `,` + strconv.FormatInt(w.other, 10) + `]}`, now + 3600_000, now, now}},
	} {
		if _, err := db.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// sendBroadcast sends one real broadcast through an in-process SMTP server
// to everyone with e-mail consent.
func (w *world) sendBroadcast(t *testing.T) *smtptest.Server {
	t.Helper()
	ctx := context.Background()
	sink := smtptest.Start(t, smtptest.Options{})
	m := &config.Mail{SMTPURL: sink.URL() + "?tls=none", From: "Parti <news@muster.example.org>", Connections: 2,
		OrgName: "Parti asbl", OrgAddress: "Rue de la Loi 16, 1000 Bruxelles", BaseURL: "https://muster.example.org", SecretKey: testKey}
	svc := broadcast.NewService(broadcast.Deps{DB: w.db, Jobs: jobs.New(w.db, slog.New(slog.DiscardHandler)), Mail: m})
	b, err := svc.Create(ctx, w.n.ID, 1, broadcast.Draft{Subject: "News", Body: "Hello {{first_name}}", Filter: "consent:email"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Send(ctx, w.n.ID, b.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	wk := broadcast.NewWorker(broadcast.WorkerConfig{DB: w.db, Mail: m, ID: "w1", Lease: 3 * time.Second})
	defer wk.Close()
	for range 50 {
		if err := wk.Run(ctx, w.n.ID, b.ID, nil); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sink.Wait(2, 5*time.Second) {
		t.Fatalf("broadcast: %d messages sent, want 2", sink.Count())
	}
	return sink
}

func TestEraseLeavesNoTrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := setup(t, db)
		w.sendBroadcast(t)

		// Before: the access export holds every marker and fits the schema.
		exp, err := w.svc.Collect(ctx, w.n.ID, w.person)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := exp.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		low := strings.ToLower(buf.String())
		for _, m := range markers {
			if !strings.Contains(low, strings.ToLower(m)) {
				t.Errorf("export lacks %q", m)
			}
		}
		if len(exp.Messages) != 1 || exp.Messages[0].State != "sent" {
			t.Errorf("export messages: %+v", exp.Messages)
		}
		validateExport(t, buf.Bytes())
		w.assertPlanted(t)

		rep, err := w.svc.Erase(ctx, w.n.ID, w.person, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Found || rep.People != 1 || rep.Suppressed < 3 || rep.Files < 2 || rep.Jobs != 2 || rep.Minimised != 1 {
			t.Errorf("erasure report: %+v", rep)
		}

		w.assertNoTrace(t)
		// What remains: the suppression hashes.
		var n int
		if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM suppressions WHERE nation_id = ? AND reason = 'erased' AND hash = ?`,
			w.n.ID, broadcast.EmailHash(testKey, "zqxmail@zqxdomain.example")).Scan(&n); err != nil || n != 1 {
			t.Errorf("suppression of the address: %d %v", n, err)
		}
		if ok, _ := broadcast.IsSuppressed(ctx, db, testKey, w.n.ID, "ZqxMail@zqxdomain.example"); !ok {
			t.Errorf("broadcast does not see the erased address as suppressed")
		}

		// The other person is untouched: their row, their import line, their
		// job argument, their message.
		o, err := w.people.Get(ctx, w.n.ID, w.other)
		if err != nil || o.FirstName != "Other" || o.Mobile.E164 != "+32470112233" || len(o.Tags) != 1 {
			t.Errorf("other person: %+v %v", o, err)
		}
		if !fileHas(t, w.dir, "other@example.org") {
			t.Errorf("the other person's import line went too")
		}
		var args string
		if err := db.QueryRow(ctx, `SELECT args FROM jobs WHERE nation_id = ? AND id = 98`, w.n.ID).Scan(&args); err != nil ||
			args != `{"person_ids":[`+strconv.FormatInt(w.other, 10)+`]}` {
			t.Errorf("job args: %q %v", args, err)
		}

		// Re-importing the original file does not bring the person back.
		orig := filepath.Join(t.TempDir(), "again.csv")
		if err := os.WriteFile(orig, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		sum, err := importer.Run(ctx, w.people, w.n.ID, orig, importer.RunOptions{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Created != 0 || sum.Rejected != 2 {
			t.Errorf("re-import: %+v", sum)
		}
		if _, err := w.svc.FindByEmail(ctx, w.n.ID, "zqxmail@zqxdomain.example"); err == nil {
			t.Errorf("the erased person came back")
		}
		// Staff entry by phone only is refused too.
		res, err := w.people.Upsert(ctx, w.n.ID, people.Record{FirstName: "X", Mobile: "+32470918273"}, people.Source{Kind: "staff"}, people.UpsertOptions{})
		if err != nil || res.Outcome != people.Rejected {
			t.Errorf("staff entry of an erased phone: %+v %v", res, err)
		}
		// The person's own form with fresh consent lifts it.
		res, err = w.people.Upsert(ctx, w.n.ID, people.Record{FirstName: "Back", Emails: []string{"zqxmail@zqxdomain.example"},
			Consents: []people.ConsentInput{{Channel: "email", Granted: true, Basis: "consent", Wording: "Yes"}}},
			people.Source{Kind: "form", Ref: "join"}, people.UpsertOptions{})
		if err != nil || res.Outcome != people.Created {
			t.Errorf("own form with consent: %+v %v", res, err)
		}
		if ok, _ := broadcast.IsSuppressed(ctx, db, testKey, w.n.ID, "zqxmail@zqxdomain.example"); ok {
			t.Errorf("the suppression was not lifted by the person's own consent")
		}
	})
}

// assertPlanted checks that the markers are in the raw database and the
// stored files before erasure, so that assertNoTrace cannot pass vacuously.
func (w *world) assertPlanted(t *testing.T) {
	t.Helper()
	before := rawDB(t, w.db)
	for _, m := range markers {
		if m == "zqxnote" {
			continue // notes are stored sealed (internal/crypt): never in the raw database
		}
		if !strings.Contains(before, m) {
			t.Fatalf("marker %q is not in the raw database before erasure: the test would be vacuous", m)
		}
	}
	for _, m := range []string{"zqxmail@zqxdomain.example", "zqxrejected"} {
		if !fileHas(t, w.dir, m) {
			t.Fatalf("marker %q is not in the stored files before erasure", m)
		}
	}
}

// assertNoTrace checks that no marker is left in the database (file and
// WAL, or a dump), the data directory (import, rejects, journal) or the
// logs.
func (w *world) assertNoTrace(t *testing.T) {
	t.Helper()
	after := rawDB(t, w.db)
	for _, m := range markers {
		if strings.Contains(after, m) {
			t.Errorf("database still holds %q", m)
		}
		if fileHas(t, w.dir, m) {
			t.Errorf("data directory still holds %q", m)
		}
		if strings.Contains(strings.ToLower(w.logs.String()), strings.ToLower(m)) {
			t.Errorf("logs hold %q", m)
		}
	}
}

// rawDB returns the raw database, lower-cased, to search for markers: on
// SQLite the bytes of the file and its WAL; on PostgreSQL a pg_dump of the
// test's schema.
func rawDB(t *testing.T, db *store.DB) string {
	t.Helper()
	if db.Engine == store.SQLite {
		var all []byte
		for _, p := range []string{db.Path, db.Path + "-wal"} {
			b, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return string(bytes.ToLower(all))
	}
	return strings.ToLower(pgDump(t, db))
}

func pgDump(t *testing.T, db *store.DB) string {
	t.Helper()
	// The dump must come from the same major version as the server, which
	// test.sh starts from /usr/lib/postgresql/*/bin.
	bin := ""
	if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump"); len(found) > 0 {
		bin = found[len(found)-1]
	} else if p, err := exec.LookPath("pg_dump"); err == nil {
		bin = p
	}
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pg_dump not found; CI needs it to prove erasure on PostgreSQL")
		}
		t.Skip("pg_dump not available")
	}
	var schema string
	if err := db.QueryRow(context.Background(), `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	out, err := exec.Command(bin, "--schema="+schema, "--no-owner", u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(out, []byte("suppressions")) {
		t.Fatalf("pg_dump output lacks the schema's tables")
	}
	return string(out)
}

func fileHas(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	s = strings.ToLower(s)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(bytes.ToLower(b), []byte(s)) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func validateExport(t *testing.T, doc []byte) {
	t.Helper()
	schema, err := os.ReadFile("../../web/static/person-export.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s, v any
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	if errs := privacy.Validate(s, v); len(errs) > 0 {
		t.Errorf("export does not fit its schema: %v", errs)
	}
}
