package certs

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The files of a credential directory (DESIGN.md §9).
const (
	CertFile = "cert.pem" // the certificate, then any intermediates
	KeyFile  = "key.pem"  // the private key, PKCS#8, mode 0600
	CAFile   = "ca.pem"   // the CA certificate(s) the server must chain to
)

// WriteCredentialDir writes cred into dir (created 0700 if missing) as
// cert.pem, key.pem (0600) and ca.pem. It checks the credential first and
// never overwrites an existing key.pem: that is an error wrapping fs.ErrExist
// that names the file, and nothing is written.
func WriteCredentialDir(dir string, cred Credential) error {
	certPath, keyPath, caPath := credentialPaths(dir)
	if _, err := parseCredential(cred.CertPEM, cred.KeyPEM, cred.CAPEM, certPath, keyPath, caPath); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: credential directory: %w", err)
	}
	// The key goes first and exclusively (O_EXCL): of two concurrent writers
	// into one directory, exactly one wins, and the loser touches nothing.
	if err := writeNewKeyFile(keyPath, cred.KeyPEM); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{certPath, cred.CertPEM}, {caPath, cred.CAPEM}} {
		if err := writeFileAtomic(f.path, f.data, 0o644); err != nil {
			_ = os.Remove(keyPath)
			return err
		}
	}
	return nil
}

// LoadCredentialDir reads a credential written by WriteCredentialDir (or by
// hand: a PKCS#8, SEC 1 or PKCS#1 key is accepted). It checks that the key
// belongs to the certificate and that the certificate chains to ca.pem;
// errors name the file that is missing or corrupt. An expired certificate
// loads (Cert.NotAfter tells); the TLS handshake refuses it.
func LoadCredentialDir(dir string) (Credential, error) {
	certPath, keyPath, caPath := credentialPaths(dir)
	var data [3][]byte
	for i, p := range []string{certPath, keyPath, caPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			return Credential{}, fmt.Errorf("certs: credential: %w", err)
		}
		data[i] = b
	}
	return parseCredential(data[0], data[1], data[2], certPath, keyPath, caPath)
}

func credentialPaths(dir string) (certPath, keyPath, caPath string) {
	return filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), filepath.Join(dir, CAFile)
}

// LoadCredentialDirWithKey reads cert.pem and ca.pem from dir and pairs
// the certificate with key, a private key kept elsewhere (on a token,
// internal/token); key.pem is not read. keyName names the key in errors.
// The checks are LoadCredentialDir's.
func LoadCredentialDirWithKey(dir string, key crypto.Signer, keyName string) (Credential, error) {
	certPath, _, caPath := credentialPaths(dir)
	var data [2][]byte
	for i, p := range []string{certPath, caPath} {
		b, err := os.ReadFile(p)
		if err != nil {
			return Credential{}, fmt.Errorf("certs: credential: %w", err)
		}
		data[i] = b
	}
	return checkCredential(data[0], key, data[1], certPath, keyName, caPath)
}

// WriteCertDir writes a certificate whose key lives elsewhere (issued from
// a CSR): cert.pem and ca.pem into dir (created 0700 if missing), each
// complete or absent. It refuses a directory with a key.pem, which would
// pair the certificate with a key that is not its own.
func WriteCertDir(dir string, cred Credential) error {
	certPath, keyPath, caPath := credentialPaths(dir)
	if _, err := os.Lstat(keyPath); err == nil {
		return fmt.Errorf("certs: %s exists: a certificate for a key on a token goes into a directory without key.pem: %w", keyPath, fs.ErrExist)
	}
	if _, _, err := parseCertPEM(cred.CertPEM); err != nil {
		return fmt.Errorf("%w: certificate: %s", ErrBadCredential, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: credential directory: %w", err)
	}
	if err := writeFileAtomic(certPath, cred.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFileAtomic(caPath, cred.CAPEM, 0o644)
}

// parseCredential checks a credential; the names are used in errors.
func parseCredential(certPEM, keyPEM, caPEM []byte, certName, keyName, caName string) (Credential, error) {
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s: %s", ErrBadCredential, keyName, err)
	}
	c, err := checkCredential(certPEM, key, caPEM, certName, keyName, caName)
	c.KeyPEM = keyPEM
	return c, err
}

// checkCredential checks that key belongs to the certificate and that the
// certificate chains to the CA.
func checkCredential(certPEM []byte, key crypto.Signer, caPEM []byte, certName, keyName, caName string) (Credential, error) {
	leaf, intermediates, err := parseCertPEM(certPEM)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s: %s", ErrBadCredential, certName, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return Credential{}, fmt.Errorf("%w: %s does not belong to the certificate in %s", ErrBadCredential, keyName, certName)
	}
	caCert, more, err := parseCertPEM(caPEM)
	if err != nil {
		return Credential{}, fmt.Errorf("%w: %s: %s", ErrBadCredential, caName, err)
	}
	roots := x509.NewCertPool()
	for _, c := range append(more, caCert) {
		roots.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range intermediates {
		inter.AddCert(c)
	}
	// Verify at the leaf's notBefore: the chain must have been good when the
	// certificate was issued. Whether it is good now is the handshake's call.
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   leaf.NotBefore,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return Credential{}, fmt.Errorf("%w: %s does not chain to %s: %v", ErrBadCredential, certName, caName, err)
	}
	return Credential{CertPEM: certPEM, CAPEM: caPEM, Cert: leaf, Key: key}, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// parseCertPEM returns the first certificate of a PEM bundle and the rest.
func parseCertPEM(data []byte) (*x509.Certificate, []*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, nil, fmt.Errorf("unexpected PEM block %q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("certificate %d: %v", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("no CERTIFICATE PEM block")
	}
	return certs[0], certs[1:], nil
}

// parseKeyPEM reads an unencrypted private key: PKCS#8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY", after an optional "EC PARAMETERS" block as openssl
// ecparam writes it) or PKCS#1 ("RSA PRIVATE KEY").
func parseKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no private key PEM block")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the key is encrypted; npes needs an unencrypted key (protect it with file permissions or a token)")
		default:
			return nil, fmt.Errorf("unexpected PEM block %q, want PRIVATE KEY", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key type %T cannot sign", key)
		}
		return signer, nil
	}
}

// writeNewKeyFile creates path with mode 0600 holding data, failing if the
// file exists: a private key is never replaced behind its holder's back.
func writeNewKeyFile(path string, data []byte) error {
	if err := WriteNewFile(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("certs: %s already exists; refusing to overwrite a private key: %w", path, fs.ErrExist)
		}
		return err
	}
	return nil
}

// WriteNewFile creates path with mode perm holding data, failing with an
// error wrapping fs.ErrExist if the file exists. The data is written and
// synced under a temporary name and then linked into place: link(2) fails
// when the name exists (like O_EXCL) and makes the whole file appear at
// once, so a crash never leaves half a file that blocks the next attempt.
func WriteNewFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// writeFileAtomic replaces path with data through a temporary file and a
// rename, so a reader sees the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data, synced, with mode perm into a new temporary file
// next to path and returns its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("certs: write %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("certs: write %s: %w", path, err)
	}
	return tmp, nil
}

// syncDir makes a new directory entry durable (POSIX leaves it in the page
// cache until the directory itself is synced).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("certs: sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("certs: sync %s: %w", dir, err)
	}
	return nil
}
