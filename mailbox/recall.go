package mailbox

import (
	"context"

	"github.com/npes/npes/signing"
)

// Recall withdraws a letter the caller sent, recording Recalled. It is
// allowed while the recipient has not had the content: a registered letter
// still awaiting acceptance, a simple electronic letter not yet read, or a
// printed letter whose print job is queued and not leased (the job is
// cancelled in the same transaction, so no print centre can lease it
// afterwards). A leased job may already be on paper: only the print centre
// knows, so such a letter can no longer be recalled.
//
// The letter and its print job are read under row locks, so a recall and a
// concurrent acceptance, first read or lease serialize: whichever commits
// first wins and the other sees its result.
func (s *Service) Recall(ctx context.Context, c Caller, id string) (LetterView, error) {
	var v LetterView
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, true)
		if err != nil {
			return err
		}
		if folder != "sent" {
			return Errorf(ErrForbidden, "not_sender", "only the sender recalls a letter")
		}
		if err := recallable(l); err != nil {
			return err
		}
		details := map[string]string{}
		if l.State == StatePrintQueued {
			job, err := s.cancelPrintJob(ctx, tx, l)
			if err != nil {
				return err
			}
			details["print_job"] = job
		}
		if err := s.recordLetter(ctx, tx, &l, signing.Evidence{Event: signing.EventRecalled, Details: details}); err != nil {
			return err
		}
		v, err = s.view(ctx, tx, l, folder)
		return err
	})
	return v, err
}

// recallable refuses, with a precise code, a letter whose recipient already
// has (or may have) its content, or that is closed.
func recallable(l Letter) error {
	switch l.State {
	case StateAwaitingAcceptance, StateDelivered, StatePrintQueued:
		return nil
	case StateRecalled:
		return Errorf(ErrConflict, "already_recalled", "the letter was already recalled")
	case StateAccepted:
		return Errorf(ErrConflict, "already_accepted", "the recipient accepted the letter and has its content")
	case StateRead:
		return Errorf(ErrConflict, "content_handed_over", "the recipient has read the letter")
	case StatePrinted, StatePosted, StatePhysicallyDelivered, StateDeliveryFailed, StateReturned:
		return Errorf(ErrConflict, "print_leased", "the letter is %s: it is on paper", l.State)
	}
	return Errorf(ErrConflict, "not_recallable", "the letter is %s and can no longer be recalled", l.State)
}

// cancelPrintJob cancels the queued print job of a letter in print_queued
// and returns its id. A leased job refuses the recall (print_leased).
func (s *Service) cancelPrintJob(ctx context.Context, tx Tx, l Letter) (string, error) {
	jobs, err := tx.PrintJobsOfLetter(ctx, l.ID)
	if err != nil {
		return "", err
	}
	for _, j := range jobs {
		switch j.State {
		case JobQueued, JobLeased, JobFailed:
		default:
			continue // a dead or cancelled job of an earlier relay
		}
		j, err := tx.GetPrintJob(ctx, j.ID, true)
		if err != nil {
			return "", err
		}
		if j.State != JobQueued {
			return "", Errorf(ErrConflict, "print_leased", "a print centre has leased the letter's print job: it may already be on paper")
		}
		j.State = JobCancelled
		if err := tx.UpdatePrintJob(ctx, j); err != nil {
			return "", err
		}
		return j.ID, nil
	}
	return "", Errorf(ErrConflict, "not_recallable", "the letter has no queued print job")
}

// RecallRefusal says why a letter in this state cannot be recalled (nil:
// it can, unless its print job was leased meanwhile). The portal uses it
// to offer the recall button or explain its absence; Recall decides.
func RecallRefusal(state string) error { return recallable(Letter{State: state}) }
