package broadcast

import (
	"context"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/store"
)

// GenerateRecipients writes n people of a nation, each with an e-mail
// address at domain (person i is "p<i>@domain") and a granted e-mail
// consent, with bulk multi-row INSERTs. It is for benchmarks and tests;
// real people come through internal/people.
func GenerateRecipients(ctx context.Context, db *store.DB, nationID int64, n int, domain string, at int64) error {
	const batch = 2000
	for done := 0; done < n; {
		k := min(batch, n-done)
		pid, err := db.NextIDs(ctx, nationID, "people", int64(k))
		if err != nil {
			return fmt.Errorf("broadcast: generate: %w", err)
		}
		cid, err := db.NextIDs(ctx, nationID, "consents", int64(k))
		if err != nil {
			return fmt.Errorf("broadcast: generate: %w", err)
		}
		var pq, cq strings.Builder
		pq.WriteString(`INSERT INTO people (nation_id, id, first_name, last_name, email, email_norm, home_city, created_at, updated_at) VALUES `)
		cq.WriteString(`INSERT INTO consents (nation_id, id, person_id, channel, status, basis, source_kind, at) VALUES `)
		pargs := make([]any, 0, k*9)
		cargs := make([]any, 0, k*5)
		for i := range k {
			if i > 0 {
				pq.WriteString(", ")
				cq.WriteString(", ")
			}
			pq.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			cq.WriteString("(?, ?, ?, 'email', 'granted', 'consent', 'bench', ?)")
			id := pid + int64(i)
			email := fmt.Sprintf("p%d@%s", done+i, domain)
			pargs = append(pargs, nationID, id, fmt.Sprintf("First%d", done+i), "Last", email, email, "Liège", at, at)
			cargs = append(cargs, nationID, cid+int64(i), id, at)
		}
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.Exec(ctx, pq.String(), pargs...); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, cq.String(), cargs...)
			return err
		})
		if err != nil {
			return fmt.Errorf("broadcast: generate: %w", err)
		}
		done += k
	}
	return nil
}
