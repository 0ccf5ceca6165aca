package people

import (
	"strings"
	"unicode"

	"github.com/muster-org/muster/internal/store"
)

// maxSearchWords bounds the words of a query that are matched, so that a
// pasted paragraph cannot build an unbounded statement.
const maxSearchWords = 8

// accentFrom and accentTo are the accent folding of the PostgreSQL search
// column (migration 0014_people_search.sql uses the same two strings with
// translate()); foldAccents applies it to the query. SQLite folds with
// FTS5's unicode61 remove_diacritics 2 instead.
const (
	accentFrom = "àáâãäåāăąçćčďèéêëēėęěìíîïīįłñńňòóôõöøōőřśšşťùúûüūůűýÿźżž"
	accentTo   = "aaaaaaaaacccdeeeeeeeeiiiiiilnnnoooooooorssstuuuuuuuyyzzz"
)

// foldAccents lower-cases s and folds the accents the search column folds.
func foldAccents(s string) string {
	from, to := []rune(accentFrom), []rune(accentTo)
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if i := indexRune(from, r); i >= 0 {
			r = to[i]
		}
		b.WriteRune(r)
	}
	return b.String()
}

func indexRune(rs []rune, r rune) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}

// searchTokens splits a query word into the tokens the index holds:
// letters and digits, split at everything else (so "ana.lopez@ex" gives
// ana, lopez, ex, as the e-mail was indexed). The tokens of one word are
// searched as a phrase, the last one by prefix: "ana.lopez@ex" must find
// those tokens one after the other, not anywhere in the record.
func searchTokens(word string) []string {
	return strings.FieldsFunc(word, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// MatchCondition returns an SQL condition over the people table's own
// columns (unqualified) that keeps the people of the nation matching query,
// and its arguments; "" when the query is blank (everyone matches). It is
// the one place the search rules live, for Store.Search and the control
// panel's list: every word must match the start of a name token or of an
// e-mail part (a word with punctuation, such as "jean-pierre" or
// "ana.lopez@ex", as consecutive tokens); accents and case are ignored; a
// word of four digits or more (separators allowed) matches anywhere in a
// phone number, so the national form "0470123456" finds +32470123456.
//
// SQLite searches the FTS5 table people_fts, PostgreSQL the tsvector column
// people.search_tsv; both are kept in step by the schema itself
// (0014_people_search.sql, 0017_bulk_write_costs.sql), so no write path has
// to remember them. Phone numbers are not in them (since 0017): the LIKE
// over the phone columns finds them, and their digits were the costliest
// terms of the full-text indexes to write.
func MatchCondition(engine store.Engine, nationID int64, query string) (string, []any) {
	var conds []string
	var args []any
	words := strings.Fields(query)
	if len(words) > maxSearchWords {
		words = words[:maxSearchWords]
	}
	for _, w := range words {
		toks := searchTokens(foldAccents(w))
		if len(toks) == 0 {
			continue
		}
		var cond string
		if engine == store.Postgres {
			q := make([]string, len(toks))
			for i, t := range toks {
				q[i] = "'" + t + "'"
			}
			q[len(q)-1] += ":*"
			cond = `search_tsv @@ to_tsquery('simple', ?)`
			args = append(args, strings.Join(q, " <-> "))
		} else {
			// people_fts is keyed by nation_id * 2^40 + id (migration
			// 0017): the nation is a rowid range.
			cond = `id IN (SELECT rowid - ? FROM people_fts WHERE people_fts MATCH ? AND rowid BETWEEN ? AND ?)`
			base := nationID << 40
			args = append(args, base, `"`+strings.Join(toks, " ")+`"*`, base, base+(1<<40)-1)
		}
		if d := digitsOnly(w); len(d) >= 4 {
			pat := "%" + strings.TrimPrefix(d, "0") + "%"
			cond += ` OR mobile_e164 LIKE ? OR phone_e164 LIKE ? OR work_phone_e164 LIKE ?`
			args = append(args, pat, pat, pat)
		}
		conds = append(conds, "("+cond+")")
	}
	if len(conds) == 0 && len(words) > 0 {
		return "1 = 0", nil // only punctuation: nothing can match it
	}
	return strings.Join(conds, " AND "), args
}
