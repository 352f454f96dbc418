package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/npes/npes/mailbox"
)

// errorBody is the one error shape of the API (DESIGN §9):
// {"error": {"code": "...", "message": "..."}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// statusOf maps a domain error kind to an HTTP status. This is the only place
// where the core's errors meet HTTP (step-ca's errs/render is the model).
func statusOf(err error) (status int, code, message string) {
	var de *mailbox.Error
	if errors.As(err, &de) {
		code, message = de.Code, de.Message
	}
	switch {
	case errors.Is(err, mailbox.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, mailbox.ErrUnauthenticated):
		status = http.StatusUnauthorized
	case errors.Is(err, mailbox.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, mailbox.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, mailbox.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, mailbox.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, mailbox.ErrRateLimited):
		status = http.StatusTooManyRequests
	case errors.Is(err, mailbox.ErrUnavailable):
		status = http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError, "internal", "internal error"
	}
	if code == "" {
		// A bare sentinel: name the kind, leak nothing else.
		code, message = defaultCode(status), http.StatusText(status)
	}
	return status, code, message
}

func defaultCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	default:
		return "bad_request"
	}
}

// writeError renders err. Internal errors are logged with the request id
// and answered with a generic message.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBodyTimeout) || bodyTimedOut(r) {
		// RFC 9110 §15.5.9: the server timed out waiting for the request;
		// the connection is closed, as its read deadline has passed.
		w.Header().Set("Connection", "close")
		writeErrorCode(w, http.StatusRequestTimeout, "request_timeout", errBodyTimeout.Error())
		return
	}
	status, code, message := statusOf(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "5")
		}
	}
	writeErrorCode(w, status, code, message)
}

func writeErrorCode(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	writeJSON(w, status, b)
}

// writeJSON writes v as the reply, with encoding/json's (v1) semantics
// and output, from encoding/json/v2's implementation of them
// (github.com/go-json-experiment/json/v1, which Go's encoding/json becomes
// with v2): the same bytes, about three times as fast on a submission's
// reply, whose evidence envelopes v1 would scan again to compact them.
//
// The reply is encoded whole first, so it goes out with a Content-Length
// in one write (a 10 KiB receipt streamed through net/http's 4 KiB buffer
// was sent chunked, in several TLS records and system calls), and a value
// that cannot be encoded is a 500, not a 200 cut short.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	buf.Reset()
	enc := jsonv1.NewEncoder(buf)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		slog.Error("encoding a reply", "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString(`{"error":{"code":"internal","message":"the reply could not be encoded"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if _, err := w.Write(buf.Bytes()); err != nil {
		slog.Debug("writing response", "err", err)
	}
}

// jsonBuffers recycles the buffers JSON is read into and replies are
// encoded in; one grown past maxPooledJSON (a long listing, a large
// letter) is left to the collector.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledJSON = 64 << 10

func putJSONBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledJSON {
		jsonBuffers.Put(b)
	}
}
