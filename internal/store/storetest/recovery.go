package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// testRecoveries: one pending recovery per mailbox (a second is
// ErrConflict until the first is superseded), fields round-trip, and an
// identity's recoveries list newest first, pending ones alone on request.
// Credentials keep their expiry and label.
func testRecoveries(t *testing.T, newStore Factory) {
	s := newStore(t)
	m := newMailbox("MBR", "pn:R", "k-r")
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateMailbox(ctx(t), m) })
	first := mailbox.Recovery{ID: "R1", MailboxID: m.ID, IdentityID: "I", CertDER: []byte{1, 2, 3},
		Status: mailbox.RecoveryPending, CodeHash: []byte{9}, CreatedAt: t0}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateRecovery(ctx(t), first) })
	second := first
	second.ID, second.CreatedAt = "R2", t0.Add(time.Minute)
	err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateRecovery(ctx(t), second) })
	if !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("second pending recovery: %v, want ErrConflict", err)
	}
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.SupersedeRecoveries(ctx(t), m.ID); err != nil {
			return err
		}
		return tx.CreateRecovery(ctx(t), second)
	})
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.GetRecovery(ctx(t), "R1")
		if err != nil {
			return err
		}
		if got.Status != mailbox.RecoverySuperseded || string(got.CertDER) != "\x01\x02\x03" || !got.CreatedAt.Equal(t0) {
			t.Errorf("R1 = %+v", got)
		}
		second.Attempts, second.Status, second.CompletedAt = 2, mailbox.RecoveryCompleted, t0.Add(time.Hour)
		if err := tx.UpdateRecovery(ctx(t), second); err != nil {
			return err
		}
		all, err := tx.RecoveriesOfIdentity(ctx(t), "I", false)
		if err != nil {
			return err
		}
		if len(all) != 2 || all[0].ID != "R2" || all[0].Attempts != 2 || !all[0].CompletedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("all recoveries = %+v", all)
		}
		pending, err := tx.RecoveriesOfIdentity(ctx(t), "I", true)
		if err != nil || len(pending) != 0 {
			t.Errorf("pending = %+v, %v", pending, err)
		}
		if _, err := tx.GetRecovery(ctx(t), "nope"); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("unknown recovery: %v", err)
		}
		if err := tx.UpdateRecovery(ctx(t), mailbox.Recovery{ID: "nope"}); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("update of an unknown recovery: %v", err)
		}
		c := mailbox.Credential{MailboxID: m.ID, IdentityID: "I", Serial: "0A", SPKISHA256: "00", BoundAt: t0,
			NotAfter: t0.AddDate(1, 0, 0), Label: "бухгалтерия"}
		if err := tx.BindCredential(ctx(t), c); err != nil {
			return err
		}
		cs, err := tx.Credentials(ctx(t), m.ID)
		if err != nil {
			return err
		}
		if len(cs) != 1 || !cs[0].NotAfter.Equal(c.NotAfter) || cs[0].Label != c.Label {
			t.Errorf("credentials = %+v", cs)
		}
		return nil
	})
}
