package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func testCeremonies(t *testing.T, newStore Factory) {
	s := newStore(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	sess := bytes.Repeat([]byte{7}, 32)
	mk := func(b byte, session []byte, kind string, created time.Time, ttl time.Duration) mailbox.Ceremony {
		return mailbox.Ceremony{ID: bytes.Repeat([]byte{b}, 16), SessionHash: session, Kind: kind,
			Data: []byte(`{"n":` + string('0'+b) + `}`), CreatedAt: created, ExpiresAt: created.Add(ttl)}
	}
	signin := mk(1, nil, "signin", t0, 5*time.Minute)
	p1 := mk(2, sess, "pending", t0, 10*time.Minute)
	p2 := mk(3, sess, "pending", t0.Add(time.Minute), 10*time.Minute)
	other := mk(4, bytes.Repeat([]byte{8}, 32), "pending", t0, 10*time.Minute)
	reg := mk(5, sess, "register", t0, time.Minute)
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, c := range []mailbox.Ceremony{signin, p2, p1, other, reg} {
			if err := tx.CreateCeremony(ctx(t), c); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateCeremony(ctx(t), p1) }); !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("a second ceremony with the same id: %v, want ErrConflict", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		live, err := tx.CeremoniesOf(ctx(t), sess, "pending", t0.Add(2*time.Minute))
		if err != nil {
			return err
		}
		if len(live) != 2 || !bytes.Equal(live[0].ID, p1.ID) || !bytes.Equal(live[1].ID, p2.ID) ||
			string(live[0].Data) != string(p1.Data) || !live[0].ExpiresAt.Equal(p1.ExpiresAt) || !live[1].CreatedAt.Equal(p2.CreatedAt) {
			t.Errorf("CeremoniesOf = %+v, want p1 then p2", live)
		}
		if late, err := tx.CeremoniesOf(ctx(t), sess, "pending", t0.Add(10*time.Minute)); err != nil || len(late) != 1 {
			t.Errorf("CeremoniesOf once p1 expired = %d, %v; want 1", len(late), err)
		}
		// A ceremony is taken once, and not after it expired.
		got, err := tx.TakeCeremony(ctx(t), signin.ID, t0.Add(time.Minute))
		if err != nil {
			return err
		}
		if got.SessionHash != nil || got.Kind != "signin" || string(got.Data) != string(signin.Data) || !got.CreatedAt.Equal(t0) {
			t.Errorf("TakeCeremony = %+v", got)
		}
		if _, err := tx.TakeCeremony(ctx(t), signin.ID, t0.Add(time.Minute)); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("taking a ceremony twice: %v, want ErrNotFound", err)
		}
		if _, err := tx.TakeCeremony(ctx(t), reg.ID, t0.Add(time.Minute)); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("taking an expired ceremony: %v, want ErrNotFound", err)
		}
		n, err := tx.DeleteExpiredCeremonies(ctx(t), t0.Add(10*time.Minute))
		if err != nil {
			return err
		}
		if n != 3 { // p1, other and reg
			t.Errorf("DeleteExpiredCeremonies = %d, want 3", n)
		}
		if got, err := tx.TakeCeremony(ctx(t), p2.ID, t0.Add(10*time.Minute)); err != nil || !bytes.Equal(got.SessionHash, sess) {
			t.Errorf("TakeCeremony of the live one = %+v, %v", got, err)
		}
		return nil
	})
}
