package app_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// engines are the stores the server runs on.
var engines = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return "" },
	"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
}

// clientTLS is the TLS configuration of a client presenting cred.
func (b *bundle) clientTLS(t *testing.T, cred *certs.Credential) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	kp, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{kp}}
}

// keptAlive is an HTTP client that keeps its connection between requests
// and reports, for each request, whether it reused one.
type keptAlive struct {
	t  *testing.T
	hc *http.Client
}

func (b *bundle) keptAlive(t *testing.T, cred *certs.Credential) *keptAlive {
	tr := &http.Transport{TLSClientConfig: b.clientTLS(t, cred), MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &keptAlive{t: t, hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}
}

type reply struct {
	status int
	code   string // the API error code, if any
	close  bool   // the server announced it closes the connection
	reused bool   // the request went over a connection of an earlier request
	err    error
}

func (k *keptAlive) get(url string) reply {
	k.t.Helper()
	var r reply
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { r.reused = i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(k.t.Context(), trace), "GET", url, nil)
	if err != nil {
		k.t.Fatal(err)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		k.t.Fatal(err)
	}
	r.status, r.close = resp.StatusCode, resp.Close
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		r.code = e.Error.Code
	}
	return r
}

func (b *bundle) revoke(t *testing.T, cred certs.Credential) {
	t.Helper()
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.Store.InTx(t.Context(), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(t.Context(), id.Serial, int(certs.ReasonKeyCompromise), b.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// rawConn is one TLS connection driven by hand, to see what the server
// itself does with it (an http.Transport would hide a close it initiated).
type rawConn struct {
	t    *testing.T
	conn *tls.Conn
	br   *bufio.Reader
}

func (b *bundle) dialRaw(t *testing.T, cred *certs.Credential) *rawConn {
	t.Helper()
	c, err := tls.Dial("tcp", b.srv.HTTPAddr.String(), b.clientTLS(t, cred))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// Bounds a broken server, not a measurement: every read below has an
	// answer waiting or an end of stream coming.
	if err := c.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) get(url string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := req.Write(c.conn); err != nil {
		c.t.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.t.Fatalf("reading the response: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A certificate revoked while its connection stays open loses access on
// that connection's next request once the set has been reloaded: 401
// certificate_revoked, the server closes the connection, and a new
// connection is refused at the handshake.
func TestRevocationCutsKeptAliveConnections(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			cred := b.issue(t, person, b.clock.Now())
			other := b.issue(t, person, b.clock.Now())
			k := b.keptAlive(t, &cred)
			bystander := b.keptAlive(t, &other)
			raw := b.dialRaw(t, &cred)

			if r := k.get(b.base + "/v1/whoami"); r.err != nil || r.status != 200 || r.close {
				t.Fatalf("before revocation: %+v", r)
			}
			if r := bystander.get(b.base + "/v1/whoami"); r.err != nil || r.status != 200 {
				t.Fatalf("other certificate before revocation: %+v", r)
			}
			if resp := raw.get(b.base + "/v1/whoami"); resp.StatusCode != 200 || resp.Close {
				t.Fatalf("raw connection before revocation: %d close=%v", resp.StatusCode, resp.Close)
			}

			b.revoke(t, cred)
			if err := b.srv.RefreshRevocations(t.Context()); err != nil {
				t.Fatal(err)
			}

			r := k.get(b.base + "/v1/whoami")
			if r.err != nil || !r.reused || r.status != 401 || r.code != "certificate_revoked" || !r.close {
				t.Fatalf("kept-alive request after revocation: %+v; want 401 certificate_revoked on the same connection, closing it", r)
			}
			// A public route on a connection with the revoked certificate
			// is refused the same way: the certificate is what is refused.
			resp := raw.get(b.base + "/v1/health")
			if resp.StatusCode != 401 || !resp.Close {
				t.Fatalf("raw connection after revocation: %d close=%v; want 401 and Connection: close", resp.StatusCode, resp.Close)
			}
			// The server, not only the client, ends the connection.
			if n, err := raw.br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
				t.Fatalf("read after the 401 = %d, %v; want the server to close the connection (EOF)", n, err)
			}

			r = k.get(b.base + "/v1/whoami")
			if a, _ := certs.RemoteAlert(r.err); a != certs.AlertCertificateRevoked || r.reused {
				t.Fatalf("request after the cut: error %v, reused=%v; want a new connection refused at the handshake with the alert certificate_revoked", r.err, r.reused)
			}
			if r := bystander.get(b.base + "/v1/whoami"); r.err != nil || r.status != 200 || !r.reused {
				t.Fatalf("other certificate after the revocation: %+v; want 200 on its kept-alive connection", r)
			}
		})
	}
}

// A connection serves requests for at most ConnMaxLifetime by the
// server's clock: the first response after that closes it, and the client's
// next request needs a new connection (and handshake).
func TestConnMaxLifetime(t *testing.T) {
	t.Parallel()
	const lifetime = 10 * time.Minute
	b := setupWith(t, "", func(c *app.Config) { c.ConnMaxLifetime = lifetime })
	cred := b.issue(t, person, b.clock.Now())
	k := b.keptAlive(t, &cred)
	steps := []struct {
		name           string
		advance        time.Duration
		reused, closes bool
	}{
		{"first request", 0, false, false},
		{"young connection", lifetime - time.Second, true, false},
		{"connection at its lifetime", time.Second, true, true},
		{"next request", 0, false, false},
	}
	for _, s := range steps {
		b.clock.Advance(s.advance)
		r := k.get(b.base + "/v1/whoami")
		if r.err != nil || r.status != 200 || r.reused != s.reused || r.close != s.closes {
			t.Fatalf("%s: %+v; want 200, reused=%v, close=%v", s.name, r, s.reused, s.closes)
		}
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A revoked certificate is refused at the SMTP handshakes (implicit TLS and
// STARTTLS) with the alert certificate_revoked, and the server logs the
// refusal with the serial.
func TestSMTPRevokedHandshake(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupWith(t, "", func(c *app.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	cred := b.issue(t, person, b.clock.Now())
	b.revoke(t, cred)
	if err := b.srv.RefreshRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	serial := certs.FormatSerial(cred.Cert.SerialNumber)
	cfg := b.clientTLS(t, &cred)
	cfg.ServerName = "127.0.0.1"

	// greeting reads a reply of the server; over TLS 1.3 the client hears
	// of its refused certificate only when it reads.
	greeting := func(c net.Conn) error {
		_, _, err := textproto.NewConn(c).ReadResponse(220)
		return err
	}
	implicit := func() error {
		c, err := tls.Dial("tcp", b.srv.SMTPSAddr.String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		return greeting(c)
	}
	starttls := func() error {
		nc, err := net.Dial("tcp", b.srv.SMTPAddr.String())
		if err != nil {
			return err
		}
		defer nc.Close()
		tc := textproto.NewConn(nc)
		if _, _, err := tc.ReadResponse(220); err != nil {
			t.Fatalf("STARTTLS listener greeting: %v", err)
		}
		if _, err := tc.Cmd("EHLO client.example"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.ReadResponse(250); err != nil {
			t.Fatalf("EHLO: %v", err)
		}
		if _, err := tc.Cmd("STARTTLS"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tc.ReadResponse(220); err != nil {
			t.Fatalf("STARTTLS: %v", err)
		}
		c := tls.Client(nc, cfg)
		if err := c.Handshake(); err != nil {
			return err
		}
		if _, err := c.Write([]byte("EHLO client.example\r\n")); err != nil {
			return err
		}
		_, _, err = textproto.NewConn(c).ReadResponse(250)
		return err
	}
	for _, c := range []struct {
		name string
		dial func() error
	}{{"implicit TLS", implicit}, {"STARTTLS", starttls}} {
		err := c.dial()
		if a, _ := certs.RemoteAlert(err); a != certs.AlertCertificateRevoked {
			t.Errorf("%s with a revoked certificate: %v; want the alert certificate_revoked", c.name, err)
		}
	}
	// The refusal is logged before the alert is sent.
	var refusals int
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "the client certificate is revoked") && strings.Contains(line, serial) {
			refusals++
		}
	}
	if refusals != 2 {
		t.Fatalf("%d log lines name the refused revoked certificate %s, want 2 (one per listener); log:\n%s", refusals, serial, logs)
	}
}
