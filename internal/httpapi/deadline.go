package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// BodyTimeouts bound how long a client may take to send a request body.
// http.Server's ReadHeaderTimeout covers only the headers: without these a
// client that dribbles a body (or stops sending it) holds a connection, a
// handler goroutine and a staged draft forever (slowloris on the body;
// internal/reliability TestSlowClients).
type BodyTimeouts struct {
	// Idle is the longest wait for the next bytes of a body (nginx's
	// client_body_timeout): a stalled upload is cut after it.
	Idle time.Duration
	// Total bounds reading a whole body, sized for the largest submission
	// (25 MiB of attachments) on a slow link.
	Total time.Duration
}

// DefaultBodyTimeouts: 30 s without progress, 20 minutes in all (25 MiB at
// about 170 kbit/s).
var DefaultBodyTimeouts = BodyTimeouts{Idle: 30 * time.Second, Total: 20 * time.Minute}

// errBodyTimeout marks a body read cut by BodyTimeouts.
var errBodyTimeout = errors.New("the request body was not sent in time")

// bodyDeadline enforces BodyTimeouts through the connection's read
// deadline (http.ResponseController), renewed before every read of the
// body, so progress keeps an upload alive up to Total.
func (s *server) bodyDeadline(next http.Handler) http.Handler {
	t := s.BodyTimeouts
	if t.Idle <= 0 && t.Total <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			b := &deadlineBody{rc: r.Body, ctl: http.NewResponseController(w), t: t, start: time.Now()}
			r.Body = b
			// Parsers may report a cut body as whatever it left them with
			// (a truncated MIME header, unexpected EOF): writeError asks the
			// body itself.
			r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
		}
		next.ServeHTTP(w, r)
	})
}

type bodyKey struct{}

// bodyTimedOut reports whether the request's body was cut by BodyTimeouts.
func bodyTimedOut(r *http.Request) bool {
	b, ok := r.Context().Value(bodyKey{}).(*deadlineBody)
	return ok && b.timedOut.Load()
}

type deadlineBody struct {
	rc    io.ReadCloser
	ctl   *http.ResponseController
	t     BodyTimeouts
	start time.Time
	err   error
	// timedOut is read by writeError, possibly on another goroutine than
	// the last Read (a handler may read the body concurrently).
	timedOut atomic.Bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	now := time.Now()
	var dl time.Time
	if b.t.Total > 0 {
		dl = b.start.Add(b.t.Total)
	}
	if b.t.Idle > 0 && (dl.IsZero() || now.Add(b.t.Idle).Before(dl)) {
		dl = now.Add(b.t.Idle)
	}
	// ErrNotSupported (a ResponseWriter without a connection, as in
	// in-memory tests) leaves the body without a deadline.
	_ = b.ctl.SetReadDeadline(dl)
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		// The whole body is in: clear the deadline, so that the server's
		// background read (which watches for a client hanging up while the
		// handler works) does not time out and cancel the request.
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	var ne interface{ Timeout() bool }
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		b.err = errBodyTimeout
		b.timedOut.Store(true)
		return n, b.err
	}
	return n, err
}

func (b *deadlineBody) Close() error { return b.rc.Close() }
