package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
)

// Lifetimes and clock tolerance of the CA itself.
const (
	// CAYears is the lifetime of a root made by CreateCA.
	CAYears = 10

	// backdate moves notBefore into the past so that a peer whose clock runs
	// a little behind does not see a fresh certificate as not yet valid.
	backdate = 5 * time.Minute
)

// CA is the internal certificate authority: a root certificate and the signer
// of its key. The signer is a crypto.Signer, not key bytes, so that the key can
// live in a PKCS#11 token or a KMS; only LoadCA (the development setup) reads
// the key from PEM. A CA is safe for concurrent use if its signer is.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	signer  crypto.Signer
}

// CreateCA makes a self-signed root with a new ECDSA P-256 key: valid for
// CAYears from now, basicConstraints CA with pathLenConstraint 0 (it signs end
// entities only, RFC 5280 §4.2.1.9), keyUsage keyCertSign and cRLSign, and a
// subjectKeyIdentifier. It returns the certificate and the PKCS#8 key as PEM.
func CreateCA(name string, now time.Time) (certPEM, keyPEM []byte, err error) {
	name = strings.TrimSpace(name)
	if err := checkName(name); err != nil {
		return nil, nil, fmt.Errorf("%w: CA %s", ErrBadCA, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(CAYears, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: encode CA key: %w", err)
	}
	return pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// NewCA makes a CA from a root certificate and the signer of its key (a
// PKCS#11 or KMS key in production). The certificate must be a CA allowed to
// sign certificates and CRLs, and the signer's public key must be the
// certificate's.
func NewCA(cert *x509.Certificate, signer crypto.Signer) (*CA, error) {
	if cert == nil || signer == nil {
		return nil, fmt.Errorf("%w: certificate and signer are required", ErrBadCA)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, fmt.Errorf("%w: certificate %q is not a CA certificate", ErrBadCA, cert.Subject.String())
	}
	if cert.KeyUsage&x509.KeyUsageCertSign == 0 || cert.KeyUsage&x509.KeyUsageCRLSign == 0 {
		return nil, fmt.Errorf("%w: certificate %q lacks keyCertSign or cRLSign usage", ErrBadCA, cert.Subject.String())
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: key does not match certificate %q", ErrBadCA, cert.Subject.String())
	}
	return &CA{cert: cert, certPEM: pemCert(cert.Raw), signer: signer}, nil
}

// LoadCA reads a CA from PEM: a certificate and an unencrypted PKCS#8 ("PRIVATE
// KEY") or SEC 1 ("EC PRIVATE KEY") key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, _, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %s", ErrBadCA, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %s", ErrBadCA, err)
	}
	return NewCA(cert, key)
}

// LoadCAFiles is LoadCA on two files; its errors name the file at fault.
func LoadCAFiles(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certs: CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("certs: CA key: %w", err)
	}
	cert, _, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadCA, certFile, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrBadCA, keyFile, err)
	}
	ca, err := NewCA(cert, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return ca, nil
}

// WriteCAFiles writes a CA made by CreateCA: the key with mode 0600 and never
// over an existing file (an error wrapping fs.ErrExist names it), then the
// certificate (0644).
func WriteCAFiles(certFile, keyFile string, certPEM, keyPEM []byte) error {
	if _, err := LoadCA(certPEM, keyPEM); err != nil {
		return err
	}
	if err := writeNewKeyFile(keyFile, keyPEM); err != nil {
		return err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		_ = os.Remove(keyFile)
		return err
	}
	return nil
}

// Certificate returns the root certificate. Callers must not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the root certificate as PEM (what ca.pem holds).
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Pool returns a new pool holding only the root, for tls.Config.ClientCAs or RootCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// randomSerial returns a positive serial with 128 random bits: unpredictable
// serials are what the CA/Browser Forum asks of public CAs (≥ 64 bits) and stay
// within RFC 5280 §4.1.2.2's 20 octets.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("certs: serial: %w", err)
		}
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID computes a key identifier by RFC 7093 §2 method 1: the leftmost
// 160 bits of the SHA-256 hash of the subjectPublicKey BIT STRING.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("certs: key identifier: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("certs: key identifier: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}
