package app

import (
	"context"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// revocations caches the store's revoked serials for the handshake check.
// crypto/tls checks no revocation (DESIGN §3); the listeners call IsRevoked
// from VerifyConnection on every handshake, so it must be cheap: the set is
// reloaded from the store at most once per ttl. With several npes processes
// on one database, a revocation made anywhere (including `npes ca revoke`
// while the server runs) takes effect everywhere within ttl.
type revocations struct {
	store mailbox.Store
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	loaded  time.Time
	failed  time.Time // last failed reload, so an outage is not retried on every handshake
	revoked map[string]bool
	records []mailbox.CertificateRecord
}

// revocationGrace is how long past its reload the last revocation set stays
// in use while the store cannot be read (a database restart or failover).
// Without it every new connection during an outage was refused at the
// handshake with a "bad certificate" alert, which clients read as a problem
// with their credential, instead of reaching the API and hearing 503 with
// Retry-After (found by the reliability suite, issue 8). The window is
// small next to the CRL's own validity (crlValidity, 24 h) that relying
// parties accept, and nothing a stale set lets through can reach data: every
// authenticated route needs the same store. Past the grace the check fails
// closed again.
const revocationGrace = 5 * time.Minute

var _ certs.RevocationChecker = (*revocations)(nil)

func newRevocations(st mailbox.Store, ttl time.Duration, now func() time.Time) *revocations {
	return &revocations{store: st, ttl: ttl, now: now}
}

// IsRevoked implements certs.RevocationChecker. It fails closed: when the set
// cannot be loaded and no copy younger than ttl+revocationGrace exists, the
// handshake is refused.
func (r *revocations) IsRevoked(ctx context.Context, serial string) (bool, error) {
	if err := r.refresh(ctx); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.revoked[serial], nil
}

func (r *revocations) refresh(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded.IsZero() && r.now().Sub(r.loaded) < r.ttl {
		return nil
	}
	now := r.now()
	stale := !r.loaded.IsZero() && now.Sub(r.loaded) < r.ttl+revocationGrace
	if stale && !r.failed.IsZero() && now.Sub(r.failed) < r.ttl {
		return nil // the store failed a moment ago: keep the set, do not wait on it again
	}
	var recs []mailbox.CertificateRecord
	err := r.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		recs, err = tx.RevokedCertificates(ctx)
		return err
	})
	if err != nil {
		r.failed = now
		if stale {
			return nil
		}
		return err
	}
	r.failed = time.Time{}
	m := make(map[string]bool, len(recs))
	for _, c := range recs {
		m[c.Serial] = true
	}
	r.revoked, r.records, r.loaded = m, recs, r.now()
	return nil
}

// crlPublisher signs a CRL of the internal CA from the store's revocations
// and re-signs it only when the set changed or it is half-way to its
// nextUpdate.
type crlPublisher struct {
	ca    *certs.CA
	store mailbox.Store
	now   func() time.Time
	log   *slog.Logger

	mu       sync.Mutex
	der      []byte
	count    int
	issuedAt time.Time
}

const crlValidity = 24 * time.Hour

func (p *crlPublisher) CRL(ctx context.Context) ([]byte, error) {
	var recs []mailbox.CertificateRecord
	if err := p.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		recs, err = tx.RevokedCertificates(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.der != nil && len(recs) == p.count && now.Sub(p.issuedAt) < crlValidity/2 {
		return p.der, nil
	}
	var number int64
	if err := p.store.InTx(ctx, func(tx mailbox.Tx) error {
		var err error
		number, err = tx.NextCounter(ctx, "crl_number")
		return err
	}); err != nil {
		return nil, err
	}
	der, err := p.ca.CRL(crlEntries(ctx, p.log, recs, now), big.NewInt(number), now, now.Add(crlValidity))
	if err != nil {
		return nil, err
	}
	p.der, p.count, p.issuedAt = der, len(recs), now
	return der, nil
}

// crlEntries turns the registry's revocations into CRL entries that
// certs.CA.CRL accepts, so one bad row never takes the CRL down for every
// relying party. RFC 5280 §5.1.2.6 wants revocationDate no later than the
// CRL's thisUpdate: a row dated after now (a node with a fast clock, a row
// written by hand) is published as revoked now, which errs on the side of
// revocation. A reason code npes does not issue becomes unspecified
// (§5.3.1). Only a row whose serial cannot be encoded is left out, because
// it names no certificate this CA could have issued; it is logged as an
// error.
func crlEntries(ctx context.Context, log *slog.Logger, recs []mailbox.CertificateRecord, now time.Time) []certs.RevokedEntry {
	entries := make([]certs.RevokedEntry, 0, len(recs))
	for _, c := range recs {
		if _, err := certs.ParseSerial(c.Serial); err != nil {
			log.ErrorContext(ctx, "revoked certificate left out of the CRL: unreadable serial", "serial", c.Serial, "err", err)
			continue
		}
		e := certs.RevokedEntry{Serial: c.Serial, RevokedAt: c.RevokedAt, Reason: certs.Reason(c.Reason)}
		if e.RevokedAt.After(now) {
			log.WarnContext(ctx, "future revocation time published as now", "serial", c.Serial, "revoked_at", c.RevokedAt)
			e.RevokedAt = now
		}
		if !slices.Contains(certs.Reasons(), e.Reason) {
			log.WarnContext(ctx, "unknown revocation reason published as unspecified", "serial", c.Serial, "reason", c.Reason)
			e.Reason = certs.ReasonUnspecified
		}
		entries = append(entries, e)
	}
	return entries
}
