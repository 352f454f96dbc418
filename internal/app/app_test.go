package app_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// clock is a settable clock for the server's caches.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type bundle struct {
	srv   *app.Server
	ca    *certs.CA
	clock *clock
	base  string
}

func setup(t *testing.T, databaseURL string) *bundle {
	t.Helper()
	return setupWith(t, databaseURL, nil)
}

func setupWith(t *testing.T, databaseURL string, modify func(*app.Config)) *bundle {
	t.Helper()
	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	// A CA made a month ago, so the tests can issue already-expired
	// certificates from it.
	certPEM, keyPEM, err := certs.CreateCA("npes test CA", time.Now().AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "ca"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCAFiles(filepath.Join(dir, "ca", "ca.pem"), filepath.Join(dir, "ca", "ca-key.pem"), certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{
		DataDir:     dir,
		DatabaseURL: databaseURL,
		HTTPAddr:    "127.0.0.1:0",
		SMTPAddr:    "127.0.0.1:0",
		SMTPSAddr:   "127.0.0.1:0",
		Now:         clk.Now,
	}
	if modify != nil {
		modify(&cfg)
	}
	srv, err := app.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ca, err := srv.Data.LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{srv: srv, ca: ca, clock: clk, base: "https://" + srv.HTTPAddr.String()}
}

// client returns an HTTP client presenting cred (nil: no certificate).
func (b *bundle) client(t *testing.T, cred *certs.Credential) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cred != nil {
		kp, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		// Always present the certificate: Go's client otherwise withholds
		// one that the server's CA list does not name (a foreign one), as
		// curl and openssl do not.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
	}
	// The timeout only stops a hung test; it is no performance bound (CI
	// machines are busy and an office conversion alone may take seconds).
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 2 * time.Minute}
}

func (b *bundle) issue(t *testing.T, req certs.Request, now time.Time) certs.Credential {
	t.Helper()
	cred, err := b.ca.Issue(req, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.RecordCertificate(t.Context(), b.srv.Store, cred); err != nil {
		t.Fatal(err)
	}
	return cred
}

func get(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), nil
}

var person = certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}

func TestServer(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	}
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			testWhoami(t, b)
			testPublicRoutes(t, b)
			testHandshakeRefusals(t, b)
			testRevocationWithoutRestart(t, b)
			testMetricsOperatorOnly(t, b)
		})
	}
}

func testWhoami(t *testing.T, b *bundle) {
	cred := b.issue(t, person, b.clock.Now())
	status, body, err := get(t, b.client(t, &cred), b.base+"/v1/whoami")
	if err != nil || status != 200 {
		t.Fatalf("whoami: %d %s %v", status, body, err)
	}
	var who map[string]any
	if err := json.Unmarshal([]byte(body), &who); err != nil {
		t.Fatal(err)
	}
	id, _ := certs.IdentityFromCert(cred.Cert)
	if who["role"] != "person" || who["name"] != person.Name || who["personal_id"] != "3140582A001PB3" || who["serial"] != id.Serial || who["identity"] != id.ID {
		t.Fatalf("whoami = %v", who)
	}
	org := b.issue(t, certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: "100289066"}, b.clock.Now())
	_, body, _ = get(t, b.client(t, &org), b.base+"/v1/whoami")
	if !strings.Contains(body, `"unp":"100289066"`) || !strings.Contains(body, `"role":"org"`) {
		t.Fatalf("org whoami = %s", body)
	}
	pc := b.issue(t, certs.Request{Role: certs.RolePrintCenter, Name: "Минский РЦ", Regions: []string{"220", "222"}}, b.clock.Now())
	_, body, _ = get(t, b.client(t, &pc), b.base+"/v1/whoami")
	if !strings.Contains(body, `"regions":["220","222"]`) {
		t.Fatalf("print centre whoami = %s", body)
	}

	// Without a certificate: the handshake succeeds, the route answers 401
	// with the JSON error shape.
	status, body, err = get(t, b.client(t, nil), b.base+"/v1/whoami")
	if err != nil || status != 401 {
		t.Fatalf("whoami without certificate: %d %s %v", status, body, err)
	}
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "unauthenticated" || e.Error.Message == "" {
		t.Fatalf("401 body = %s", body)
	}
}

func testPublicRoutes(t *testing.T, b *bundle) {
	c := b.client(t, nil)
	if status, body, err := get(t, c, b.base+"/v1/health"); err != nil || status != 200 || !strings.Contains(body, `"ok"`) {
		t.Fatalf("health: %d %s %v", status, body, err)
	}
	status, body, err := get(t, c, b.base+"/v1/ca.pem")
	if err != nil || status != 200 || !strings.Contains(body, "BEGIN CERTIFICATE") {
		t.Fatalf("ca.pem: %d %v", status, err)
	}
	status, body, err = get(t, c, b.base+"/v1/crl")
	if err != nil || status != 200 {
		t.Fatalf("crl: %d %v", status, err)
	}
	if _, err := certs.ParseCRL([]byte(body), b.ca.Certificate(), b.clock.Now()); err != nil {
		t.Fatalf("CRL does not verify: %v", err)
	}
	if status, body, _ := get(t, c, b.base+"/v1/nope"); status != 404 || !strings.Contains(body, `"not_found"`) {
		t.Fatalf("unknown route: %d %s", status, body)
	}
}

func testHandshakeRefusals(t *testing.T, b *bundle) {
	now := b.clock.Now()
	foreignCertPEM, foreignKeyPEM, err := certs.CreateCA("foreign CA", now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := certs.LoadCA(foreignCertPEM, foreignKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	foreignCred, err := foreign.Issue(person, now) // same name and attributes, another CA and key
	if err != nil {
		t.Fatal(err)
	}
	expired := b.issue(t, certs.Request{Role: person.Role, Name: person.Name, PersonalID: person.PersonalID, Days: 1}, now.Add(-72*time.Hour))
	notYet, err := b.ca.Issue(certs.Request{Role: person.Role, Name: person.Name, PersonalID: person.PersonalID, Days: 1}, now.Add(72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	serverOnly, err := b.ca.IssueServer([]string{"localhost"}, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, cred := range map[string]certs.Credential{
		"foreign CA":           foreignCred,
		"expired":              expired,
		"not yet valid":        notYet,
		"serverAuth-only cert": serverOnly,
	} {
		cred := cred
		_, _, err := get(t, b.client(t, &cred), b.base+"/v1/whoami")
		if err == nil {
			t.Errorf("%s: request succeeded; want the handshake refused", name)
		}
	}
}

func testRevocationWithoutRestart(t *testing.T, b *bundle) {
	cred := b.issue(t, person, b.clock.Now())
	c := b.client(t, &cred)
	if status, _, err := get(t, c, b.base+"/v1/whoami"); err != nil || status != 200 {
		t.Fatalf("before revocation: %d %v", status, err)
	}
	id, _ := certs.IdentityFromCert(cred.Cert)
	err := b.srv.Store.InTx(t.Context(), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(t.Context(), id.Serial, int(certs.ReasonKeyCompromise), b.clock.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Second) // past the revocation cache's lifetime
	if _, _, err := get(t, c, b.base+"/v1/whoami"); err == nil {
		t.Fatal("revoked certificate accepted after the cache expired")
	}
	status, body, err := get(t, b.client(t, nil), b.base+"/v1/crl")
	if err != nil || status != 200 {
		t.Fatalf("crl: %d %v", status, err)
	}
	entries, err := certs.ParseCRL([]byte(body), b.ca.Certificate(), b.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if strings.EqualFold(e.Serial, id.Serial) && e.Reason == certs.ReasonKeyCompromise {
			found = true
		}
	}
	if !found {
		t.Fatalf("revoked serial %s not in CRL %+v", id.Serial, entries)
	}
}

func testMetricsOperatorOnly(t *testing.T, b *bundle) {
	cred := b.issue(t, person, b.clock.Now())
	if status, _, _ := get(t, b.client(t, &cred), b.base+"/metrics"); status != 403 {
		t.Fatalf("metrics as person: %d, want 403", status)
	}
	if status, _, _ := get(t, b.client(t, nil), b.base+"/metrics"); status != 401 {
		t.Fatalf("metrics without certificate: %d, want 401", status)
	}
	op, err := certs.LoadCredentialDir(b.srv.Data.OperatorCredentialDir())
	if err != nil {
		t.Fatal(err)
	}
	opCred := certs.Credential{CertPEM: op.CertPEM, KeyPEM: op.KeyPEM}
	status, body, err := get(t, b.client(t, &opCred), b.base+"/metrics")
	if err != nil || status != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics as operator: %d %v", status, err)
	}
}
