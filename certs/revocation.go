package certs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// RevocationChecker answers whether the certificate with a serial number
// (FormatSerial form) issued by the trusted CA is revoked. The server calls it
// during every TLS handshake that presents a client certificate, so it must be
// fast and must not touch the network or the database on that path: keep the
// revoked set in memory (RevocationSet) and refresh it from the store or a CRL
// in the background. An error refuses the handshake (fail closed).
type RevocationChecker interface {
	IsRevoked(ctx context.Context, serial string) (bool, error)
}

// RevocationCheckerFunc adapts a function to RevocationChecker.
type RevocationCheckerFunc func(ctx context.Context, serial string) (bool, error)

// IsRevoked calls f.
func (f RevocationCheckerFunc) IsRevoked(ctx context.Context, serial string) (bool, error) {
	return f(ctx, serial)
}

// RevocationSet is an in-memory RevocationChecker: the set of revoked serials,
// replaced as a whole when the server reloads it, safe for concurrent use. The
// zero value is an empty set.
type RevocationSet struct {
	mu      sync.RWMutex
	serials map[string]struct{}
}

// Replace makes serials (any form ParseSerial accepts) the revoked set. On a
// bad serial it changes nothing and says which.
func (s *RevocationSet) Replace(serials []string) error {
	next := make(map[string]struct{}, len(serials))
	for _, raw := range serials {
		c, err := canonicalSerial(raw)
		if err != nil {
			return err
		}
		next[c] = struct{}{}
	}
	s.mu.Lock()
	s.serials = next
	s.mu.Unlock()
	return nil
}

// Revoke adds one serial to the set.
func (s *RevocationSet) Revoke(serial string) error {
	c, err := canonicalSerial(serial)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serials == nil {
		s.serials = map[string]struct{}{}
	}
	s.serials[c] = struct{}{}
	return nil
}

// IsRevoked implements RevocationChecker. A serial that does not parse, or a
// nil set, is an error, so the handshake is refused rather than waved through.
func (s *RevocationSet) IsRevoked(_ context.Context, serial string) (bool, error) {
	if s == nil {
		return false, errors.New("certs: nil RevocationSet")
	}
	c, err := canonicalSerial(serial)
	if err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, revoked := s.serials[c]
	return revoked, nil
}

// Len returns the number of revoked serials.
func (s *RevocationSet) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.serials)
}

// Reason is a CRL reason code (RFC 5280 §5.3.1).
type Reason int

// The reason codes npes offers. certificateHold (6) is left out because
// revocation in npes is final, and removeFromCRL (8) because it only has a
// meaning in delta CRLs, which npes does not issue.
const (
	ReasonUnspecified          Reason = 0
	ReasonKeyCompromise        Reason = 1
	ReasonCACompromise         Reason = 2
	ReasonAffiliationChanged   Reason = 3
	ReasonSuperseded           Reason = 4
	ReasonCessationOfOperation Reason = 5
	ReasonPrivilegeWithdrawn   Reason = 9
	ReasonAACompromise         Reason = 10
)

// Reasons returns the reasons npes offers, in code order.
func Reasons() []Reason {
	return []Reason{ReasonUnspecified, ReasonKeyCompromise, ReasonCACompromise, ReasonAffiliationChanged,
		ReasonSuperseded, ReasonCessationOfOperation, ReasonPrivilegeWithdrawn, ReasonAACompromise}
}

// String returns the RFC 5280 name, e.g. "keyCompromise".
func (r Reason) String() string {
	switch r {
	case ReasonUnspecified:
		return "unspecified"
	case ReasonKeyCompromise:
		return "keyCompromise"
	case ReasonCACompromise:
		return "cACompromise"
	case ReasonAffiliationChanged:
		return "affiliationChanged"
	case ReasonSuperseded:
		return "superseded"
	case ReasonCessationOfOperation:
		return "cessationOfOperation"
	case ReasonPrivilegeWithdrawn:
		return "privilegeWithdrawn"
	case ReasonAACompromise:
		return "aACompromise"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// ParseReason reads a reason by its RFC 5280 name, ignoring case, '-' and '_'
// ("keyCompromise", "key-compromise", "KEY_COMPROMISE"). The empty string is
// unspecified.
func ParseReason(s string) (Reason, error) {
	key := strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	if key == "" {
		return ReasonUnspecified, nil
	}
	for _, r := range Reasons() {
		if strings.ToLower(r.String()) == key {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: %q (want one of %s)", ErrBadReason, s, reasonNames())
}

func reasonNames() string {
	names := make([]string, 0, 8)
	for _, r := range Reasons() {
		names = append(names, r.String())
	}
	return strings.Join(names, ", ")
}

func (r Reason) valid() bool {
	for _, v := range Reasons() {
		if v == r {
			return true
		}
	}
	return false
}

// RevokedEntry is one revoked certificate.
type RevokedEntry struct {
	Serial    string // any form ParseSerial accepts
	RevokedAt time.Time
	Reason    Reason
}

// CRL signs a certificate revocation list (RFC 5280 §5) of entries and returns
// it DER-encoded. number is the cRLNumber, which the caller keeps and must
// increase with every CRL (§5.2.3); thisUpdate is now and nextUpdate the time
// by which a fresh CRL will be out (§5.1.2.5). A reason of unspecified is
// written as no reasonCode extension, as §5.3.1 recommends.
func (ca *CA) CRL(entries []RevokedEntry, number *big.Int, now, nextUpdate time.Time) ([]byte, error) {
	if number == nil || number.Sign() <= 0 || number.BitLen() > 20*8 {
		return nil, fmt.Errorf("%w: CRL number must be positive and at most 20 octets", ErrBadCRL)
	}
	if !nextUpdate.After(now) {
		return nil, fmt.Errorf("%w: nextUpdate %s is not after thisUpdate %s", ErrBadCRL,
			nextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	list := make([]x509.RevocationListEntry, 0, len(entries))
	for i, e := range entries {
		serial, err := ParseSerial(e.Serial)
		if err != nil {
			return nil, fmt.Errorf("certs: CRL entry %d: %w", i, err)
		}
		if !e.Reason.valid() {
			return nil, fmt.Errorf("certs: CRL entry %d: %w: code %d", i, ErrBadReason, int(e.Reason))
		}
		if e.RevokedAt.IsZero() || e.RevokedAt.After(now) {
			return nil, fmt.Errorf("%w: entry %d (serial %s): revocation time %s is unset or after thisUpdate",
				ErrBadCRL, i, FormatSerial(serial), e.RevokedAt.UTC().Format(time.RFC3339))
		}
		list = append(list, x509.RevocationListEntry{
			SerialNumber:   serial,
			RevocationTime: e.RevokedAt.UTC(),
			ReasonCode:     int(e.Reason),
		})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.UTC(),
		NextUpdate:                nextUpdate.UTC(),
		RevokedCertificateEntries: list,
	}, ca.cert, ca.signer)
	if err != nil {
		return nil, fmt.Errorf("certs: sign CRL: %w", err)
	}
	return der, nil
}

// ParseCRL reads a DER CRL of issuer, checks its signature and that it is
// current at now, and returns its entries. A CRL past its nextUpdate yields
// ErrStaleCRL: its holder should fetch a new one, and a server should treat
// the revocation status as unknown (refuse) rather than rely on old data.
func ParseCRL(der []byte, issuer *x509.Certificate, now time.Time) ([]RevokedEntry, error) {
	if issuer == nil {
		return nil, fmt.Errorf("%w: no issuer certificate to check it against", ErrBadCRL)
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCRL, err)
	}
	if !bytes.Equal(rl.RawIssuer, issuer.RawSubject) {
		return nil, fmt.Errorf("%w: issued by %q, not %q", ErrBadCRL, rl.Issuer.String(), issuer.Subject.String())
	}
	if err := rl.CheckSignatureFrom(issuer); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCRL, err)
	}
	if rl.NextUpdate.IsZero() || now.After(rl.NextUpdate) {
		return nil, fmt.Errorf("%w: nextUpdate %s, now %s", ErrStaleCRL,
			rl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	out := make([]RevokedEntry, 0, len(rl.RevokedCertificateEntries))
	for _, e := range rl.RevokedCertificateEntries {
		out = append(out, RevokedEntry{
			Serial:    FormatSerial(e.SerialNumber),
			RevokedAt: e.RevocationTime,
			Reason:    Reason(e.ReasonCode),
		})
	}
	return out, nil
}
