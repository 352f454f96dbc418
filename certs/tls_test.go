package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

func TestHandshakeAccepts(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	srv := startServer(t, s.config())

	t.Run("person certificate: identity read back", func(t *testing.T) {
		t.Parallel()
		cred := issue(t, s.ca, personRequest(), s.now)
		r, cs, err := dial(srv.addr, clientConfig(t, &cred, s.ca))
		if err != nil {
			t.Fatalf("handshake refused: %v", err)
		}
		if r.Identity == nil {
			t.Fatalf("server saw no identity: %+v", r)
		}
		id := *r.Identity
		if id.Role != certs.RolePerson || id.Name != "Алеся Іванова" || id.PersonalID != "3140582A001PB3" {
			t.Errorf("identity = %+v", id)
		}
		if id.Serial != certs.FormatSerial(cred.Cert.SerialNumber) {
			t.Errorf("serial = %s, want %s", id.Serial, certs.FormatSerial(cred.Cert.SerialNumber))
		}
		if cs.Version != tls.VersionTLS13 {
			t.Errorf("version = %x, want TLS 1.3", cs.Version)
		}
		// Go's default key exchange must survive our config: post-quantum hybrid.
		if cs.CurveID != tls.X25519MLKEM768 {
			t.Errorf("key exchange = %v, want X25519MLKEM768", cs.CurveID)
		}
	})

	t.Run("print centre over TLS 1.2 with an AEAD suite", func(t *testing.T) {
		t.Parallel()
		cred := issue(t, s.ca, certs.Request{Role: certs.RolePrintCenter, Name: "Print centre Minsk", Regions: []string{"222", "220"}}, s.now)
		cfg := clientConfig(t, &cred, s.ca)
		cfg.MaxVersion = tls.VersionTLS12
		r, cs, err := dial(srv.addr, cfg)
		if err != nil {
			t.Fatalf("handshake refused: %v", err)
		}
		if r.Identity == nil || r.Identity.Role != certs.RolePrintCenter || !slices.Equal(r.Identity.Regions, []string{"220", "222"}) {
			t.Errorf("identity = %+v", r.Identity)
		}
		if cs.Version != tls.VersionTLS12 {
			t.Errorf("version = %x, want TLS 1.2", cs.Version)
		}
	})

	t.Run("no certificate: handshake completes, no identity", func(t *testing.T) {
		t.Parallel()
		r, _, err := dial(srv.addr, clientConfig(t, nil, s.ca))
		if err != nil {
			t.Fatalf("handshake refused: %v", err)
		}
		if r.Identity != nil || r.Err != "" {
			t.Errorf("anonymous client got %+v", r)
		}
	})
}

func TestHandshakeRefuses(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	foreign := newTestCA(t, "npes test CA", s.now) // the same name, another key
	revoked := issue(t, s.ca, personRequest(), s.now)
	if err := s.rev.Revoke(certs.FormatSerial(revoked.Cert.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	serverCred, err := s.ca.IssueServer(nil, nil, s.now)
	if err != nil {
		t.Fatal(err)
	}
	isVerifyErr := func(err error) bool {
		var v *tls.CertificateVerificationError
		return errors.As(err, &v)
	}
	tests := []struct {
		name string
		cred certs.Credential
		// why checks the server's reason, so the test cannot pass on a
		// refusal for some other cause.
		why func(error) bool
	}{
		{"foreign CA, same CA name, same identity", issue(t, foreign, personRequest(), s.now), isVerifyErr},
		{"expired", func() certs.Credential {
			r := personRequest()
			r.Days = 30
			return issue(t, s.ca, r, s.now.AddDate(0, 0, -40))
		}(), isVerifyErr},
		{"not yet valid", issue(t, s.ca, personRequest(), s.now.Add(48*time.Hour)), isVerifyErr},
		{"serverAuth usage only", serverCred, isVerifyErr},
		{"revoked", revoked, func(err error) bool { return errors.Is(err, certs.ErrRevoked) }},
		// crypto/tls accepts these chains (RFC 5280 §4.2.1.12 reads a missing
		// EKU or anyExtendedKeyUsage as any purpose); VerifyConnection does not.
		{"no extended key usage", forge(t, s.ca, s.now, func(c *x509.Certificate) { c.ExtKeyUsage = nil }),
			func(err error) bool { return errors.Is(err, certs.ErrWrongUsage) }},
		{"anyExtendedKeyUsage", forge(t, s.ca, s.now, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }),
			func(err error) bool { return errors.Is(err, certs.ErrWrongUsage) }},
		{"no role URI", forge(t, s.ca, s.now, func(c *x509.Certificate) { c.URIs = nil }),
			func(err error) bool { return errors.Is(err, certs.ErrBadIdentity) }},
		{"attributes break the role", forge(t, s.ca, s.now, func(c *x509.Certificate) {
			c.URIs = append(c.URIs, mustURL(t, "urn:npes:unp:190123456"))
		}), func(err error) bool { return errors.Is(err, certs.ErrBadIdentity) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, s.config())
			r, _, err := dial(srv.addr, clientConfig(t, &tt.cred, s.ca))
			if err == nil {
				t.Fatalf("handshake accepted: %+v", r)
			}
			if serr := srv.serverErr(t); !tt.why(serr) {
				t.Errorf("server refused for the wrong reason: %v", serr)
			}
		})
	}
}

func TestHandshakeProtocolFloor(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	tests := []struct {
		name string
		opts []certs.Option
		edit func(*tls.Config)
	}{
		{"TLS 1.1 client", nil, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }},
		{"TLS 1.2 client with CBC suites only", nil, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}
		}},
		{"TLS 1.2 client, server wants 1.3", []certs.Option{certs.WithMinVersion(tls.VersionTLS13)}, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }},
		{"WithMinVersion cannot lower the floor", []certs.Option{certs.WithMinVersion(tls.VersionTLS10)}, func(c *tls.Config) {
			c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		}},
		{"no certificate, certificate required", []certs.Option{certs.RequireClientCert()}, func(c *tls.Config) { c.Certificates = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, s.config(tt.opts...))
			cfg := clientConfig(t, &cred, s.ca)
			tt.edit(cfg)
			if r, _, err := dial(srv.addr, cfg); err == nil {
				t.Fatalf("handshake accepted: %+v", r)
			}
			if err := srv.serverErr(t); err == nil {
				t.Fatal("no server error")
			}
		})
	}
}

func TestRevocationCheckerFailsClosed(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	tests := []struct {
		name string
		rev  certs.RevocationChecker
	}{
		{"checker error", certs.RevocationCheckerFunc(func(context.Context, string) (bool, error) {
			return false, errors.New("store unreachable")
		})},
		{"checker times out", certs.RevocationCheckerFunc(func(ctx context.Context, _ string) (bool, error) {
			<-ctx.Done()
			return false, ctx.Err()
		})},
		{"no checker", nil},
		{"nil revocation set", (*certs.RevocationSet)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var refusals atomic.Int32
			cfg := certs.ServerTLSConfig(s.cert, s.ca.Pool(), tt.rev,
				certs.WithRevocationTimeout(50*time.Millisecond),
				certs.WithRefusalHook(func(error) { refusals.Add(1) }))
			srv := startServer(t, cfg)
			if r, _, err := dial(srv.addr, clientConfig(t, &cred, s.ca)); err == nil {
				t.Fatalf("handshake accepted: %+v", r)
			}
			if err := srv.serverErr(t); !errors.Is(err, certs.ErrRevocationUnavailable) {
				t.Errorf("server error = %v, want ErrRevocationUnavailable", err)
			}
			if refusals.Load() != 1 {
				t.Errorf("refusal hook called %d times, want 1", refusals.Load())
			}
			// Anonymous clients never reach the checker.
			if _, _, err := dial(srv.addr, clientConfig(t, nil, s.ca)); err != nil {
				t.Errorf("anonymous handshake refused: %v", err)
			}
		})
	}
}

func TestNilClientCAsTrustsNoOne(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	srv := startServer(t, certs.ServerTLSConfig(s.cert, nil, s.rev))
	if r, _, err := dial(srv.addr, clientConfig(t, &cred, s.ca)); err == nil {
		t.Fatalf("handshake accepted without client CAs: %+v", r)
	}
}

// TestRevocationAtRunTime toggles revocation under one running server and one
// tls.Config: each change shows on the next handshake, resumed sessions too.
func TestRevocationAtRunTime(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	serial := certs.FormatSerial(cred.Cert.SerialNumber)
	var revoked atomic.Bool
	rev := certs.RevocationCheckerFunc(func(_ context.Context, got string) (bool, error) {
		return got == serial && revoked.Load(), nil
	})
	srv := startServer(t, certs.ServerTLSConfig(s.cert, s.ca.Pool(), rev))
	cfg := clientConfig(t, &cred, s.ca)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

	// resumed asks that the session was resumed; false means either way.
	want := func(step string, accepted, resumed bool) {
		t.Helper()
		r, _, err := dial(srv.addr, cfg)
		switch {
		case accepted && err != nil:
			t.Fatalf("%s: refused: %v", step, err)
		case accepted && (r.Identity == nil || r.Identity.Serial != serial):
			t.Fatalf("%s: identity = %+v", step, r.Identity)
		case accepted && resumed && !r.Resumed:
			t.Fatalf("%s: session not resumed", step)
		case !accepted && err == nil:
			t.Fatalf("%s: accepted: %+v", step, r)
		case !accepted:
			if serr := srv.serverErr(t); !errors.Is(serr, certs.ErrRevoked) {
				t.Fatalf("%s: server error = %v, want ErrRevoked", step, serr)
			}
		}
	}
	want("first handshake", true, false)
	want("resumed handshake", true, true)
	revoked.Store(true)
	want("after revocation (resumption offered)", false, false)
	want("after revocation, again", false, false)
	revoked.Store(false)
	// The client still holds its ticket and resumes: so the refused attempts
	// above offered that ticket too, and resumption did not bypass the check.
	want("after un-revoking", true, true)
}

func TestIdentityFromConnectionStateNeedsVerifiedChain(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	// Presented but not verified: not an identity.
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{cred.Cert}}
	if _, err := certs.IdentityFromConnectionState(cs); !errors.Is(err, certs.ErrNoClientCert) {
		t.Errorf("err = %v, want ErrNoClientCert", err)
	}
	cs.VerifiedChains = [][]*x509.Certificate{{cred.Cert, s.ca.Certificate()}}
	if id, err := certs.IdentityFromConnectionState(cs); err != nil || id.Role != certs.RolePerson {
		t.Errorf("id, err = %+v, %v", id, err)
	}
}

func TestClientTLSConfig(t *testing.T) {
	t.Parallel()
	s := newServerSetup(t)
	cred := issue(t, s.ca, personRequest(), s.now)
	srv := startServer(t, s.config())
	cfg, err := certs.ClientTLSConfig(cred.CertPEM, cred.KeyPEM, cred.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	if r, _, err := dial(srv.addr, cfg); err != nil || r.Identity == nil {
		t.Fatalf("reply, err = %+v, %v", r, err)
	}
	other := issue(t, s.ca, personRequest(), s.now)
	for name, args := range map[string][3][]byte{
		"key of another certificate": {cred.CertPEM, other.KeyPEM, cred.CAPEM},
		"no CA":                      {cred.CertPEM, cred.KeyPEM, nil},
		"garbage certificate":        {[]byte("garbage"), cred.KeyPEM, cred.CAPEM},
	} {
		if _, err := certs.ClientTLSConfig(args[0], args[1], args[2]); !errors.Is(err, certs.ErrBadCredential) {
			t.Errorf("%s: err = %v, want ErrBadCredential", name, err)
		}
	}
}
