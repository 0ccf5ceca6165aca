package people

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/muster-org/muster/internal/store"
)

// querier is what *store.DB and *store.Tx have in common.
type querier interface {
	Exec(ctx context.Context, q string, args ...any) (sql.Result, error)
	Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

// maxParams bounds the placeholders of one statement: SQLite allows 32766,
// PostgreSQL 65535.
const maxParams = 30000

// inChunk is how many values go into one IN (...) list.
const inChunk = 1000

// insertRows writes rows with multi-row INSERTs, as few statements as the
// placeholder limit allows. suffix follows the VALUES list (e.g. ON CONFLICT).
func insertRows(ctx context.Context, tx *store.Tx, table string, cols []string, rows [][]any, suffix string) error {
	if len(rows) == 0 {
		return nil
	}
	per := maxParams / len(cols)
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		var b strings.Builder
		b.Grow(len(head) + (end-start)*(len(one)+1) + len(suffix))
		b.WriteString(head)
		args := make([]any, 0, (end-start)*len(cols))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteString(one)
			args = append(args, rows[i]...)
		}
		b.WriteString(" ")
		b.WriteString(suffix)
		if _, err := tx.Exec(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// eachIn runs query once per chunk of values, with "(?,…)" substituted for
// the literal IN_LIST in query and the chunk appended after args.
func eachIn[T any](ctx context.Context, q querier, query string, args []any, values []T, scan func(*sql.Rows) error) error {
	for start := 0; start < len(values); start += inChunk {
		end := min(start+inChunk, len(values))
		list := "(" + strings.TrimSuffix(strings.Repeat("?,", end-start), ",") + ")"
		all := append(append([]any(nil), args...), toAny(values[start:end])...)
		rows, err := q.Query(ctx, strings.Replace(query, "IN_LIST", list, 1), all...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return err
		}
		rows.Close()
	}
	return nil
}

func toAny[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// reserveIDs reserves n consecutive ids inside tx and returns the first.
// Inside the transaction so that a rollback also returns them; the counter
// row is the one store.DB.NextID uses, so ids never collide.
func reserveIDs(ctx context.Context, tx *store.Tx, nationID int64, name string, n int) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	var last int64
	err := tx.QueryRow(ctx, `
		INSERT INTO id_sequences (nation_id, name, last_id) VALUES (?, ?, ?)
		ON CONFLICT (nation_id, name) DO UPDATE SET last_id = id_sequences.last_id + excluded.last_id
		RETURNING last_id`, nationID, name, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("reserve %s ids: %w", name, err)
	}
	return last - int64(n) + 1, nil
}

// personSelect lists the columns loadPeople scans, in personCols order after
// the id.
var personSelect = func() string {
	names := make([]string, 0, numCols+1)
	names = append(names, "id")
	for _, c := range personCols {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}()

// scanPerson scans a row selected with personSelect.
func scanPerson(rows *sql.Rows) (int64, vals, error) {
	var id int64
	var v vals
	var ns [numCols]sql.NullString
	dest := make([]any, 0, numCols+1)
	dest = append(dest, &id)
	for i := range ns {
		dest = append(dest, &ns[i])
	}
	if err := rows.Scan(dest...); err != nil {
		return 0, v, err
	}
	for i := range ns {
		v[i] = ns[i].String
		if personCols[i].kind == kInt && v[i] == "0" {
			v[i] = "" // flags are "" or "1" in memory
		}
	}
	return id, v, nil
}
