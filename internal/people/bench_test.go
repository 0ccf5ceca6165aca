package people_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/nation"
	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/storetest"
)

// synthetic returns n NationBuilder-like records with 5 % duplicates (the
// same e-mail again, another nationbuilder_id), tags and an e-mail opt-in.
func synthetic(n int) []people.Record {
	tags := []string{"climate", "volunteer", "donor", "member", "pensions", "housing", "youth", "canvass", "phonebank", "newsletter"}
	recs := make([]people.Record, n)
	for i := range recs {
		j := i
		if i%20 == 19 {
			j = i - 7 // a duplicate of an earlier row
		}
		recs[i] = people.Record{
			NationBuilderID: fmt.Sprint(i + 1),
			FirstName:       fmt.Sprintf("First%d", j%5000),
			LastName:        fmt.Sprintf("Last%d", j),
			Emails:          []string{fmt.Sprintf("person%d@example.org", j)},
			Mobile:          fmt.Sprintf("+32 47%d %02d %02d %02d", j%10, (j/10000)%100, (j/100)%100, j%100),
			BirthDate:       fmt.Sprintf("%04d-%02d-%02d", 1940+j%60, 1+j%12, 1+j%28),
			Gender:          []string{"f", "m", "x", ""}[j%4],
			SupportLevel:    fmt.Sprint(1 + j%5),
			Home:            people.Address{Line1: fmt.Sprintf("Straat %d", j%300), City: "Gent", Postcode: fmt.Sprint(1000 + j%8000), Country: "BE"},
			Tags:            []string{tags[j%10], tags[(j/10)%10]},
			Consents:        []people.ConsentInput{{Channel: "email", Granted: j%3 != 0}},
		}
	}
	return recs
}

// BenchmarkUpsertBatch imports 100,000 synthetic records in batches of 5,000
// on each engine, then imports them again (the idempotent re-import), and
// reports rows/s for both.
// benchRows is the size of the benchmark import.
var benchRows = 100_000

func BenchmarkUpsertBatch(b *testing.B) {
	const batch = 5_000
	rows := benchRows
	recs := synthetic(rows)
	for _, e := range storetest.Engines(b) {
		b.Run(string(e), func(b *testing.B) {
			db := storetest.Open(b, e)
			s := people.NewStore(db)
			var first, second time.Duration
			for it := 0; it < b.N; it++ {
				nat, err := nation.NewStore(db).Create(ctx, nation.NewNation{Slug: fmt.Sprintf("bench-%d", it), Name: "bench", Country: "BE"})
				if err != nil {
					b.Fatal(err)
				}
				for pass := 0; pass < 2; pass++ {
					start := time.Now()
					for i := 0; i < rows; i += batch {
						src := people.Source{Kind: "import", Ref: "bench.csv"}
						if _, err := s.UpsertBatch(ctx, nat.ID, recs[i:i+batch], nil, people.UpsertOptions{Source: src, Tags: []string{"bench"}}); err != nil {
							b.Fatal(err)
						}
					}
					if pass == 0 {
						first += time.Since(start)
					} else {
						second += time.Since(start)
					}
				}
			}
			b.ReportMetric(float64(rows*b.N)/first.Seconds(), "rows/s")
			b.ReportMetric(float64(rows*b.N)/second.Seconds(), "reimport-rows/s")
		})
	}
}
