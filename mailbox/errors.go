package mailbox

import (
	"errors"
	"fmt"
)

// Kinds of domain error beyond the store's (ErrNotFound, ErrConflict,
// ErrUnavailable). Adapters map a kind to a protocol reply (HTTP status, SMTP
// code) at their edge; the core never speaks HTTP or SMTP.
var (
	ErrInvalid         = errors.New("invalid request")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrTooLarge        = errors.New("too large")
	ErrRateLimited     = errors.New("rate limited")
)

// Error is a domain error with a stable machine-readable code and a message
// that is safe to show to the client. Kind is one of the sentinel errors
// above, so errors.Is(err, ErrInvalid) works through wrapping.
type Error struct {
	Kind    error
	Code    string // e.g. "bad_address", "letter_not_found"
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind.
func Errorf(kind error, code, format string, args ...any) error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}
