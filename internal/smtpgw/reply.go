package smtpgw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/mailbox"
)

// Kinds of refusal the gateway decides itself, before or around the core.
// Each refusal wraps one of them, so tests and logs can branch with
// errors.Is; the SMTP reply the client sees is chosen where the refusal is
// raised (the same condition means different replies at MAIL and at the end
// of DATA).
var (
	// ErrNoTLS: a transaction was attempted on a plaintext connection
	// (RFC 3207 §4: 530 5.7.0 Must issue a STARTTLS command first).
	ErrNoTLS = errors.New("smtpgw: TLS required")
	// ErrNoCertificate: the TLS connection presented no verified client
	// certificate (RFC 4954 §6: 530 5.7.0 Authentication required).
	ErrNoCertificate = errors.New("smtpgw: client certificate required")
	// ErrSender: the envelope sender or the From header is not a mailbox of
	// the authenticated certificate (the PEC rule, DESIGN §7).
	ErrSender = errors.New("smtpgw: sender not allowed")
	// ErrRecipient: the recipient is unknown, inactive or in another domain.
	ErrRecipient = errors.New("smtpgw: recipient not allowed")
	// ErrLineEnding: a bare CR or LF, or a NUL, in DATA (RFC 5321 §2.3.8,
	// RFC 5322 §2.3): the classic SMTP smuggling payloads.
	ErrLineEnding = errors.New("smtpgw: bare CR or LF in message")
	// ErrLineTooLong: a line of DATA exceeds RFC 5321 §4.5.3.1.6.
	ErrLineTooLong = errors.New("smtpgw: line too long")
	// ErrTooLarge: a header block, the body or the message exceeds a limit.
	ErrTooLarge = errors.New("smtpgw: too large")
	// ErrTooComplex: MIME nesting or the number of parts exceeds a limit.
	ErrTooComplex = errors.New("smtpgw: MIME structure too complex")
	// ErrMalformed: the message does not parse as RFC 5322 / MIME, or an
	// npes header is invalid.
	ErrMalformed = errors.New("smtpgw: malformed message")
	// ErrUnsupported: an unknown charset or transfer encoding.
	ErrUnsupported = errors.New("smtpgw: unsupported encoding")
	// ErrTimeout: the client did not finish a command or transaction in time.
	ErrTimeout = errors.New("smtpgw: timeout")
	// ErrBusy: a connection cap was reached, or the server is shutting down.
	ErrBusy = errors.New("smtpgw: busy")
)

// refusal is a refusal with the reply to send. Its message is written for
// the client and never contains internal details.
type refusal struct {
	kind  error
	reply smtp.SMTPError
}

func (r *refusal) Error() string { return r.reply.Message }
func (r *refusal) Unwrap() error { return r.kind }

// RefusalCode is the reason label of a refused submission
// (mailbox.RefusalReason): one word per kind.
func (r *refusal) RefusalCode() string {
	if c, ok := refusalCodes[r.kind]; ok {
		return c
	}
	return "other"
}

var refusalCodes = map[error]string{
	ErrNoTLS: "tls_required", ErrNoCertificate: "certificate_required", ErrSender: "sender_not_allowed",
	ErrRecipient: "recipient_not_allowed", ErrLineEnding: "bare_line_ending", ErrLineTooLong: "line_too_long",
	ErrTooLarge: "too_large", ErrTooComplex: "mime_too_complex", ErrMalformed: "malformed_message",
	ErrUnsupported: "unsupported_encoding", ErrTimeout: "timeout", ErrBusy: "busy",
}

// refuse builds a refusal of a kind with an SMTP reply (RFC 5321 §4.2 code,
// RFC 3463 enhanced status code).
func refuse(kind error, code int, enh smtp.EnhancedCode, format string, args ...any) error {
	return &refusal{kind: kind, reply: smtp.SMTPError{Code: code, EnhancedCode: enh, Message: fmt.Sprintf(format, args...)}}
}

// Enhanced status codes used here (RFC 3463).
var (
	enhOK           = smtp.EnhancedCode{2, 0, 0}
	enhBadDestMbox  = smtp.EnhancedCode{5, 1, 1}
	enhBadDestSys   = smtp.EnhancedCode{5, 1, 2}
	enhBadDestAddr  = smtp.EnhancedCode{5, 1, 3}
	enhTooBig       = smtp.EnhancedCode{5, 3, 4}
	enhMedia        = smtp.EnhancedCode{5, 6, 0}
	enhMediaUnsupp  = smtp.EnhancedCode{5, 6, 1}
	enhAuthRequired = smtp.EnhancedCode{5, 7, 0}
	enhNotAuthz     = smtp.EnhancedCode{5, 7, 1}
	enhTempTimeout  = smtp.EnhancedCode{4, 4, 2}
	enhTempBusy     = smtp.EnhancedCode{4, 4, 5}
	enhTempSystem   = smtp.EnhancedCode{4, 3, 0}
	enhTempPolicy   = smtp.EnhancedCode{4, 7, 0}
	enhInternal     = smtp.EnhancedCode{5, 0, 0}
)

// replyFor maps any error to the SMTP reply the client gets. It is the only
// place where the core's errors meet SMTP (maddy's wrapErr is the model):
//
//   - a refusal carries its own reply;
//   - go-smtp's own replies (message too large) pass through;
//   - a domain *mailbox.Error maps by kind, with its client-safe message;
//   - a timeout is 451 4.4.2 (temporary: the client retries);
//   - anything else is a generic 554 5.0.0 with an opaque reference that is
//     also logged: the client learns nothing about the internals.
//
// internal is true for the last case, so the caller logs the error.
func replyFor(err error) (reply *smtp.SMTPError, ref string, internal bool) {
	var rf *refusal
	if errors.As(err, &rf) {
		r := rf.reply
		return &r, "", false
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se, "", false
	}
	var de *mailbox.Error
	if errors.As(err, &de) {
		return domainReply(de), "", false
	}
	if isTimeout(err) {
		return &smtp.SMTPError{Code: 451, EnhancedCode: enhTempTimeout, Message: "Timeout: the transaction took too long; nothing was accepted, try again"}, "", false
	}
	switch {
	case errors.Is(err, mailbox.ErrUnavailable):
		return &smtp.SMTPError{Code: 451, EnhancedCode: enhTempSystem, Message: "Temporarily unavailable; nothing was accepted, try again later"}, "", false
	case errors.Is(err, mailbox.ErrRateLimited):
		return &smtp.SMTPError{Code: 451, EnhancedCode: enhTempPolicy, Message: "Rate limited; try again later"}, "", false
	}
	ref = newRef()
	return &smtp.SMTPError{Code: 554, EnhancedCode: enhInternal, Message: "Internal error; the letter was not accepted (ref " + ref + ")"}, ref, true
}

// domainReply maps a domain error. Codes of address problems get 5.1.3
// (bad destination address syntax): the postal address is the destination.
func domainReply(de *mailbox.Error) *smtp.SMTPError {
	msg := de.Message
	if msg == "" {
		msg = de.Code
	}
	reply := func(code int, enh smtp.EnhancedCode) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: msg + " (" + de.Code + ")"}
	}
	switch de.Code {
	case "bad_address", "missing_address", "postcode_required":
		return reply(550, enhBadDestAddr)
	}
	switch {
	case errors.Is(de, mailbox.ErrInvalid):
		return reply(550, enhMedia)
	case errors.Is(de, mailbox.ErrTooLarge):
		return reply(552, enhTooBig)
	case errors.Is(de, mailbox.ErrForbidden), errors.Is(de, mailbox.ErrUnauthenticated):
		return reply(550, enhNotAuthz)
	case errors.Is(de, mailbox.ErrNotFound):
		return reply(550, enhBadDestMbox)
	case errors.Is(de, mailbox.ErrConflict):
		return reply(554, enhMedia)
	case errors.Is(de, mailbox.ErrRateLimited):
		return reply(451, enhTempPolicy)
	case errors.Is(de, mailbox.ErrUnavailable):
		return reply(451, enhTempSystem)
	}
	return reply(554, enhInternal)
}

func isTimeout(err error) bool {
	if errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// newRef is an opaque reference that ties a generic reply to a log line.
func newRef() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
