package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// resultsFailStore fails every write of batch outcomes while fail is set,
// as a database that goes away after the letters were committed.
type resultsFailStore struct {
	mailbox.Store
	fail *atomic.Bool
}

func (s resultsFailStore) InTx(ctx context.Context, fn func(mailbox.Tx) error) error {
	return s.Store.InTx(ctx, func(tx mailbox.Tx) error { return fn(resultsFailTx{tx, s.fail}) })
}

type resultsFailTx struct {
	mailbox.Tx
	fail *atomic.Bool
}

func (t resultsFailTx) PutBatchResults(ctx context.Context, id string, rs []mailbox.BatchResult) error {
	if t.fail.Load() {
		return mailbox.ErrUnavailable
	}
	return t.Tx.PutBatchResults(ctx, id, rs)
}

// waitBatch polls a batch until it leaves the running state.
func waitBatch(t *testing.T, svc *mailbox.Service, c mailbox.Caller, id string) mailbox.BatchStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := svc.Batch(context.Background(), c, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != mailbox.BatchRunning {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s still running: %+v", id, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func batchOf(n int) mailbox.BatchInput {
	in := mailbox.BatchInput{IdempotencyKey: "tax-2026", RequestHash: "h1"}
	for i := 1; i <= n; i++ {
		in.Letters = append(in.Letters, mailbox.BatchLetter{Line: i, Submission: mailbox.Submission{
			RecipientName: "Петров Пётр", RecipientAddress: "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5",
			Subject: "Извещение", Body: "Текст извещения."}})
	}
	return in
}

func sentIDs(t *testing.T, svc *mailbox.Service, c mailbox.Caller) []string {
	t.Helper()
	ls, _, err := svc.ListLetters(context.Background(), c, "sent", "", 200)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.ID)
	}
	sort.Strings(ids)
	return ids
}

// TestBatchResumesWithoutDuplicates: a batch whose outcomes cannot be
// recorded stops as interrupted, keeping the letters it committed; a retry
// under the same Idempotency-Key resumes it, and every line ends with the
// letter committed the first time: none lost, none sent twice.
func TestBatchResumesWithoutDuplicates(t *testing.T) {
	var fail atomic.Bool
	fail.Store(true)
	svc, sender := newHygieneServiceWith(t, func(c *mailbox.Config) {
		c.Store = resultsFailStore{Store: c.Store, fail: &fail}
	})
	ctx := context.Background()
	in := batchOf(5)
	b, replayed, err := svc.SubmitBatch(ctx, sender, in)
	if err != nil || replayed {
		t.Fatalf("SubmitBatch: %v replayed=%v", err, replayed)
	}
	st := waitBatch(t, svc, sender, b.ID)
	if st.State != mailbox.BatchInterrupted || st.Done+st.Failed != 0 {
		t.Fatalf("first run: %+v, want interrupted with nothing recorded", st)
	}
	committed := sentIDs(t, svc, sender)
	if len(committed) == 0 {
		t.Fatal("no letter committed before the interruption")
	}

	fail.Store(false)
	other := in
	other.RequestHash = "h2"
	if _, _, err := svc.SubmitBatch(ctx, sender, other); !errors.Is(err, mailbox.ErrConflict) {
		t.Fatalf("same key, another request: %v, want idempotency_key_reused", err)
	}
	// The retry resumes the batch; a retry that arrives while the first
	// worker is still winding down hears the batch's state and retries.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b2, replayed, err := svc.SubmitBatch(ctx, sender, in)
		if err != nil || !replayed || b2.ID != b.ID {
			t.Fatalf("retry: %v replayed=%v id=%s, want %s", err, replayed, b2.ID, b.ID)
		}
		if st = waitBatch(t, svc, sender, b.ID); st.State == mailbox.BatchDone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch never resumed: %+v", st)
		}
	}
	if st.Total != 5 || st.Done != 5 || st.Failed != 0 || len(st.Results) != 5 {
		t.Fatalf("resumed: %+v", st)
	}
	all := sentIDs(t, svc, sender)
	if len(all) != 5 {
		t.Fatalf("%d letters sent for 5 lines", len(all))
	}
	seen := map[string]bool{}
	for _, r := range st.Results {
		seen[r.LetterID] = true
	}
	for _, id := range committed {
		if !seen[id] {
			t.Errorf("letter %s, committed before the interruption, is not a line's result", id)
		}
	}
	// Done: a retry answers from what is stored.
	b3, replayed, err := svc.SubmitBatch(ctx, sender, in)
	if err != nil || !replayed || b3.ID != b.ID {
		t.Fatalf("retry of a finished batch: %v %v %s", err, replayed, b3.ID)
	}
	if got := sentIDs(t, svc, sender); len(got) != 5 {
		t.Fatalf("%d letters after a retry of a finished batch", len(got))
	}
}

// TestBatchLineOutcomes: each line is validated on its own; a bad line is
// its own failure, the others are letters.
func TestBatchLineOutcomes(t *testing.T) {
	svc, sender := newHygieneService(t)
	ctx := context.Background()
	in := batchOf(4)
	in.IdempotencyKey = ""
	in.Letters[1].Submission.RecipientAddress = "nowhere"
	in.Letters[2].Err = mailbox.Errorf(mailbox.ErrInvalid, "bad_json", "not JSON")
	in.Letters[3].Attachments = []string{"missing"}
	in.Files = map[string]mailbox.BatchFile{"terms": {FileName: "terms.txt", ContentType: "text/plain", Data: []byte("terms")}}
	b, _, err := svc.SubmitBatch(ctx, sender, in)
	if err != nil {
		t.Fatal(err)
	}
	st := waitBatch(t, svc, sender, b.ID)
	want := []struct {
		line int
		code string
	}{{1, ""}, {2, "bad_address"}, {3, "bad_json"}, {4, "unknown_attachment"}}
	if st.State != mailbox.BatchDone || st.Done != 1 || st.Failed != 3 || len(st.Results) != len(want) {
		t.Fatalf("status %+v", st)
	}
	for i, w := range want {
		r := st.Results[i]
		if r.Line != w.line || r.ErrorCode != w.code || (w.code == "") != (r.LetterID != "") {
			t.Errorf("line %d: %+v, want code %q", w.line, r, w.code)
		}
	}
	for _, tc := range []struct {
		name string
		in   mailbox.BatchInput
		code string
	}{
		{"empty", mailbox.BatchInput{}, "empty_batch"},
		{"long key", mailbox.BatchInput{IdempotencyKey: string(make([]byte, 201)), Letters: in.Letters}, "bad_idempotency_key"},
	} {
		_, _, err := svc.SubmitBatch(ctx, sender, tc.in)
		wantCode(t, err, tc.code)
	}
	stranger := sender
	stranger.Identity.ID = "someone-else"
	_, err = svc.Batch(ctx, stranger, b.ID)
	wantCode(t, err, "batch_not_found")
}

// TestBatchCrashResumesAtStart: a batch worker dies mid-batch (the crash
// hook: outcomes in hand and lines in flight unrecorded, the batch left
// running); a new service on the same database finishes the batch from
// its stored request at start, and every line ends with exactly one
// letter.
func TestBatchCrashResumesAtStart(t *testing.T) {
	var cfg mailbox.Config
	svc, sender := newHygieneServiceWith(t, func(c *mailbox.Config) { cfg = *c })
	ctx := context.Background()
	var calls atomic.Int32
	crashed := make(chan struct{})
	// The first group of outcomes is recorded, the worker dies before the
	// second: more lines than one group commit carries make a second.
	mailbox.SetBatchCrash(svc, func(recorded int) bool {
		if calls.Add(1) < 2 {
			return false
		}
		close(crashed)
		return true
	})
	const lines = 200
	in := batchOf(lines)
	in.Files = map[string]mailbox.BatchFile{"terms": {FileName: "terms.txt", ContentType: "text/plain", Data: []byte("условия")}}
	for i := lines - 10; i < lines; i++ {
		in.Letters[i].Attachments = []string{"terms"}
	}
	in.Letters[lines-1].Err = mailbox.Errorf(mailbox.ErrInvalid, "bad_json", "line 200 is not JSON")
	b, _, err := svc.SubmitBatch(ctx, sender, in)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-crashed:
	case <-time.After(60 * time.Second):
		t.Fatal("the batch worker never reached its second group of outcomes")
	}
	svc.Close() // the dead process
	st, err := svc.Batch(ctx, sender, b.ID)
	if err != nil || st.State != mailbox.BatchRunning || st.Done+st.Failed >= lines {
		t.Fatalf("after the crash: %+v, %v; want running, lines left", st, err)
	}
	t.Logf("crashed with %d of %d outcomes recorded", st.Done+st.Failed, lines)

	svc2, err := mailbox.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc2.Close)
	n, err := svc2.ResumeBatches(ctx)
	if err != nil || n != 1 {
		t.Fatalf("ResumeBatches = %d, %v; want 1", n, err)
	}
	st = waitBatch(t, svc2, sender, b.ID)
	if st.State != mailbox.BatchDone || st.Total != lines || st.Done != lines-1 || st.Failed != 1 || len(st.Results) != lines {
		t.Fatalf("resumed: state %s total %d done %d failed %d results %d", st.State, st.Total, st.Done, st.Failed, len(st.Results))
	}
	if r := st.Results[lines-1]; r.ErrorCode != "bad_json" {
		t.Errorf("line %d: %+v, want its stored refusal bad_json", lines, r)
	}
	perLetter := map[string]int{}
	for _, r := range st.Results {
		if r.LetterID != "" {
			perLetter[r.LetterID]++
		}
	}
	var stored []string
	if err := cfg.Store.View(ctx, func(tx mailbox.Tx) error {
		var err error
		stored, err = tx.LetterIDs(ctx, "", 10*lines)
		if err != nil {
			return err
		}
		_, err = tx.GetBlob(ctx, "batch/"+b.ID)
		if !errors.Is(err, mailbox.ErrNotFound) {
			return fmt.Errorf("the stored request of a finished batch: %v, want deleted", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(stored) != lines-1 || len(perLetter) != lines-1 {
		t.Fatalf("%d letters stored, %d distinct in the results, for %d good lines", len(stored), len(perLetter), lines-1)
	}
	for _, id := range stored {
		if perLetter[id] != 1 {
			t.Errorf("letter %s is the result of %d lines", id, perLetter[id])
		}
	}
	// Nothing is left to resume.
	if n, err := svc2.ResumeBatches(ctx); err != nil || n != 0 {
		t.Fatalf("ResumeBatches after done = %d, %v", n, err)
	}
}

// TestBatchLinesComputeNoReceipt: a batch line's letter is committed with
// its evidence like any other, but without the inclusion proofs Submit
// computes under the log head lock for its reply's receipt; the receipt
// is still there to fetch per letter.
func TestBatchLinesComputeNoReceipt(t *testing.T) {
	svc, sender := newHygieneService(t)
	ctx := context.Background()
	var mu sync.Mutex
	proofs := map[string]int{}
	mailbox.SetSubmitted(svc, func(id string, n int) {
		mu.Lock()
		defer mu.Unlock()
		proofs[id] = n
	})

	d, err := svc.NewDraft()
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := svc.Submit(ctx, sender, batchOf(1).Letters[0].Submission, d)
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	single := proofs[v.ID]
	mu.Unlock()
	if v.Receipt == nil || single != len(v.Evidence) || single == 0 {
		t.Fatalf("Submit: receipt %v, %d proofs computed for %d evidence records", v.Receipt != nil, single, len(v.Evidence))
	}

	b, _, err := svc.SubmitBatch(ctx, sender, batchOf(5))
	if err != nil {
		t.Fatal(err)
	}
	st := waitBatch(t, svc, sender, b.ID)
	if st.State != mailbox.BatchDone || st.Done != 5 {
		t.Fatalf("batch: %+v", st)
	}
	for _, r := range st.Results {
		mu.Lock()
		n, ok := proofs[r.LetterID]
		mu.Unlock()
		if !ok || n != 0 {
			t.Errorf("line %d: letter %s committed=%v with %d proofs computed, want committed with none", r.Line, r.LetterID, ok, n)
		}
		rc, err := svc.Receipt(ctx, sender, r.LetterID)
		if err != nil {
			t.Fatalf("line %d's receipt: %v", r.Line, err)
		}
		if len(rc.Evidence) == 0 || len(rc.Evidence[0].InclusionProof) == 0 {
			t.Errorf("line %d's receipt has no proven evidence: %+v", r.Line, rc)
		}
	}
}
