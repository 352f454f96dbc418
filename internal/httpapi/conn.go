package httpapi

import (
	"context"
	"net"
	"net/http"
	"time"
)

// DefaultConnMaxLifetime bounds how long one client connection serves
// requests. Every request is checked against the revoked set, but whatever
// else the handshake settled (the chain, its validity period, the trusted
// CAs) is settled per connection: a bounded lifetime makes a client
// handshake again at least this often.
const DefaultConnMaxLifetime = 10 * time.Minute

type connStartKey struct{}

// ConnContext is an http.Server ConnContext that records when each
// connection was accepted, by now, for Deps.ConnMaxLifetime.
func ConnContext(now func() time.Time) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connStartKey{}, now())
	}
}

// connLifetime ends a connection older than ConnMaxLifetime after the
// response to its current request: "Connection: close" makes net/http close
// it once the response is written (RFC 9112 §9.6), and the client opens a
// new one, with a new handshake, for its next request. A request in
// progress is never cut; the body timeouts bound it.
func (s *server) connLifetime(next http.Handler) http.Handler {
	if s.ConnMaxLifetime <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if started, ok := r.Context().Value(connStartKey{}).(time.Time); ok && s.Now().Sub(started) >= s.ConnMaxLifetime {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}
