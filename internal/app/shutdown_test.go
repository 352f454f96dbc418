package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestGracefulShutdown: a submission in flight when shutdown starts is
// finished and acknowledged; new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)

	pr, pw := io.Pipe()
	connected := make(chan struct{})
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { close(connected) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "POST", b.base+"/v1/letters", pr)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	type result struct {
		status int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := org.c.Do(req)
		if err != nil {
			done <- result{0, err}
			return
		}
		resp.Body.Close()
		done <- result{resp.StatusCode, nil}
	}()
	<-connected // the server accepted the connection and finished the handshake
	fmt.Fprintf(pw, "--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"X\",\"address\":%q},\"body\":\"in flight\"}\r\n", citizenAddress)
	fmt.Fprint(pw, "--B\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"note.txt\"\r\nContent-Type: text/plain\r\n\r\nв пути\r\n")
	// The handler stages an attachment in the data directory's tmp as soon
	// as it reads the part: then the request is being served, not merely
	// sent (a request read after shutdown begins is dropped, by design of
	// net/http).
	staging := filepath.Join(b.srv.Data.Root, "tmp")
	waitFor(t, 30*time.Second, "the server to start reading the attachment", func() bool {
		entries, _ := os.ReadDir(staging)
		return len(entries) > 0
	})

	shut := make(chan error, 1)
	go func() { shut <- b.srv.Shutdown(context.Background()) }()
	// Shutdown has begun once the listener refuses new connections; only
	// then is the rest of the letter sent.
	waitFor(t, 30*time.Second, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", b.srv.HTTPAddr.String(), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	fmt.Fprint(pw, "--B--\r\n")
	pw.Close()

	r := <-done
	if r.err != nil || r.status != 201 {
		t.Fatalf("in-flight submission: %d %v, want 201", r.status, r.err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, _, err := get(t, b.client(t, nil), b.base+"/v1/health"); err == nil {
		t.Fatal("a new connection was accepted after shutdown")
	}
}

// waitFor polls cond until it holds, failing the test with what it waited
// for when bound passes: tests wait for conditions, never for durations.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", bound, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
