package segment

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokEOF    tokKind = iota
	tokLParen         // (
	tokRParen         // )
	tokNeg            // - written against its operand
	tokNot            // NOT
	tokOr             // OR
	tokWord           // bare text without a colon: an error wherever it appears
	tokTerm           // NAME:VALUE
)

// token is one lexical unit. For a term, name and value are the parts
// around the first colon, value unquoted; pos is where the token starts.
type token struct {
	kind     tokKind
	pos      int
	text     string // source text, for messages
	name     string
	value    string
	valuePos int
	quoted   bool
}

// describe names the token for "found …" in messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end of the filter"
	case tokOr:
		return "OR"
	case tokNot:
		return "NOT"
	}
	return `"` + clip(t.text) + `"`
}

// clip shortens text quoted back in a message.
func clip(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	r := []rune(s)
	return string(r[:40]) + "…"
}

// lexer reads tokens one at a time, so the parser reports the first error
// in reading order whether it is lexical or grammatical.
type lexer struct {
	src string
	pos int
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

// endsBare reports whether r ends a bare word or value.
func endsBare(r rune) bool { return isSpace(r) || r == '(' || r == ')' }

func (l *lexer) peekRune(at int) (rune, int) {
	if at >= len(l.src) {
		return -1, 0
	}
	return utf8.DecodeRuneInString(l.src[at:])
}

func (l *lexer) next() (token, error) {
	for {
		r, n := l.peekRune(l.pos)
		if r < 0 || !isSpace(r) {
			break
		}
		l.pos += n
	}
	start := l.pos
	r, n := l.peekRune(start)
	switch {
	case r < 0:
		return token{kind: tokEOF, pos: start}, nil
	case r == '(':
		l.pos += n
		return token{kind: tokLParen, pos: start, text: "("}, nil
	case r == ')':
		l.pos += n
		return token{kind: tokRParen, pos: start, text: ")"}, nil
	case r == '-':
		if next, _ := l.peekRune(start + n); next < 0 || isSpace(next) {
			return token{}, syntaxErr(l.src, start, `expected a qualifier or "(" right after "-"`)
		}
		l.pos += n
		return token{kind: tokNeg, pos: start, text: "-"}, nil
	case r == '"':
		return token{}, syntaxErr(l.src, start, `expected a qualifier before the quoted text, as in tag:"climate strike"`)
	}

	// A word: a qualifier name up to its colon, or a keyword.
	end := start
	for {
		r, n := l.peekRune(end)
		if r < 0 || endsBare(r) || r == ':' || r == '"' {
			break
		}
		end += n
	}
	word := l.src[start:end]
	if r, _ := l.peekRune(end); r != ':' {
		if r == '"' {
			return token{}, syntaxErr(l.src, end, `unexpected quote after %q; quote a whole value, as in tag:"climate strike"`, clip(word))
		}
		l.pos = end
		switch word {
		case "OR":
			return token{kind: tokOr, pos: start, text: word}, nil
		case "NOT":
			return token{kind: tokNot, pos: start, text: word}, nil
		}
		return token{kind: tokWord, pos: start, text: word}, nil
	}
	if word == "" {
		return token{}, syntaxErr(l.src, start, `expected a qualifier name before ":"`)
	}
	tok := token{kind: tokTerm, pos: start, name: word, valuePos: end + 1}
	l.pos = end + 1
	if r, _ := l.peekRune(l.pos); r == '"' {
		v, err := l.quoted()
		if err != nil {
			return token{}, err
		}
		tok.value, tok.quoted = v, true
	} else {
		for {
			r, n := l.peekRune(l.pos)
			if r < 0 || endsBare(r) {
				break
			}
			if r == '"' {
				return token{}, syntaxErr(l.src, l.pos, `unexpected quote inside a value; quote the whole value, as in tag:"climate strike"`)
			}
			l.pos += n
		}
		tok.value = l.src[tok.valuePos:l.pos]
	}
	tok.text = l.src[start:l.pos]
	return tok, nil
}

// quoted reads a double-quoted value at l.pos, with \" and \\ escapes.
func (l *lexer) quoted() (string, error) {
	open := l.pos
	l.pos++
	var b strings.Builder
	for {
		r, n := l.peekRune(l.pos)
		switch r {
		case -1:
			return "", syntaxErr(l.src, open, `unterminated quoted value: expected a closing "`)
		case '"':
			l.pos += n
			if next, _ := l.peekRune(l.pos); next >= 0 && !endsBare(next) {
				return "", syntaxErr(l.src, l.pos, `expected a space or ")" after the closing quote`)
			}
			return b.String(), nil
		case '\\':
			esc, m := l.peekRune(l.pos + n)
			if esc != '"' && esc != '\\' {
				return "", syntaxErr(l.src, l.pos, `invalid escape in quoted value: use \" for a quote and \\ for a backslash`)
			}
			b.WriteRune(esc)
			l.pos += n + m
		default:
			b.WriteRune(r)
			l.pos += n
		}
	}
}
