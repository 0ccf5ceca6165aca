package people_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/muster-org/muster/internal/people"
	"github.com/muster-org/muster/internal/store"
	"github.com/muster-org/muster/internal/storetest"
)

// An import batch (a people upsert with a key filter) must not hold up
// other writers of the nation on PostgreSQL: a form submission made while a
// batch is open completes before the batch commits. On SQLite the one
// writer is the batch's until it commits, so the submission waits: both
// behaviours are asserted.
func TestImportBatchDoesNotBlockOtherWritersOnPostgres(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := people.NewStore(db)
		n := newNation(t, db, "noblock", "BE")
		keys, err := s.NewKeyFilter(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		inside, release := make(chan struct{}), make(chan struct{})
		batchDone := make(chan error, 1)
		go func() {
			_, err := s.UpsertBatch(ctx, n, []people.Record{{FirstName: "Imported", Emails: []string{"imp@example.org"}}},
				nil, people.UpsertOptions{Source: people.Source{Kind: "import", Ref: "f.csv"}, Keys: keys,
					Then: func(context.Context, *store.Tx, []people.RowResult) ([]int64, error) {
						close(inside)
						<-release
						return nil, nil
					}})
			batchDone <- err
		}()
		<-inside

		wait := 10 * time.Second
		if db.Engine == store.SQLite {
			wait = 300 * time.Millisecond
		}
		fctx, cancel := context.WithTimeout(ctx, wait)
		_, err = s.Upsert(fctx, n, people.Record{FirstName: "Signer", Emails: []string{"sign@example.org"}},
			people.Source{Kind: "form", Ref: "petition"}, people.UpsertOptions{})
		cancel()
		switch db.Engine {
		case store.Postgres:
			if err != nil {
				t.Errorf("form submission during an import batch: %v, want it written at once", err)
			}
		default:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("form submission during an import batch on SQLite: %v, want it to wait for the writer", err)
			}
		}
		close(release)
		if err := <-batchDone; err != nil {
			t.Fatal(err)
		}
	})
}
