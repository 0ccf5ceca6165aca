package segment

import (
	"fmt"
	"unicode/utf8"

	"github.com/muster-org/muster/internal/errs"
)

// SyntaxError is a filter that cannot be parsed: the place and what was
// expected there. It unwraps to an errs.Error of KindInvalid, so the command
// line exits 2 and the control panel shows the message under the filter box.
type SyntaxError struct {
	Pos int    // byte offset in the filter text
	Col int    // column, counted in characters from 1
	Msg string // what was expected and what was found
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("at column %d: %s", e.Col, e.Msg)
}

// Unwrap exposes the error's kind (invalid input) to errs.KindOf and
// errs.Message; the message is safe to show: it only quotes the user's own
// filter text.
func (e *SyntaxError) Unwrap() error {
	return &errs.Error{Kind: errs.KindInvalid, Message: e.Error(), Field: "filter"}
}

// syntaxErr builds a SyntaxError at byte offset pos of src.
func syntaxErr(src string, pos int, format string, a ...any) *SyntaxError {
	if pos > len(src) {
		pos = len(src)
	}
	return &SyntaxError{Pos: pos, Col: utf8.RuneCountInString(src[:pos]) + 1, Msg: fmt.Sprintf(format, a...)}
}
