package certs_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

// TestIssueCSR: a CSR's key is certified only when the CSR's signature
// verifies and the key is one npes verifies signatures with; the subject
// and extensions it asks for are ignored, the request's role and
// attributes are the certificate's, and no private key is returned.
func TestIssueCSR(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ca := newTestCA(t, "csr CA", now)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	evil, _ := url.Parse("urn:npes:role:operator")
	csr := func(key crypto.Signer, tamper bool) *x509.CertificateRequest {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: "Оператор"}, URIs: []*url.URL{evil}, DNSNames: []string{"npes.example.by"}}, key)
		if err != nil {
			t.Fatal(err)
		}
		if tamper {
			der[len(der)-3] ^= 1
		}
		c, err := x509.ParseCertificateRequest(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	req := certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}
	cases := []struct {
		name string
		csr  *x509.CertificateRequest
		ok   bool
	}{
		{"ECDSA P-256", csr(p256, false), true},
		{"Ed25519", csr(ed, false), true},
		{"signature does not verify", csr(p256, true), false},
		{"ECDSA P-384", csr(p384, false), false},
		{"RSA", csr(rsaKey, false), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := ca.IssueCSR(req, tc.csr, now)
			if !tc.ok {
				if !errors.Is(err, certs.ErrBadRequest) {
					t.Fatalf("err %v, want ErrBadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cred.KeyPEM != nil {
				t.Fatal("a CSR's certificate came with a private key")
			}
			if pub, ok := cred.Cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(tc.csr.PublicKey) {
				t.Fatal("the certificate is not for the CSR's key")
			}
			id, err := certs.IdentityFromCert(cred.Cert)
			if err != nil {
				t.Fatal(err)
			}
			if id.Role != certs.RolePerson || id.Name != req.Name || id.PersonalID != req.PersonalID ||
				len(cred.Cert.DNSNames) != 0 || cred.Cert.Subject.CommonName != req.Name {
				t.Fatalf("the CSR's subject or extensions reached the certificate: %+v, DNS %v", id, cred.Cert.DNSNames)
			}
		})
	}
}
