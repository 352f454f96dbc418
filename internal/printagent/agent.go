// Package printagent is the print centre's side of the hybrid print path
// (DESIGN.md §6, `npes print-agent`): it leases print jobs of the centre's
// regions, downloads each PDF and checks it against the digest in the lease
// and in the letter's RelayToNonERDS evidence (verified with the operator's
// keys from /v1/keys), hands it to a printer (a
// spool directory or a CUPS queue through lp), reports printed and posted
// under the lease's fencing token for the whole batch at once
// (POST /v1/print/reports), and keeps the day's posting manifest in the
// spool directory.
//
// # Posting
//
// The agent models a centre that posts what it prints the same day: once
// the printer has the batch's documents it reports them Printed and then,
// at once, Posted.
// The manifest (manifest-YYYY-MM-DD.csv, a Belarusian day) is the hand-over
// list for the postal network and is rewritten from the server's manifest
// route as the day goes on, so it lists every posted item of the centre's
// regions once, whichever agent printed it.
//
// # Crash safety
//
// A journal in the spool directory (journal.jsonl) records each step of each
// job: leased (with its token) → downloaded → printing → printed →
// reported_printed → reported_posted. On start the agent replays it and
// finishes what it held before taking new leases:
//
//   - A document is handed to the printer at most once per lease. The
//     "printing" record is fsynced before the hand-off; with the spool
//     printer the work file is renamed into the spool only after it, so on
//     restart "work file still there" means "not handed off" and "gone" means
//     "handed off". lp offers no such test: a hand-off interrupted by a crash
//     is reported failed (the server offers the job again after its backoff,
//     and the reason tells the operator to check the CUPS queue) instead of
//     printing again under the same lease.
//   - Reports go per batch, after the printer has every job of it, and
//     their records per batch (one write). Reports the server may have
//     missed are repeated; the server answers a repeated outcome with 200
//     and records nothing twice.
//   - A job whose lease went stale (409, another agent holds it now) or
//     that is about to expire before the hand-off is dropped without
//     printing; a stale job's file still waiting in the spool is withdrawn.
//
// Only one agent may use a spool directory at a time (an flock on
// .npes/lock). A printer's hot folder must take only the top-level *.pdf
// files; the agent's own files are journal.jsonl, manifest-*.csv and the
// .npes directory. Every file is created mode 0600 (letters and recipients'
// names), so the hot folder's reader runs as the agent's user.
package printagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/signing"
)

// Defaults of Options.
const (
	DefaultBatch        = 100
	DefaultLeaseSeconds = 600
	DefaultPollInterval = 5 * time.Second
	// maxPollInterval caps the backoff of an idle or failing agent.
	maxPollInterval = time.Minute
	// onceRetries is how many consecutive transient failures an agent with
	// Once tolerates before giving up.
	onceRetries = 5
	// manifestEvery is how often a busy agent refreshes the manifest.
	manifestEvery = time.Minute
	// jobTimeout bounds the work on one job (a stuck connection); the job
	// is retried from its step after it.
	jobTimeout = 5 * time.Minute
	// leaseTimeout bounds a lease call, which a signal does not cut short:
	// a lease granted but never received would hold jobs until it expires.
	leaseTimeout = time.Minute
	// rateLimitPause is the wait after a 429 (the client does not expose
	// Retry-After; the server's limiter never asks for less than 1 s).
	rateLimitPause = time.Second
	// compactAfter is how many journal records trigger a compaction
	// between batches.
	compactAfter = 10000
)

// Options configure Run.
type Options struct {
	// Client talks to the server with the print centre's credential.
	Client *client.Client
	// Spool is the spool directory: printed documents (with the spool
	// printer), the journal and the manifests. It is created if missing.
	Spool string
	// Printer is "" for the spool directory or "lp:QUEUE" for a CUPS queue.
	Printer string
	// Batch is how many jobs one lease asks for (1..500, default 100).
	Batch int
	// LeaseSeconds is the lease length asked for (10..3600, default 600).
	LeaseSeconds int
	// Once drains the jobs available now and returns; otherwise Run polls,
	// backing off while the queue is empty, until ctx is done.
	Once bool
	// Logger receives the agent's log; nil discards it.
	Logger *slog.Logger
	// Progress receives progress lines ("printed 120/1000, 35.2 jobs/s");
	// nil discards them.
	Progress io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PollInterval is the first wait when the queue is empty or the server
	// fails; it doubles up to a minute (or PollInterval if longer).
	PollInterval time.Duration
	// Fault, for tests, is called around every journal record of a job:
	// with durable false once the step's work is done and before its
	// record is written, with durable true once it is written. A non-nil
	// error makes Run return it at once, writing nothing more, as if the
	// process died at that point.
	Fault func(step Step, job string, durable bool) error
}

// ErrOptions wraps every invalid option.
var ErrOptions = errors.New("printagent: invalid options")

func (o *Options) validate() error {
	if o.Client == nil {
		return fmt.Errorf("%w: no client", ErrOptions)
	}
	if o.Spool == "" {
		return fmt.Errorf("%w: no spool directory", ErrOptions)
	}
	if o.Batch == 0 {
		o.Batch = DefaultBatch
	}
	if o.Batch < 1 || o.Batch > hybrid.MaxBatch {
		return fmt.Errorf("%w: batch must be 1..%d", ErrOptions, hybrid.MaxBatch)
	}
	if o.LeaseSeconds == 0 {
		o.LeaseSeconds = DefaultLeaseSeconds
	}
	if o.LeaseSeconds < 10 || o.LeaseSeconds > int(hybrid.MaxLease.Seconds()) {
		return fmt.Errorf("%w: lease seconds must be 10..%d", ErrOptions, int(hybrid.MaxLease.Seconds()))
	}
	if _, err := newPrinter(o.Printer, o.Spool); err != nil {
		return err
	}
	if o.PollInterval < 0 {
		return fmt.Errorf("%w: negative poll interval", ErrOptions)
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// agent is one run of the print agent.
type agent struct {
	o       Options
	c       *client.Client
	log     *slog.Logger
	spool   string // absolute
	work    string // spool/.npes/work: downloaded PDFs before the hand-off
	printer printer
	jl      *journal
	pending []*job
	prog    *progress

	manifestDay  string    // the last day written (at first, the day the run started)
	manifestAt   time.Time // when
	postedSince  bool      // posted anything since
	manifestOnce bool      // written at least once in this run

	keys signing.JWKS // the operator's evidence keys, fetched once per run
}

// Run runs the print agent until ctx is done (finishing the job in hand
// first) or, with Once, until no job is available. It returns nil on a clean
// stop.
func Run(ctx context.Context, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	a, unlock, err := open(o)
	if err != nil {
		return err
	}
	defer unlock()
	defer a.jl.close()
	return a.run(ctx)
}

// open prepares the spool directory, takes its lock and replays the
// journal.
func open(o Options) (*agent, func(), error) {
	spool, err := filepath.Abs(o.Spool)
	if err != nil {
		return nil, nil, fmt.Errorf("printagent: spool %s: %w", o.Spool, err)
	}
	work := filepath.Join(spool, ".npes", "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, nil, fmt.Errorf("printagent: spool: %w", err)
	}
	p, err := newPrinter(o.Printer, spool)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := lockDir(filepath.Join(spool, ".npes", "lock"))
	if err != nil {
		return nil, nil, err
	}
	jl, pending, torn, err := openJournal(filepath.Join(spool, "journal.jsonl"))
	if err != nil {
		unlock()
		return nil, nil, err
	}
	a := &agent{o: o, c: o.Client, log: o.Logger, spool: spool, work: work, printer: p, jl: jl, pending: pending,
		prog: &progress{w: o.Progress, now: o.Now}, manifestDay: manifestDate(o.Now())}
	if torn {
		a.log.Warn("journal: ignored a torn last record (the previous run died while writing it)")
	}
	return a, unlock, nil
}

// errFault marks an error injected by Options.Fault.
type errFault struct{ err error }

func (e errFault) Error() string { return e.err.Error() }
func (e errFault) Unwrap() error { return e.err }

func (a *agent) fault(step Step, job string, durable bool) error {
	if a.o.Fault == nil {
		return nil
	}
	if err := a.o.Fault(step, job, durable); err != nil {
		return errFault{err}
	}
	return nil
}

func (a *agent) run(ctx context.Context) error {
	a.log.Info("print agent started", "spool", a.spool, "printer", a.printer.String(), "batch", a.o.Batch,
		"lease_seconds", a.o.LeaseSeconds, "once", a.o.Once, "resumed_jobs", len(a.pending))
	a.prog.add(len(a.pending))
	var idle, retry time.Duration // the current waits: empty queue, failures
	failures := 0
loop:
	for ctx.Err() == nil {
		if len(a.pending) == 0 {
			if err := a.maybeCompact(); err != nil {
				return err
			}
			n, err := a.leaseBatch(ctx)
			if err != nil {
				if a.retry(ctx, err, &failures, &retry) {
					return err
				}
				continue
			}
			failures, retry = 0, 0
			if n == 0 {
				if a.o.Once {
					break loop
				}
				// Idle: bring the manifest up to date at once if this
				// agent posted since, else at most once a minute (other
				// agents of the centre post too).
				if err := a.refreshManifest(ctx, a.postedSince); err != nil && ctx.Err() == nil {
					a.log.Error("manifest", "err", err)
				}
				idle = a.backoff(idle)
				a.log.Debug("no jobs; waiting", "wait", idle)
				sleep(ctx, idle)
				continue
			}
			idle = 0
		}
		if err := a.drain(ctx); err != nil {
			if a.retry(ctx, err, &failures, &retry) {
				return err
			}
			continue
		}
		failures, retry = 0, 0
		if err := a.refreshManifest(ctx, false); err != nil && ctx.Err() == nil {
			a.log.Error("manifest", "err", err)
		}
	}
	// Stopping: the last word on the manifest and the progress, even when
	// ctx is done (a signal).
	fin, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	merr := a.refreshManifest(fin, true)
	a.prog.print(true)
	a.log.Info("print agent stopped", "printed", a.prog.printed, "failed", a.prog.failed, "dropped", a.prog.dropped,
		"unfinished", len(a.pending))
	if merr != nil {
		return merr
	}
	return nil
}

// drain works through the pending jobs in order, each until the printer
// has it (or it is done), then reports the printed ones to the server in
// batches (reportPending): Printed, then Posted. A job in hand is finished
// even if ctx is cancelled meanwhile (a signal stops the agent after the
// current job, once what it printed is reported); between jobs ctx is
// checked.
func (a *agent) drain(ctx context.Context) error {
	defer a.prog.stop()
	a.prog.start()
	var err error
	for _, j := range a.pending {
		if ctx.Err() != nil {
			break
		}
		jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobTimeout)
		err = a.process(jctx, j)
		cancel()
		if err != nil {
			break
		}
		a.prog.print(false)
	}
	if err == nil || transient(err) {
		// What is printed is reported before anything else happens, also
		// when printing stopped on a transient failure or a signal.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jobTimeout)
		rerr := a.reportPending(rctx)
		cancel()
		if rerr != nil && (err == nil || !transient(rerr)) {
			err = rerr
		}
	}
	a.pending = slices.DeleteFunc(a.pending, func(j *job) bool { return j.step.terminal() })
	a.prog.print(false)
	return err
}

// retry decides after a failed round: a fatal error, or with Once too many
// transient ones in a row, ends the run (true); otherwise it waits.
func (a *agent) retry(ctx context.Context, err error, failures *int, wait *time.Duration) bool {
	if !transient(err) {
		return true
	}
	if ae := new(client.APIError); errors.As(err, &ae) && ae.Status == 429 {
		// The server's per-client rate limit (its Retry-After is a
		// second or more): pause, not a failure.
		a.log.Info("rate limited by the server; pausing", "wait", rateLimitPause)
		sleep(ctx, rateLimitPause)
		return false
	}
	if *failures++; a.o.Once && *failures >= onceRetries {
		return true
	}
	*wait = a.backoff(*wait)
	a.log.Warn("retrying after a transient failure", "err", err, "wait", *wait)
	sleep(ctx, *wait)
	return false
}

func (a *agent) backoff(prev time.Duration) time.Duration {
	if prev == 0 {
		return a.o.PollInterval
	}
	return min(2*prev, max(a.o.PollInterval, maxPollInterval))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// maybeCompact rewrites the journal when it has grown and no job is held.
func (a *agent) maybeCompact() error {
	if a.jl.written < compactAfter || len(a.pending) > 0 {
		return nil
	}
	return a.jl.rewrite(nil)
}

// safeName is what the agent accepts from the server as a spool file name:
// an S10 id or a UUID. The client does not trust the server with its file
// system.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// leaseBatch leases jobs and journals them (one fsynced write for the batch)
// before any of them is touched.
func (a *agent) leaseBatch(ctx context.Context) (int, error) {
	var reply struct {
		Jobs []lease `json:"jobs"`
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
	defer cancel()
	if _, err := a.c.JSON(lctx, "POST", "/v1/print/leases",
		map[string]int{"max": a.o.Batch, "lease_seconds": a.o.LeaseSeconds}, &reply); err != nil {
		return 0, err
	}
	if len(reply.Jobs) == 0 {
		return 0, nil
	}
	now := a.o.Now()
	jobs := make([]*job, 0, len(reply.Jobs))
	recs := make([]record, 0, len(reply.Jobs))
	for _, l := range reply.Jobs {
		if !safeName.MatchString(l.ID) || l.LeaseToken <= 0 {
			// Not a job this agent can name or report on; its lease runs
			// out on the server.
			a.log.Error("ignoring a malformed job in the lease reply", "job", l.ID, "token", l.LeaseToken)
			continue
		}
		if !safeName.MatchString(l.Tracking) {
			l.Tracking = ""
		}
		l.Received, l.Seconds = now, a.o.LeaseSeconds
		j := &job{lease: l, step: StepLeased}
		j.file = j.name() + ".pdf"
		jobs = append(jobs, j)
		lc := l
		recs = append(recs, record{Time: now, Step: StepLeased, Job: l.ID, Token: l.LeaseToken, Lease: &lc})
	}
	for _, j := range jobs {
		if err := a.fault(StepLeased, j.ID, false); err != nil {
			return 0, err
		}
	}
	if err := a.jl.append(true, jobs, recs); err != nil {
		return 0, err
	}
	for _, j := range jobs {
		if err := a.fault(StepLeased, j.ID, true); err != nil {
			return 0, err
		}
	}
	a.log.Info("leased", "jobs", len(jobs))
	a.pending = append(a.pending, jobs...)
	a.prog.add(len(jobs))
	return len(jobs), nil
}

// record journals a step of j; sync says whether it guards an effect
// outside the agent (see journal).
func (a *agent) record(j *job, step Step, sync bool, detail string) error {
	if err := a.fault(step, j.ID, false); err != nil {
		return err
	}
	rec := record{Time: a.o.Now(), Step: step, Job: j.ID, Token: j.LeaseToken, Detail: detail}
	if step == StepPrinting {
		rec.File = j.file
	}
	if err := a.jl.append(sync, []*job{j}, []record{rec}); err != nil {
		return err
	}
	// From here on this run knows what happened to the job.
	j.step, j.inDoubt = step, false
	return a.fault(step, j.ID, true)
}

// workFile is where j's PDF waits for the hand-off; the name carries the
// token, so a later lease of the same job never reuses a file of an
// earlier one.
func (a *agent) workFile(j *job) string {
	return filepath.Join(a.work, fmt.Sprintf("%s.%d.pdf", j.ID, j.LeaseToken))
}

// process moves j forward until the printer has it, or it is done,
// dropped or failed. It returns only transient or fatal errors; the job
// then stays pending at its step.
func (a *agent) process(ctx context.Context, j *job) error {
	if j.file == "" {
		j.file = j.name() + ".pdf"
	}
	log := a.log.With("job", j.ID, "tracking", j.Tracking, "token", j.LeaseToken)
	for {
		var err error
		switch j.step {
		case StepLeased:
			err = a.downloadStep(ctx, log, j)
		case StepDownloaded, StepRefused:
			err = a.intentStep(log, j)
		case StepPrinting:
			err = a.printStep(ctx, log, j)
		default:
			// Printed and reported printed: the reports go in batches
			// (reportPending); the rest is done.
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tooLate says whether j's lease ends (on the agent's own clock) before a
// hand-off can safely finish: after that another agent may take the job,
// and printing it here too would print the letter twice.
func (a *agent) tooLate(j *job) bool {
	lease := time.Duration(j.Seconds) * time.Second
	margin := min(max(lease/10, time.Second), time.Minute)
	return !a.o.Now().Before(j.Received.Add(lease - margin))
}

func (a *agent) downloadStep(ctx context.Context, log *slog.Logger, j *job) error {
	if a.tooLate(j) {
		return a.drop(log, j, "the lease expires before the job could be printed")
	}
	if !sha256Hex.MatchString(j.PDFSHA256) {
		return a.fail(ctx, log, j, "the lease names no valid pdf_sha256: nothing to check the document against")
	}
	req, err := a.c.NewRequest(ctx, "GET", "/v1/print/jobs/"+j.ID+"/pdf", "", nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Lease-Token", fmt.Sprint(j.LeaseToken))
	pdf, err := a.c.DoRequest(req)
	if err != nil {
		if gone(err) {
			return a.drop(log, j, "download refused: "+err.Error())
		}
		return err
	}
	sum := sha256.Sum256(pdf)
	got := hex.EncodeToString(sum[:])
	if got != j.PDFSHA256 {
		log.Error("PDF digest mismatch: not printing", "got", got, "want", j.PDFSHA256)
		return a.fail(ctx, log, j, fmt.Sprintf("downloaded PDF has SHA-256 %s, the lease says %s", got, j.PDFSHA256))
	}
	if j.Kind == kindLetter {
		reason, err := a.checkRelayEvidence(ctx, j, got)
		if err != nil {
			if gone(err) {
				return a.drop(log, j, "evidence refused: "+err.Error())
			}
			return err
		}
		if reason != "" {
			log.Error("PDF does not match the letter's evidence: not printing", "reason", reason)
			return a.fail(ctx, log, j, reason)
		}
	}
	if err := writeFileAtomic(a.workFile(j), pdf, 0o600); err != nil {
		return fmt.Errorf("printagent: saving %s: %w", j.ID, err)
	}
	return a.record(j, StepDownloaded, false, "")
}

// kindLetter is the print job kind of letters (activation letters carry no
// letter evidence).
const kindLetter = "letter"

// checkRelayEvidence checks the downloaded PDF's digest against the
// letter's RelayToNonERDS evidence, the operator's signed commitment to the
// document (DESIGN §6), and not only against the lease. It returns a
// reason to refuse the job, or an error of the exchange itself.
func (a *agent) checkRelayEvidence(ctx context.Context, j *job, digest string) (string, error) {
	if len(a.keys.Keys) == 0 {
		raw, err := a.c.Do(ctx, "GET", "/v1/keys", "", nil)
		if err != nil {
			return "", err
		}
		if a.keys, err = signing.ParseJWKS(raw); err != nil {
			return "", errTransient{fmt.Errorf("printagent: the operator keys: %w", err)}
		}
	}
	req, err := a.c.NewRequest(ctx, "GET", "/v1/print/jobs/"+j.ID+"/evidence", "", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Lease-Token", fmt.Sprint(j.LeaseToken))
	env, err := a.c.DoRequest(req)
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == "no_evidence" {
		return "the letter has no RelayToNonERDS evidence for this job: nothing vouches for the document", nil
	}
	if err != nil {
		return "", err
	}
	payload, err := signing.VerifyEnvelope(env, a.keys)
	if err != nil {
		return fmt.Sprintf("the RelayToNonERDS evidence does not verify with the operator's keys: %v", err), nil
	}
	ev, err := signing.ParseEvidence(payload)
	switch {
	case err != nil:
		return fmt.Sprintf("the RelayToNonERDS evidence is malformed: %v", err), nil
	case ev.Event != signing.EventRelayToNonERDS || ev.Letter != j.LetterID || ev.Details["print_job"] != j.ID:
		return fmt.Sprintf("the evidence served (%s of letter %s, job %s) is not this job's RelayToNonERDS", ev.Event, ev.Letter, ev.Details["print_job"]), nil
	case ev.PDFSHA256 != digest:
		return fmt.Sprintf("downloaded PDF has SHA-256 %s, the RelayToNonERDS evidence says %s", digest, ev.PDFSHA256), nil
	}
	return "", nil
}

// intentStep journals (fsynced) that the hand-off is about to happen.
func (a *agent) intentStep(log *slog.Logger, j *job) error {
	if ok, err := a.workFileOK(j); err != nil {
		return err
	} else if !ok {
		// Lost with an operating-system crash before it was synced:
		// fetch it again under the same lease.
		log.Warn("work file missing or damaged; downloading again")
		j.step = StepLeased
		return nil
	}
	if a.tooLate(j) {
		_ = os.Remove(a.workFile(j))
		return a.drop(log, j, "the lease expires before the job could be printed")
	}
	return a.record(j, StepPrinting, true, "")
}

func (a *agent) workFileOK(j *job) (bool, error) {
	data, err := os.ReadFile(a.workFile(j))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) == j.PDFSHA256, nil
}

// errUncertain: a hand-off was cut short; whether the printer has the
// document is unknown.
var errUncertain = errors.New("printagent: the hand-off to the printer was interrupted")

// printStep hands the document to the printer, at most once per lease.
func (a *agent) printStep(ctx context.Context, log *slog.Logger, j *job) error {
	src := a.workFile(j)
	_, statErr := os.Stat(src)
	switch {
	case j.inDoubt && !a.printer.certain():
		// A previous run journaled the intent and died, or lp was cut
		// short: lp may or may not have queued the document. Printing again under this lease could
		// print the letter twice, so hand the job back with a reason the
		// operator can act on.
		_ = os.Remove(src)
		return a.fail(ctx, log, j, "the print hand-off to "+a.printer.String()+
			" was interrupted by an agent restart; check the printer queue for a copy titled "+j.name())
	case j.inDoubt && errors.Is(statErr, os.ErrNotExist):
		// Spool: the work file is renamed into the spool only after the
		// intent record, so a missing work file means the hand-off
		// happened.
		log.Info("hand-off had completed before the restart")
		return a.record(j, StepPrinted, true, filepath.Join(a.spool, j.file))
	}
	receipt, err := a.printer.handOff(ctx, j, src)
	switch {
	case errors.Is(err, errUncertain):
		// Never hand it off again under this lease, even if reporting
		// the failure must be retried.
		j.inDoubt = true
		return a.fail(ctx, log, j, err.Error()+"; check the printer queue for a copy titled "+j.name())
	case err != nil:
		// The printer refused the document: nothing was queued. Journal
		// that, so a restart does not take it for an interrupted
		// hand-off, and retry after a pause; a printer that cannot be
		// run at all stops the agent.
		log.Error("printer refused the document", "printer", a.printer.String(), "err", err)
		if rerr := a.record(j, StepRefused, true, err.Error()); rerr != nil {
			return rerr
		}
		if errors.Is(err, exec.ErrNotFound) {
			return err
		}
		return errTransient{err}
	}
	log.Info("printed", "printer", a.printer.String(), "receipt", receipt)
	a.prog.printed++
	return a.record(j, StepPrinted, true, receipt)
}

// reportPending reports the pending jobs the printer has: Printed for
// those at StepPrinted, then Posted for those the server has as printed,
// each through POST /v1/print/reports in batches of up to
// hybrid.MaxReports, so a batch of leased jobs costs the server one
// transaction per outcome instead of one per job and outcome.
func (a *agent) reportPending(ctx context.Context) error {
	for _, r := range []struct {
		from    Step
		outcome string
		done    Step
	}{{StepPrinted, hybrid.OutcomePrinted, StepReportedPrinted}, {StepReportedPrinted, hybrid.OutcomePosted, StepReportedPosted}} {
		var batch []*job
		for _, j := range a.pending {
			if j.step == r.from {
				batch = append(batch, j)
			}
		}
		for len(batch) > 0 {
			n := min(len(batch), hybrid.MaxReports)
			if err := a.reportBatch(ctx, batch[:n], r.outcome, r.done); err != nil {
				return err
			}
			batch = batch[n:]
		}
	}
	return nil
}

// reportResult is one result of POST /v1/print/reports.
type reportResult struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Status  int    `json:"status"`
	} `json:"error"`
}

// reportBatch reports outcome for jobs under their tokens in one request
// and journals the outcome of each in one write. The server answers a
// repeated report (a batch resent after a crash or a lost reply) with the
// job as it is and records nothing twice, so a journal record lost with the
// process costs a repeated report, never a lost or doubled one. A report
// the server refuses with 409 (stale lease, sheet mismatch, another state)
// or 404 drops its job, as the single routes did; the other reports of the
// batch stand.
func (a *agent) reportBatch(ctx context.Context, jobs []*job, outcome string, done Step) error {
	reports := make([]map[string]any, len(jobs))
	for i, j := range jobs {
		r := map[string]any{"id": j.ID, "lease_token": j.LeaseToken, "outcome": outcome}
		if outcome == hybrid.OutcomePrinted {
			// The sheets of the document the agent checked against the
			// lease's digest: the server refuses a count that differs
			// from the job's (sheet_mismatch), the inserter integrity
			// check, job by job.
			r["sheets"] = j.Sheets
		}
		reports[i] = r
	}
	var reply struct {
		Results []reportResult `json:"results"`
	}
	if _, err := a.c.JSON(ctx, "POST", "/v1/print/reports", map[string]any{"reports": reports}, &reply); err != nil {
		return err
	}
	if len(reply.Results) != len(jobs) {
		return fmt.Errorf("printagent: the server answered %d results for %d reports", len(reply.Results), len(jobs))
	}
	steps := make([]Step, len(jobs))
	details := make([]string, len(jobs))
	var refused error
	for i, r := range reply.Results {
		j := jobs[i]
		switch {
		case r.ID != j.ID:
			return fmt.Errorf("printagent: result %d of the reports names job %q, not %s", i, r.ID, j.ID)
		case r.Error == nil:
			steps[i] = done
		case r.Error.Status == 409 || r.Error.Status == 404:
			err := &client.APIError{Status: r.Error.Status, Code: r.Error.Code, Message: r.Error.Message}
			log := a.log.With("job", j.ID, "tracking", j.Tracking, "token", j.LeaseToken)
			a.withdraw(log, j)
			_ = os.Remove(a.workFile(j))
			log.Warn("dropped", "reason", "report "+outcome+" refused: "+err.Error())
			a.prog.dropped++
			steps[i], details[i] = StepDropped, "report "+outcome+" refused: "+err.Error()
		default:
			// A report the server cannot take (400): a protocol problem,
			// which ends the run after the others are journaled; the job
			// stays where it was.
			if refused == nil {
				refused = &client.APIError{Status: r.Error.Status, Code: r.Error.Code, Message: r.Error.Message}
			}
		}
	}
	var rec []*job
	var recSteps []Step
	var recDetails []string
	for i, j := range jobs {
		if steps[i] != "" {
			rec, recSteps, recDetails = append(rec, j), append(recSteps, steps[i]), append(recDetails, details[i])
		}
	}
	if err := a.recordAll(rec, recSteps, recDetails); err != nil {
		return err
	}
	for i, j := range rec {
		if recSteps[i] == StepReportedPosted {
			a.log.Info("posted", "job", j.ID, "tracking", j.Tracking, "token", j.LeaseToken)
			a.postedSince = true
		}
	}
	return refused
}

// recordAll journals one step of each job in one write, not fsynced: the
// steps it records (reports done, jobs dropped) guard nothing outside the
// agent (see journal).
func (a *agent) recordAll(jobs []*job, steps []Step, details []string) error {
	if len(jobs) == 0 {
		return nil
	}
	now := a.o.Now()
	recs := make([]record, len(jobs))
	for i, j := range jobs {
		if err := a.fault(steps[i], j.ID, false); err != nil {
			return err
		}
		recs[i] = record{Time: now, Step: steps[i], Job: j.ID, Token: j.LeaseToken, Detail: details[i]}
	}
	if err := a.jl.append(false, jobs, recs); err != nil {
		return err
	}
	for i, j := range jobs {
		j.step, j.inDoubt = steps[i], false
	}
	for i, j := range jobs {
		if err := a.fault(steps[i], j.ID, true); err != nil {
			return err
		}
	}
	return nil
}

// withdraw takes a document this agent printed out of the spool, if the
// hot folder has not taken it yet, when the server refuses its report: the
// lease is no longer honoured (the job's new holder prints it) or the
// printed sheets do not match the job's (sheet_mismatch).
func (a *agent) withdraw(log *slog.Logger, j *job) {
	if _, ok := a.printer.(spoolPrinter); !ok {
		log.Error("printed, but the server refused the report (stale lease or sheet mismatch): pull it from the printer queue", "title", j.name())
		return
	}
	path := filepath.Join(a.spool, j.file)
	if err := os.Remove(path); err == nil {
		log.Warn("withdrew from the spool a document whose report the server refused", "file", path)
		_ = syncDir(a.spool)
	} else if errors.Is(err, os.ErrNotExist) {
		log.Error("the server refused the report of a document already taken from the spool: the letter may be printed twice", "file", path)
	}
}

// fail reports a failed attempt with reason; the server offers the job
// again after a backoff or declares it dead, with evidence for the sender.
func (a *agent) fail(ctx context.Context, log *slog.Logger, j *job, reason string) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := a.c.JSON(ctx, "POST", "/v1/print/jobs/"+j.ID+"/failed", map[string]any{"lease_token": j.LeaseToken, "reason": reason}, nil)
	if err != nil {
		if gone(err) {
			return a.drop(log, j, "report failed refused: "+err.Error())
		}
		return err
	}
	_ = os.Remove(a.workFile(j))
	log.Warn("reported failed", "reason", reason)
	a.prog.failed++
	return a.record(j, StepFailed, false, reason)
}

// drop gives j up without printing (any more).
func (a *agent) drop(log *slog.Logger, j *job, reason string) error {
	_ = os.Remove(a.workFile(j))
	log.Warn("dropped", "reason", reason)
	a.prog.dropped++
	return a.record(j, StepDropped, false, reason)
}

// errTransient marks a failure worth retrying that is not an HTTP error.
type errTransient struct{ err error }

func (e errTransient) Error() string { return e.err.Error() }
func (e errTransient) Unwrap() error { return e.err }

// gone says the server will not take this lease's word on the job any
// more: the token is stale or the job is in another state (409), or the job
// is not (or no longer) one of the centre's (404).
func gone(err error) bool {
	var ae *client.APIError
	return errors.As(err, &ae) && (ae.Status == 409 || ae.Status == 404)
}

// transient says an error may go away by itself: the network, a server
// error, throttling, a printer that refused a document. Any other API error
// (400, 401, 403) is a configuration or protocol problem, and a failing
// spool disk or journal needs an operator: retrying fixes neither.
func transient(err error) bool {
	if errors.As(err, new(errFault)) || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == 429 || ae.Status == 408
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, new(errTransient)) || errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// manifestHeader is the first row of the server's manifest CSV.
// manifestHeader starts the server's manifest (the contract's four columns;
// later columns, such as job_id, may follow).
const manifestHeader = "tracking,postcode,recipient_name,sheets"

// refreshManifest rewrites today's manifest (a Belarusian day) from the
// server, and the manifest of the day the agent last wrote (or started on)
// when the day has turned since; the first refresh of a run also finalizes
// yesterday's file if there is one (a restart after midnight). Without force
// it does nothing more than once a minute on the same day.
func (a *agent) refreshManifest(ctx context.Context, force bool) error {
	now := a.o.Now()
	today := manifestDate(now)
	if !force && a.manifestOnce && today == a.manifestDay && now.Sub(a.manifestAt) < manifestEvery {
		return nil
	}
	var days []string
	if y := manifestDate(now.AddDate(0, 0, -1)); !a.manifestOnce && y != a.manifestDay {
		if _, err := os.Stat(a.manifestPath(y)); err == nil {
			days = append(days, y)
		}
	}
	if a.manifestDay != today {
		days = append(days, a.manifestDay)
	}
	days = append(days, today)
	for _, d := range days {
		data, err := a.c.Do(ctx, "GET", "/v1/print/manifest?date="+d, "", nil)
		if err != nil {
			return fmt.Errorf("printagent: manifest %s: %w", d, err)
		}
		if len(data) < len(manifestHeader) || string(data[:len(manifestHeader)]) != manifestHeader {
			return fmt.Errorf("printagent: manifest %s: unexpected reply", d)
		}
		if err := writeFileAtomic(a.manifestPath(d), data, 0o600); err != nil {
			return fmt.Errorf("printagent: manifest %s: %w", d, err)
		}
		a.log.Debug("manifest written", "date", d, "bytes", len(data))
	}
	a.manifestDay, a.manifestAt, a.postedSince, a.manifestOnce = today, now, false, true
	return nil
}

// manifestDate is the manifest day of t: the date in Minsk, as the server
// counts posting days.
func manifestDate(t time.Time) string { return t.In(hybrid.Minsk).Format("2006-01-02") }

func (a *agent) manifestPath(day string) string {
	return filepath.Join(a.spool, "manifest-"+day+".csv")
}

// progress prints "printed 120/1000, 35.2 jobs/s" lines: at most one a
// second while busy, and a last one at the end. The rate counts the time
// spent working, not the time waiting for jobs.
type progress struct {
	w                        io.Writer
	now                      func() time.Time
	total                    int
	printed, failed, dropped int
	busy                     time.Duration
	since, last              time.Time
	shown                    [4]int // printed, total, failed, dropped in the last line
}

func (p *progress) add(n int) { p.total += n }
func (p *progress) start()    { p.since = p.now() }
func (p *progress) stop() {
	if !p.since.IsZero() {
		p.busy += p.now().Sub(p.since)
		p.since = time.Time{}
	}
}

func (p *progress) print(final bool) {
	now := p.now()
	if !final && now.Sub(p.last) < time.Second {
		return
	}
	// The final line repeats nothing: when the last job's line already
	// said it all, the run ends without another.
	counts := [4]int{p.printed, p.total, p.failed, p.dropped}
	if final && !p.last.IsZero() && counts == p.shown {
		return
	}
	p.shown = counts
	p.last = now
	busy := p.busy
	if !p.since.IsZero() {
		busy += now.Sub(p.since)
	}
	rate := 0.0
	if busy > 0 {
		rate = float64(p.printed) / busy.Seconds()
	}
	line := fmt.Sprintf("printed %d/%d, %.1f jobs/s", p.printed, p.total, rate)
	if p.failed > 0 || p.dropped > 0 {
		line += fmt.Sprintf(" (failed %d, dropped %d)", p.failed, p.dropped)
	}
	fmt.Fprintln(p.w, line)
}
