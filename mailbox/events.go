package mailbox

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/google/uuid"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

// EventBatch collects evidence events for existing letters (the print
// path's Printed, Posted, … reports) and records them in one go inside the
// caller's transaction: one lock of the log head, signatures made in
// parallel across letters, one batch append to the Merkle tree. A batch of
// one is the single-report case.
type EventBatch struct {
	s      *Service
	events []letterEvent
}

type letterEvent struct {
	letter string
	ev     signing.Evidence
	state  string
}

// NewEventBatch starts a batch.
func (s *Service) NewEventBatch() *EventBatch { return &EventBatch{s: s} }

// Add queues an event for a letter, moving it to state (unchanged when
// empty) once recorded.
func (b *EventBatch) Add(letterID string, ev signing.Evidence, state string) {
	b.events = append(b.events, letterEvent{letterID, ev, state})
}

// Flush records the queued events in the caller's transaction.
func (b *EventBatch) Flush(ctx context.Context, tx Tx) error {
	if len(b.events) == 0 {
		return nil
	}
	s := b.s
	// Lock the letters in id order, so two batches never deadlock.
	byLetter := map[string][]letterEvent{}
	for _, e := range b.events {
		byLetter[e.letter] = append(byLetter[e.letter], e)
	}
	ids := make([]string, 0, len(byLetter))
	for id := range byLetter {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	letters := make([]Letter, len(ids))
	for i, id := range ids {
		l, err := tx.GetLetter(ctx, id, true)
		if err != nil {
			return err
		}
		letters[i] = l
	}
	head, err := tx.LockLogHead(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	first := make([]uint64, len(ids))
	next := head.Size
	for i, id := range ids {
		first[i] = next
		next += uint64(len(byLetter[id]))
	}
	// Seal: letters in parallel, a letter's own events in sequence.
	leaves := make([][][]byte, len(ids))
	recs := make([][]EvidenceRecord, len(ids))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sealErr error
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				l := &letters[i]
				for k, e := range byLetter[ids[i]] {
					ev := e.ev
					if ev.ID == "" {
						ev.ID = uuid.NewString()
					}
					if ev.Time.IsZero() {
						ev.Time = now
					}
					if ev.Route == "" {
						ev.Route = l.Route
					}
					env, err := s.seal(l, ev, first[i]+uint64(k))
					if err != nil {
						mu.Lock()
						sealErr = err
						mu.Unlock()
						break
					}
					leaf := env.Bytes()
					leaves[i] = append(leaves[i], leaf)
					recs[i] = append(recs[i], EvidenceRecord{ID: ev.ID, LetterID: l.ID, Seq: l.EvidenceCount,
						Event: string(ev.Event), LogIndex: first[i] + uint64(k), Envelope: leaf, CreatedAt: ev.Time.UTC()})
					l.LastEvidence = env.Hash()
					l.EvidenceCount++
					if e.state != "" {
						l.State = e.state
					}
				}
			}
		}()
	}
	for i := range ids {
		work <- i
	}
	close(work)
	wg.Wait()
	if sealErr != nil {
		return fmt.Errorf("sealing: %w", sealErr)
	}
	var hashes [][]byte
	var all []EvidenceRecord
	for i := range ids {
		for _, leaf := range leaves[i] {
			hashes = append(hashes, tlog.LeafHash(leaf))
		}
		all = append(all, recs[i]...)
	}
	nodes, root, err := tlog.AppendBatch(ctx, nodeReader{tx}, head.Size, hashes)
	if err != nil {
		return fmt.Errorf("appending to the evidence log: %w", err)
	}
	if err := tx.PutLogNodes(ctx, toLogNodes(nodes)); err != nil {
		return err
	}
	if err := tx.SetLogHead(ctx, LogHead{Size: next, Root: root}); err != nil {
		return err
	}
	if err := tx.AddEvidences(ctx, all); err != nil {
		return err
	}
	for _, l := range letters {
		if err := s.notify(ctx, tx, l.SenderMailbox, NotifyReceiptReady, l.ID); err != nil {
			return err
		}
		if err := tx.UpdateLetter(ctx, l); err != nil {
			return err
		}
	}
	b.events = b.events[:0]
	return nil
}
