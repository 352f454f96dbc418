package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

func init() {
	methodGroup("RoutingSetBased", testRoutingSetBased, "MailboxesByMatchKeys", "MailboxesOfIdentities",
		"CredentialsOf", "IdempotencyKeys", "TryPutIdempotencyKeys")
}

// testRoutingSetBased pins the set-based reads of routing and the group
// commit against their one-at-a-time counterparts.
func testRoutingSetBased(t *testing.T, newStore Factory) {
	s := newStore(t)
	a, b := seedMailboxes(t, s)
	c := newMailbox("mb-c", "3140582A003PB5", "key-2")
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.CreateMailbox(ctx(t), c); err != nil {
			return err
		}
		for _, cr := range []mailbox.Credential{
			{MailboxID: b.ID, IdentityID: "id-a", Serial: "02", SPKISHA256: "s2", BoundAt: t0.Add(time.Minute)},
			{MailboxID: c.ID, IdentityID: "id-c", Serial: "03", SPKISHA256: "s3", BoundAt: t0},
		} {
			if err := tx.BindCredential(ctx(t), cr); err != nil {
				return err
			}
		}
		return tx.UnbindCredential(ctx(t), c.ID, "id-c", t0.Add(time.Hour))
	})
	view(t, s, func(tx mailbox.Tx) error {
		got, err := tx.GetMailboxes(ctx(t), []string{"mb-c", "nope", "mb-a", "mb-a"}, false)
		if err != nil || !slices.Equal(ids(got, mailboxID), []string{"mb-a", "mb-c"}) {
			return fmt.Errorf("GetMailboxes = %v, %v; want mb-a, mb-c in id order", ids(got, mailboxID), err)
		}
		if none, err := tx.GetMailboxes(ctx(t), nil, false); err != nil || len(none) != 0 {
			return fmt.Errorf("GetMailboxes of none = %v, %v", none, err)
		}
		byKey, err := tx.MailboxesByMatchKeys(ctx(t), []string{"key-1", "key-2", "key-9"})
		if err != nil {
			return err
		}
		one, _ := tx.MailboxesByMatchKey(ctx(t), "key-1")
		if !slices.Equal(ids(byKey["key-1"], mailboxID), ids(one, mailboxID)) || !slices.Equal(ids(byKey["key-2"], mailboxID), []string{"mb-c"}) || len(byKey) != 2 {
			return fmt.Errorf("MailboxesByMatchKeys = %v", byKey)
		}
		mine, err := tx.MailboxesOfIdentities(ctx(t), []string{"id-a", "id-c", "id-x"})
		if err != nil {
			return err
		}
		single, _ := tx.MailboxesOfIdentity(ctx(t), "id-a")
		if !slices.Equal(ids(mine["id-a"], mailboxID), ids(single, mailboxID)) || len(single) != 2 || len(mine) != 1 {
			return fmt.Errorf("MailboxesOfIdentities = %v; want id-a's %v only (id-c is unbound)", mine, ids(single, mailboxID))
		}
		creds, err := tx.CredentialsOf(ctx(t), []string{a.ID, c.ID, "nope"})
		if err != nil {
			return err
		}
		ca, _ := tx.Credentials(ctx(t), a.ID)
		if len(creds) != 2 || len(creds[a.ID]) != len(ca) || creds[a.ID][0].IdentityID != "id-a" ||
			len(creds[c.ID]) != 1 || creds[c.ID][0].UnboundAt.IsZero() {
			return fmt.Errorf("CredentialsOf = %+v", creds)
		}
		return nil
	})
	// Locked reads inside a write transaction.
	mustTx(t, s, func(tx mailbox.Tx) error {
		got, err := tx.GetMailboxes(ctx(t), []string{"mb-b", "mb-a"}, true)
		if err != nil || !slices.Equal(ids(got, mailboxID), []string{"mb-a", "mb-b"}) {
			return fmt.Errorf("GetMailboxes locked = %v, %v", ids(got, mailboxID), err)
		}
		return nil
	})

	key := func(sender, k, h, l string) mailbox.IdempotencyKey {
		return mailbox.IdempotencyKey{Sender: sender, Key: k, RequestHash: h, LetterID: l, CreatedAt: t0}
	}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutIdempotencyKey(ctx(t), "snd", "k1", "h1", "L1", t0) })
	mustTx(t, s, func(tx mailbox.Tx) error {
		put, err := tx.TryPutIdempotencyKeys(ctx(t), []mailbox.IdempotencyKey{
			key("snd", "k1", "hx", "X"), // exists
			key("snd", "k2", "h2", "L2"),
			key("snd", "k2", "h3", "L3"), // the same key again in the group: the first wins
			key("other", "k1", "h4", "L4"),
		})
		if err != nil {
			return err
		}
		got := ids(put, func(k mailbox.IdempotencyKey) string { return k.LetterID })
		slices.Sort(got)
		if !slices.Equal(got, []string{"L2", "L4"}) {
			return fmt.Errorf("TryPutIdempotencyKeys stored %v; want L2, L4", got)
		}
		// The transaction goes on after used keys.
		_, l, err := tx.GetIdempotencyKey(ctx(t), "snd", "k1")
		if err != nil || l != "L1" {
			return fmt.Errorf("the first letter is kept: %q, %v", l, err)
		}
		return nil
	})
	view(t, s, func(tx mailbox.Tx) error {
		got, err := tx.IdempotencyKeys(ctx(t), []mailbox.IdempotencyKey{{Sender: "snd", Key: "k2"}, {Sender: "snd", Key: "k1"},
			{Sender: "snd", Key: "k9"}, {Sender: "other", Key: "k2"}, {Sender: "snd", Key: "k1"}})
		if err != nil {
			return err
		}
		want := []mailbox.IdempotencyKey{key("snd", "k1", "h1", "L1"), key("snd", "k2", "h2", "L2")}
		if len(got) != len(want) {
			return fmt.Errorf("IdempotencyKeys = %+v; want %+v", got, want)
		}
		slices.SortFunc(got, func(x, y mailbox.IdempotencyKey) int { return strings.Compare(x.Key, y.Key) })
		for i := range want {
			if got[i].Sender != want[i].Sender || got[i].Key != want[i].Key || got[i].RequestHash != want[i].RequestHash ||
				got[i].LetterID != want[i].LetterID || !got[i].CreatedAt.Equal(t0) {
				return fmt.Errorf("IdempotencyKeys = %+v; want %+v", got, want)
			}
		}
		return nil
	})
}

func init() {
	method("DeleteBlob", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.PutBlob(ctx(t), "batch/a", []byte("x")), tx.PutBlob(ctx(t), "batch/b", []byte("y")))
		})
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.DeleteBlob(ctx(t), "batch/a"), tx.DeleteBlob(ctx(t), "batch/missing"))
		})
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetBlob(ctx(t), "batch/a"); return err })
		view(t, s, func(tx mailbox.Tx) error {
			if d, err := tx.GetBlob(ctx(t), "batch/b"); err != nil || string(d) != "y" {
				return fmt.Errorf("the other blob: %q, %v", d, err)
			}
			return nil
		})
	})
	method("UnfinishedBatches", func(t *testing.T, s mailbox.Store) {
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		mustTx(t, s, func(tx mailbox.Tx) error {
			for i, state := range []string{mailbox.BatchInterrupted, mailbox.BatchDone, mailbox.BatchRunning, mailbox.BatchRunning} {
				b := mailbox.LetterBatch{ID: fmt.Sprint("b", i), Sender: "org-1", State: state, Total: 1, CreatedAt: at.Add(-time.Duration(i) * time.Minute)}
				if err := tx.CreateBatch(ctx(t), b); err != nil {
					return err
				}
			}
			return nil
		})
		view(t, s, func(tx mailbox.Tx) error {
			all, err1 := tx.UnfinishedBatches(ctx(t), 10)
			two, err2 := tx.UnfinishedBatches(ctx(t), 2)
			id := func(b mailbox.LetterBatch) string { return b.ID }
			if err := errors.Join(err1, err2); err != nil || !slices.Equal(ids(all, id), []string{"b3", "b2", "b0"}) || !slices.Equal(ids(two, id), []string{"b3", "b2"}) {
				return fmt.Errorf("UnfinishedBatches = %v, %v, %v; want oldest first, not the done one", ids(all, id), ids(two, id), err)
			}
			return nil
		})
	})
}
