// Package errs defines the few kinds of failure that Muster distinguishes
// (not found, invalid, conflict, forbidden, unauthorized) so that every layer
// can report them and the edges (HTTP, command line) can map them to a status
// or an exit code in one place.
//
// An *Error carries a kind and a message that is safe to show to a user; the
// wrapped cause (if any) is for logs only and never reaches a response.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the edges that report it.
type Kind int

const (
	KindInternal Kind = iota
	KindNotFound
	KindInvalid
	KindConflict
	KindForbidden
	KindUnauthorized
	KindTooMany
)

// Sentinels for errors.Is checks.
var (
	ErrNotFound     = &Error{Kind: KindNotFound, Message: "not found"}
	ErrInvalid      = &Error{Kind: KindInvalid, Message: "invalid input"}
	ErrConflict     = &Error{Kind: KindConflict, Message: "already exists"}
	ErrForbidden    = &Error{Kind: KindForbidden, Message: "forbidden"}
	ErrUnauthorized = &Error{Kind: KindUnauthorized, Message: "sign-in required"}
	ErrTooMany      = &Error{Kind: KindTooMany, Message: "too many attempts"}
)

// Error is a classified error with a user-safe message.
type Error struct {
	Kind    Kind
	Message string // safe to show a user
	Field   string // the form field at fault, if any
	Err     error  // cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, errs.ErrNotFound) true for any *Error of that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && (t == ErrNotFound || t == ErrInvalid || t == ErrConflict ||
		t == ErrForbidden || t == ErrUnauthorized || t == ErrTooMany || t == e)
}

// NotFound returns a not-found error with a user-safe message.
func NotFound(format string, a ...any) error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, a...)}
}

// Invalid returns an invalid-input error with a user-safe message.
func Invalid(format string, a ...any) error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, a...)}
}

// InvalidField returns an invalid-input error attached to a form field.
func InvalidField(field, format string, a ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, a...)}
}

// Conflict returns a conflict error with a user-safe message.
func Conflict(format string, a ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, a...)}
}

// Forbidden returns a forbidden error with a user-safe message.
func Forbidden(format string, a ...any) error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, a...)}
}

// TooMany returns a rate-limit error with a user-safe message.
func TooMany(format string, a ...any) error {
	return &Error{Kind: KindTooMany, Message: fmt.Sprintf(format, a...)}
}

// KindOf reports the kind of err: the kind of the outermost *Error in its
// chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Message returns the user-safe message of err, or a generic one for
// internal errors whose text may hold details not meant for users.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Message
	}
	return "something went wrong on our side; the error has been logged"
}

// FieldOf returns the form field an error is attached to, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
