package hybrid_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// printWorld is the core service on SQLite with an organization that sends
// letters to an address without a mailbox (so they are printed, in region
// 220), the queue over it, and print centres.
type printWorld struct {
	core     *coretest.Core
	svc      *mailbox.Service
	q        *hybrid.Queue
	clk      *coretest.Clock
	org      mailbox.Caller
	operator mailbox.Caller
}

// centre is a print centre of the regions (the queue trusts the verified
// identity; how it was verified is the front door's business).
func centre(id string, regions ...string) mailbox.Caller {
	return mailbox.Caller{Identity: certs.Identity{ID: id, Role: certs.RolePrintCenter, Name: id, Regions: regions}}
}

func newPrintWorld(t *testing.T, opts ...hybrid.Option) *printWorld {
	t.Helper()
	return newPrintWorldOn(t, storetest.NewSQLite(t), opts...)
}

// newPrintWorldOn is newPrintWorld on the given store.
func newPrintWorldOn(t *testing.T, store mailbox.Store, opts ...hybrid.Option) *printWorld {
	t.Helper()
	ctx := t.Context()
	core := coretest.New(t, store, func(c *mailbox.Config) { c.Renderer = coretest.StandIn{} })
	w := &printWorld{core: core, svc: core.Svc, clk: core.Clock}
	issue := func(req certs.Request) mailbox.Caller { c, _ := core.Issue(t, req); return c }
	w.operator = issue(certs.Request{Role: certs.RoleOperator, Name: "op"})
	w.org = issue(certs.Request{Role: certs.RoleOrg, Name: "ОАО «Тест»", UNP: "100289066"})
	// The sender lives in region 230: its activation letter is no job of
	// the centres of 220 and 246 that the tests use.
	m, err := w.svc.RegisterMailbox(ctx, w.org, mailbox.RegisterRequest{Address: "230025, г. Гродно, ул. Ожешко, 3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.VerifyAddress(ctx, w.operator, m.ID); err != nil {
		t.Fatal(err)
	}
	opts = append([]hybrid.Option{hybrid.WithBackoff(func(int) time.Duration { return time.Minute })}, opts...)
	w.q = hybrid.NewQueue(w.svc, opts...)
	return w
}

// send submits n letters that are printed and returns their ids.
func (w *printWorld) send(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		d, err := w.svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		v, _, err := w.svc.Submit(t.Context(), w.org, mailbox.Submission{RecipientName: "Петрову П.П.",
			RecipientAddress: fmt.Sprintf("220013, г. Минск, ул. Дорошевича, 8, кв. %d", i+1), Subject: "s", Body: "b"}, d)
		_ = d.Close()
		if err != nil {
			t.Fatal(err)
		}
		if v.Route != mailbox.RoutePrint {
			t.Fatalf("letter routed %s, want print", v.Route)
		}
		out = append(out, v.ID)
	}
	return out
}

// lease leases up to max jobs for c and fails the test on error.
func (w *printWorld) lease(t *testing.T, c mailbox.Caller, max int) []mailbox.PrintJob {
	t.Helper()
	jobs, err := w.q.Lease(t.Context(), c, max, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

var codeOf = coretest.Code

// events lists a letter's evidence events, for the sender.
func (w *printWorld) events(t *testing.T, letterID string) []string {
	t.Helper()
	v, err := w.svc.GetLetter(t.Context(), w.org, letterID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range v.Evidence {
		out = append(out, e.Event)
	}
	return out
}

// TestLeaseRefusals: only print centres of some region lease, within the
// bounds of a batch and a lease.
func TestLeaseRefusals(t *testing.T) {
	t.Parallel()
	w := newPrintWorld(t)
	for _, tc := range []struct {
		name  string
		c     mailbox.Caller
		max   int
		lease time.Duration
		kind  error
		code  string
	}{
		{"not a print centre", w.org, 1, time.Minute, mailbox.ErrForbidden, "forbidden"},
		{"no regions", centre("pc"), 1, time.Minute, mailbox.ErrForbidden, "no_regions"},
		{"max 0", centre("pc", "220"), 0, time.Minute, mailbox.ErrInvalid, "bad_max"},
		{"max too large", centre("pc", "220"), hybrid.MaxBatch + 1, time.Minute, mailbox.ErrInvalid, "bad_max"},
		{"lease too short", centre("pc", "220"), 1, time.Second, mailbox.ErrInvalid, "bad_lease"},
		{"lease too long", centre("pc", "220"), 1, hybrid.MaxLease + time.Second, mailbox.ErrInvalid, "bad_lease"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.q.Lease(t.Context(), tc.c, tc.max, tc.lease)
			if !errors.Is(err, tc.kind) || codeOf(err) != tc.code {
				t.Fatalf("Lease = %v, want %v %s", err, tc.kind, tc.code)
			}
		})
	}
}

// TestFencing: a job's lease is its holder's alone. After the lease expires
// another centre takes the job over with a new token; the first holder's
// token is then stale for every operation (409 stale_lease), a peer that
// knows the token but is not the holder is refused the same way, another
// region does not see the job, and the job is printed once.
func TestFencing(t *testing.T) {
	t.Parallel()
	a, b, far := centre("pc-a", "220"), centre("pc-b", "220"), centre("pc-far", "246")
	type op func(w *printWorld, c mailbox.Caller, id string, token int64) error
	pdf := func(w *printWorld, c mailbox.Caller, id string, token int64) error {
		_, _, err := w.q.PDF(context.Background(), c, id, token)
		return err
	}
	relay := func(w *printWorld, c mailbox.Caller, id string, token int64) error {
		_, err := w.q.RelayEvidence(context.Background(), c, id, token)
		return err
	}
	printed := func(w *printWorld, c mailbox.Caller, id string, token int64) error {
		_, err := w.q.Printed(context.Background(), c, id, token, 1)
		return err
	}
	failed := func(w *printWorld, c mailbox.Caller, id string, token int64) error {
		_, err := w.q.Failed(context.Background(), c, id, token, "paper jam")
		return err
	}
	for _, tc := range []struct {
		name string
		op   op
		// who does op with which token, after the takeover by b.
		who      mailbox.Caller
		oldToken bool
		kind     error
		code     string
	}{
		{"stale token: PDF", pdf, a, true, mailbox.ErrConflict, "stale_lease"},
		{"stale token: relay evidence", relay, a, true, mailbox.ErrConflict, "stale_lease"},
		{"stale token: printed", printed, a, true, mailbox.ErrConflict, "stale_lease"},
		{"stale token: failed", failed, a, true, mailbox.ErrConflict, "stale_lease"},
		{"current token, not the holder: printed", printed, a, false, mailbox.ErrConflict, "stale_lease"},
		{"current token, not the holder: PDF", pdf, a, false, mailbox.ErrConflict, "stale_lease"},
		{"another region: printed", printed, far, false, mailbox.ErrNotFound, "job_not_found"},
		{"another region: PDF", pdf, far, false, mailbox.ErrNotFound, "job_not_found"},
		{"the holder: PDF", pdf, b, false, nil, ""},
		{"the holder: relay evidence", relay, b, false, nil, ""},
		{"the holder: printed", printed, b, false, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newPrintWorld(t)
			letter := w.send(t, 1)[0]
			first := w.lease(t, a, 10)
			if len(first) != 1 || first[0].LeaseOwner != a.Identity.ID {
				t.Fatalf("first lease: %+v", first)
			}
			if again := w.lease(t, b, 10); len(again) != 0 {
				t.Fatalf("a leased job leased again before its lease ended: %+v", again)
			}
			w.clk.Add(time.Minute + time.Second)
			taken := w.lease(t, b, 10)
			if len(taken) != 1 || !taken[0].TakenOver || taken[0].LeaseToken <= first[0].LeaseToken || taken[0].Attempts != 2 {
				t.Fatalf("takeover: %+v", taken)
			}
			token := taken[0].LeaseToken
			if tc.oldToken {
				token = first[0].LeaseToken
			}
			err := tc.op(w, tc.who, taken[0].ID, token)
			if tc.kind == nil {
				if err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, tc.kind) || codeOf(err) != tc.code {
				t.Fatalf("got %v, want %v %s", err, tc.kind, tc.code)
			}
			// The refused never changed the job: its holder still reports it.
			j, err := w.q.Printed(t.Context(), b, taken[0].ID, taken[0].LeaseToken, 1)
			if err != nil || j.State != mailbox.JobPrinted || j.PrintedBy != b.Identity.ID {
				t.Fatalf("the holder's report: %+v, %v", j, err)
			}
			if got := strings.Count(strings.Join(w.events(t, letter), " "), string(signing.EventPrinted)); got != 1 {
				t.Fatalf("Printed recorded %d times: %v", got, w.events(t, letter))
			}
		})
	}
}

// TestNoJobLostOrLeasedTwice: centres leasing concurrently get every job
// exactly once; once printed and posted, each is in the day's manifest
// exactly once.
func TestNoJobLostOrLeasedTwice(t *testing.T) {
	t.Parallel()
	w := newPrintWorld(t)
	letters := w.send(t, 12)
	centres := []mailbox.Caller{centre("pc-1", "220"), centre("pc-2", "220"), centre("pc-3", "220", "246")}
	var mu sync.Mutex
	got := map[string]mailbox.Caller{}
	var wg sync.WaitGroup
	errs := make(chan error, len(centres))
	for _, c := range centres {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := w.q.Lease(context.Background(), c, 2, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if prev, dup := got[j.ID]; dup {
						errs <- fmt.Errorf("job %s leased by %s and %s", j.ID, prev.Identity.ID, c.Identity.ID)
					}
					got[j.ID] = c
				}
				mu.Unlock()
				for _, j := range jobs {
					if _, err := w.q.Printed(context.Background(), c, j.ID, j.LeaseToken, 1); err != nil {
						errs <- err
						return
					}
					if _, err := w.q.Posted(context.Background(), c, j.ID, j.LeaseToken); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != len(letters) {
		t.Fatalf("%d jobs leased, want %d", len(got), len(letters))
	}
	var manifest []string
	for _, c := range centres[:1] { // one region: every centre of it sees the same manifest
		jobs, err := w.q.Manifest(t.Context(), c, w.clk.Now().In(hybrid.Minsk))
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			manifest = append(manifest, j.LetterID)
		}
	}
	slices.Sort(manifest)
	want := slices.Clone(letters)
	slices.Sort(want)
	if !slices.Equal(manifest, want) {
		t.Fatalf("manifest %v, want each letter once: %v", manifest, want)
	}
}

// TestReports walks the job state machine through reports, as a table.
func TestReports(t *testing.T) {
	t.Parallel()
	pc := centre("pc", "220")
	type step struct {
		outcome string
		reason  string
		sheets  int           // reported with printed: 0 is the job's 1, -1 none
		advance time.Duration // clock moves before the step, then the job is leased again if queued
		state   string        // job state after the step
		code    string        // refusal code of the step, if refused
	}
	for _, tc := range []struct {
		name   string
		steps  []step
		events string // the letter's evidence events at the end
	}{
		{"printed then posted", []step{{outcome: hybrid.OutcomePrinted, state: mailbox.JobPrinted}, {outcome: hybrid.OutcomePosted, state: mailbox.JobPosted}},
			"SubmissionAcceptance RelayToNonERDS Printed Posted"},
		{"repeated reports record once", []step{{outcome: hybrid.OutcomePrinted, state: mailbox.JobPrinted}, {outcome: hybrid.OutcomePrinted, state: mailbox.JobPrinted},
			{outcome: hybrid.OutcomePosted, state: mailbox.JobPosted}, {outcome: hybrid.OutcomePosted, state: mailbox.JobPosted}},
			"SubmissionAcceptance RelayToNonERDS Printed Posted"},
		{"posted before printed", []step{{outcome: hybrid.OutcomePosted, state: mailbox.JobLeased, code: "bad_state"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"failed without a reason", []step{{outcome: hybrid.OutcomeFailed, state: mailbox.JobLeased, code: "bad_reason"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"failed with a control character", []step{{outcome: hybrid.OutcomeFailed, reason: "jam\x1b[2J", state: mailbox.JobLeased, code: "bad_reason"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"printed without sheets", []step{{outcome: hybrid.OutcomePrinted, sheets: -1, state: mailbox.JobLeased, code: "bad_sheets"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"printed with another sheet count", []step{{outcome: hybrid.OutcomePrinted, sheets: 2, state: mailbox.JobLeased, code: "sheet_mismatch"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"unknown outcome", []step{{outcome: "lost", state: mailbox.JobLeased, code: "bad_outcome"}},
			"SubmissionAcceptance RelayToNonERDS"},
		{"failed, retried, printed", []step{{outcome: hybrid.OutcomeFailed, reason: "jam", state: mailbox.JobQueued},
			{advance: time.Minute, outcome: hybrid.OutcomePrinted, state: mailbox.JobPrinted}},
			"SubmissionAcceptance RelayToNonERDS Printed"},
		{"failed until dead", []step{{outcome: hybrid.OutcomeFailed, reason: "jam", state: mailbox.JobQueued},
			{advance: time.Minute, outcome: hybrid.OutcomeFailed, reason: "jam again", state: mailbox.JobDead}},
			"SubmissionAcceptance RelayToNonERDS DeliveryFailed"},
		{"a failed attempt ends the lease", []step{{outcome: hybrid.OutcomeFailed, reason: "jam", state: mailbox.JobQueued},
			{outcome: hybrid.OutcomePrinted, state: mailbox.JobQueued, code: "stale_lease"}},
			"SubmissionAcceptance RelayToNonERDS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newPrintWorld(t, hybrid.WithMaxAttempts(2))
			letter := w.send(t, 1)[0]
			job := w.lease(t, pc, 1)[0]
			for i, s := range tc.steps {
				if s.advance > 0 {
					w.clk.Add(s.advance)
					job = w.lease(t, pc, 1)[0]
				}
				sheets := max(s.sheets, 0)
				if s.sheets == 0 {
					sheets = 1
				}
				res, err := w.q.ReportBatch(t.Context(), pc, []hybrid.Report{{ID: job.ID, LeaseToken: job.LeaseToken, Outcome: s.outcome, Reason: s.reason, Sheets: sheets}})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if codeOf(res[0].Err) != s.code {
					t.Fatalf("step %d: %v, want code %q", i, res[0].Err, s.code)
				}
				jobs, err := w.q.Manifest(t.Context(), pc, w.clk.Now().In(hybrid.Minsk))
				if err != nil {
					t.Fatal(err)
				}
				if posted := len(jobs) == 1; posted != (s.state == mailbox.JobPosted) {
					t.Fatalf("step %d: manifest %+v with the job %s", i, jobs, s.state)
				}
				if s.code == "" && res[0].Job.State != s.state {
					t.Fatalf("step %d: job %s, want %s", i, res[0].Job.State, s.state)
				}
			}
			if got := strings.Join(w.events(t, letter), " "); got != tc.events {
				t.Fatalf("events %q, want %q", got, tc.events)
			}
		})
	}
}

// TestReportBatch: reports succeed or fail one by one in one batch.
func TestReportBatch(t *testing.T) {
	t.Parallel()
	w := newPrintWorld(t)
	w.send(t, 2)
	pc := centre("pc", "220")
	jobs := w.lease(t, pc, 2)
	res, err := w.q.ReportBatch(t.Context(), pc, []hybrid.Report{
		{ID: jobs[0].ID, LeaseToken: jobs[0].LeaseToken, Outcome: hybrid.OutcomePrinted, Sheets: 1},
		{ID: jobs[1].ID, LeaseToken: jobs[1].LeaseToken + 1, Outcome: hybrid.OutcomePrinted, Sheets: 1},
		{ID: "00000000-0000-4000-8000-000000000000", LeaseToken: 1, Outcome: hybrid.OutcomePrinted, Sheets: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].Job.State != mailbox.JobPrinted || codeOf(res[1].Err) != "stale_lease" || codeOf(res[2].Err) != "job_not_found" {
		t.Fatalf("results: %+v", res)
	}
	for _, n := range []int{0, hybrid.MaxReports + 1} {
		reports := make([]hybrid.Report, n)
		if _, err := w.q.ReportBatch(t.Context(), pc, reports); codeOf(err) != "bad_reports" {
			t.Fatalf("%d reports: %v, want bad_reports", n, err)
		}
	}
	if _, err := w.q.ReportBatch(t.Context(), w.org, []hybrid.Report{{ID: jobs[0].ID}}); codeOf(err) != "forbidden" {
		t.Fatalf("a sender reporting: %v, want forbidden", err)
	}
}

// TestRelayEvidenceNamesTheJob: the holder gets the RelayToNonERDS evidence
// that commits the operator to this job's PDF, and the PDF matches it.
func TestRelayEvidenceNamesTheJob(t *testing.T) {
	t.Parallel()
	w := newPrintWorld(t)
	w.send(t, 2)
	pc := centre("pc", "220")
	for _, j := range w.lease(t, pc, 2) {
		env, err := w.q.RelayEvidence(t.Context(), pc, j.ID, j.LeaseToken)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(env), "payload") {
			t.Fatalf("not an envelope: %s", env)
		}
		pdf, got, err := w.q.PDF(t.Context(), pc, j.ID, j.LeaseToken)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(pdf)
		if hex.EncodeToString(sum[:]) != got.PDFSHA256 || got.PDFSHA256 != j.PDFSHA256 {
			t.Fatalf("PDF digest %x, job says %s", sum, got.PDFSHA256)
		}
	}
}
