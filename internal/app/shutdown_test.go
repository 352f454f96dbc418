package app_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
	req, _ := http.NewRequest("POST", b.base+"/v1/letters", pr)
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
	fmt.Fprintf(pw, "--B\r\nContent-Disposition: form-data; name=\"letter\"\r\n\r\n{\"recipient\":{\"name\":\"X\",\"address\":%q},\"body\":\"in flight\"}\r\n", citizenAddress)
	time.Sleep(100 * time.Millisecond) // the request is being read by the server

	shut := make(chan error, 1)
	go func() { shut <- b.srv.Shutdown(context.Background()) }()
	time.Sleep(100 * time.Millisecond) // shutdown has begun and waits for us
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
