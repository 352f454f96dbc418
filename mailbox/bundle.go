package mailbox

import (
	"context"
	"errors"

	"github.com/npes/npes/signing"
)

// Bundle builds the evidence bundle (version 2) of a letter: its
// envelopes and the log entries of its recipient's mailbox, each with an
// inclusion proof into the latest stored checkpoint, and a status note
// naming exactly what the bundle holds, so a bundle with records cut off
// fails to verify (signing.VerifyBundle).
//
// Everything is read in one read-only transaction, which sees a
// checkpoint covering every record it sees (each appending transaction
// stores the checkpoint of its new size). The status is signed after
// that transaction: ML-DSA-65 signing holds no database resource. Only a
// party of the letter gets this far (GetLetter checks visibility first).
func (s *Service) Bundle(ctx context.Context, c Caller, id string) ([]byte, error) {
	if _, err := s.GetLetter(ctx, c, id); err != nil {
		return nil, err
	}
	var b signing.Bundle
	var st signing.Status
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		size, note, err := tx.LatestCheckpoint(ctx)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrConflict, "no_checkpoint", "the evidence log has no checkpoint yet")
		}
		if err != nil {
			return err
		}
		l, err := tx.GetLetter(ctx, id, false)
		if err != nil {
			return err
		}
		evs, err := tx.EvidenceOf(ctx, id)
		if err != nil {
			return err
		}
		b = signing.Bundle{V: signing.BundleVersion, Letter: id, Checkpoint: string(note)}
		if b.Evidence, err = s.bundleItems(ctx, tx, evs, size); err != nil {
			return err
		}
		if len(b.Evidence) != len(evs) || len(evs) == 0 {
			return Errorf(ErrConflict, "no_checkpoint", "the latest checkpoint (size %d) does not cover the letter's evidence yet", size)
		}
		st = signing.Status{Letter: id, State: l.State, Records: len(b.Evidence),
			Last: b.Evidence[len(b.Evidence)-1].Envelope.Hash(), Mailbox: l.RecipientMailbox, CheckpointSize: size, Time: s.now().UTC()}
		if l.RecipientMailbox == "" {
			return nil
		}
		entries, err := tx.MailboxEntriesOf(ctx, l.RecipientMailbox)
		if err != nil {
			return err
		}
		if b.MailboxEntries, err = s.bundleItems(ctx, tx, entries, size); err != nil {
			return err
		}
		if n := len(b.MailboxEntries); n > 0 {
			st.MailboxEntries, st.MailboxLast = n, b.MailboxEntries[n-1].Envelope.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	status, err := s.cfg.Sealer.SignStatus(st)
	if err != nil {
		return nil, err
	}
	b.Status = string(status)
	return b.Marshal()
}

// bundleItems returns the records below size (in log order) with their
// inclusion proofs into the tree of that size.
func (s *Service) bundleItems(ctx context.Context, tx Tx, recs []EvidenceRecord, size uint64) ([]signing.BundleEvidence, error) {
	var out []signing.BundleEvidence
	for _, r := range recs {
		if r.LogIndex >= size {
			break
		}
		p, err := tlogInclusion(ctx, tx, r.LogIndex, size)
		if err != nil {
			return nil, err
		}
		it, err := signing.NewBundleEvidence(r.Envelope, r.LogIndex, p)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}
