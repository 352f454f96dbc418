package certs_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

// testCA is a CA with its key at hand, so tests can also forge certificates
// that the CA itself would never issue.
type testCA struct {
	*certs.CA
	certPEM, keyPEM []byte
	signer          crypto.Signer
}

// newTestCA makes a CA valid from a year before now, so tests can issue
// certificates that have already expired.
func newTestCA(t testing.TB, name string, now time.Time) testCA {
	t.Helper()
	certPEM, keyPEM, err := certs.CreateCA(name, now.AddDate(-1, 0, 0))
	if err != nil {
		t.Fatalf("CreateCA: %v", err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	block, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse CA key: %v", err)
	}
	return testCA{CA: ca, certPEM: certPEM, keyPEM: keyPEM, signer: key.(crypto.Signer)}
}

func issue(t testing.TB, ca testCA, req certs.Request, now time.Time) certs.Credential {
	t.Helper()
	cred, err := ca.Issue(req, now)
	if err != nil {
		t.Fatalf("Issue(%+v): %v", req, err)
	}
	return cred
}

func personRequest() certs.Request {
	return certs.Request{Role: certs.RolePerson, Name: "Алеся Іванова", PersonalID: "3140582A001PB3"}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("url %q: %v", s, err)
	}
	return u
}

// forge signs a client certificate with ca's key outside the CA's profile:
// it starts from a valid person certificate and lets edit change anything.
func forge(t testing.TB, ca testCA, now time.Time, edit func(*x509.Certificate)) certs.Credential {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "Forged Person"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs: []*url.URL{
			mustURL(t, "urn:npes:role:person"),
			mustURL(t, "urn:npes:personal-id:3140582A001PB3"),
		},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Certificate(), &key.PublicKey, ca.signer)
	if err != nil {
		t.Fatalf("forge: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return certs.Credential{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CAPEM:   ca.CertPEM(),
		Cert:    cert,
	}
}

// reply is what the test server tells a client whose handshake it accepted.
type reply struct {
	Identity *certs.Identity `json:"identity,omitempty"`
	Err      string          `json:"err,omitempty"`
	Version  uint16          `json:"version"`
	Resumed  bool            `json:"resumed"`
}

// testServer is a real TLS listener on 127.0.0.1:0. For each connection it
// completes the handshake and answers with the client's identity as JSON;
// handshake errors go to errs, so a test can see why the server refused.
type testServer struct {
	addr string
	errs chan error
}

func startServer(t testing.TB, cfg *tls.Config) *testServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &testServer{addr: ln.Addr().String(), errs: make(chan error, 64)}
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c.(*tls.Conn))
		}
	}()
	return s
}

func (s *testServer) serve(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		select {
		case s.errs <- err:
		default:
		}
		return
	}
	cs := c.ConnectionState()
	r := reply{Version: cs.Version, Resumed: cs.DidResume}
	id, err := certs.IdentityFromConnectionState(cs)
	switch {
	case err == nil:
		r.Identity = &id
	case !errors.Is(err, certs.ErrNoClientCert):
		r.Err = err.Error()
	}
	_ = json.NewEncoder(c).Encode(r)
}

// serverErr waits for the server's next handshake error.
func (s *testServer) serverErr(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported no handshake error")
		return nil
	}
}

// dial connects, completes the handshake and reads the server's reply. In
// TLS 1.3 the client finishes its handshake before the server has checked the
// client certificate, so a refusal shows up as an alert on the first read.
func dial(addr string, cfg *tls.Config) (reply, tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &tls.Dialer{Config: cfg}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return reply{}, tls.ConnectionState{}, err
	}
	defer conn.Close()
	tc := conn.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	var r reply
	if err := json.NewDecoder(tc).Decode(&r); err != nil {
		return reply{}, tc.ConnectionState(), err
	}
	return r, tc.ConnectionState(), nil
}

// clientConfig presents cred and trusts the server's CA (serverCA), whatever
// CA issued cred, so that a refusal can only come from the server.
func clientConfig(t testing.TB, cred *certs.Credential, serverCA testCA) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: serverCA.Pool()}
	if cred != nil {
		pair, err := cred.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}

// serverSetup is a CA, a server credential from it, and a revocation set.
type serverSetup struct {
	now  time.Time
	ca   testCA
	cert tls.Certificate
	rev  *certs.RevocationSet
}

func newServerSetup(t testing.TB) serverSetup {
	t.Helper()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	cred, err := ca.IssueServer(nil, []net.IP{net.ParseIP("127.0.0.1")}, now)
	if err != nil {
		t.Fatalf("IssueServer: %v", err)
	}
	pair, err := cred.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return serverSetup{now: now, ca: ca, cert: pair, rev: &certs.RevocationSet{}}
}

func (s serverSetup) config(opts ...certs.Option) *tls.Config {
	return certs.ServerTLSConfig(s.cert, s.ca.Pool(), s.rev, opts...)
}
