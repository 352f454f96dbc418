package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/internal/store/storetest"
)

// TestSMTPThroughput measures the gateway against a go-smtp server that only
// fsyncs each message to a file, in the same run, over the same transport
// (implicit TLS with a client certificate), with the same client: N messages
// of 10 KB over 20 connections. NPES_SMTP_BENCH=1 runs the size
// (10,000 messages); NPES_SMTP_BENCH_MESSAGES sets another; by default a few
// messages keep the code working in CI. NPES_SMTP_BENCH_ENGINE=postgres
// measures on PostgreSQL. It reports and asserts nothing about time.
func TestSMTPThroughput(t *testing.T) {
	const conns = 20
	n := 100
	if os.Getenv("NPES_SMTP_BENCH") != "" {
		n = 10000
	}
	if v := os.Getenv("NPES_SMTP_BENCH_MESSAGES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < conns {
			t.Fatalf("NPES_SMTP_BENCH_MESSAGES=%q", v)
		}
	}
	url := ""
	if os.Getenv("NPES_SMTP_BENCH_ENGINE") == "postgres" {
		url = storetest.PostgresURL(t)
	}
	b := setup(t, url)
	p := newSMTPParties(t, b)

	// A 10 KB message: headers and a 10,000-octet text body.
	line := strings.Repeat("0123456789", 7) + "abcdef\r\n" // 78 octets
	body := strings.Repeat(line, 10000/len(line)) + strings.Repeat("x", 10000%len(line)-2) + "\r\n"
	if len(body) != 10000 {
		t.Fatalf("body of %d octets", len(body))
	}
	message := func(id string) []byte {
		return []byte("From: <" + p.orgAddr + ">\r\nMessage-ID: <" + id + "@bench.example>\r\nSubject: bench\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)
	}

	baseline := startFsyncServer(t, b)
	run := func(name, addr string) float64 {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		start := time.Now()
		for c := range conns {
			wg.Add(1)
			client := b.dialSMTP(t, &p.org.cred, true, addr)
			go func() {
				defer wg.Done()
				for i := c; i < n; i += conns {
					if _, err := submit(client, p.orgAddr, p.citizenAddr, message(fmt.Sprintf("%s-%d", name, i))); err != nil {
						errs <- fmt.Errorf("%s message %d: %w", name, i, err)
						return
					}
				}
				_ = client.Quit()
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		rate := float64(n) / elapsed.Seconds()
		t.Logf("%-9s %d messages of %d octets over %d connections in %v: %.0f messages/s",
			name, n, len(message("x")), conns, elapsed.Round(time.Millisecond), rate)
		return rate
	}
	base := run("fsync", baseline)
	npes := run("npes", b.srv.SMTPSAddr.String())
	t.Logf("npes (%s) / fsync-only go-smtp: %.2f", b.srv.Store.Engine(), npes/base)
	if got, want := p.citizen.inboxCount(t), min(n, 200); got != want {
		t.Fatalf("the first inbox page has %d letters, want %d", got, want)
	}
}

func (p *party) inboxCount(t *testing.T) int {
	t.Helper()
	var page struct{ Letters []struct{ ID string } }
	p.mustJSON("GET", "/v1/letters?folder=inbox&limit=200", nil, &page, 200)
	return len(page.Letters)
}

// startFsyncServer is the baseline: go-smtp on implicit TLS with the same
// server certificate and client-certificate check, whose backend writes
// each message to its own file and fsyncs it before the 250.
func startFsyncServer(t *testing.T, b *bundle) string {
	t.Helper()
	dir := t.TempDir()
	serverCert, err := b.srv.Data.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	cfg := &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &fsyncSession{dir: dir}, nil }))
	srv.Domain = "baseline.test"
	srv.MaxRecipients = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type fsyncSession struct{ dir string }

func (s *fsyncSession) Reset()                               {}
func (s *fsyncSession) Logout() error                        { return nil }
func (s *fsyncSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *fsyncSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *fsyncSession) Data(r io.Reader) error {
	f, err := os.CreateTemp(s.dir, "msg-*")
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
