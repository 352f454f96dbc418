// Package storetest is the conformance suite every mailbox.Store engine
// passes (River's riverdrivertest is the model): one set of behaviours, run
// against PostgreSQL and SQLite, so the engines cannot drift apart.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// Factory returns a fresh, migrated, empty store for one test. It registers
// its own cleanup.
type Factory func(t *testing.T) mailbox.Store

// Exercise runs the whole suite.
func Exercise(t *testing.T, newStore Factory) {
	t.Helper()
	t.Run("SchemaVersion", func(t *testing.T) { t.Parallel(); testSchemaVersion(t, newStore) })
	t.Run("State", func(t *testing.T) { t.Parallel(); testState(t, newStore) })
	t.Run("Counter", func(t *testing.T) { t.Parallel(); testCounter(t, newStore) })
	t.Run("Certificates", func(t *testing.T) { t.Parallel(); testCertificates(t, newStore) })
	t.Run("Rollback", func(t *testing.T) { t.Parallel(); testRollback(t, newStore) })
	for _, ext := range extensions {
		ext := ext
		t.Run(ext.name, func(t *testing.T) { t.Parallel(); ext.fn(t, newStore) })
	}
	// One subtest per method of mailbox.Tx (methods.go).
	t.Run("Tx", func(t *testing.T) { t.Parallel(); exerciseMethods(t, newStore) })
}

type extension struct {
	name string
	fn   func(*testing.T, Factory)
}

// extensions are the per-domain parts of the suite; each domain file adds
// itself in an init function so that Exercise stays the single entry point.
var extensions []extension

func register(name string, fn func(*testing.T, Factory)) {
	extensions = append(extensions, extension{name, fn})
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustTx(t *testing.T, s mailbox.Store, fn func(mailbox.Tx) error) {
	t.Helper()
	if err := s.InTx(ctx(t), fn); err != nil {
		t.Fatalf("InTx: %v", err)
	}
}

func testSchemaVersion(t *testing.T, newStore Factory) {
	s := newStore(t)
	v, err := s.SchemaVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("schema version = %d, want ≥ 1", v)
	}
	if e := s.Engine(); e != "postgres" && e != "sqlite" {
		t.Fatalf("engine %q", e)
	}
}

func testState(t *testing.T, newStore Factory) {
	s := newStore(t)
	err := s.View(ctx(t), func(tx mailbox.Tx) error {
		_, err := tx.GetState(ctx(t), "missing")
		return err
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("GetState(missing) = %v, want ErrNotFound", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "k", []byte("one")) })
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "k", []byte("two")) })
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "empty", nil) })
	mustTx(t, s, func(tx mailbox.Tx) error {
		v, err := tx.GetState(ctx(t), "k")
		if err != nil || string(v) != "two" {
			return fmt.Errorf("GetState(k) = %q, %v; want two", v, err)
		}
		v, err = tx.GetState(ctx(t), "empty")
		if err != nil || v == nil || len(v) != 0 {
			return fmt.Errorf("GetState(empty) = %v, %v; want empty non-nil", v, err)
		}
		return nil
	})
}

func testCounter(t *testing.T, newStore Factory) {
	s := newStore(t)
	const workers, each = 4, 25
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				var v int64
				err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
					var err error
					v, err = tx.NextCounter(ctx(t), "s10")
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if seen[v] {
					errs <- fmt.Errorf("counter value %d handed out twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := int64(1); i <= workers*each; i++ {
		if !seen[i] {
			t.Fatalf("counter skipped %d", i)
		}
	}
	// A rolled-back increment is not consumed by anyone else in a way that
	// breaks uniqueness; the next committed value is larger than all before.
	var next int64
	mustTx(t, s, func(tx mailbox.Tx) error {
		var err error
		next, err = tx.NextCounter(ctx(t), "s10")
		return err
	})
	if next != workers*each+1 {
		t.Fatalf("next counter = %d, want %d", next, workers*each+1)
	}
	// A reservation takes a block; the next value follows it.
	mustTx(t, s, func(tx mailbox.Tx) error {
		last, err := tx.ReserveCounter(ctx(t), "s10", 50)
		if err != nil || last != next+50 {
			return fmt.Errorf("ReserveCounter = %d %v, want %d", last, err, next+50)
		}
		if v, err := tx.NextCounter(ctx(t), "s10"); err != nil || v != last+1 {
			return fmt.Errorf("after reservation NextCounter = %d %v", v, err)
		}
		if v, err := tx.ReserveCounter(ctx(t), "fresh", 10); err != nil || v != 10 {
			return fmt.Errorf("first reservation = %d %v, want 10", v, err)
		}
		return nil
	})
}

func testCertificates(t *testing.T, newStore Factory) {
	s := newStore(t)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	a := mailbox.CertificateRecord{Serial: "0A1B", Role: "person", Name: "Иван", IdentityID: "id-a",
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), CertPEM: []byte("pem-a")}
	b := a
	b.Serial, b.IdentityID, b.NotBefore = "0C2D", "id-b", now.Add(time.Minute)
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), a) })
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), b) })
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), a) })
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("duplicate serial: %v, want ErrConflict", err)
	}
	err = s.InTx(ctx(t), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(ctx(t), "FFFF", 1, now)
		return err
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("revoking unknown serial: %v, want ErrNotFound", err)
	}
	revokedAt := now.Add(time.Hour)
	mustTx(t, s, func(tx mailbox.Tx) error {
		c, err := tx.RevokeCertificate(ctx(t), "0A1B", 1, revokedAt)
		if err != nil {
			return err
		}
		if !c.Revoked() || !c.RevokedAt.Equal(revokedAt) || c.Reason != 1 {
			return fmt.Errorf("after revoke: %+v", c)
		}
		// A second revocation keeps the first time and reason.
		c, err = tx.RevokeCertificate(ctx(t), "0A1B", 4, revokedAt.Add(time.Hour))
		if err != nil {
			return err
		}
		if !c.RevokedAt.Equal(revokedAt) || c.Reason != 1 {
			return fmt.Errorf("second revoke changed the record: %+v", c)
		}
		return nil
	})
	err = s.View(ctx(t), func(tx mailbox.Tx) error {
		all, err := tx.ListCertificates(ctx(t))
		if err != nil {
			return err
		}
		if len(all) != 2 || all[0].Serial != "0A1B" || all[1].Serial != "0C2D" {
			return fmt.Errorf("ListCertificates = %+v", all)
		}
		if string(all[1].CertPEM) != "pem-a" || all[1].Name != "Иван" || !all[1].NotAfter.Equal(now.Add(24*time.Hour)) {
			return fmt.Errorf("round trip lost data: %+v", all[1])
		}
		rev, err := tx.RevokedCertificates(ctx(t))
		if err != nil {
			return err
		}
		if len(rev) != 1 || rev[0].Serial != "0A1B" {
			return fmt.Errorf("RevokedCertificates = %+v", rev)
		}
		got, err := tx.GetCertificate(ctx(t), "0C2D")
		if err != nil || got.Revoked() {
			return fmt.Errorf("GetCertificate(0C2D) = %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testRollback(t *testing.T, newStore Factory) {
	s := newStore(t)
	boom := errors.New("boom")
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		if err := tx.PutState(ctx(t), "rolled", []byte("x")); err != nil {
			return err
		}
		if _, err := tx.NextCounter(ctx(t), "c"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want the callback's error", err)
	}
	err = s.View(ctx(t), func(tx mailbox.Tx) error {
		_, err := tx.GetState(ctx(t), "rolled")
		return err
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("rolled-back write visible: %v", err)
	}
	// A panic inside the transaction must roll back too, and propagate.
	func() {
		defer func() { _ = recover() }()
		_ = s.InTx(ctx(t), func(tx mailbox.Tx) error {
			_ = tx.PutState(ctx(t), "panicked", []byte("x"))
			panic("inside tx")
		})
	}()
	err = s.View(ctx(t), func(tx mailbox.Tx) error {
		_, err := tx.GetState(ctx(t), "panicked")
		return err
	})
	if !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("write from a panicking tx visible: %v", err)
	}
	// The store is still usable after the panic (no leaked write lock).
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "after", []byte("ok")) })
	var c int64
	mustTx(t, s, func(tx mailbox.Tx) error {
		var err error
		c, err = tx.NextCounter(ctx(t), "c")
		return err
	})
	if c != 1 {
		t.Fatalf("counter after rollback = %d, want 1", c)
	}
}
