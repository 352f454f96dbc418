package app

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// defaultPoolSize bounds PostgreSQL connections per process unless the URL
// sets pool_max_conns: enough for concurrent read transactions next to the
// group committer (pgxpool's own default is max(4, NumCPU)).
const defaultPoolSize = 16

// Layout of the data directory. Private keys are 0600, directories 0700.
const (
	caCertFile       = "ca/ca.pem"
	caKeyFile        = "ca/ca-key.pem"
	serverCertFile   = "server/cert.pem"
	serverKeyFile    = "server/key.pem"
	evidenceEdFile   = "keys/evidence-ed25519.pem"
	evidenceMLFile   = "keys/evidence-mldsa65.pem"
	masterKeyFile    = "master.key"
	operatorCredDir  = "credentials/operator"
	sqliteFile       = "npes.db"
	defaultCAName    = "npes development CA"
	masterKeyLen     = 32 // AES-256
	operatorCredName = "npes operator"
)

// DataDir is an initialized data directory.
type DataDir struct {
	Root string
}

func (d DataDir) path(rel string) string { return filepath.Join(d.Root, filepath.FromSlash(rel)) }

// OperatorCredentialDir is where `npes init` writes the operator credential.
func (d DataDir) OperatorCredentialDir() string { return d.path(operatorCredDir) }

// Initialize creates whatever is missing in the data directory: the record
// of its database (engine and identity, database.json), root CA, server
// certificate, evidence-signing keys, master key and an operator credential.
// It never overwrites an existing key, and refuses a directory that belongs
// to another database. It returns the files it created.
func Initialize(ctx context.Context, cfg Config) (DataDir, []string, error) {
	if err := cfg.fill(); err != nil {
		return DataDir{}, nil, err
	}
	d := DataDir{Root: cfg.DataDir}
	if err := os.MkdirAll(d.Root, 0o700); err != nil {
		return d, nil, fmt.Errorf("creating data directory: %w", err)
	}
	now := cfg.Now()
	var created []string
	note := func(rel string) { created = append(created, d.path(rel)) }

	// The database first: a directory that belongs to another database is
	// refused before anything is created in it.
	st, recorded, err := bindStore(ctx, cfg, d)
	if err != nil {
		return d, nil, err
	}
	defer st.Close()
	if recorded {
		note(databaseFile)
	}

	// Root CA.
	if !exists(d.path(caKeyFile)) {
		if exists(d.path(caCertFile)) {
			return d, nil, fmt.Errorf("%s exists without its key %s: refusing to create a new CA over it", d.path(caCertFile), d.path(caKeyFile))
		}
		certPEM, keyPEM, err := certs.CreateCA(defaultCAName, now)
		if err != nil {
			return d, nil, err
		}
		if err := writeNew(d.path(caKeyFile), keyPEM, 0o600); err != nil {
			return d, nil, err
		}
		if err := writeNew(d.path(caCertFile), certPEM, 0o644); err != nil {
			return d, nil, err
		}
		note(caCertFile)
		note(caKeyFile)
	}
	ca, err := d.LoadCA()
	if err != nil {
		return d, nil, err
	}

	// Evidence-signing keys (DESIGN §4): Ed25519 and ML-DSA-65.
	if !exists(d.path(evidenceEdFile)) && !exists(d.path(evidenceMLFile)) {
		edPEM, mlPEM, err := signing.GenerateOperatorKeys()
		if err != nil {
			return d, nil, err
		}
		if err := writeNew(d.path(evidenceEdFile), edPEM, 0o600); err != nil {
			return d, nil, err
		}
		if err := writeNew(d.path(evidenceMLFile), mlPEM, 0o600); err != nil {
			return d, nil, err
		}
		note(evidenceEdFile)
		note(evidenceMLFile)
	} else if !exists(d.path(evidenceEdFile)) || !exists(d.path(evidenceMLFile)) {
		return d, nil, fmt.Errorf("only one of %s and %s exists: restore the other from backup", d.path(evidenceEdFile), d.path(evidenceMLFile))
	}

	// Master key for content encryption at rest.
	if cfg.MasterKeyFile == "" && !exists(d.path(masterKeyFile)) {
		key := make([]byte, masterKeyLen)
		if _, err := rand.Read(key); err != nil {
			return d, nil, err
		}
		if err := writeNew(d.path(masterKeyFile), key, 0o600); err != nil {
			return d, nil, err
		}
		note(masterKeyFile)
	}

	// Server certificate (serverAuth) for the listeners.
	if !exists(d.path(serverKeyFile)) {
		dns, ips := splitHosts(cfg.Hostnames)
		cred, err := ca.IssueServer(dns, ips, now)
		if err != nil {
			return d, created, err
		}
		if err := writeNew(d.path(serverKeyFile), cred.KeyPEM, 0o600); err != nil {
			return d, created, err
		}
		if err := writeNew(d.path(serverCertFile), cred.CertPEM, 0o644); err != nil {
			return d, created, err
		}
		note(serverCertFile)
		note(serverKeyFile)
	}

	// Operator client credential, recorded before it is written.
	if !exists(filepath.Join(d.OperatorCredentialDir(), certs.KeyFile)) {
		svc := NewCAService(ca, st, cfg.Now)
		if _, err := svc.Issue(ctx, certs.Request{Role: certs.RoleOperator, Name: operatorCredName}, d.OperatorCredentialDir()); err != nil {
			return d, created, err
		}
		created = append(created, d.OperatorCredentialDir())
	}
	return d, created, nil
}

// RecordCertificate adds an issued certificate to the CA's registry.
func RecordCertificate(ctx context.Context, st mailbox.Store, cred certs.Credential) error {
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		return err
	}
	return st.InTx(ctx, func(tx mailbox.Tx) error {
		return tx.AddCertificate(ctx, mailbox.CertificateRecord{
			Serial: id.Serial, Role: string(id.Role), Name: id.Name, IdentityID: id.ID,
			NotBefore: cred.Cert.NotBefore, NotAfter: cred.Cert.NotAfter, CertPEM: cred.CertPEM,
		})
	})
}

// Open checks that the data directory was initialized and names the first
// missing file otherwise.
func Open(cfg Config) (DataDir, error) {
	if err := cfg.fill(); err != nil {
		return DataDir{}, err
	}
	d := DataDir{Root: cfg.DataDir}
	for _, rel := range []string{caCertFile, caKeyFile, serverCertFile, serverKeyFile, evidenceEdFile, evidenceMLFile} {
		if !exists(d.path(rel)) {
			return d, fmt.Errorf("data directory %s is not initialized: %s is missing (run `npes init`)", d.Root, d.path(rel))
		}
	}
	return d, nil
}

// LoadCA loads the internal CA.
func (d DataDir) LoadCA() (*certs.CA, error) {
	certPEM, err := readFile(d.path(caCertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(d.path(caKeyFile))
	if err != nil {
		return nil, err
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.path(caCertFile), err)
	}
	return ca, nil
}

// CAPEM returns the CA certificate.
func (d DataDir) CAPEM() ([]byte, error) { return readFile(d.path(caCertFile)) }

// ServerCertificate loads the listeners' certificate.
func (d DataDir) ServerCertificate() (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(d.path(serverCertFile), d.path(serverKeyFile))
	if err != nil {
		return c, fmt.Errorf("server certificate %s: %w", d.path(serverCertFile), err)
	}
	return c, nil
}

// Sealer loads the operator's evidence-signing keys.
func (d DataDir) Sealer() (*signing.Sealer, error) {
	ed, err := readFile(d.path(evidenceEdFile))
	if err != nil {
		return nil, err
	}
	ml, err := readFile(d.path(evidenceMLFile))
	if err != nil {
		return nil, err
	}
	s, err := signing.LoadSealer(ed, ml)
	if err != nil {
		return nil, fmt.Errorf("evidence keys in %s: %w", filepath.Dir(d.path(evidenceEdFile)), err)
	}
	return s, nil
}

// MasterKey loads the content-encryption master key.
func (d DataDir) MasterKey(cfg Config) ([]byte, error) {
	p := cfg.MasterKeyFile
	if p == "" {
		p = d.path(masterKeyFile)
	}
	k, err := readFile(p)
	if err != nil {
		return nil, err
	}
	if len(k) != masterKeyLen {
		return nil, fmt.Errorf("master key %s: want %d bytes, found %d", p, masterKeyLen, len(k))
	}
	return k, nil
}

func splitHosts(hosts []string) (dns []string, ips []net.IP) {
	dns = []string{"localhost"}
	ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, h)
		}
	}
	return dns, ips
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func readFile(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing (run `npes init`)", p)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return b, nil
}

// writeNew writes a file that must not exist yet, so a key is never
// overwritten, whole or not at all (certs.WriteNewFile).
func writeNew(p string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return certs.WriteNewFile(p, data, mode)
}
