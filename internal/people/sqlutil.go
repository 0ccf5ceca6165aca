package people

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

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

// insertRows writes rows with as few statements as the engine allows.
// suffix follows the VALUES list (e.g. ON CONFLICT).
//
// PostgreSQL gets ONE statement per call, INSERT … SELECT FROM unnest() of
// one typed array per column: a single round trip and a single plan however
// many rows (near COPY speed, and unlike COPY it works inside the caller's
// database/sql transaction and takes ON CONFLICT). SQLite gets multi-row
// INSERTs of a few fixed sizes, prepared once per database.
func insertRows(ctx context.Context, tx *store.Tx, table string, cols []string, rows [][]any, suffix string) error {
	if len(rows) == 0 {
		return nil
	}
	if tx.Engine() == store.Postgres {
		if q, args, ok := unnestInsert(table, cols, rows, suffix); ok {
			if _, err := tx.Exec(ctx, q, args...); err != nil {
				return fmt.Errorf("insert into %s: %w", table, err)
			}
			return nil
		}
	}
	// Statements of three sizes only (a full chunk, 32 rows, one row),
	// each parsed once per database and cached (store.Tx.Cached): a
	// statement made to the batch's exact size would be parsed anew for
	// every batch, which on SQLite costs about as much as the rows.
	per := maxParams / len(cols)
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	text := func(n int) string {
		var b strings.Builder
		b.Grow(len(head) + n*(len(one)+1) + len(suffix) + 1)
		b.WriteString(head)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(one)
		}
		b.WriteString(" ")
		b.WriteString(suffix)
		return b.String()
	}
	args := make([]any, 0, min(per, len(rows))*len(cols))
	for start := 0; start < len(rows); {
		n := 1
		switch left := len(rows) - start; {
		case left >= per:
			n = per
		case left >= 32 && per >= 32:
			n = 32
		}
		st, err := tx.Cached(ctx, text(n))
		if err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		args = args[:0]
		for i := start; i < start+n; i++ {
			args = append(args, rows[i]...)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
		start += n
	}
	return nil
}

// unnestInsert builds PostgreSQL's INSERT … SELECT FROM unnest(arrays).
// Every column's values must share one Go type (string, integer or float,
// the floats and integers possibly nil); a column that is nil in every row
// is left out, so it takes its default (NULL). ok is false when a column
// mixes types, and the caller falls back to VALUES lists.
func unnestInsert(table string, cols []string, rows [][]any, suffix string) (q string, args []any, ok bool) {
	var names, exprs []string
	for c, name := range cols {
		arg, cast, ok := pgColumn(rows, c)
		if !ok {
			return "", nil, false
		}
		if arg == nil {
			continue // NULL everywhere: the column's default
		}
		args = append(args, arg)
		names = append(names, name)
		exprs = append(exprs, "?::"+cast)
	}
	q = "INSERT INTO " + table + " (" + strings.Join(names, ", ") + ") SELECT * FROM unnest(" +
		strings.Join(exprs, ", ") + ") " + suffix
	return q, args, true
}

// pgColumn gathers column c of rows into one typed array for unnest.
func pgColumn(rows [][]any, c int) (arg any, cast string, ok bool) {
	kind := ""
	nulls := false
	for _, r := range rows {
		k := ""
		switch r[c].(type) {
		case nil:
			nulls = true
			continue
		case string:
			k = "text[]"
		case int, int64, int32:
			k = "bigint[]"
		case float64:
			k = "float8[]"
		default:
			return nil, "", false
		}
		if kind != "" && kind != k {
			return nil, "", false
		}
		kind = k
	}
	switch {
	case kind == "":
		return nil, "", true
	case kind == "text[]" && !nulls:
		a := make([]string, len(rows))
		for i, r := range rows {
			a[i] = r[c].(string)
		}
		return a, kind, true
	case kind == "text[]":
		return nil, "", false
	case kind == "bigint[]":
		a := make([]*int64, len(rows))
		for i, r := range rows {
			var n int64
			switch v := r[c].(type) {
			case nil:
				continue
			case int:
				n = int64(v)
			case int64:
				n = v
			case int32:
				n = int64(v)
			}
			a[i] = &n
		}
		return a, kind, true
	default:
		a := make([]*float64, len(rows))
		for i, r := range rows {
			if f, isF := r[c].(float64); isF {
				a[i] = &f
			}
		}
		return a, kind, true
	}
}

// eachID is eachIn over sorted, distinct ids, for a query whose IN IN_LIST
// is on an indexed id column (people.id, person_id). Dense runs of ids, as
// the people one import batch matches mostly are (rows of a file, created
// in order), are read as ranges: one index descent rather than a probe per
// id. The rest go in one IN list. A range brings the rows of ids not asked
// for in its gaps too: scan must skip them.
func eachID(ctx context.Context, q querier, query string, args []any, ids []int64, scan func(*sql.Rows) error) error {
	var rest []int64
	ranged := strings.Replace(query, "IN IN_LIST", "BETWEEN ? AND ?", 1)
	for start := 0; start < len(ids); {
		end := start + 1
		for end < len(ids) && ids[end]-ids[end-1] <= denseGap {
			end++
		}
		if end-start < denseMin {
			rest = append(rest, ids[start:end]...)
			start = end
			continue
		}
		all := append(append(make([]any, 0, len(args)+2), args...), ids[start], ids[end-1])
		if err := eachRow(ctx, q, ranged, all, scan); err != nil {
			return err
		}
		start = end
	}
	return eachIn(ctx, q, query, args, rest, scan)
}

// A run of at least denseMin ids, none more than denseGap after the one
// before, is read as a range.
const (
	denseMin = 64
	denseGap = 4
)

func eachRow(ctx context.Context, q querier, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// eachIn runs query, in which the literal "IN IN_LIST" stands for "is one
// of values", and scans every row. values travel as ONE argument where the
// engine allows: a PostgreSQL array (= ANY(?)), or on SQLite a JSON array
// read by json_each (a short statement instead of thousands of
// placeholders to parse). Values that JSON cannot carry exactly (invalid
// UTF-8) fall back to chunks of "(?,…)" lists.
func eachIn[T string | int64](ctx context.Context, q querier, query string, args []any, values []T, scan func(*sql.Rows) error) error {
	if len(values) == 0 {
		return nil
	}
	run := func(query string, all []any) error { return eachRow(ctx, q, query, all, scan) }
	one := func(arg any, cond string) error {
		all := append(append(make([]any, 0, len(args)+1), args...), arg)
		return run(strings.Replace(query, "IN IN_LIST", cond, 1), all)
	}
	switch engineOf(q) {
	case store.Postgres:
		return one(values, "= ANY(?)")
	case store.SQLite:
		if js, ok := jsonList(values); ok {
			return one(js, "IN (SELECT value FROM json_each(?))")
		}
	}
	for start := 0; start < len(values); start += inChunk {
		end := min(start+inChunk, len(values))
		list := "(" + strings.TrimSuffix(strings.Repeat("?,", end-start), ",") + ")"
		all := append(append([]any(nil), args...), toAny(values[start:end])...)
		if err := run(strings.Replace(query, "IN_LIST", list, 1), all); err != nil {
			return err
		}
	}
	return nil
}

// engineOf names the engine behind q.
func engineOf(q querier) store.Engine {
	switch x := q.(type) {
	case *store.Tx:
		return x.Engine()
	case *store.DB:
		return x.Engine
	}
	return ""
}

// jsonList encodes values as a JSON array for json_each; ok is false when
// a string is not valid UTF-8 (JSON would alter it).
func jsonList[T string | int64](values []T) (string, bool) {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		switch x := any(v).(type) {
		case string:
			if !utf8.ValidString(x) {
				return "", false
			}
			enc, err := json.Marshal(x)
			if err != nil {
				return "", false
			}
			b.Write(enc)
		case int64:
			b.WriteString(strconv.FormatInt(x, 10))
		}
	}
	b.WriteByte(']')
	return b.String(), true
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
