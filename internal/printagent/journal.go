package printagent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Step is a point in a job's life at the print centre, as the journal
// records it.
type Step string

// The steps, in order. A job's journal records run leased → downloaded →
// printing → printed → reported_printed → reported_posted, or end early in
// failed (reported to the server) or dropped (given up without printing, or
// after the server refused a report with 409/404).
const (
	// StepLeased: the server leased the job to this agent with a token.
	StepLeased Step = "leased"
	// StepDownloaded: the PDF is in the agent's work directory, its digest
	// checked against the lease.
	StepDownloaded Step = "downloaded"
	// StepPrinting: the hand-off to the printer is about to happen. It is
	// the intent record that lets a restarted agent tell "handed off" from
	// "not yet" (see agent.printStep).
	StepPrinting Step = "printing"
	// StepRefused: the printer refused the document (lp failed): nothing
	// was queued, and the job is ready to print again, as after
	// StepDownloaded.
	StepRefused Step = "print_refused"
	// StepPrinted: the printer has the document.
	StepPrinted Step = "printed"
	// StepReportedPrinted: the server recorded Printed.
	StepReportedPrinted Step = "reported_printed"
	// StepReportedPosted: the server recorded Posted; the job is done.
	StepReportedPosted Step = "reported_posted"
	// StepFailed: the server recorded a failed attempt; the job is done
	// here (the server offers it again after a backoff).
	StepFailed Step = "failed"
	// StepDropped: this agent gave the job up; the server decides what
	// happens to it (it is offered again when the lease expires).
	StepDropped Step = "dropped"
)

// rank orders the steps of the normal path so replay never moves a job
// backwards.
func (s Step) rank() int {
	switch s {
	case StepLeased:
		return 1
	case StepDownloaded, StepRefused:
		return 2
	case StepPrinting:
		return 3
	case StepPrinted:
		return 4
	case StepReportedPrinted:
		return 5
	case StepReportedPosted, StepFailed, StepDropped:
		return 6
	}
	return 0
}

func (s Step) terminal() bool { return s.rank() == 6 }

// lease is a job as the server leased it (POST /v1/print/leases, the
// contract in openapi.yaml), plus when this agent received it.
type lease struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	LetterID       string    `json:"letter_id,omitempty"`
	Tracking       string    `json:"tracking,omitempty"`
	Postcode       string    `json:"postcode"`
	Pages          int       `json:"pages"`
	Sheets         int       `json:"sheets"`
	PDFSHA256      string    `json:"pdf_sha256"`
	LeaseToken     int64     `json:"lease_token"`
	LeaseExpiresAt time.Time `json:"lease_expires_at"`
	// Received and Seconds are local: the agent's own clock when the
	// lease arrived and the lease length it asked for. The agent decides
	// "too late to print" on its own clock, never comparing it with the
	// server's.
	Received time.Time `json:"received"`
	Seconds  int       `json:"lease_seconds"`
}

// record is one line of the journal (JSON Lines).
type record struct {
	Time  time.Time `json:"time"`
	Step  Step      `json:"step"`
	Job   string    `json:"job"`
	Token int64     `json:"token"`
	// Lease is set on StepLeased.
	Lease *lease `json:"lease,omitempty"`
	// File is the spool file name (StepPrinting).
	File string `json:"file,omitempty"`
	// Detail is the printer's receipt (an lp request id) or a reason.
	Detail string `json:"detail,omitempty"`
}

// job is a job this agent holds: its lease and the last step the journal
// has for it.
type job struct {
	lease
	step Step
	file string
	// inDoubt says whether a hand-off the journal shows as started
	// (StepPrinting) may have happened: true for a job replayed from the
	// journal of an earlier run, or after an lp run that was cut short;
	// false once this run has journaled a step of the job.
	inDoubt bool
	// lines are the job's journal lines, kept for compaction.
	lines [][]byte
}

// name is how the job is named in logs and spool files.
func (j *job) name() string {
	if j.Tracking != "" {
		return j.Tracking
	}
	return j.ID
}

// ErrJournalCorrupt means a journal line other than the last cannot be read:
// the agent refuses to guess which jobs it holds.
var ErrJournalCorrupt = errors.New("printagent: journal is corrupt")

// journal is the agent's append-only record of job steps (JSON Lines). A
// record is written with one write(2) on an O_APPEND file, so a crash leaves
// at most a torn last line, which replay ignores. Records that guard an
// effect outside the agent are fsynced before that effect (append's sync
// argument); the others can be lost in an operating-system crash only in a
// way that replay handles by repeating an idempotent report.
type journal struct {
	path string
	f    *os.File
	// written counts records since the last compaction.
	written int
}

// openJournal replays the journal at path and rewrites it with the records
// of unfinished jobs only (dropping a torn last line), so it does not grow
// without bound. It returns the unfinished jobs in lease order.
func openJournal(path string) (*journal, []*job, bool, error) {
	jobs, torn, err := replay(path)
	if err != nil {
		return nil, nil, false, err
	}
	j := &journal{path: path}
	if err := j.rewrite(jobs); err != nil {
		return nil, nil, false, err
	}
	return j, jobs, torn, nil
}

// replay reads the journal into the unfinished jobs. torn reports an
// unreadable last line (a write cut short by a crash).
func replay(path string) (pending []*job, torn bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("printagent: journal: %w", err)
	}
	defer f.Close()
	byID := map[string]*job{}
	var order []*job
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, false, fmt.Errorf("printagent: journal: %w", rerr)
		}
		last := errors.Is(rerr, io.EOF)
		if len(bytes.TrimSpace(line)) > 0 {
			var rec record
			if err := json.Unmarshal(line, &rec); err != nil || rec.Job == "" || rec.Step.rank() == 0 ||
				(rec.Step == StepLeased && rec.Lease == nil) || !bytes.HasSuffix(line, []byte("\n")) {
				if last {
					torn = true // the write a crash cut short
					break
				}
				return nil, false, fmt.Errorf("%w: %s line %d", ErrJournalCorrupt, path, n)
			}
			apply(byID, &order, rec, bytes.Clone(line))
		}
		if last {
			break
		}
	}
	for _, j := range order {
		if byID[j.ID] == j && !j.step.terminal() {
			j.inDoubt = true
			pending = append(pending, j)
		}
	}
	return pending, torn, nil
}

// apply folds one record into the job table. A lease with a new token
// replaces the job's old state; a record of another token than the job's
// current one is stale and ignored.
func apply(byID map[string]*job, order *[]*job, rec record, line []byte) {
	cur := byID[rec.Job]
	if rec.Step == StepLeased {
		if cur != nil && cur.LeaseToken >= rec.Token {
			return
		}
		l := *rec.Lease
		l.LeaseToken = rec.Token
		j := &job{lease: l, step: StepLeased, lines: [][]byte{line}}
		byID[rec.Job] = j
		*order = append(*order, j)
		return
	}
	if cur == nil || cur.LeaseToken != rec.Token {
		return
	}
	// Forward only, except that a refused hand-off returns the job from
	// printing to ready.
	if rec.Step.rank() <= cur.step.rank() && !rec.Step.terminal() && !(rec.Step == StepRefused && cur.step == StepPrinting) {
		return
	}
	cur.step = rec.Step
	if rec.File != "" {
		cur.file = rec.File
	}
	cur.lines = append(cur.lines, line)
}

// rewrite replaces the journal with the lines of jobs, atomically.
func (jl *journal) rewrite(jobs []*job) error {
	var buf bytes.Buffer
	for _, j := range jobs {
		for _, l := range j.lines {
			buf.Write(l)
		}
	}
	if jl.f != nil {
		if err := jl.f.Close(); err != nil {
			return fmt.Errorf("printagent: journal: %w", err)
		}
		jl.f = nil
	}
	if err := writeFileAtomic(jl.path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("printagent: journal: %w", err)
	}
	f, err := os.OpenFile(jl.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("printagent: journal: %w", err)
	}
	jl.f, jl.written = f, 0
	return nil
}

// append writes recs as one write(2), fsynced when sync is set, and adds
// each line to its job (jobs[i] for recs[i]).
func (jl *journal) append(sync bool, jobs []*job, recs []record) error {
	var buf bytes.Buffer
	lines := make([][]byte, len(recs))
	for i, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("printagent: journal: %w", err)
		}
		b = append(b, '\n')
		lines[i] = b
		buf.Write(b)
	}
	if _, err := jl.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("printagent: journal: %w", err)
	}
	if sync {
		if err := jl.f.Sync(); err != nil {
			return fmt.Errorf("printagent: journal: %w", err)
		}
	}
	for i, j := range jobs {
		j.lines = append(j.lines, lines[i])
	}
	jl.written += len(recs)
	return nil
}

func (jl *journal) close() error {
	if jl.f == nil {
		return nil
	}
	err := jl.f.Close()
	jl.f = nil
	return err
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory, fsynced, renamed over path, then the directory fsynced, so a
// reader (or a restart after a crash) sees the old file or the new one,
// never part of one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes directory entries (a rename, a new file) durable: POSIX
// leaves them in the page cache until the directory itself is synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
