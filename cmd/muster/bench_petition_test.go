package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// A short run of muster bench petition on each engine: both phases serve
// requests and every accepted signature is found in the database.
func TestBenchPetitionSmoke(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(string(engine), func(t *testing.T) {
			args := []string{"bench", "petition", "--duration", "1s", "--concurrency", "4", "--json"}
			if engine == store.Postgres {
				args = append(args, "--engine", "postgres", "--database", storetest.PostgresURL(t))
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var res struct {
				Phases []phaseResult `json:"phases"`
				Check  lossCheck     `json:"check"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if len(res.Phases) != 2 || res.Phases[0].Method != "GET" || res.Phases[1].Method != "POST" {
				t.Fatalf("phases %+v, want GET then POST", res.Phases)
			}
			for _, p := range res.Phases {
				if p.OK == 0 || p.Failed != 0 || p.P99ms < p.P50ms {
					t.Errorf("%s: %+v", p.Method, p)
				}
			}
			c := res.Check
			if !c.OK || c.Accepted != res.Phases[1].OK || c.Signatures != c.Accepted || c.People != c.Accepted {
				t.Errorf("check %+v after %d accepted signatures", c, res.Phases[1].OK)
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb},
			[]string{"bench", "petition", "--get-only", "--post-only"})
		if code != 2 || !strings.Contains(errb.String(), "exclude each other") {
			t.Errorf("exit %d, %q", code, errb.String())
		}
	})
}
