// Package coretest builds the core service (mailbox.Service) for the tests
// of the core and of its adapters: operator keys, a test CA whose
// certificates the service trusts, and a clock the test moves. It is the
// one place such a service is put together outside internal/app.
package coretest

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Start is where test clocks start: 2 November 2026, 10:00 UTC.
var Start = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// Clock is a clock the test moves; safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Core is a service on a store with its CA and clock.
type Core struct {
	Svc   *mailbox.Service
	Store mailbox.Store
	Clock *Clock
	CA    *certs.CA
	CAPEM []byte
}

// New builds a Service on store, closed when the test ends. Store, Sealer,
// Keys, Trust, Now and TempDir are set here; modify (if not nil) sets the
// rest (Renderer, Limits, sinks).
func New(t testing.TB, store mailbox.Store, modify func(*mailbox.Config)) *Core {
	t.Helper()
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := mailbox.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &Core{Store: store, Clock: NewClock(Start)}
	caPEM, caKey, err := certs.CreateCA("test CA", c.Clock.Now().AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if c.CA, err = certs.LoadCA(caPEM, caKey); err != nil {
		t.Fatal(err)
	}
	c.CAPEM = caPEM
	pool := x509.NewCertPool()
	pool.AddCert(c.CA.Certificate())
	cfg := mailbox.Config{Store: store, Sealer: sealer, Keys: keys, Trust: pool, Now: c.Clock.Now, TempDir: t.TempDir()}
	if modify != nil {
		modify(&cfg)
	}
	if c.Svc, err = mailbox.NewService(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Svc.Close)
	return c
}

// Issue issues a certificate of the test CA and returns its caller.
func (c *Core) Issue(t testing.TB, req certs.Request) (mailbox.Caller, certs.Credential) {
	t.Helper()
	cred, err := c.CA.Issue(req, c.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	return mailbox.Caller{Identity: id, Cert: cred.Cert}, cred
}

// Code is the code of a domain error (mailbox.Error), "" for any other.
func Code(err error) string {
	var de *mailbox.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// StandIn is a renderer of small stand-in PDFs (one page, one sheet), one
// per letter or activation, so each print job's digest is its own; it
// accepts every attachment and address.
type StandIn struct{}

// Doc is StandIn's document for id.
func Doc(id string) mailbox.Rendered {
	pdf := []byte("%PDF-1.7 " + id)
	sum := sha256.Sum256(pdf)
	return mailbox.Rendered{PDF: pdf, Pages: 1, Sheets: 1, SHA256: hex.EncodeToString(sum[:])}
}

// RenderLetter implements mailbox.Renderer.
func (StandIn) RenderLetter(_ context.Context, l mailbox.PrintLetter) (mailbox.Rendered, error) {
	return Doc(l.ID), nil
}

// RenderActivation implements mailbox.Renderer.
func (StandIn) RenderActivation(_ context.Context, a mailbox.PrintActivation) (mailbox.Rendered, error) {
	return Doc(a.ID), nil
}

// CheckAttachment implements mailbox.Renderer.
func (StandIn) CheckAttachment(string, string, []byte) error { return nil }

// CheckAddress implements mailbox.Renderer.
func (StandIn) CheckAddress(string, []string) error { return nil }
