package segment

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits that keep a filter from costing more than it is worth: typed
// filters are a few dozen characters, saved ones a few hundred. Whitespace
// is left out of MaxLength because the canonical text may add a space
// where the input had none ("(a OR b)-c"), while it never adds anything
// else: so the canonical text of any filter that parses parses too.
const (
	MaxLength = 4096 // bytes of filter text, not counting whitespace (itself limited to as much again)
	MaxTerms  = 100  // qualifiers in one filter
	MaxDepth  = 20   // nested parentheses and negations
)

// Parse reads a filter. The empty (or all-blank) filter parses to *All,
// which matches everyone. Errors are *SyntaxError.
func Parse(src string) (Expr, error) {
	if len(src) > 2*MaxLength {
		return nil, syntaxErr(src, 2*MaxLength, "filter too long: at most %d characters", MaxLength)
	}
	dense := 0 // bytes that are not whitespace
	for i, r := range src {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(src[i:]); n == 1 {
				return nil, syntaxErr(src, i, "invalid UTF-8 text")
			}
		}
		if unicode.IsSpace(r) {
			continue
		}
		if unicode.IsControl(r) {
			return nil, syntaxErr(src, i, "unexpected control character U+%04X", r)
		}
		if dense += utf8.RuneLen(r); dense > MaxLength {
			return nil, syntaxErr(src, i, "filter too long: at most %d characters", MaxLength)
		}
	}
	p := &parser{src: src, lx: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return &All{}, nil
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokRParen {
		return nil, syntaxErr(src, p.tok.pos, `unbalanced ")"`)
	}
	return e, nil
}

// MustParse is Parse for filters known to be valid (tests, built-in
// segments); it panics on an error.
func MustParse(src string) Expr {
	e, err := Parse(src)
	if err != nil {
		panic("segment: MustParse(" + src + "): " + err.Error())
	}
	return e
}

type parser struct {
	src   string
	lx    lexer
	tok   token // the lookahead
	depth int
	terms int
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// startsUnary reports whether the lookahead can begin an operand. A bare
// word counts, so that it is reported where it stands.
func (p *parser) startsUnary() bool {
	switch p.tok.kind {
	case tokTerm, tokWord, tokNeg, tokNot, tokLParen:
		return true
	}
	return false
}

func (p *parser) errHere(format string, a ...any) error {
	return syntaxErr(p.src, p.tok.pos, format, a...)
}

// found is ", found X" for a message, or nothing at the end of the filter.
func (p *parser) found() string {
	if p.tok.kind == tokEOF {
		return ""
	}
	return ", found " + p.tok.describe()
}

func (p *parser) or() (Expr, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.tok.kind == tokOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.startsUnary() {
			return nil, p.errHere("expected a qualifier after OR%s", p.found())
		}
		next, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = appendFlat(terms, next, true)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &Or{Terms: terms}, nil
}

func (p *parser) and() (Expr, error) {
	if !p.startsUnary() {
		switch p.tok.kind {
		case tokOr:
			return nil, p.errHere("expected a qualifier before OR")
		case tokRParen:
			return nil, p.errHere(`unbalanced ")"`)
		}
		return nil, p.errHere("expected a qualifier%s", p.found())
	}
	var terms []Expr
	for p.startsUnary() {
		t, err := p.unary()
		if err != nil {
			return nil, err
		}
		terms = appendFlat(terms, t, false)
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &And{Terms: terms}, nil
}

// appendFlat appends t to terms, splicing in its terms when it is itself an
// AND inside an AND (or an OR inside an OR), so that equal filters have
// equal trees whatever their parentheses.
func appendFlat(terms []Expr, t Expr, inOr bool) []Expr {
	switch x := t.(type) {
	case *And:
		if !inOr {
			return append(terms, x.Terms...)
		}
	case *Or:
		if inOr {
			return append(terms, x.Terms...)
		}
	}
	return append(terms, t)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errHere("too deeply nested: at most %d levels of parentheses and negations", MaxDepth)
	}
	return nil
}

func (p *parser) unary() (Expr, error) {
	switch p.tok.kind {
	case tokNeg, tokNot:
		op := "-"
		if p.tok.kind == tokNot {
			op = "NOT"
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if !p.startsUnary() {
			return nil, p.errHere(`expected a qualifier or "(" after %s%s`, op, p.found())
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		p.depth--
		return &Not{X: x}, nil
	case tokLParen:
		open := p.tok.pos
		if err := p.enter(); err != nil {
			return nil, err
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tokRParen {
			return nil, p.errHere(`expected a qualifier inside "()"`)
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, syntaxErr(p.src, open, `unbalanced "("`)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		p.depth--
		return e, nil
	case tokWord:
		return nil, p.errHere("%s", bareWordMsg(p.tok.text))
	}
	p.terms++
	if p.terms > MaxTerms {
		return nil, p.errHere("too many qualifiers: at most %d", MaxTerms)
	}
	q, err := parseQualifier(p.src, p.tok)
	if err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return q, nil
}

// bareWordMsg explains a word that is not a qualifier, catching the
// keywords people write from other search languages.
func bareWordMsg(w string) string {
	switch w {
	case "AND", "and", "&&":
		return `AND is not needed: qualifiers side by side must all match`
	case "or", "Or", "||":
		return `expected a qualifier, found "` + w + `" (write OR in capitals)`
	case "not", "Not", "!":
		return `expected a qualifier, found "` + w + `" (write NOT in capitals, or use -)`
	}
	if strings.HasPrefix(w, "!") {
		return `expected a qualifier, found "` + clip(w) + `" (negate with - or NOT)`
	}
	return `expected a qualifier such as tag:NAME, found "` + clip(w) + `"`
}
