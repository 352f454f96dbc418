package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// CAService is the internal CA as the operator's commands use it: every
// certificate it issues is in the registry before any file holds it, so no
// credential can exist that `npes ca revoke` does not know, and revocation
// times are the CA's clock, never later. The CLI calls it instead of the
// store.
type CAService struct {
	ca    *certs.CA
	store mailbox.Store
	now   func() time.Time
	// writeCredential writes an issued credential; tests replace it to make
	// the write fail after the record.
	writeCredential func(dir string, cred certs.Credential) error
}

// NewCAService builds the service over an opened store; now nil means
// time.Now.
func NewCAService(ca *certs.CA, st mailbox.Store, now func() time.Time) *CAService {
	if now == nil {
		now = time.Now
	}
	return &CAService{ca: ca, store: st, now: now, writeCredential: certs.WriteCredentialDir}
}

// OpenCA opens the data directory's CA and the database it records (see
// OpenStore): the service works on the server's database or not at all.
// Close the returned service's store with Close.
func OpenCA(ctx context.Context, cfg Config) (*CAService, error) {
	d, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	ca, err := d.LoadCA()
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return NewCAService(ca, st, cfg.Now), nil
}

// Close closes the store.
func (s *CAService) Close() error { return s.store.Close() }

// Issue issues a certificate for req, records it, then writes the credential
// directory out (cert.pem, key.pem 0600, ca.pem; each file complete or
// absent). The order matters: a certificate is valid from the moment it is
// signed, so it must be revocable before its key leaves memory. If writing
// fails after the record, the certificate is revoked (cessationOfOperation,
// RFC 5280 §5.3.1) since nobody holds it; the error names its serial.
func (s *CAService) Issue(ctx context.Context, req certs.Request, out string) (certs.Credential, error) {
	if out == "" {
		return certs.Credential{}, errors.New("no output directory for the credential")
	}
	// Refuse an occupied directory before signing anything: WriteCredentialDir
	// never overwrites a key, and finding that out only after the record
	// would leave a recorded certificate behind for nothing.
	if _, err := os.Lstat(filepath.Join(out, certs.KeyFile)); err == nil {
		return certs.Credential{}, fmt.Errorf("%s already exists; refusing to overwrite a private key: %w", filepath.Join(out, certs.KeyFile), fs.ErrExist)
	}
	cred, err := s.ca.Issue(req, s.now())
	if err != nil {
		return certs.Credential{}, err
	}
	return s.recordAndWrite(ctx, cred, out, s.writeCredential)
}

// IssueCSR issues a certificate for the key of a verified CSR
// (certs.CA.IssueCSR: role and attributes from req, the CSR's subject
// ignored), records it, then writes cert.pem and ca.pem into out; the key
// stays on the token. A failed write revokes the certificate, as Issue.
func (s *CAService) IssueCSR(ctx context.Context, req certs.Request, csr *x509.CertificateRequest, out string) (certs.Credential, error) {
	if out == "" {
		return certs.Credential{}, errors.New("no output directory for the certificate")
	}
	if _, err := os.Lstat(filepath.Join(out, certs.KeyFile)); err == nil {
		return certs.Credential{}, fmt.Errorf("%s exists: a certificate for a key on a token goes into a directory without key.pem: %w", filepath.Join(out, certs.KeyFile), fs.ErrExist)
	}
	cred, err := s.ca.IssueCSR(req, csr, s.now())
	if err != nil {
		return certs.Credential{}, err
	}
	return s.recordAndWrite(ctx, cred, out, certs.WriteCertDir)
}

// recordAndWrite records an issued certificate, then writes it out; when
// the write fails the certificate is revoked, since nobody holds it.
func (s *CAService) recordAndWrite(ctx context.Context, cred certs.Credential, out string, write func(string, certs.Credential) error) (certs.Credential, error) {
	if err := RecordCertificate(ctx, s.store, cred); err != nil {
		return certs.Credential{}, fmt.Errorf("recording the certificate (nothing was written to %s): %w", out, err)
	}
	if werr := write(out, cred); werr != nil {
		serial := certs.FormatSerial(cred.Cert.SerialNumber)
		if _, rerr := s.Revoke(ctx, serial, certs.ReasonCessationOfOperation); rerr != nil {
			return certs.Credential{}, fmt.Errorf("writing the credential: %w; certificate %s is recorded but could not be revoked (%v): revoke it with `npes ca revoke --serial %s`", werr, serial, rerr, serial)
		}
		return certs.Credential{}, fmt.Errorf("writing the credential: %w; certificate %s was recorded and has been revoked", werr, serial)
	}
	return cred, nil
}

// Revoke revokes the certificate with serial (any form certs.ParseSerial
// accepts) as of now. Revoking twice keeps the first time and reason.
// mailbox.ErrNotFound (wrapped, naming the serial) when this CA never
// issued it.
func (s *CAService) Revoke(ctx context.Context, serial string, reason certs.Reason) (mailbox.CertificateRecord, error) {
	n, err := certs.ParseSerial(serial)
	if err != nil {
		return mailbox.CertificateRecord{}, err
	}
	if !slices.Contains(certs.Reasons(), reason) {
		return mailbox.CertificateRecord{}, fmt.Errorf("%w: code %d", certs.ErrBadReason, int(reason))
	}
	canonical := certs.FormatSerial(n)
	var rec mailbox.CertificateRecord
	err = s.store.InTx(ctx, func(tx mailbox.Tx) error {
		// The time is read inside the transaction so that it is no later
		// than the commit: a revocation dated in the future would be one
		// the CRL could not publish (RFC 5280 §5.1.2.6).
		var err error
		rec, err = tx.RevokeCertificate(ctx, canonical, int(reason), s.now())
		return err
	})
	if errors.Is(err, mailbox.ErrNotFound) {
		return rec, fmt.Errorf("no certificate with serial %s was issued by this CA: %w", canonical, mailbox.ErrNotFound)
	}
	return rec, err
}

// List returns every certificate in the registry, oldest first.
func (s *CAService) List(ctx context.Context) ([]mailbox.CertificateRecord, error) {
	var all []mailbox.CertificateRecord
	err := s.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		all, err = tx.ListCertificates(ctx)
		return err
	})
	return all, err
}
