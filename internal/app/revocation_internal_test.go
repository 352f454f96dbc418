package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// faultyStore is a store whose reads can fail (database down) or hang
// (a connection that stopped answering) on demand.
type faultyStore struct {
	mailbox.Store
	down atomic.Bool
	hang atomic.Pointer[hang] // when set, View waits for its release
}

// hang makes View wait: entered is closed when a View starts waiting.
type hang struct {
	once             sync.Once
	entered, release chan struct{}
}

var errDown = errors.New("database down")

func (f *faultyStore) View(ctx context.Context, fn func(mailbox.Tx) error) error {
	if h := f.hang.Load(); h != nil {
		h.once.Do(func() { close(h.entered) })
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.down.Load() {
		return errDown
	}
	return f.Store.View(ctx, fn)
}

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type revFixture struct {
	st    *faultyStore
	clock *manualClock
	rev   *revocations
}

func newRevFixture(t *testing.T, open func(*testing.T) mailbox.Store, serials ...string) *revFixture {
	t.Helper()
	st := &faultyStore{Store: open(t)}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.InTx(t.Context(), func(tx mailbox.Tx) error {
		for _, s := range serials {
			if err := tx.AddCertificate(t.Context(), mailbox.CertificateRecord{
				Serial: s, Role: "person", Name: "test " + s, IdentityID: "id-" + s,
				NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), CertPEM: []byte("-"),
			}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	clk := &manualClock{t: now}
	rev, err := startRevocations(t.Context(), st, time.Second, clk.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rev.stop)
	return &revFixture{st: st, clock: clk, rev: rev}
}

func (f *revFixture) revoke(t *testing.T, serial string) {
	t.Helper()
	if err := f.st.InTx(t.Context(), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(t.Context(), serial, 1, f.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// hangReload starts a reload (Refresh) and returns once it waits inside the
// store, with the hang that holds it and the channel of its result.
func (f *revFixture) hangReload(t *testing.T) (*hang, <-chan error) {
	t.Helper()
	h := &hang{entered: make(chan struct{}), release: make(chan struct{})}
	f.st.hang.Store(h)
	reloaded := make(chan error, 1)
	go func() { reloaded <- f.rev.Refresh(context.WithoutCancel(t.Context())) }()
	<-h.entered
	return h, reloaded
}

func (f *revFixture) want(t *testing.T, step, serial string, revoked bool) {
	t.Helper()
	got, err := f.rev.IsRevoked(t.Context(), serial)
	if err != nil || got != revoked {
		t.Fatalf("%s: IsRevoked(%s) = %v, %v; want %v", step, serial, got, err, revoked)
	}
}

var storeEngines = map[string]func(*testing.T) mailbox.Store{
	"sqlite":   storetest.NewSQLite,
	"postgres": storetest.NewPostgres,
}

// The snapshot's life: reloads on request, reloads when a check finds it
// older than the ttl, survives a database outage for the grace, then fails
// closed, and recovers with the database.
func TestRevocationSnapshot(t *testing.T) {
	t.Parallel()
	for name, open := range storeEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newRevFixture(t, open, "0A1B", "0C2D", "0E3F")
			f.want(t, "fresh", "0A1B", false)
			if age := f.rev.Age(); age != 0 {
				t.Fatalf("age of the first set with a stopped clock = %s, want 0", age)
			}

			gen := f.rev.Generation()
			f.revoke(t, "0A1B")
			if err := f.rev.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			if f.rev.Generation() <= gen {
				t.Fatalf("generation %d after Refresh, was %d", f.rev.Generation(), gen)
			}
			f.want(t, "after Refresh", "0A1B", true)

			// A set older than the ttl is reloaded by the check itself.
			f.revoke(t, "0C2D")
			f.clock.Advance(time.Second)
			f.want(t, "stale set", "0C2D", true)
			if age := f.rev.Age(); age != 0 {
				t.Fatalf("age after the check's reload = %s, want 0", age)
			}

			// Database down: the last set stays in use within the grace.
			f.st.down.Store(true)
			if err := f.rev.Refresh(t.Context()); !errors.Is(err, errDown) {
				t.Fatalf("Refresh with the database down = %v, want %v", err, errDown)
			}
			f.clock.Advance(revocationGrace)
			f.want(t, "outage within the grace", "0A1B", true)
			f.want(t, "outage within the grace", "0E3F", false)

			// Past the grace: fail closed.
			f.clock.Advance(time.Second)
			if got, err := f.rev.IsRevoked(t.Context(), "0E3F"); err == nil {
				t.Fatalf("past the grace: IsRevoked = %v, nil; want an error (fail closed)", got)
			}

			// The database is back: the next check reloads and answers.
			f.st.down.Store(false)
			f.want(t, "after the outage", "0E3F", false)
			f.want(t, "after the outage", "0C2D", true)
		})
	}
}

// A check with a fresh set never waits on the database, even while a
// reload hangs on it: handshakes must not queue behind a query.
func TestRevocationCheckDoesNotWaitOnReload(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, storetest.NewSQLite, "0A1B")
	h, reloaded := f.hangReload(t)
	for range 100 {
		f.want(t, "while a reload hangs", "0A1B", false)
	}
	f.st.hang.Store(nil)
	close(h.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
}

// Refresh after stop reports that the set is no longer refreshed instead
// of waiting forever.
func TestRevocationRefreshAfterStop(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, storetest.NewSQLite)
	f.rev.stop()
	if err := f.rev.Refresh(t.Context()); !errors.Is(err, errRevocationsStopped) {
		t.Fatalf("Refresh after stop = %v, want %v", err, errRevocationsStopped)
	}
}

// A check that finds the set older than the ttl while a reload is in flight
// waits for a reload that starts after it asked, even when the injected
// clock jumped past the ttl during that reload: the jump says the set is
// stale, not that the store hangs. (It once answered from the stale set,
// so a certificate revoked a moment earlier passed on a busy CI machine.)
func TestRevocationCheckAfterClockJumpDuringReload(t *testing.T) {
	t.Parallel()
	f := newRevFixture(t, storetest.NewSQLite, "0A1B")
	h, reloaded := f.hangReload(t)

	f.revoke(t, "0A1B")
	f.clock.Advance(2 * time.Second)
	type answer struct {
		revoked bool
		err     error
	}
	checked := make(chan answer, 1)
	go func() {
		revoked, err := f.rev.IsRevoked(t.Context(), "0A1B")
		checked <- answer{revoked, err}
	}()
	// The check must queue for the next reload, not answer from the set in use.
	for waiting := false; !waiting; {
		select {
		case a := <-checked:
			t.Fatalf("check answered %v, %v while the only reload in flight started before it asked; want it to wait for the next", a.revoked, a.err)
		default:
		}
		f.rev.mu.Lock()
		waiting = len(f.rev.waiters) > 0
		f.rev.mu.Unlock()
		if !waiting {
			time.Sleep(time.Millisecond) // polling a condition, not waiting a duration
		}
	}
	f.st.hang.Store(nil)
	close(h.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	if a := <-checked; a.err != nil || !a.revoked {
		t.Fatalf("check after the reload = %v, %v; want revoked", a.revoked, a.err)
	}
}
