package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
)

// The audience export hashes identifiers, keeps only people whose ads
// consent is granted, and refuses filters on political opinion.
func TestExportAudienceCLI(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		if code, _, errOut := c.run("", "nation", "create", "aud", "--name", "Audience"); code != 0 {
			t.Fatalf("nation create: %s", errOut)
		}
		ctx := context.Background()
		db, err := store.Open(ctx, c.dsnForOpen())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		attachKeys(t, c, db)
		n, err := nation.NewStore(db).BySlug(ctx, "aud")
		if err != nil {
			t.Fatal(err)
		}
		ps := people.NewStore(db)
		src := people.Source{Kind: "staff", At: time.Now()}
		add := func(email string, ads bool) {
			rec := people.Record{FirstName: "Ann", LastName: "Lee", Emails: []string{email}}
			if ads {
				rec.Consents = []people.ConsentInput{{Channel: "ads", Granted: true, Basis: "consent"}}
			}
			if _, err := ps.Upsert(ctx, n.ID, rec, src, people.UpsertOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		add("  Consents@Example.org ", true)
		add("refuses@example.org", false)

		code, out, errOut := c.run("", "export", "people", "--nation", "aud", "--format", "audience", "--purpose", "lookalike test")
		if code != 0 {
			t.Fatalf("audience export exit %d: %s", code, errOut)
		}
		sum := sha256.Sum256([]byte("consents@example.org"))
		if !strings.Contains(out, hex.EncodeToString(sum[:])) {
			t.Errorf("audience lacks the hashed, normalised e-mail: %q", out)
		}
		refused := sha256.Sum256([]byte("refuses@example.org"))
		if strings.Contains(out, hex.EncodeToString(refused[:])) || strings.Contains(out, "@") {
			t.Errorf("audience holds someone without ads consent, or clear text: %q", out)
		}

		code, _, errOut = c.run("", "export", "people", "--nation", "aud", "--format", "audience", "--purpose", "x", "--filter", "support:1..2")
		if code != 2 || !strings.Contains(errOut, "2024/900") {
			t.Errorf("opinion filter: exit %d, stderr %q; want 2 citing 2024/900", code, errOut)
		}
		code, _, errOut = c.run("", "export", "people", "--nation", "aud", "--format", "audience")
		if code != 2 || !strings.Contains(errOut, "--purpose") {
			t.Errorf("missing purpose: exit %d, stderr %q", code, errOut)
		}
	})
}

// dsnForOpen returns what store.Open takes for this CLI's database.
func (c *cli) dsnForOpen() string {
	if c.dsn[0] == "--data" {
		return c.dsn[1] + "/muster.db"
	}
	return c.dsn[1]
}
