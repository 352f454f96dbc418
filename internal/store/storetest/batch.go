package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// testBatches: a batch is found by id and by its sender's idempotency key
// (unique per sender, not across senders; no key is no uniqueness), its
// state changes, and a line's first recorded outcome is kept.
func testBatches(t *testing.T, newStore Factory) {
	s := newStore(t)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	b := mailbox.LetterBatch{ID: "b1", Sender: "org-1", IdempotencyKey: "k", RequestHash: "h", State: mailbox.BatchRunning, Total: 3, CreatedAt: at}
	mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateBatch(ctx(t), b) })
	for _, tc := range []struct {
		name string
		b    mailbox.LetterBatch
		want error
	}{
		{"same sender and key", mailbox.LetterBatch{ID: "b2", Sender: "org-1", IdempotencyKey: "k"}, mailbox.ErrConflict},
		{"same id", mailbox.LetterBatch{ID: "b1", Sender: "org-2"}, mailbox.ErrConflict},
		{"other sender, same key", mailbox.LetterBatch{ID: "b3", Sender: "org-2", IdempotencyKey: "k"}, nil},
		{"no key", mailbox.LetterBatch{ID: "b4", Sender: "org-1"}, nil},
		{"no key again", mailbox.LetterBatch{ID: "b5", Sender: "org-1"}, nil},
	} {
		err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.CreateBatch(ctx(t), tc.b) })
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	r1 := []mailbox.BatchResult{{Line: 3, ErrorCode: "bad_address", ErrorMessage: "no"}, {Line: 1, LetterID: "l1", Tracking: "RR000000011BY", Route: "print"}}
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.PutBatchResults(ctx(t), "b1", r1); err != nil {
			return err
		}
		// A line recorded again (a resumed batch) keeps its first outcome.
		if err := tx.PutBatchResults(ctx(t), "b1", []mailbox.BatchResult{{Line: 1, LetterID: "other"}, {Line: 2, LetterID: "l2", Route: "electronic"}}); err != nil {
			return err
		}
		return tx.SetBatchState(ctx(t), "b1", mailbox.BatchDone, at.Add(time.Minute))
	})
	err := s.View(ctx(t), func(tx mailbox.Tx) error {
		got, err := tx.BatchByKey(ctx(t), "org-1", "k")
		if err != nil {
			return err
		}
		want := b
		want.State, want.FinishedAt = mailbox.BatchDone, at.Add(time.Minute)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("batch %+v, want %+v", got, want)
		}
		if _, err := tx.BatchByKey(ctx(t), "org-1", ""); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("empty key: %v, want not found", err)
		}
		if _, err := tx.GetBatch(ctx(t), "nope"); !errors.Is(err, mailbox.ErrNotFound) {
			t.Errorf("missing batch: %v", err)
		}
		rs, err := tx.BatchResults(ctx(t), "b1")
		if err != nil {
			return err
		}
		wantRs := []mailbox.BatchResult{r1[1], {Line: 2, LetterID: "l2", Route: "electronic"}, r1[0]}
		if !reflect.DeepEqual(rs, wantRs) {
			t.Errorf("results %+v, want %+v", rs, wantRs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx(t), func(tx mailbox.Tx) error { return tx.SetBatchState(ctx(t), "nope", mailbox.BatchDone, at) }); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("state of a missing batch: %v", err)
	}
}
