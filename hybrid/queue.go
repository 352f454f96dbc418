// Package hybrid is the print path of npes: print jobs for letters that
// leave the electronic path, leased by print centres with an expiry and a
// fencing token, their outcomes recorded as evidence in the letter's chain,
// and the posting manifest. hybrid/pdf renders the documents.
package hybrid

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Defaults of the queue.
const (
	DefaultLease       = 10 * time.Minute
	MaxLease           = time.Hour
	MaxBatch           = 500
	DefaultMaxAttempts = 5
)

// Queue is the print-centre side of the print path.
type Queue struct {
	svc         *mailbox.Service
	store       mailbox.Store
	log         *slog.Logger
	maxAttempts int
	// backoff is the delay before a failed job is offered again.
	backoff func(attempt int) time.Duration
	obs     Observer
}

// Observer is told what an operator counts on the print path; internal/app
// implements it with Prometheus metrics.
type Observer interface {
	// LeasesExpired reports n jobs leased again because their previous
	// lease expired (a print centre that stopped reporting).
	LeasesExpired(n int)
}

type nopObserver struct{}

func (nopObserver) LeasesExpired(int) {}

// WithObserver sets the observer of the queue's metrics.
func WithObserver(o Observer) Option {
	return func(q *Queue) {
		if o != nil {
			q.obs = o
		}
	}
}

// Option configures a Queue.
type Option func(*Queue)

// WithMaxAttempts sets after how many failed attempts a job is dead.
func WithMaxAttempts(n int) Option { return func(q *Queue) { q.maxAttempts = n } }

// WithBackoff sets the retry delay function.
func WithBackoff(f func(attempt int) time.Duration) Option { return func(q *Queue) { q.backoff = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(q *Queue) { q.log = l } }

// NewQueue builds the queue over the core service.
func NewQueue(svc *mailbox.Service, opts ...Option) *Queue {
	q := &Queue{svc: svc, store: svc.Store(), log: slog.New(slog.DiscardHandler), maxAttempts: DefaultMaxAttempts,
		backoff: ExponentialBackoff(time.Minute, 6*time.Hour), obs: nopObserver{}}
	for _, o := range opts {
		o(q)
	}
	return q
}

// ExponentialBackoff doubles from base up to max.
func ExponentialBackoff(base, max time.Duration) func(int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		return min(d, max)
	}
}

// errors of the print path.
func notFound() error {
	return mailbox.Errorf(mailbox.ErrNotFound, "job_not_found", "no such print job")
}

func staleLease() error {
	return mailbox.Errorf(mailbox.ErrConflict, "stale_lease", "the lease token is not the job's current lease: another agent holds it")
}

// centre checks the caller is a print centre and returns its regions.
func centre(c mailbox.Caller) ([]string, error) {
	if c.Identity.Role != mailbox.RolePrintCenter {
		return nil, mailbox.Errorf(mailbox.ErrForbidden, "forbidden", "only print centres use the print queue")
	}
	if len(c.Identity.Regions) == 0 {
		return nil, mailbox.Errorf(mailbox.ErrForbidden, "no_regions", "the certificate names no regions")
	}
	return c.Identity.Regions, nil
}

// Lease claims up to max jobs of the caller's regions for lease.
func (q *Queue) Lease(ctx context.Context, c mailbox.Caller, max int, lease time.Duration) ([]mailbox.PrintJob, error) {
	regions, err := centre(c)
	if err != nil {
		return nil, err
	}
	if max <= 0 || max > MaxBatch {
		return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_max", "max must be 1..%d", MaxBatch)
	}
	if lease == 0 {
		lease = DefaultLease
	}
	if lease < 10*time.Second || lease > MaxLease {
		return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_lease", "lease_seconds must be 10..%d", int(MaxLease.Seconds()))
	}
	now := q.svc.Now()
	var jobs []mailbox.PrintJob
	err = q.store.InTx(ctx, func(tx mailbox.Tx) error {
		var err error
		jobs, err = tx.LeasePrintJobs(ctx, regions, c.Identity.ID, max, now, now.Add(lease))
		return err
	})
	if err != nil {
		return nil, err
	}
	expired := 0
	for _, j := range jobs {
		if j.TakenOver {
			expired++
			q.log.WarnContext(ctx, "print job leased again: its previous lease expired", "job", j.ID, "lease_token", j.LeaseToken, "attempts", j.Attempts)
		}
	}
	if expired > 0 {
		q.obs.LeasesExpired(expired)
	}
	return jobs, nil
}

// job loads a job of the caller's regions, locked for update unless the
// transaction is read-only.
func (q *Queue) job(ctx context.Context, tx mailbox.Tx, c mailbox.Caller, id string, lock bool) (mailbox.PrintJob, error) {
	regions, err := centre(c)
	if err != nil {
		return mailbox.PrintJob{}, err
	}
	j, err := tx.GetPrintJob(ctx, id, lock)
	if errors.Is(err, mailbox.ErrNotFound) {
		return j, notFound()
	}
	if err != nil {
		return j, err
	}
	if !slices.Contains(regions, j.Region) {
		return mailbox.PrintJob{}, notFound() // another region's job does not exist for you
	}
	return j, nil
}

// holds reports whether the caller holds the job's current lease: the
// fencing token alone is a small counter a peer could guess, so the lease
// owner (the certificate identity that leased it) must match too.
func holds(j mailbox.PrintJob, c mailbox.Caller, token int64) bool {
	return j.LeaseToken == token && j.LeaseOwner == c.Identity.ID
}

// PDF returns a job's document to the holder of its current lease.
func (q *Queue) PDF(ctx context.Context, c mailbox.Caller, id string, token int64) ([]byte, mailbox.PrintJob, error) {
	var pdf []byte
	var j mailbox.PrintJob
	err := q.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		if j, err = q.job(ctx, tx, c, id, false); err != nil {
			return err
		}
		if j.State != mailbox.JobLeased || !holds(j, c, token) {
			return staleLease()
		}
		pdf, err = q.svc.PrintPDF(ctx, tx, id)
		if errors.Is(err, mailbox.ErrNotFound) {
			return mailbox.Errorf(mailbox.ErrNotFound, "no_document", "the job has no rendered document")
		}
		return err
	})
	return pdf, j, err
}

// RelayEvidence returns, to the holder of a letter job's current lease, the
// signed RelayToNonERDS evidence that committed the operator to the job's
// PDF digest, so the print centre checks the document against the
// evidence itself and not only against the lease (which a tampered
// database or a rogue front end could rewrite along with the document).
func (q *Queue) RelayEvidence(ctx context.Context, c mailbox.Caller, id string, token int64) ([]byte, error) {
	var out []byte
	err := q.store.View(ctx, func(tx mailbox.Tx) error {
		j, err := q.job(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		if j.State != mailbox.JobLeased || !holds(j, c, token) {
			return staleLease()
		}
		none := mailbox.Errorf(mailbox.ErrNotFound, "no_evidence", "the job has no RelayToNonERDS evidence")
		if j.Kind != mailbox.JobLetter {
			return none
		}
		evs, err := tx.EvidenceOf(ctx, j.LetterID)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if e.Event != string(signing.EventRelayToNonERDS) {
				continue
			}
			ev, err := unverifiedEvidence(e.Envelope)
			if err != nil {
				return fmt.Errorf("letter %s evidence %s: %w", j.LetterID, e.ID, err)
			}
			if ev.Details["print_job"] == j.ID {
				out = e.Envelope
				return nil
			}
		}
		return none
	})
	return out, err
}

// unverifiedEvidence reads the payload of an envelope this server stored
// (the print centre verifies the signature).
func unverifiedEvidence(envelope []byte) (*signing.Evidence, error) {
	env, err := signing.ParseEnvelope(envelope)
	if err != nil {
		return nil, err
	}
	payload, err := base64.RawURLEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, err
	}
	return signing.ParseEvidence(payload)
}

// Outcomes a print centre reports for a leased job.
const (
	OutcomePrinted = "printed"
	OutcomePosted  = "posted"
	OutcomeFailed  = "failed"
)

// Report is one outcome of a job under its lease.
type Report struct {
	ID         string
	LeaseToken int64
	Outcome    string
	Reason     string // for failed
	// Sheets is, for printed, the number of sheets the print centre
	// printed and put into the envelope (its inserter's count): it must
	// equal the job's.
	Sheets int
}

// ReportResult is what became of one report.
type ReportResult struct {
	Job mailbox.PrintJob
	Err error
}

// MaxReports bounds one batch of reports.
const MaxReports = 500

// Printed records that the job was printed and enveloped, as sheets
// sheets.
func (q *Queue) Printed(ctx context.Context, c mailbox.Caller, id string, token int64, sheets int) (mailbox.PrintJob, error) {
	return q.one(ctx, c, Report{ID: id, LeaseToken: token, Outcome: OutcomePrinted, Sheets: sheets})
}

// Posted records that the printed letter was handed to the postal network.
func (q *Queue) Posted(ctx context.Context, c mailbox.Caller, id string, token int64) (mailbox.PrintJob, error) {
	return q.one(ctx, c, Report{ID: id, LeaseToken: token, Outcome: OutcomePosted})
}

// Failed records a failed attempt: the job is offered again after a backoff,
// or is dead after the maximum number of attempts, with its reason kept and
// recorded as evidence for the sender.
func (q *Queue) Failed(ctx context.Context, c mailbox.Caller, id string, token int64, reason string) (mailbox.PrintJob, error) {
	return q.one(ctx, c, Report{ID: id, LeaseToken: token, Outcome: OutcomeFailed, Reason: reason})
}

func (q *Queue) one(ctx context.Context, c mailbox.Caller, r Report) (mailbox.PrintJob, error) {
	res, err := q.ReportBatch(ctx, c, []Report{r})
	if err != nil {
		return mailbox.PrintJob{}, err
	}
	return res[0].Job, res[0].Err
}

// ReportBatch applies several outcomes in one transaction, each under its
// fencing token, and records their evidence together (one log lock, one
// batch append). Each report succeeds or fails on its own: a stale lease or
// a wrong state is that report's error, not the batch's. A repeated report
// of the outcome already recorded (an agent retrying after a lost reply) is
// answered with the job as it is and records nothing twice.
func (q *Queue) ReportBatch(ctx context.Context, c mailbox.Caller, reports []Report) ([]ReportResult, error) {
	regions, err := centre(c)
	if err != nil {
		return nil, err
	}
	if len(reports) == 0 || len(reports) > MaxReports {
		return nil, mailbox.Errorf(mailbox.ErrInvalid, "bad_reports", "send 1..%d reports", MaxReports)
	}
	var results []ReportResult
	err = q.store.InTx(ctx, func(tx mailbox.Tx) error {
		results = make([]ReportResult, len(reports))
		events := q.svc.NewEventBatch()
		// Set-based: one SELECT … FOR UPDATE of every job reported and one
		// UPDATE of those that changed, whatever the number of reports.
		// Reports apply in order to the jobs as they are in memory, so a
		// job reported printed and then posted in one batch moves twice.
		ids := make([]string, len(reports))
		for i, r := range reports {
			ids[i] = r.ID
		}
		slices.Sort(ids)
		found, err := tx.GetPrintJobs(ctx, slices.Compact(ids), true)
		if err != nil {
			return err
		}
		jobs := make(map[string]*mailbox.PrintJob, len(found))
		for i := range found {
			// Another region's job does not exist for you.
			if slices.Contains(regions, found[i].Region) {
				jobs[found[i].ID] = &found[i]
			}
		}
		var changed []string
		isChanged := map[string]bool{}
		for i, r := range reports {
			j, ok := jobs[r.ID]
			if !ok {
				results[i].Err = notFound()
				continue
			}
			results[i].Job = *j
			if !holds(*j, c, r.LeaseToken) {
				results[i].Err = staleLease()
				continue
			}
			next := *j
			done, err := q.apply(ctx, events, &next, r)
			if err != nil {
				results[i].Err = err
				continue
			}
			results[i].Job = next
			if done {
				continue
			}
			if !isChanged[r.ID] {
				isChanged[r.ID] = true
				changed = append(changed, r.ID)
			}
			*j = next
		}
		if len(changed) > 0 {
			upd := make([]mailbox.PrintJob, len(changed))
			for k, id := range changed {
				upd[k] = *jobs[id]
			}
			if err := tx.UpdatePrintJobs(ctx, upd); err != nil {
				return err
			}
		}
		return events.Flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// apply moves a job by one outcome and queues its evidence.
func (q *Queue) apply(ctx context.Context, events *mailbox.EventBatch, j *mailbox.PrintJob, r Report) (done bool, err error) {
	now := q.svc.Now()
	switch r.Outcome {
	case OutcomePrinted:
		// Inserter integrity (DESIGN §6): every sheet's Data Matrix names
		// the letter and "sheet j of m"; an inserter that counted another
		// number of sheets for the envelope has lost or mixed in a sheet,
		// and the letter must not go out as printed.
		if r.Sheets < 1 {
			return false, mailbox.Errorf(mailbox.ErrInvalid, "bad_sheets", "sheets, the number of sheets printed and enveloped, is required (1 or more)")
		}
		if r.Sheets != j.Sheets {
			return false, mailbox.Errorf(mailbox.ErrConflict, "sheet_mismatch", "%d sheets reported, the job has %d", r.Sheets, j.Sheets)
		}
		switch j.State {
		case mailbox.JobPrinted, mailbox.JobPosted:
			return true, nil
		case mailbox.JobLeased:
		default:
			return false, mailbox.Errorf(mailbox.ErrConflict, "bad_state", "the job is %s", j.State)
		}
		// The lease holder printed it (ReportBatch checked holds): that
		// centre alone answers for it in the post (Event).
		j.State, j.PrintedAt, j.PrintedBy = mailbox.JobPrinted, now, j.LeaseOwner
		q.letterEvent(events, *j, signing.EventPrinted, PrintedDetails(*j))
	case OutcomePosted:
		switch j.State {
		case mailbox.JobPosted:
			return true, nil
		case mailbox.JobPrinted:
		default:
			return false, mailbox.Errorf(mailbox.ErrConflict, "bad_state", "the job is %s: report printed first", j.State)
		}
		j.State, j.PostedAt = mailbox.JobPosted, now
		// UPU EMSEVT EMA: posting / collection.
		q.letterEvent(events, *j, signing.EventPosted, map[string]string{"emsevt": "EMA"})
	case OutcomeFailed:
		if r.Reason == "" || len(r.Reason) > 500 {
			return false, mailbox.Errorf(mailbox.ErrInvalid, "bad_reason", "a reason of 1..500 characters is required")
		}
		// The reason is sealed into evidence the sender reads.
		if err := mailbox.CheckText("reason", r.Reason, 500, true); err != nil {
			return false, err
		}
		if j.State != mailbox.JobLeased {
			return false, mailbox.Errorf(mailbox.ErrConflict, "bad_state", "the job is %s", j.State)
		}
		j.LastError = r.Reason
		j.LeaseOwner, j.LeaseExpiresAt = "", time.Time{}
		if j.Attempts >= q.maxAttempts {
			j.State = mailbox.JobDead
			q.log.ErrorContext(ctx, "print job dead", "job", j.ID, "letter", j.LetterID, "attempts", j.Attempts, "reason", r.Reason)
			q.letterEvent(events, *j, signing.EventDeliveryFailed,
				map[string]string{"stage": "print", "reason": r.Reason, "attempts": fmt.Sprint(j.Attempts)})
		} else {
			j.State, j.AvailableAt = mailbox.JobQueued, now.Add(q.backoff(j.Attempts))
		}
	default:
		return false, mailbox.Errorf(mailbox.ErrInvalid, "bad_outcome", "outcome must be printed, posted or failed")
	}
	return false, nil
}

// PrintedDetails are the details of a job's Printed evidence: its pages,
// its sheets, and the match code every sheet's Data Matrix carries
// ("<match_code>|p<i>/<pages>|s<j>/<sheets>", hybrid/pdf), which an
// inserter compares sheet by sheet.
func PrintedDetails(j mailbox.PrintJob) map[string]string {
	return map[string]string{
		"pages":      strconv.Itoa(j.Pages),
		"sheets":     strconv.Itoa(j.Sheets),
		"match_code": j.LetterID,
	}
}

// letterEvent queues a print-path event on the job's letter.
func (q *Queue) letterEvent(events *mailbox.EventBatch, j mailbox.PrintJob, ev signing.Event, details map[string]string) {
	if j.Kind != mailbox.JobLetter {
		return // activation letters have no evidence chain
	}
	if details == nil {
		details = map[string]string{}
	}
	details["print_job"] = j.ID
	events.Add(j.LetterID, signing.Evidence{Event: ev, PDFSHA256: j.PDFSHA256, Details: details})
}

// Minsk is Belarus' civil time (UTC+3 all year since 2011): a manifest's
// date is a Belarusian day.
var Minsk = time.FixedZone("Europe/Minsk", 3*60*60)

// Manifest lists the caller's jobs posted on a day (Minsk time), presorted
// by postcode.
func (q *Queue) Manifest(ctx context.Context, c mailbox.Caller, day time.Time) ([]mailbox.PrintJob, error) {
	regions, err := centre(c)
	if err != nil {
		return nil, err
	}
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, Minsk)
	var jobs []mailbox.PrintJob
	err = q.store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		jobs, err = tx.PostedJobs(ctx, regions, from, from.AddDate(0, 0, 1))
		return err
	})
	return jobs, err
}
