package certs_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

func TestCreateCA(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := certs.CreateCA("  Belpochta npes CA ", now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Certificate()
	if c.Subject.CommonName != "Belpochta npes CA" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("basic constraints: CA %v, pathlen %d (zero %v)", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("key usage = %v", c.KeyUsage)
	}
	if !c.NotAfter.Equal(now.AddDate(10, 0, 0)) {
		t.Errorf("notAfter = %v, want 10 years", c.NotAfter)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T is not P-256", c.PublicKey)
	}
	// RFC 7093 §2 method 1, computed independently.
	ecdhPub, err := pub.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(ecdhPub.Bytes())
	if !bytes.Equal(c.SubjectKeyId, sum[:20]) {
		t.Errorf("SKI = %x, want %x", c.SubjectKeyId, sum[:20])
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !bytes.Equal(ca.CertPEM(), certPEM) {
		t.Error("CertPEM differs from what CreateCA returned")
	}
	if block, _ := pem.Decode(keyPEM); block == nil || block.Type != "PRIVATE KEY" {
		t.Error("CA key is not PKCS#8 PEM")
	}
	if _, _, err := certs.CreateCA("\u202e", now); !errors.Is(err, certs.ErrBadCA) {
		t.Errorf("bad CA name: err = %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	other := newTestCA(t, "other CA", now)
	leaf := issue(t, ca, personRequest(), now)
	sec1 := func(keyPEM []byte) []byte {
		block, _ := pem.Decode(keyPEM)
		k, _ := x509.ParsePKCS8PrivateKey(block.Bytes)
		der, _ := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	if _, err := certs.LoadCA(ca.certPEM, sec1(ca.keyPEM)); err != nil {
		t.Errorf("SEC 1 key refused: %v", err)
	}
	tests := []struct {
		name         string
		cert, key    []byte
		wantFragment string
	}{
		{"empty certificate", nil, ca.keyPEM, "certificate: no CERTIFICATE PEM block"},
		{"key where the certificate goes", ca.keyPEM, ca.keyPEM, `certificate: unexpected PEM block "PRIVATE KEY"`},
		{"corrupt certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 1, 2}}), ca.keyPEM, "certificate: certificate 1:"},
		{"empty key", ca.certPEM, nil, "key: no private key PEM block"},
		{"encrypted key", ca.certPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}), "key: the key is encrypted"},
		{"key of another CA", ca.certPEM, other.keyPEM, "key does not match certificate"},
		{"not a CA", leaf.CertPEM, leaf.KeyPEM, "is not a CA certificate"},
	}
	for _, tt := range tests {
		_, err := certs.LoadCA(tt.cert, tt.key)
		if !errors.Is(err, certs.ErrBadCA) || !strings.Contains(err.Error(), tt.wantFragment) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want ErrBadCA containing %q", tt.name, err, tt.wantFragment)
		}
	}
}

func TestNewCARefusesWrongKeyUsage(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	c := *ca.Certificate()
	c.KeyUsage = x509.KeyUsageCertSign // no cRLSign
	if _, err := certs.NewCA(&c, ca.signer); !errors.Is(err, certs.ErrBadCA) {
		t.Errorf("err = %v", err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := certs.NewCA(ca.Certificate(), k); !errors.Is(err, certs.ErrBadCA) {
		t.Errorf("foreign signer: err = %v", err)
	}
	if _, err := certs.NewCA(nil, nil); !errors.Is(err, certs.ErrBadCA) {
		t.Errorf("nil: err = %v", err)
	}
}

func TestCAFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	certPEM, keyPEM, err := certs.CreateCA("npes test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCAFiles(certFile, keyFile, certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v, %v", st, err)
	}
	if _, err := certs.LoadCAFiles(certFile, keyFile); err != nil {
		t.Fatalf("LoadCAFiles: %v", err)
	}

	// A second init must not replace the key.
	certPEM2, keyPEM2, _ := certs.CreateCA("npes test CA", time.Now())
	err = certs.WriteCAFiles(certFile, keyFile, certPEM2, keyPEM2)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("second write: err = %v, want fs.ErrExist naming %s", err, keyFile)
	}
	if got, _ := os.ReadFile(keyFile); !bytes.Equal(got, keyPEM) {
		t.Error("the key was replaced")
	}
	if got, _ := os.ReadFile(certFile); !bytes.Equal(got, certPEM) {
		t.Error("the certificate was replaced")
	}

	missing := filepath.Join(dir, "nope.pem")
	if _, err := certs.LoadCAFiles(certFile, missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing key: err = %v", err)
	}
	corrupt := filepath.Join(dir, "corrupt.pem")
	if err := os.WriteFile(corrupt, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.LoadCAFiles(corrupt, keyFile); !errors.Is(err, certs.ErrBadCA) || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt certificate: err = %v", err)
	}
}
