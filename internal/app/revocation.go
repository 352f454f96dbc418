package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// revocations is the server's view of the store's revoked certificates,
// asked on every handshake (certs.ServerTLSConfig's VerifyConnection), on
// every authenticated HTTP request and at every SMTP MAIL. It answers from
// an immutable snapshot behind an atomic pointer that a background loop
// reloads every ttl/2, so no check waits on the database or on a lock held
// across a query while the database answers. With several npes processes on
// one database, a revocation made anywhere (including `npes ca revoke` while
// the server runs) takes effect everywhere within ttl.
//
// A check that finds the snapshot older than ttl (the loop is late, or the
// injected clock jumped) waits, within its context, for a reload that starts
// after it asked; if that fails it keeps the old set up to revocationGrace
// and then fails closed.
type revocations struct {
	store mailbox.Store
	ttl   time.Duration
	now   func() time.Time
	log   *slog.Logger

	snap atomic.Pointer[revocationSnapshot]
	wake chan struct{} // buffered 1: asks the loop for a reload now

	mu sync.Mutex // guards the fields below; never held across a query
	// waiters are checks and Refresh calls waiting for the next reload,
	// which starts after they were added.
	waiters []chan error
	// loadFrom is when the reload in flight started, read from the real
	// monotonic clock, not the injected one: whether the store hangs is a
	// matter of elapsed time, and a test's clock jump must not make a
	// reload that began a millisecond ago look hung (the check would then
	// answer from a set read before a revocation). Zero when none.
	loadFrom time.Time
	failedAt time.Time // end of the last failed reload since the last good one

	cancel context.CancelFunc
	done   chan struct{}
}

// revocationSnapshot is one reload of the revoked set; never modified.
type revocationSnapshot struct {
	revoked map[string]bool
	// loaded is when the query that produced the set started: the set is
	// at least as new as the store at that moment.
	loaded time.Time
	// generation counts reloads (1 for the first), so a test can tell that
	// a reload happened.
	generation uint64
}

// revocationGrace is how long past its reload the last revocation set stays
// in use while the store cannot be read (a database restart or failover).
// Without it every new connection during an outage was refused at the
// handshake with a "bad certificate" alert, which clients read as a problem
// with their credential, instead of reaching the API and hearing 503 with
// Retry-After. The window is small next to the CRL's own validity
// (crlValidity, 24 h) that relying parties accept, and nothing a stale set
// lets through can reach data: every authenticated route needs the same
// store. Past the grace the check fails closed again.
const revocationGrace = 5 * time.Minute

// revocationLoadTimeout bounds one reload, so a hung database connection
// cannot stop the loop (the grace then covers the outage).
const revocationLoadTimeout = 5 * time.Second

// errRevocationsStopped answers Refresh after the loop has stopped.
var errRevocationsStopped = errors.New("the revocation set is no longer refreshed: the server is stopping")

var _ certs.RevocationChecker = (*revocations)(nil)

// startRevocations loads the set once (the server does not start without
// it) and starts the background reloads; stop ends them.
func startRevocations(ctx context.Context, st mailbox.Store, ttl time.Duration, now func() time.Time, log *slog.Logger) (*revocations, error) {
	r := &revocations{store: st, ttl: ttl, now: now, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if err := r.load(ctx); err != nil {
		return nil, fmt.Errorf("loading the revoked certificates: %w", err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go r.run(loopCtx)
	return r, nil
}

// stop ends the background reloads and waits for the loop to return.
func (r *revocations) stop() {
	r.cancel()
	<-r.done
}

func (r *revocations) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.ttl / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			waiters := r.waiters
			r.waiters = nil
			r.mu.Unlock()
			for _, w := range waiters {
				w <- errRevocationsStopped
			}
			return
		case <-t.C:
		case <-r.wake:
		}
		r.reload(ctx)
	}
}

// reload runs one load for the waiters registered before it started.
func (r *revocations) reload(ctx context.Context) {
	r.mu.Lock()
	waiters := r.waiters
	r.waiters = nil
	r.loadFrom = time.Now()
	r.mu.Unlock()

	err := r.load(ctx)

	r.mu.Lock()
	r.loadFrom = time.Time{}
	wasFailing := !r.failedAt.IsZero()
	if err != nil {
		r.failedAt = r.now()
	} else {
		r.failedAt = time.Time{}
	}
	r.mu.Unlock()
	switch {
	case err != nil && !wasFailing && ctx.Err() == nil:
		s := r.snap.Load()
		r.log.Warn("cannot reload the revoked certificates; keeping the last set within the grace",
			"err", err, "set_loaded", s.loaded, "fail_closed_after", s.loaded.Add(r.ttl+revocationGrace))
	case err == nil && wasFailing:
		r.log.Info("revoked certificates reloaded again")
	}
	for _, w := range waiters {
		w <- err
	}
}

func (r *revocations) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, revocationLoadTimeout)
	defer cancel()
	started := r.now()
	var recs []mailbox.CertificateRecord
	err := r.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		recs, err = tx.RevokedCertificates(ctx)
		return err
	})
	if err != nil {
		return err
	}
	m := make(map[string]bool, len(recs))
	for _, c := range recs {
		m[c.Serial] = true
	}
	next := &revocationSnapshot{revoked: m, loaded: started, generation: 1}
	if prev := r.snap.Load(); prev != nil {
		next.generation = prev.generation + 1
	}
	// Only the loop stores after start, so generations never go backwards.
	r.snap.Store(next)
	return nil
}

// Refresh asks for a reload that starts after the call and waits for it
// (within ctx): once it returns nil, every check sees the store's
// revocations as of the call.
func (r *revocations) Refresh(ctx context.Context) error {
	w := make(chan error, 1)
	r.mu.Lock()
	r.waiters = append(r.waiters, w)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	select {
	case err := <-w:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-r.done:
		return errRevocationsStopped
	}
}

// Age is how old the set in use is (for a gauge such as
// npes_revocation_set_age_seconds).
func (r *revocations) Age() time.Duration {
	return r.now().Sub(r.snap.Load().loaded)
}

// Generation counts the reloads so far.
func (r *revocations) Generation() uint64 {
	return r.snap.Load().generation
}

// IsRevoked implements certs.RevocationChecker from the snapshot; see
// revocations for when it waits and when it fails closed.
func (r *revocations) IsRevoked(ctx context.Context, serial string) (bool, error) {
	s, err := r.current(ctx)
	if err != nil {
		return false, err
	}
	return s.revoked[serial], nil
}

func (r *revocations) current(ctx context.Context) (*revocationSnapshot, error) {
	s := r.snap.Load()
	now := r.now()
	age := now.Sub(s.loaded)
	if age < r.ttl {
		return s, nil
	}
	inGrace := age < r.ttl+revocationGrace
	r.mu.Lock()
	// The store is failing or hanging: do not make every check wait on it
	// again while the grace still covers the old set.
	outage := (!r.failedAt.IsZero() && now.Sub(r.failedAt) < r.ttl) ||
		(!r.loadFrom.IsZero() && time.Since(r.loadFrom) >= r.ttl)
	r.mu.Unlock()
	if outage && inGrace {
		return s, nil
	}
	err := r.Refresh(ctx)
	if err == nil {
		return r.snap.Load(), nil
	}
	if inGrace {
		return s, nil
	}
	return nil, fmt.Errorf("the revoked set is %s old and cannot be reloaded: %w", age.Round(time.Second), err)
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
