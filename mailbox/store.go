package mailbox

import (
	"context"
	"errors"
	"time"
)

// Domain errors returned by every Store implementation. Engines translate
// their own errors (pgx.ErrNoRows, sql.ErrNoRows, unique violations) into
// these at their edge, so the core never sees a driver error.
var (
	// ErrNotFound: the object does not exist, or is not visible to the caller.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness or state precondition failed.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database could not be reached or the transaction
	// could not complete; the caller may retry later. Nothing was committed.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is the persistence seam of npes. One implementation exists per
// database engine (internal/store/postgres, internal/store/sqlite); both pass
// the same conformance suite (internal/store/storetest).
//
// Every write goes through InTx so that a letter, its evidence and its print
// job commit together or not at all.
type Store interface {
	// InTx runs fn in a read-write transaction and commits when fn returns
	// nil. Any error from fn rolls everything back. InTx returns only after
	// the commit is durable.
	InTx(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// SchemaVersion is the highest applied migration.
	SchemaVersion(ctx context.Context) (int64, error)
	// Engine names the database engine ("postgres" or "sqlite").
	Engine() string
	Close() error
}

// Tx is everything that can be done inside one transaction. It grows with
// each domain; every method takes the transaction's context.
type Tx interface {
	StateTx
	CertificateTx
}

// StateTx is a small key-value store for server state (for example the
// evidence log's origin or a CRL number).
type StateTx interface {
	// GetState returns ErrNotFound when the key was never written.
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
	// NextCounter atomically increments the named counter and returns the
	// new value (the first call returns 1).
	NextCounter(ctx context.Context, name string) (int64, error)
}

// CertificateRecord is the CA's registry entry for one issued certificate.
type CertificateRecord struct {
	Serial     string // uppercase hex, as `openssl x509 -serial` prints it
	Role       string
	Name       string
	IdentityID string
	NotBefore  time.Time
	NotAfter   time.Time
	CertPEM    []byte
	RevokedAt  time.Time // zero when not revoked
	Reason     int       // RFC 5280 §5.3.1 CRLReason, when revoked
}

// Revoked reports whether the certificate has been revoked.
func (c CertificateRecord) Revoked() bool { return !c.RevokedAt.IsZero() }

// CertificateTx is the certificate registry and its revocations.
type CertificateTx interface {
	// AddCertificate records an issued certificate; ErrConflict if the
	// serial exists.
	AddCertificate(ctx context.Context, c CertificateRecord) error
	// RevokeCertificate marks the certificate revoked. ErrNotFound for an
	// unknown serial; revoking twice keeps the first time and reason.
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) (CertificateRecord, error)
	GetCertificate(ctx context.Context, serial string) (CertificateRecord, error)
	ListCertificates(ctx context.Context) ([]CertificateRecord, error)
	// RevokedCertificates lists revoked certificates, oldest first.
	RevokedCertificates(ctx context.Context) ([]CertificateRecord, error)
}
