package mailbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/npes/npes/signing"
)

// The print path (package hybrid) decides what a print centre may do with
// a job: its regions, its lease and fencing token, the job's states. The
// transactions those decisions run in are the core's, here: hybrid hands in
// its rule as a function of the job it is shown and never holds a
// transaction, so that locking, evidence and notifications stay in one
// place (as maddy's modules deliver only through their backend).

// JobResult is what became of one job of a ChangePrintJobs call: the job
// as written (or as found, when refused) and the job's own refusal.
type JobResult struct {
	Job PrintJob
	Err error
}

// JobChange is a print-path rule's decision for one locked job.
type JobChange struct {
	// Job is the job to write (when Write) or to answer with.
	Job   PrintJob
	Write bool
	// Events are recorded on the job's letter through the one append path
	// (a job of an activation letter has no evidence chain: none).
	Events []signing.Evidence
}

// JobRule decides one job's change. found is false when no job has that
// id; letterState is the state of the job's letter, locked, when asked
// for. An error it returns is the job's own refusal: nothing of that job
// is written and the other jobs go on.
type JobRule func(i int, j PrintJob, found bool, letterState string) (JobChange, error)

// LeasePrintJobs claims up to max queued jobs of the regions for owner, for
// lease (see PrintTx.LeasePrintJobs).
func (s *Service) LeasePrintJobs(ctx context.Context, regions []string, owner string, max int, lease time.Duration) ([]PrintJob, error) {
	now := s.now()
	var jobs []PrintJob
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		jobs, err = tx.LeasePrintJobs(ctx, regions, owner, max, now, now.Add(lease))
		return err
	})
	return jobs, err
}

// ChangePrintJobs applies rule to each job of ids, locked, in one
// transaction, writes the jobs it changes and records their events
// together (one lock of the log, one batch append). withLetter also locks
// each letter job's letter and shows rule its state.
//
// It is set-based: one locking SELECT of the jobs, with withLetter one of
// their letters, one UPDATE of the jobs that changed, and the events'
// statements (eventBatch.flush), whatever the number of ids. The rule runs
// on the jobs as they are in memory, in the order of ids, so an id listed
// twice (printed, then posted) sees the first change; a refused change
// leaves the job as it was for the next. A letter's state is the one
// locked before any of the batch's events.
func (s *Service) ChangePrintJobs(ctx context.Context, ids []string, withLetter bool, rule JobRule) ([]JobResult, error) {
	var results []JobResult
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		results = make([]JobResult, len(ids))
		events := s.newEventBatch()
		// Locked in id order (GetPrintJobs), as every caller locks them, so
		// two batches never deadlock.
		uniq := slices.Clone(ids)
		slices.Sort(uniq)
		uniq = slices.Compact(uniq)
		found, err := tx.GetPrintJobs(ctx, uniq, true)
		if err != nil {
			return err
		}
		jobs := make(map[string]*PrintJob, len(found))
		var letterIDs []string
		for i := range found {
			jobs[found[i].ID] = &found[i]
			if withLetter && found[i].Kind == JobLetter {
				letterIDs = append(letterIDs, found[i].LetterID)
			}
		}
		states := map[string]string{}
		if len(letterIDs) > 0 {
			slices.Sort(letterIDs)
			ls, err := tx.GetLetters(ctx, slices.Compact(letterIDs), true)
			if err != nil {
				return err
			}
			for _, l := range ls {
				states[l.ID] = l.State
			}
		}
		var changed []string
		isChanged := map[string]bool{}
		for i, id := range ids {
			j, ok := jobs[id]
			var cur PrintJob
			state := ""
			if ok {
				cur = *j
				if withLetter && cur.Kind == JobLetter {
					if state, ok = states[cur.LetterID]; !ok {
						return fmt.Errorf("print job %s: letter %s: %w", cur.ID, cur.LetterID, ErrNotFound)
					}
				}
			}
			ch, err := rule(i, cur, j != nil, state)
			results[i] = JobResult{Job: ch.Job, Err: err}
			if err != nil {
				continue
			}
			if ch.Write {
				if j == nil || ch.Job.ID != id {
					return fmt.Errorf("print job %s: the rule wrote job %q", id, ch.Job.ID)
				}
				if !isChanged[id] {
					isChanged[id] = true
					changed = append(changed, id)
				}
				*j = ch.Job
			}
			if ch.Job.Kind == JobLetter {
				for _, ev := range ch.Events {
					events.add(ch.Job.LetterID, ev)
				}
			}
		}
		if len(changed) > 0 {
			upd := make([]PrintJob, len(changed))
			for k, id := range changed {
				upd[k] = *jobs[id]
			}
			if err := tx.UpdatePrintJobs(ctx, upd); err != nil {
				return err
			}
		}
		return events.flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// ReadPrintJob shows rule the job (found is false when there is none) and,
// if rule allows it (returns nil), returns the job's decrypted PDF (with
// pdf) and its letter's evidence (with evidence), read in the same
// transaction as the job.
func (s *Service) ReadPrintJob(ctx context.Context, id string, pdf, evidence bool, rule func(j PrintJob, found bool) error) (PrintJob, []byte, []EvidenceRecord, error) {
	var (
		j   PrintJob
		doc []byte
		evs []EvidenceRecord
	)
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		j, err = tx.GetPrintJob(ctx, id, false)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := rule(j, err == nil); err != nil {
			return err
		}
		if pdf {
			blob, err := tx.GetBlob(ctx, pdfBlobKey(id))
			if errors.Is(err, ErrNotFound) {
				return Errorf(ErrNotFound, "no_document", "the job has no rendered document")
			}
			if err != nil {
				return err
			}
			if doc, err = s.openBlob(id, blob); err != nil {
				return err
			}
		}
		if evidence && j.Kind == JobLetter {
			evs, err = tx.EvidenceOf(ctx, j.LetterID)
		}
		return err
	})
	return j, doc, evs, err
}

// PostedPrintJobs lists the regions' jobs posted in [from, to), presorted
// for the posting manifest.
func (s *Service) PostedPrintJobs(ctx context.Context, regions []string, from, to time.Time) ([]PrintJob, error) {
	var jobs []PrintJob
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		jobs, err = tx.PostedJobs(ctx, regions, from, to)
		return err
	})
	return jobs, err
}
