package mailbox

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/google/uuid"

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
	// Set-based: one locking SELECT and one UPDATE for all the letters,
	// one SELECT of their senders' mailboxes, one INSERT for their
	// notifications, whatever their number.
	found, err := tx.GetLetters(ctx, ids, true)
	if err != nil {
		return err
	}
	byID := make(map[string]*Letter, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	chains := make([]*logChain, len(ids))
	letters := make([]Letter, len(ids))
	var senders []string
	for i, id := range ids {
		l, ok := byID[id]
		if !ok {
			return fmt.Errorf("letter %s: %w", id, ErrNotFound)
		}
		if chains[i], err = s.letterChain(l, now, byLetter[id]...); err != nil {
			return err
		}
		letters[i] = *l
		if l.SenderMailbox != "" {
			senders = append(senders, l.SenderMailbox)
		}
	}
	// The senders' notification addresses: one SELECT for all of them.
	sort.Strings(senders)
	mbs, err := tx.GetMailboxes(ctx, slices.Compact(senders), false)
	if err != nil {
		return err
	}
	emails := make(map[string]string, len(mbs))
	for _, m := range mbs {
		emails[m.ID] = m.Email
	}
	var notes []Notification
	for _, l := range letters {
		if l.SenderMailbox == "" {
			continue
		}
		email, ok := emails[l.SenderMailbox]
		if !ok {
			return fmt.Errorf("letter %s: sender mailbox %s: %w", l.ID, l.SenderMailbox, ErrNotFound)
		}
		if email != "" {
			notes = append(notes, Notification{ID: uuid.NewString(), Kind: NotifyReceiptReady, MailboxID: l.SenderMailbox,
				LetterID: l.ID, To: email, CreatedAt: now, NextAt: now})
		}
	}
	// Sealed before the letters are written (when the log index can be
	// predicted), so each letter row is written once, with its chain.
	r, err := s.sealAhead(tx, chains)
	if err != nil {
		return err
	}
	defer r.release()
	for i, c := range chains {
		letters[i] = *c.letter
	}
	if err := tx.UpdateLetters(ctx, letters); err != nil {
		return err
	}
	if len(notes) > 0 {
		if err := tx.AddNotifications(ctx, notes); err != nil {
			return err
		}
	}
	if _, err := s.appendSealed(ctx, tx, chains, r, true); err != nil {
		return err
	}
	b.events = b.events[:0]
	return nil
}
