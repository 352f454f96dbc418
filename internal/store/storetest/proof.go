package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() { register("AddressProof", testAddressProof) }

// testAddressProof covers what proof of address needs from a store: the
// mailbox row lock, re-addressing, the recheck listing and the counts
// behind the caps.
func testAddressProof(t *testing.T, newStore Factory) {
	s := newStore(t)
	a := newMailbox("mb-a", "3140582A001PB3", "key-1")
	b := newMailbox("mb-b", "3140582A001PB3", "key-2")
	b.Status, b.AddressRules = mailbox.StatusActive, 1
	other := newMailbox("mb-c", "3140582A002PB4", "key-1")
	mustTx(t, s, func(tx mailbox.Tx) error {
		for _, m := range []mailbox.Mailbox{a, b, other} {
			if err := tx.CreateMailbox(ctx(t), m); err != nil {
				return err
			}
		}
		for i, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(30 * time.Hour)} {
			j := newJob(fmt.Sprintf("job-%d", i), "220", at)
			j.Kind, j.MailboxID, j.CreatedAt = mailbox.JobActivation, "mb-a", at
			if err := tx.CreatePrintJob(ctx(t), j); err != nil {
				return err
			}
		}
		return tx.LockHolder(ctx(t), mailbox.KindPerson, "pn:3140582A001PB3")
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		// Twice in one transaction, and for a holder seen before.
		if err := tx.LockHolder(ctx(t), mailbox.KindPerson, "pn:3140582A001PB3"); err != nil {
			return err
		}
		if err := tx.LockHolder(ctx(t), mailbox.KindPerson, "pn:3140582A001PB3"); err != nil {
			return err
		}
		m, err := tx.LockMailbox(ctx(t), "mb-b")
		if err != nil || m.AddressRules != 1 || m.Status != mailbox.StatusActive {
			return fmt.Errorf("LockMailbox = %+v, %v", m, err)
		}
		if _, err := tx.LockMailbox(ctx(t), "nope"); !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("LockMailbox(nope) = %v, want ErrNotFound", err)
		}
		if n, err := tx.PendingMailboxes(ctx(t), mailbox.KindPerson, "pn:3140582A001PB3"); err != nil || n != 1 {
			return fmt.Errorf("PendingMailboxes = %d, %v; want 1", n, err)
		}
		if n, err := tx.ActivationLetters(ctx(t), "mb-a"); err != nil || n != 3 {
			return fmt.Errorf("ActivationLetters = %d, %v; want 3", n, err)
		}
		// After since, strictly: the job at t0 is outside a window that
		// starts at t0.
		if n, err := tx.HolderActivationLetters(ctx(t), mailbox.KindPerson, "pn:3140582A001PB3", t0); err != nil || n != 2 {
			return fmt.Errorf("HolderActivationLetters = %d, %v; want 2", n, err)
		}
		if n, err := tx.HolderActivationLetters(ctx(t), mailbox.KindPerson, "pn:3140582A002PB4", t0.Add(-time.Hour)); err != nil || n != 0 {
			return fmt.Errorf("HolderActivationLetters(other) = %d, %v; want 0", n, err)
		}
		due, err := tx.MailboxesToRecheck(ctx(t), 1, 10)
		if err != nil || len(due) != 2 || due[0].ID != "mb-a" || due[1].ID != "mb-c" {
			return fmt.Errorf("MailboxesToRecheck = %d, %v; want mb-a, mb-c", len(due), err)
		}
		a.Address, a.AddressJSON, a.MatchKey, a.Postcode, a.AddressRules = "до востребования, г. Минск, 220030", []byte(`{"PosteRestante":true}`), "key-3", "220030", 1
		a.Attempts, a.ActivationHash = 5, []byte{9}
		if err := tx.ReaddressMailbox(ctx(t), a); err != nil {
			return err
		}
		got, err := tx.GetMailbox(ctx(t), "mb-a")
		if err != nil || got.Address != a.Address || got.MatchKey != "key-3" || got.Postcode != "220030" || got.AddressRules != 1 ||
			got.Attempts != 5 || string(got.AddressJSON) != string(a.AddressJSON) {
			return fmt.Errorf("after ReaddressMailbox: %+v, %v", got, err)
		}
		if due, err := tx.MailboxesToRecheck(ctx(t), 1, 10); err != nil || len(due) != 1 {
			return fmt.Errorf("MailboxesToRecheck after = %d, %v; want 1", len(due), err)
		}
		return nil
	})
	// The holder's other mailbox is at key-2.
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error {
		a.MatchKey = "key-2"
		return tx.ReaddressMailbox(ctx(t), a)
	})
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("ReaddressMailbox onto the holder's other mailbox: %v, want ErrConflict", err)
	}
}
