package certs_test

import (
	"context"
	"crypto/x509"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

// openssl returns the path of the openssl binary. CI installs it and sets CI,
// where its absence fails the test instead of skipping it.
func openssl(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not on PATH; CI must install it")
		}
		t.Skip("openssl is not on PATH")
	}
	return path
}

func runOpenSSL(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = nil // /dev/null: s_client sends nothing and waits for the server to close
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestOpenSSLSerial(t *testing.T) {
	t.Parallel()
	bin := openssl(t)
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	dir := t.TempDir()

	var creds []certs.Credential
	for range 8 {
		creds = append(creds, issue(t, ca, personRequest(), now))
	}
	// Serials where padding and DER's sign octet matter.
	for _, n := range []int64{1, 0x0a, 0x7f, 0x80, 0x0100, 0xabcdef} {
		creds = append(creds, forge(t, ca, now, func(c *x509.Certificate) { c.SerialNumber = big.NewInt(n) }))
	}
	for i, cred := range creds {
		path := filepath.Join(dir, "cert.pem")
		if err := os.WriteFile(path, cred.CertPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := runOpenSSL(t, bin, "x509", "-noout", "-serial", "-in", path)
		if err != nil {
			t.Fatalf("openssl x509: %v\n%s", err, out)
		}
		out = strings.TrimSpace(out)
		if want := "serial=" + certs.FormatSerial(cred.Cert.SerialNumber); out != want {
			t.Errorf("cert %d: openssl prints %q, FormatSerial gives %q", i, out, want)
		}
		if n, err := certs.ParseSerial(out); err != nil || n.Cmp(cred.Cert.SerialNumber) != 0 {
			t.Errorf("cert %d: ParseSerial(%q) = %v, %v", i, out, n, err)
		}
	}
}

func TestOpenSSLVerify(t *testing.T) {
	t.Parallel()
	bin := openssl(t)
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	dir := t.TempDir()
	cred := issue(t, ca, personRequest(), now)
	if err := certs.WriteCredentialDir(dir, cred); err != nil {
		t.Fatal(err)
	}
	caPath, certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	out, err := runOpenSSL(t, bin, "verify", "-CAfile", caPath, "-purpose", "sslclient", certPath)
	if err != nil || !strings.Contains(out, "cert.pem: OK") {
		t.Errorf("openssl verify: %v\n%s", err, out)
	}
	// A client certificate must not pass as a server certificate.
	if out, err := runOpenSSL(t, bin, "verify", "-CAfile", caPath, "-purpose", "sslserver", certPath); err == nil {
		t.Errorf("openssl verify -purpose sslserver accepted a client certificate:\n%s", out)
	}
	if out, err := runOpenSSL(t, bin, "pkey", "-in", keyPath, "-noout"); err != nil {
		t.Errorf("openssl pkey: %v\n%s", err, out)
	}

	crlPath := filepath.Join(dir, "crl.der")
	der, err := ca.CRL([]certs.RevokedEntry{{Serial: certs.FormatSerial(cred.Cert.SerialNumber), RevokedAt: now, Reason: certs.ReasonSuperseded}},
		big.NewInt(1), now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crlPath, der, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runOpenSSL(t, bin, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", caPath, "-noout", "-text")
	if err != nil || !strings.Contains(out, "verify OK") || !strings.Contains(out, "Superseded") ||
		!strings.Contains(out, "Serial Number: "+certs.FormatSerial(cred.Cert.SerialNumber)) {
		t.Errorf("openssl crl: %v\n%s", err, out)
	}
}

// TestOpenSSLClient has openssl s_client present a credential that Issue made
// to a server built by ServerTLSConfig.
func TestOpenSSLClient(t *testing.T) {
	t.Parallel()
	bin := openssl(t)
	s := newServerSetup(t)
	srv := startServer(t, s.config())
	good := issue(t, s.ca, certs.Request{Role: certs.RoleOrg, Name: "ААТ Прыклад", UNP: "190123456"}, s.now)
	revoked := issue(t, s.ca, personRequest(), s.now)
	if err := s.rev.Revoke(certs.FormatSerial(revoked.Cert.SerialNumber)); err != nil {
		t.Fatal(err)
	}
	sClient := func(cred certs.Credential) (string, error) {
		dir := t.TempDir()
		if err := certs.WriteCredentialDir(dir, cred); err != nil {
			t.Fatal(err)
		}
		return runOpenSSL(t, bin, "s_client", "-connect", srv.addr, "-quiet",
			"-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem"),
			"-CAfile", filepath.Join(dir, "ca.pem"), "-verify_return_error", "-verify_ip", "127.0.0.1")
	}

	out, err := sClient(good)
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"Role":"org"`) || !strings.Contains(out, `"UNP":"190123456"`) ||
		!strings.Contains(out, `"Serial":"`+certs.FormatSerial(good.Cert.SerialNumber)+`"`) {
		t.Errorf("server did not see the org identity:\n%s", out)
	}

	out, _ = sClient(revoked)
	if strings.Contains(out, `"identity"`) {
		t.Errorf("revoked certificate accepted:\n%s", out)
	}
	if err := srv.serverErr(t); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("server error = %v, want revoked", err)
	}
}
