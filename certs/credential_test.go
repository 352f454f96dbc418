package certs_test

import (
	"bytes"
	"crypto/ecdsa"
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

func TestCredentialDirRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	cred := issue(t, ca, personRequest(), now)
	dir := filepath.Join(t.TempDir(), "alesia")
	if err := certs.WriteCredentialDir(dir, cred); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]fs.FileMode{certs.KeyFile: 0o600, certs.CertFile: 0o644, certs.CAFile: 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %v", name, st, err, mode)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, %v", st, err)
	}
	got, err := certs.LoadCredentialDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.CertPEM, cred.CertPEM) || !bytes.Equal(got.KeyPEM, cred.KeyPEM) || !bytes.Equal(got.CAPEM, cred.CAPEM) ||
		!got.Cert.Equal(cred.Cert) {
		t.Error("loaded credential differs from the written one")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("directory holds %d entries, want 3 (no temporary files left)", len(entries))
	}

	// Never over an existing key, and nothing else changes either.
	again := issue(t, ca, personRequest(), now)
	err = certs.WriteCredentialDir(dir, again)
	keyPath := filepath.Join(dir, certs.KeyFile)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), keyPath) {
		t.Errorf("second write: err = %v, want fs.ErrExist naming %s", err, keyPath)
	}
	if loaded, _ := certs.LoadCredentialDir(dir); loaded.Cert == nil || !loaded.Cert.Equal(cred.Cert) {
		t.Error("the second write changed the credential")
	}
}

func TestWriteCredentialDirChecksFirst(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	a := issue(t, ca, personRequest(), now)
	b := issue(t, ca, personRequest(), now)
	mixed := a
	mixed.KeyPEM = b.KeyPEM
	dir := filepath.Join(t.TempDir(), "mixed")
	if err := certs.WriteCredentialDir(dir, mixed); !errors.Is(err, certs.ErrBadCredential) {
		t.Errorf("err = %v, want ErrBadCredential", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused credential left %s behind", dir)
	}
}

func TestLoadCredentialDirErrors(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	foreign := newTestCA(t, "npes test CA", now)
	cred := issue(t, ca, personRequest(), now)
	other := issue(t, ca, personRequest(), now)

	sec1 := func() []byte {
		block, _ := pem.Decode(cred.KeyPEM)
		k, _ := x509.ParsePKCS8PrivateKey(block.Bytes)
		der, _ := x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey))
		// As `openssl ecparam -genkey` writes it: parameters first.
		return append([]byte("-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...)
	}()

	tests := []struct {
		name     string
		file     string // file to replace (or remove, with nil data)
		data     []byte
		sentinel error
		fragment string
	}{
		{"missing key", certs.KeyFile, nil, fs.ErrNotExist, "key.pem"},
		{"missing CA", certs.CAFile, nil, fs.ErrNotExist, "ca.pem"},
		{"missing certificate", certs.CertFile, nil, fs.ErrNotExist, "cert.pem"},
		{"certificate not PEM", certs.CertFile, []byte("hello"), certs.ErrBadCredential, "cert.pem: no CERTIFICATE PEM block"},
		{"certificate truncated", certs.CertFile, cred.CertPEM[:len(cred.CertPEM)/2], certs.ErrBadCredential, "cert.pem: no CERTIFICATE PEM block"},
		{"key not PEM", certs.KeyFile, []byte("hello"), certs.ErrBadCredential, "key.pem: no private key PEM block"},
		{"key of another certificate", certs.KeyFile, other.KeyPEM, certs.ErrBadCredential, "key.pem does not belong to the certificate in"},
		{"CA empty", certs.CAFile, []byte{}, certs.ErrBadCredential, "ca.pem: no CERTIFICATE PEM block"},
		{"CA of someone else", certs.CAFile, foreign.CertPEM(), certs.ErrBadCredential, "does not chain to"},
		{"SEC 1 key is fine", certs.KeyFile, sec1, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := certs.WriteCredentialDir(dir, cred); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.file)
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if tt.data != nil {
				if err := os.WriteFile(path, tt.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := certs.LoadCredentialDir(dir)
			if tt.sentinel == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want %v", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.fragment) {
				t.Errorf("err = %q, want it to contain %q", err, tt.fragment)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q does not name %s", err, path)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err spans lines: %q", err)
			}
		})
	}
}
