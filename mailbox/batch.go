package mailbox

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
)

// Batch states.
const (
	BatchRunning = "running"
	BatchDone    = "done"
	// BatchInterrupted: the server stopped, or the database failed, before
	// every line was handled. The letters of the lines handled are kept; a
	// retry with the same Idempotency-Key resumes the rest.
	BatchInterrupted = "interrupted"
)

// batchWorkers is how many lines of one batch are submitted at once: enough
// to fill every committer's group and have the next group routed and
// sealed while they commit (a commit costs ~15 ms of round trips and fsync
// whatever its size; 64 workers made groups of ~32). Measured in-process
// on PostgreSQL, 2,000 10 KiB letters on two cores: 64 workers 1.84 s,
// 256 1.48 s, 384 1.23-1.71 s, 512 1.36-1.52 s. Few enough to leave room
// for others: a single letter submitted meanwhile waits at most for the
// groups already queued (about one more commit).
const batchWorkers = (committers + 1) * MaxBatch

// LetterBatch is a bulk submission as stored.
type LetterBatch struct {
	ID string
	// Sender is the identity that submitted the batch (its lines may name
	// different sending mailboxes of it).
	Sender         string
	IdempotencyKey string
	RequestHash    string
	State          string
	Total          int
	CreatedAt      time.Time
	FinishedAt     time.Time
}

// BatchResult is the outcome of one line: a letter, or an error.
type BatchResult struct {
	Line         int
	LetterID     string
	Tracking     string
	Route        string
	ErrorCode    string
	ErrorMessage string
}

// BatchLetter is one line of a batch.
type BatchLetter struct {
	// Line is the line's number in the request, from 1.
	Line       int
	Submission Submission
	// Attachments name shared files of the batch (BatchInput.Files).
	Attachments []string
	// Err, when set, is why the line could not be read; it is the line's
	// outcome and nothing is submitted for it.
	Err error
}

// BatchFile is a file shared by any number of a batch's letters.
type BatchFile struct {
	FileName    string
	ContentType string
	Data        []byte
}

// BatchInput is a bulk submission as received.
type BatchInput struct {
	IdempotencyKey string
	// RequestHash identifies the request behind the key: the same key for a
	// different request is refused.
	RequestHash string
	Letters     []BatchLetter
	// Files by the name lines use to reference them.
	Files map[string]BatchFile
}

// BatchStatus is what the sender sees of a batch.
type BatchStatus struct {
	ID      string        `json:"id"`
	State   string        `json:"state"`
	Total   int           `json:"total"`
	Done    int           `json:"done"`
	Failed  int           `json:"failed"`
	Results []BatchResult `json:"-"`
}

// batches tracks the batches this process is working on.
type batches struct {
	mu     sync.Mutex
	active map[string]bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (s *Service) batchState() *batches {
	s.batchOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.batches = &batches{active: map[string]bool{}, ctx: ctx, cancel: cancel}
	})
	return s.batches
}

// closeBatches stops the batch workers: the lines in flight finish (their
// letters are committed and recorded), the rest wait for a retry.
func (s *Service) closeBatches() {
	b := s.batchState()
	b.cancel()
	b.wg.Wait()
}

// SubmitBatch accepts a bulk submission: it records the batch and hands its
// lines to a worker, returning before the letters are submitted. Each line
// is submitted on its own, as by Submit, under the idempotency key
// batch/<batch id>/<line>, so a line is never submitted twice whatever
// happens to the batch. replayed is true when the idempotency key named an
// earlier batch: a finished one is answered as stored, an interrupted one is
// resumed with this request's lines (the same request, by its hash).
func (s *Service) SubmitBatch(ctx context.Context, c Caller, in BatchInput) (b LetterBatch, replayed bool, err error) {
	if c.Identity.Role != certs.RolePerson && c.Identity.Role != certs.RoleOrg {
		return LetterBatch{}, false, Errorf(ErrForbidden, "role_not_allowed", "only person and org certificates send letters")
	}
	lim := s.cfg.Limits
	switch {
	case len(in.Letters) == 0:
		return LetterBatch{}, false, Errorf(ErrInvalid, "empty_batch", "the letters part holds no letter")
	case len(in.Letters) > lim.MaxBatchLines:
		return LetterBatch{}, false, Errorf(ErrTooLarge, "too_many_lines", "a batch holds at most %d letters", lim.MaxBatchLines)
	case len(in.IdempotencyKey) > 200:
		return LetterBatch{}, false, Errorf(ErrInvalid, "bad_idempotency_key", "Idempotency-Key is longer than 200 characters")
	}
	st := s.batchState()
	now := s.now().Truncate(time.Microsecond)
	b = LetterBatch{ID: uuid.NewString(), Sender: c.Identity.ID, IdempotencyKey: in.IdempotencyKey,
		RequestHash: in.RequestHash, State: BatchRunning, Total: len(in.Letters), CreatedAt: now}
	// The request is stored with the batch (encrypted, as letter content
	// is), so that a batch a crash leaves unfinished is finished at the
	// next start (ResumeBatches) from what was accepted.
	stored, err := s.sealBatchInput(b.ID, c, in)
	if err != nil {
		return LetterBatch{}, false, err
	}
	for {
		var earlier LetterBatch
		found := false
		err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
			if in.IdempotencyKey != "" {
				e, err := tx.BatchByKey(ctx, b.Sender, in.IdempotencyKey)
				if err == nil {
					earlier, found = e, true
					return nil
				}
				if !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if !st.reserve(b.ID, lim.MaxActiveBatches) {
				return Errorf(ErrRateLimited, "too_many_batches", "this server is working on %d batches; retry later", lim.MaxActiveBatches)
			}
			if err := tx.CreateBatch(ctx, b); err != nil {
				st.release(b.ID)
				return err
			}
			if err := tx.PutBlob(ctx, batchInputKey(b.ID), stored); err != nil {
				st.release(b.ID)
				return err
			}
			return nil
		})
		if errors.Is(err, ErrConflict) && in.IdempotencyKey != "" {
			// A concurrent request with the same key created it first.
			continue
		}
		if err != nil {
			if !found {
				st.release(b.ID)
			}
			return LetterBatch{}, false, err
		}
		if !found {
			s.startBatch(c, b, in)
			return b, false, nil
		}
		if earlier.RequestHash != in.RequestHash {
			return LetterBatch{}, false, Errorf(ErrConflict, "idempotency_key_reused", "this Idempotency-Key was used for a different batch")
		}
		if earlier.State != BatchDone && st.reserve(earlier.ID, lim.MaxActiveBatches) {
			s.startBatch(c, earlier, in)
		}
		return earlier, true, nil
	}
}

// reserve marks a batch as worked on here; false if it already is, or if
// max batches are.
func (b *batches) reserve(id string, max int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active[id] || len(b.active) >= max {
		return false
	}
	b.active[id] = true
	return true
}

func (b *batches) release(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.active, id)
}

func (s *Service) startBatch(c Caller, b LetterBatch, in BatchInput) {
	st := s.batchState()
	st.wg.Add(1)
	go func() {
		defer st.wg.Done()
		defer st.release(b.ID)
		s.runBatch(st.ctx, c, b, in)
	}()
}

// runBatch submits the lines not yet handled, records each outcome, and
// finally the batch's state.
func (s *Service) runBatch(ctx context.Context, c Caller, b LetterBatch, in BatchInput) {
	// Writes that must land even when ctx is cancelled (shutdown): the
	// outcome of letters already committed, and the batch's state.
	wctx := context.WithoutCancel(ctx)
	record := func(fn func(tx Tx) error) error { return s.cfg.Store.InTx(wctx, fn) }
	handled := map[int]bool{}
	err := record(func(tx Tx) error {
		if b.State != BatchRunning {
			// Resumed: the sender sees it running again.
			if err := tx.SetBatchState(wctx, b.ID, BatchRunning, time.Time{}); err != nil {
				return err
			}
		}
		rs, err := tx.BatchResults(wctx, b.ID)
		for _, r := range rs {
			handled[r.Line] = true
		}
		return err
	})
	if err != nil {
		s.finishBatch(wctx, record, b, err)
		return
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	lines := make(chan BatchLetter)
	results := make(chan BatchResult, batchWorkers)
	var wg sync.WaitGroup
	for range batchWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range lines {
				r, err := s.batchLine(ctx, c, b.ID, l, in.Files)
				if err != nil {
					stop(err)
					continue
				}
				results <- r
			}
		}()
	}
	go func() {
		defer close(lines)
		for _, l := range in.Letters {
			if handled[l.Line] {
				continue
			}
			select {
			case lines <- l:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	// Outcomes are written in groups: whatever has arrived when the
	// previous write returns (up to 500), so the bookkeeping costs one
	// statement per group, not one per letter. A letter whose outcome is
	// not written yet when the process dies is found again on resume by
	// its line's idempotency key.
	var pending []BatchResult
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if err := record(func(tx Tx) error { return tx.PutBatchResults(wctx, b.ID, pending) }); err != nil {
			stop(err)
		}
		pending = pending[:0]
	}
	recorded := 0
	for r := range results {
		pending = append(pending, r)
	drain:
		for len(pending) < 500 {
			select {
			case r, ok := <-results:
				if !ok {
					break drain
				}
				pending = append(pending, r)
			default:
				break drain
			}
		}
		if s.batchCrash != nil && s.batchCrash(recorded) {
			// A test's crash: the worker dies here, the outcomes in
			// hand and the lines in flight unrecorded, the batch left
			// running.
			stop(errBatchCrash)
			for range results {
			}
			return
		}
		recorded += len(pending)
		flush()
	}
	flush()
	s.finishBatch(wctx, record, b, context.Cause(ctx))
}

var errBatchCrash = errors.New("batch worker crashed (test hook)")

// finishBatch records the final state: done, or interrupted by cause.
func (s *Service) finishBatch(ctx context.Context, record func(func(Tx) error) error, b LetterBatch, cause error) {
	state := BatchDone
	if cause != nil {
		state = BatchInterrupted
		s.log.Warn("letter batch interrupted", "batch", b.ID, "err", cause)
	}
	if err := record(func(tx Tx) error {
		if state == BatchDone {
			// Every line has its outcome: the request is not needed again.
			if err := tx.DeleteBlob(ctx, batchInputKey(b.ID)); err != nil {
				return err
			}
		}
		return tx.SetBatchState(ctx, b.ID, state, s.now())
	}); err != nil {
		s.log.Error("recording a letter batch's state failed", "batch", b.ID, "state", state, "err", err)
	}
}

// batchLine submits one line. A refusal of the letter is its outcome; an
// error (the database or the server is unavailable) stops the batch, which
// a retry resumes.
func (s *Service) batchLine(ctx context.Context, c Caller, batchID string, l BatchLetter, files map[string]BatchFile) (BatchResult, error) {
	r := BatchResult{Line: l.Line}
	refused := func(err error) (BatchResult, error) {
		var de *Error
		if !errors.As(err, &de) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited) {
			return r, err
		}
		r.ErrorCode, r.ErrorMessage = de.Code, de.Message
		return r, nil
	}
	if l.Err != nil {
		return refused(l.Err)
	}
	sub := l.Submission
	sub.IdempotencyKey = "batch/" + batchID + "/" + strconv.Itoa(l.Line)
	for attempt := 0; ; attempt++ {
		a, err := s.submitBatchLetter(ctx, c, sub, l.Attachments, files)
		if err == nil {
			r.LetterID, r.Tracking, r.Route = a.letter()
			return r, nil
		}
		// The renderer's pool is full (a batch of printed letters fills
		// it): wait and try again, as a client would on 503.
		if !renderBusy(err) || attempt >= 20 {
			return refused(err)
		}
		t := time.NewTimer(min(2*time.Second, 50*time.Millisecond<<attempt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return r, context.Cause(ctx)
		}
	}
}

// submitBatchLetter submits one line as Submit does, but without the
// sender's view and receipt, which the batch's outcome does not carry (the
// sender fetches a letter's receipt when it wants it): no inclusion proofs
// under the log head lock, no envelopes or receipt JSON per line.
func (s *Service) submitBatchLetter(ctx context.Context, c Caller, sub Submission, names []string, files map[string]BatchFile) (accepted, error) {
	d, err := s.NewDraft()
	if err != nil {
		return accepted{}, err
	}
	defer d.Close()
	for _, n := range names {
		f, ok := files[n]
		if !ok {
			return accepted{}, Errorf(ErrInvalid, "unknown_attachment", "no file part is named %q", n)
		}
		if err := d.AddAttachment(f.FileName, f.ContentType, bytes.NewReader(f.Data)); err != nil {
			return accepted{}, err
		}
	}
	return s.submit(ctx, c, sub, d, false)
}

// Batch reports a batch of the caller's, with the outcome of every line
// handled so far.
func (s *Service) Batch(ctx context.Context, c Caller, id string) (BatchStatus, error) {
	var b LetterBatch
	var rs []BatchResult
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		if b, err = tx.GetBatch(ctx, id); err != nil {
			return err
		}
		if b.Sender != c.Identity.ID {
			return ErrNotFound
		}
		rs, err = tx.BatchResults(ctx, id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return BatchStatus{}, Errorf(ErrNotFound, "batch_not_found", "no such batch of yours")
	}
	if err != nil {
		return BatchStatus{}, err
	}
	st := BatchStatus{ID: b.ID, State: b.State, Total: b.Total, Results: rs}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Line < rs[j].Line })
	for _, r := range rs {
		if r.ErrorCode != "" {
			st.Failed++
		} else {
			st.Done++
		}
	}
	return st, nil
}

// batchInputKey names the stored request of a batch among the blobs.
func batchInputKey(batchID string) string { return "batch/" + batchID }

// storedBatch is what is kept of a batch's request until it is done: the
// sender's role (the Caller is rebuilt from it and the batch's Sender),
// the lines and the shared files.
type storedBatch struct {
	Role  certs.Role
	Lines []storedLine // the earlier form only
	Files map[string]BatchFile
	N     int // the current form: how many storedLines follow
}

type storedLine struct {
	Line        int
	Submission  Submission
	Attachments []string
	// A line that could not be read: its refusal.
	ErrCode, ErrMessage string
}

func (s *Service) sealBatchInput(id string, c Caller, in BatchInput) ([]byte, error) {
	// Compressed before it is sealed: the lines are mostly letter text
	// (Cyrillic UTF-8: two bytes a letter), which DEFLATE's fastest level
	// shrinks several times for less CPU than encrypting, writing and
	// fsyncing the difference costs in the 202's transaction. The head
	// and each line are gob values of their own, so no encoding of the
	// whole request is ever built in memory (gob buffers a value whole).
	var buf bytes.Buffer
	buf.WriteString(batchFlate)
	zw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	enc := gob.NewEncoder(zw)
	err = enc.Encode(storedBatch{Role: c.Identity.Role, Files: in.Files, N: len(in.Letters)})
	for _, l := range in.Letters {
		if err != nil {
			break
		}
		sl := storedLine{Line: l.Line, Submission: l.Submission, Attachments: l.Attachments}
		if l.Err != nil {
			sl.ErrCode, sl.ErrMessage = "bad_line", l.Err.Error()
			var de *Error
			if errors.As(l.Err, &de) {
				sl.ErrCode, sl.ErrMessage = de.Code, de.Message
			}
		}
		err = enc.Encode(sl)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("storing batch %s: %w", id, err)
	}
	return s.sealBlob(id, buf.Bytes())
}

// batchFlate starts a stored batch request in the current form: DEFLATE
// of a gob stream, the storedBatch (with N, without Lines) then its N
// storedLines. Requests stored before are one bare gob storedBatch, whose
// first byte (a message length) is never zero.
const batchFlate = "\x00flate\n"

func (s *Service) openBatchInput(id string, blob []byte) (Caller, BatchInput, error) {
	data, err := s.openBlob(id, blob)
	if err != nil {
		return Caller{}, BatchInput{}, err
	}
	var sb storedBatch
	if rest, ok := bytes.CutPrefix(data, []byte(batchFlate)); ok {
		dec := gob.NewDecoder(flate.NewReader(bytes.NewReader(rest)))
		err = dec.Decode(&sb)
		for i := 0; err == nil && i < sb.N; i++ {
			var l storedLine
			if err = dec.Decode(&l); err == nil {
				sb.Lines = append(sb.Lines, l)
			}
		}
	} else {
		err = gob.NewDecoder(bytes.NewReader(data)).Decode(&sb)
	}
	if err != nil {
		return Caller{}, BatchInput{}, fmt.Errorf("batch %s's stored request: %w", id, err)
	}
	in := BatchInput{Files: sb.Files, Letters: make([]BatchLetter, len(sb.Lines))}
	for i, l := range sb.Lines {
		in.Letters[i] = BatchLetter{Line: l.Line, Submission: l.Submission, Attachments: l.Attachments}
		if l.ErrCode != "" {
			in.Letters[i].Err = Errorf(ErrInvalid, l.ErrCode, "%s", l.ErrMessage)
		}
	}
	return Caller{Identity: certs.Identity{Role: sb.Role}}, in, nil
}

// ResumeBatches finishes, from their stored requests, the batches a
// stopped or crashed server left running or interrupted: call it once at
// start. Lines already handled keep their outcome; a line whose letter
// was committed but whose outcome was not recorded finds its letter again
// by its idempotency key (batch/<id>/<line>), so no letter is sent twice.
// Batches without a stored request (accepted before requests were stored)
// wait for the sender's retry, as before. It returns how many batches it
// resumed; at most Limits.MaxActiveBatches run at once, the others at the
// next start or on a retry.
//
// Several processes on one database may each resume a batch another one
// is still working on: the lines' idempotency keys make that waste, not
// duplicates.
func (s *Service) ResumeBatches(ctx context.Context) (int, error) {
	var bs []LetterBatch
	if err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		bs, err = tx.UnfinishedBatches(ctx, s.cfg.Limits.MaxActiveBatches)
		return err
	}); err != nil {
		return 0, err
	}
	st := s.batchState()
	n := 0
	for _, b := range bs {
		var blob []byte
		err := s.cfg.Store.View(ctx, func(tx Tx) error {
			var err error
			blob, err = tx.GetBlob(ctx, batchInputKey(b.ID))
			return err
		})
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		c, in, err := s.openBatchInput(b.ID, blob)
		if err != nil {
			s.log.Error("a stored letter batch cannot be read; it waits for the sender's retry", "batch", b.ID, "err", err)
			continue
		}
		c.Identity.ID = b.Sender
		if !st.reserve(b.ID, s.cfg.Limits.MaxActiveBatches) {
			continue
		}
		s.log.Info("resuming a letter batch left unfinished", "batch", b.ID, "state", b.State, "total", b.Total)
		s.startBatch(c, b, in)
		n++
	}
	return n, nil
}
