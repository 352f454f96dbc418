package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

func testSessions(t *testing.T, newStore Factory) {
	s := newStore(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	mk := func(b byte, identity, serial string, created time.Time) mailbox.WebSession {
		return mailbox.WebSession{
			TokenHash:  bytes.Repeat([]byte{b}, 32),
			Identity:   certs.Identity{Role: certs.RolePerson, Name: "Ala", ID: identity, Serial: serial, Regions: []string{"22"}},
			CertSerial: serial, Method: "certificate", Lang: "be", CreatedAt: created, LastSeen: created,
		}
	}
	a := mk(1, "id-a", "0A", t0)
	b := mk(2, "id-a", "0B", t0.Add(time.Hour))
	c := mk(3, "id-c", "0C", t0.Add(2*time.Hour))
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, w := range []mailbox.WebSession{a, b, c} {
			if err := tx.CreateSession(ctx(t), w); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateSession(ctx(t), a) }); !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("second session with the same token hash: %v, want ErrConflict", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.GetSession(ctx(t), a.TokenHash)
		if err != nil {
			return err
		}
		if got.Identity.ID != "id-a" || got.Identity.Name != "Ala" || got.Identity.Regions[0] != "22" ||
			got.CertSerial != "0A" || got.Method != "certificate" || got.Lang != "be" ||
			!got.CreatedAt.Equal(t0) || !got.LastSeen.Equal(t0) {
			t.Errorf("GetSession = %+v", got)
		}
		if err := tx.TouchSession(ctx(t), a.TokenHash, t0.Add(5*time.Minute), "ru"); err != nil {
			return err
		}
		got, err = tx.GetSession(ctx(t), a.TokenHash)
		if err != nil {
			return err
		}
		if !got.LastSeen.Equal(t0.Add(5*time.Minute)) || got.Lang != "ru" || !got.CreatedAt.Equal(t0) {
			t.Errorf("after TouchSession: %+v", got)
		}
		if err := tx.TouchSession(ctx(t), []byte("missing"), t0, ""); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("TouchSession of a missing session: %v, want ErrNotFound", err)
		}
		if _, err := tx.GetSession(ctx(t), []byte("missing")); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("GetSession of a missing session: %v, want ErrNotFound", err)
		}
		return nil
	})
	gone := func(tx mailbox.Tx, w mailbox.WebSession) bool {
		_, err := tx.GetSession(ctx(t), w.TokenHash)
		return errors.Is(err, mailbox.ErrNotFound)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		// a was touched at t0+5m and created at t0; b is idle since t0+1h.
		n, err := tx.DeleteStaleSessions(ctx(t), t0.Add(90*time.Minute), t0.Add(-time.Hour))
		if err != nil {
			return err
		}
		if n != 2 || !gone(tx, a) || !gone(tx, b) || gone(tx, c) {
			t.Errorf("DeleteStaleSessions by idle time removed %d", n)
		}
		return nil
	})
	d := mk(4, "id-c", "0D", t0.Add(3*time.Hour))
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.CreateSession(ctx(t), d); err != nil {
			return err
		}
		if n, err := tx.DeleteSessionsOfSerial(ctx(t), "0D"); err != nil || n != 1 || !gone(tx, d) || gone(tx, c) {
			t.Errorf("DeleteSessionsOfSerial: %d, %v", n, err)
		}
		if err := tx.CreateSession(ctx(t), d); err != nil {
			return err
		}
		if n, err := tx.DeleteSessionsOf(ctx(t), "id-c"); err != nil || n != 2 || !gone(tx, c) || !gone(tx, d) {
			t.Errorf("DeleteSessionsOf: %d, %v", n, err)
		}
		if err := tx.DeleteSession(ctx(t), d.TokenHash); err != nil {
			t.Errorf("DeleteSession of a gone session: %v", err)
		}
		return nil
	})
	// A session active an hour ago but older than the absolute limit ends.
	e := mk(5, "id-e", "0E", t0)
	e.LastSeen = t0.Add(11 * time.Hour)
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.CreateSession(ctx(t), e); err != nil {
			return err
		}
		if n, err := tx.DeleteStaleSessions(ctx(t), t0.Add(10*time.Hour), t0.Add(time.Minute)); err != nil || n != 1 || !gone(tx, e) {
			t.Errorf("DeleteStaleSessions by age: %d, %v", n, err)
		}
		return nil
	})
}
