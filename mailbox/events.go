package mailbox

import (
	"context"
	"sort"

	"github.com/npes/npes/signing"
)

// eventBatch collects evidence events for existing letters (the print
// path's Printed, Posted, … reports) and records them in one go inside the
// caller's transaction through the one append path: one lock of the log
// head, one batch append, one checkpoint. A batch of one is the
// single-report case. The letters' states follow from the events through
// the transition table.
type eventBatch struct {
	s      *Service
	events []letterEvent
}

type letterEvent struct {
	letter string
	ev     signing.Evidence
}

// newEventBatch starts a batch.
func (s *Service) newEventBatch() *eventBatch { return &eventBatch{s: s} }

// add queues an event for a letter.
func (b *eventBatch) add(letterID string, ev signing.Evidence) {
	b.events = append(b.events, letterEvent{letterID, ev})
}

// flush records the queued events in the caller's transaction, after the
// caller's own rows (print jobs) are written.
func (b *eventBatch) flush(ctx context.Context, tx Tx) error {
	if len(b.events) == 0 {
		return nil
	}
	s := b.s
	// Lock the letters in id order, so two batches never deadlock.
	byLetter := map[string][]signing.Evidence{}
	for _, e := range b.events {
		byLetter[e.letter] = append(byLetter[e.letter], e.ev)
	}
	ids := make([]string, 0, len(byLetter))
	for id := range byLetter {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	now := s.now()
	chains := make([]*logChain, len(ids))
	for i, id := range ids {
		l, err := tx.GetLetter(ctx, id, true)
		if err != nil {
			return err
		}
		if chains[i], err = s.letterChain(&l, now, byLetter[id]...); err != nil {
			return err
		}
		if err := s.notify(ctx, tx, l.SenderMailbox, NotifyReceiptReady, l.ID); err != nil {
			return err
		}
		if err := tx.UpdateLetter(ctx, l); err != nil {
			return err
		}
	}
	if _, err := s.appendLog(ctx, tx, chains); err != nil {
		return err
	}
	b.events = b.events[:0]
	return nil
}
