package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The generated file has the asked number of rows, about the asked share of
// duplicates (an earlier person's e-mail), and realistic name variety: few
// distinct people share first name, last name and postcode, so the
// duplicate-proposal rule does not fire for nearly every row as it would
// with a handful of names.
func TestGenerateNationBuilderVariety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "people.csv")
	const n = 20000
	if err := generateNationBuilder(path, n, 0.05); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+1 {
		t.Fatalf("rows = %d, want %d and a header", len(rows)-1, n)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	people := map[string]string{} // normalised e-mail → name and postcode
	names := map[string]int{}
	dups := 0
	for _, r := range rows[1:] {
		email := strings.ToLower(strings.TrimSpace(r[col["email"]]))
		key := r[col["first_name"]] + "|" + r[col["last_name"]] + "|" + r[col["primary_zip"]]
		if prev, ok := people[email]; ok {
			dups++
			if prev != key {
				t.Fatalf("duplicate row of %s has %q, first row %q", email, key, prev)
			}
			continue
		}
		people[email] = key
		names[key]++
	}
	if dups < n*3/100 || dups > n*7/100 {
		t.Errorf("duplicates = %d of %d rows, want about 5%%", dups, n)
	}
	shared := 0
	for _, c := range names {
		if c > 1 {
			shared += c
		}
	}
	if shared > len(people)/100 {
		t.Errorf("%d of %d people share name and postcode with another", shared, len(people))
	}
}
