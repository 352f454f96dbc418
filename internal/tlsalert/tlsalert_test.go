package tlsalert_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/tlsalert"
)

type pki struct {
	ca     *certs.CA
	server tls.Certificate
	pool   *x509.CertPool
}

func newPKI(t *testing.T) pki {
	t.Helper()
	now := time.Now()
	certPEM, keyPEM, err := certs.CreateCA("tlsalert test CA", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ca.IssueServer(nil, []net.IP{net.IPv4(127, 0, 0, 1)}, now)
	if err != nil {
		t.Fatal(err)
	}
	server, err := sc.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	return pki{ca: ca, server: server, pool: pool}
}

func (p pki) person(t *testing.T) certs.Credential {
	t.Helper()
	c, err := p.ca.Issue(certs.Request{Role: certs.RolePerson, Name: "Тест Тестович", PersonalID: "3140582A001PB3"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// serve runs a TLS echo-once server on a rewriter's listener until the
// test ends.
func serve(t *testing.T, cfg *tls.Config, rw *tlsalert.Rewriter) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	tln := tls.NewListener(rw.Listener(ln), cfg)
	go func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1)
				if _, err := c.Read(buf); err == nil {
					_, _ = c.Write(buf)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip connects with cred, sends a byte and reads the echo; in TLS 1.3
// the client learns of a refused certificate only when it reads.
func roundTrip(t *testing.T, addr string, p pki, cred certs.Credential, version uint16) error {
	t.Helper()
	kp, err := cred.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{kp}, MinVersion: version, MaxVersion: version})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, 1))
	return err
}

func TestRevokedAlert(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	good, revoked, foreign := p.person(t), p.person(t), p.person(t)
	set := &certs.RevocationSet{}
	if err := set.Revoke(certs.FormatSerial(revoked.Cert.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	rw := tlsalert.New(func(err error) bool { return errors.Is(err, certs.ErrRevoked) })
	// The "foreign" certificate stands for any other refusal: a checker
	// error, which must keep its bad_certificate alert.
	checker := certs.RevocationCheckerFunc(func(ctx context.Context, serial string) (bool, error) {
		if serial == certs.FormatSerial(foreign.Cert.SerialNumber) {
			return false, errors.New("no answer")
		}
		return set.IsRevoked(ctx, serial)
	})
	addr := serve(t, rw.Config(certs.ServerTLSConfig(p.server, p.pool, checker)), rw)

	for _, v := range []struct {
		name    string
		version uint16
	}{{"TLS 1.2", tls.VersionTLS12}, {"TLS 1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			if err := roundTrip(t, addr, p, good, v.version); err != nil {
				t.Fatalf("good certificate: %v", err)
			}
			cases := []struct {
				name string
				cred certs.Credential
				want tls.AlertError
			}{
				{"revoked", revoked, certs.AlertCertificateRevoked},
				{"other refusal", foreign, 42}, // bad_certificate, as crypto/tls sends it
			}
			for _, c := range cases {
				err := roundTrip(t, addr, p, c.cred, v.version)
				got, ok := certs.RemoteAlert(err)
				if !ok || got != c.want {
					t.Errorf("%s: error %v, alert %d (%v); want alert %d", c.name, err, got, ok, c.want)
				}
			}
			// The connection after a refusal is served normally.
			if err := roundTrip(t, addr, p, good, v.version); err != nil {
				t.Fatalf("good certificate after refusals: %v", err)
			}
		})
	}
}
