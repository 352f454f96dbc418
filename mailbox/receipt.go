package mailbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/npes/npes/signing"
)

// The sender's receipt (DESIGN §4): every envelope sealed at submission
// (SubmissionAcceptance and the notification, consignment or relay that
// routed the letter), each with its RFC 6962 inclusion proof into the
// checkpoint its commit stored, co-signed with Ed25519 and ML-DSA-65. With
// it a v2 envelope has its full strength at once; without it, classical
// strength only. Every appending transaction stores the checkpoint of its
// new size, so the receipt is rebuilt byte for byte from the store: the
// 201 reply, an idempotent retry and GET /v1/letters/{id}/receipt agree.

// chainReceipt is the receipt of a submission just committed, from the
// proofs appendLog made.
func chainReceipt(c *logChain, note []byte) (*signing.Receipt, error) {
	r := &signing.Receipt{Checkpoint: string(note), Evidence: make([]signing.BundleEvidence, len(c.leaves))}
	for k, leaf := range c.leaves {
		var err error
		if r.Evidence[k], err = signing.NewBundleEvidence(leaf, c.first+uint64(k), c.proofs[k]); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (s *Service) proveReceipt(ctx context.Context, tx Tx, recs []EvidenceRecord, size uint64, note []byte) (*signing.Receipt, error) {
	items, err := s.bundleItems(ctx, tx, recs, size)
	if err != nil {
		return nil, fmt.Errorf("proving the submission into checkpoint %d: %w", size, err)
	}
	if len(items) != len(recs) {
		return nil, fmt.Errorf("checkpoint %d does not cover the submission", size)
	}
	return &signing.Receipt{Checkpoint: string(note), Evidence: items}, nil
}

// receiptOf rebuilds a letter's receipt: the submission's commit stored
// the smallest checkpoint that holds the letter's first evidence, and the
// submission's evidence is the letter's evidence below that size.
func (s *Service) receiptOf(ctx context.Context, tx Tx, letterID string) (*signing.Receipt, error) {
	evs, err := tx.EvidenceOf(ctx, letterID)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("letter %s has no evidence", letterID)
	}
	size, note, err := tx.CheckpointAtLeast(ctx, evs[0].LogIndex+1)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(ErrUnavailable, "no_checkpoint", "no checkpoint covers the letter's evidence yet")
	}
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(evs) && evs[n].LogIndex < size {
		n++
	}
	return s.proveReceipt(ctx, tx, evs[:n], size, note)
}

// Receipt returns the sender's receipt of a letter (GET
// /v1/letters/{id}/receipt; SMTP senders fetch theirs there).
func (s *Service) Receipt(ctx context.Context, c Caller, id string) (*signing.Receipt, error) {
	var r *signing.Receipt
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		if folder != "sent" {
			return Errorf(ErrForbidden, "not_sender", "the submission receipt is the sender's")
		}
		r, err = s.receiptOf(ctx, tx, l.ID)
		return err
	})
	return r, err
}

// sentView is the sender's view of a letter with its receipt (the reply to
// an idempotent retry).
func (s *Service) sentView(ctx context.Context, c Caller, id string) (LetterView, error) {
	var v LetterView
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		if v, err = s.view(ctx, tx, l, folder); err != nil {
			return err
		}
		if folder == "sent" {
			v.Receipt, err = s.receiptOf(ctx, tx, l.ID)
		}
		return err
	})
	return v, err
}
