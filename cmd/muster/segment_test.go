package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSegmentCount(t *testing.T) {
	eachEngine(t, func(t *testing.T, c *cli) {
		if code, _, errOut := c.run("", "nation", "create", "demo", "--name", "Demo"); code != 0 {
			t.Fatalf("nation create: %d %s", code, errOut)
		}
		code, out, errOut := c.run("", "segment", "count", "--nation", "demo", "tag:x", "-tag:member")
		if code != 0 || strings.TrimSpace(out) != "0" {
			t.Fatalf("count: code %d, out %q, err %q", code, out, errOut)
		}
		code, out, _ = c.run("", "segment", "count", "--json", "--nation=demo", "age:45.. -(consent:email OR has:phone)")
		var got struct{ Count, Ms *int64 }
		if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || got.Count == nil || *got.Count != 0 || got.Ms == nil {
			t.Fatalf("--json: code %d, out %q (%v)", code, out, err)
		}
		code, out, errOut = c.run("", "segment", "count", "--nation", "demo", "tga:x")
		if code != 2 || out != "" || !strings.Contains(errOut, "column 1") || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("bad filter: code %d, out %q, err %q", code, out, errOut)
		}
		if code, _, _ = c.run("", "segment", "count", "--nation", "nowhere", "tag:x"); code == 0 {
			t.Fatal("unknown nation: exit 0")
		}
	})
}

func TestSplitFilterArgs(t *testing.T) {
	known := map[string]bool{"nation": true, "json": false, "data": true}
	flags, expr := splitFilterArgs([]string{"--nation", "x", "tag:a", "-tag:b", "--json", "-(a:b", "OR", "c:d)", "--data=/d"}, known)
	if strings.Join(flags, " ") != "--nation x --json --data=/d" || expr != "tag:a -tag:b -(a:b OR c:d)" {
		t.Errorf("flags %q, expr %q", flags, expr)
	}
	flags, expr = splitFilterArgs([]string{"--nation", "x", "--", "--json"}, known)
	if len(flags) != 2 || expr != "--json" {
		t.Errorf("after --: flags %q, expr %q", flags, expr)
	}
}
