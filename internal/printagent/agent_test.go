package printagent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/mailbox"
)

type leaseReply struct {
	Jobs []struct {
		ID         string `json:"id"`
		LetterID   string `json:"letter_id"`
		Tracking   string `json:"tracking"`
		Kind       string `json:"kind"`
		PDFSHA256  string `json:"pdf_sha256"`
		LeaseToken int64  `json:"lease_token"`
	} `json:"jobs"`
}

// apiStatus is the HTTP status of err (200 for nil).
func apiStatus(t *testing.T, err error) (int, string) {
	t.Helper()
	if err == nil {
		return 200, ""
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.Status, ae.Code
}

func pdfRequest(t *testing.T, c *client.Client, id string, token int64) error {
	t.Helper()
	req, err := c.NewRequest(t.Context(), "GET", "/v1/print/jobs/"+id+"/pdf", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Lease-Token", fmt.Sprint(token))
	_, err = c.DoRequest(req)
	return err
}

// An agent killed after leasing leaves its jobs to another agent once the
// lease expires; its late reports then get 409 stale_lease, and when it
// comes back it drops them from its journal without printing.
func TestKilledAgentLeavesJobsToAnother(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t, url(t), nil)
			letters := []sent{h.sendHTTP(t, "Первое"), h.sendHTTP(t, "Второе")}
			letters = append(letters, h.submit(t, 4)...)

			// Agent A leases everything with a short lease and dies: first
			// a bare API client that never reports, then a real agent
			// killed right after journaling its lease.
			deadClient := h.centre(t, "РЦ Гомель (упал)", "246")
			var dead leaseReply
			if _, err := deadClient.JSON(t.Context(), "POST", "/v1/print/leases", map[string]int{"max": 3, "lease_seconds": 10}, &dead); err != nil {
				t.Fatal(err)
			}
			if len(dead.Jobs) != 3 {
				t.Fatalf("leased %d jobs, want 3", len(dead.Jobs))
			}
			killed := h.options(t, h.centre(t, "РЦ Гомель A", "246"), t.TempDir())
			killed.LeaseSeconds = 10
			errKilled := errors.New("killed")
			killed.Fault = func(step printagent.Step, _ string, durable bool) error {
				if step == printagent.StepLeased && durable {
					return errKilled
				}
				return nil
			}
			if err := printagent.Run(t.Context(), killed); !errors.Is(err, errKilled) {
				t.Fatalf("killed agent: %v", err)
			}

			// Agent B finds nothing while the leases hold.
			b := h.options(t, h.centre(t, "РЦ Гомель B", "246"), t.TempDir())
			if err := printagent.Run(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if files := spoolPDFs(t, b.Spool); len(files) != 0 {
				t.Fatalf("agent B printed %v while the leases were held", files)
			}
			// After expiry it takes them over.
			h.clock.Advance(11 * time.Second)
			if err := printagent.Run(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if files := spoolPDFs(t, b.Spool); len(files) != len(letters) {
				t.Fatalf("agent B printed %d of %d letters after the leases expired", len(files), len(letters))
			}
			if st := h.jobStates(t, letters); st[mailbox.JobPosted] != len(letters) {
				t.Fatalf("job states %v", st)
			}

			// The dead client's late reports and download: 409 stale_lease.
			j := dead.Jobs[0]
			for _, outcome := range []string{"printed", "posted", "failed"} {
				_, err := deadClient.JSON(t.Context(), "POST", "/v1/print/jobs/"+j.ID+"/"+outcome, map[string]any{"lease_token": j.LeaseToken, "reason": "late"}, nil)
				if status, code := apiStatus(t, err); status != 409 || code != "stale_lease" {
					t.Errorf("late %s report: %d %s, want 409 stale_lease", outcome, status, code)
				}
			}
			if status, _ := apiStatus(t, pdfRequest(t, deadClient, j.ID, j.LeaseToken)); status != 409 {
				t.Errorf("download with a stale token: %d, want 409", status)
			}

			// The killed agent restarts: its journal holds leases that went
			// stale; it drops them without printing and finishes cleanly.
			killed.Fault = nil
			if err := printagent.Run(t.Context(), killed); err != nil {
				t.Fatal(err)
			}
			if files := spoolPDFs(t, killed.Spool); len(files) != 0 {
				t.Fatalf("restarted agent printed %v under stale leases", files)
			}
			if st := h.jobStates(t, letters); st[mailbox.JobPosted] != len(letters) || len(st) != 1 {
				t.Fatalf("job states after the restart %v", st)
			}
			checkManifest(t, manifestRows(t, b.Spool), letters)
		})
	}
}

// A print centre sees only its regions' jobs, and no mailbox or letter.
func TestPrintCentreSeesOnlyItsRegions(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t, url(t), nil)
			letter := h.sendHTTP(t, "Гомель")
			gomel := h.centre(t, "РЦ Гомель", "246")
			minsk := h.centre(t, "РЦ Минск", "220")

			var gl leaseReply
			if _, err := gomel.JSON(t.Context(), "POST", "/v1/print/leases", map[string]int{"max": 10, "lease_seconds": 60}, &gl); err != nil {
				t.Fatal(err)
			}
			if len(gl.Jobs) != 1 || gl.Jobs[0].LetterID != letter.ID {
				t.Fatalf("Gomel leased %+v", gl.Jobs)
			}
			j := gl.Jobs[0]
			// Minsk, even with the right token, cannot touch the job.
			if status, _ := apiStatus(t, pdfRequest(t, minsk, j.ID, j.LeaseToken)); status != 404 {
				t.Errorf("Minsk downloading a Gomel PDF: %d, want 404", status)
			}
			for _, outcome := range []string{"printed", "posted", "failed"} {
				_, err := minsk.JSON(t.Context(), "POST", "/v1/print/jobs/"+j.ID+"/"+outcome, map[string]any{"lease_token": j.LeaseToken, "reason": "x"}, nil)
				if status, _ := apiStatus(t, err); status != 404 {
					t.Errorf("Minsk reporting %s on a Gomel job: %d, want 404", outcome, status)
				}
			}
			// Nor read mailboxes or letters: a letter is 404 (no leak), the
			// lists are empty (the print centre holds no mailbox, and
			// registering one is forbidden).
			for _, path := range []string{"", "/content", "/attachments/1", "/evidence", "/bundle"} {
				_, err := minsk.JSON(t.Context(), "GET", "/v1/letters/"+letter.ID+path, nil, nil)
				if status, _ := apiStatus(t, err); status != 404 {
					t.Errorf("print centre GET /v1/letters/ID%s: %d, want 404", path, status)
				}
			}
			for _, r := range []struct{ path, key string }{
				{"/v1/letters?folder=inbox", "letters"},
				{"/v1/letters?folder=sent", "letters"},
				{"/v1/mailboxes/me", "mailboxes"},
			} {
				var out map[string]any
				_, err := minsk.JSON(t.Context(), "GET", r.path, nil, &out)
				status, _ := apiStatus(t, err)
				if l, _ := out[r.key].([]any); status != 403 && !(status == 200 && len(l) == 0) {
					t.Errorf("print centre GET %s: %d %v, want 403 or an empty list", r.path, status, out)
				}
			}
			_, err := minsk.JSON(t.Context(), "POST", "/v1/mailboxes", map[string]string{"address": "220030, г. Минск, ул. Энгельса, 6"}, nil)
			if status, _ := apiStatus(t, err); status != 403 {
				t.Errorf("print centre registering a mailbox: %d, want 403", status)
			}

			// The Minsk agent drains its region only: the org's activation
			// letter (named by job id: it has no tracking number).
			h.clock.Advance(61 * time.Second) // Gomel's lease lapses too
			mo := h.options(t, minsk, t.TempDir())
			if err := printagent.Run(t.Context(), mo); err != nil {
				t.Fatal(err)
			}
			files := spoolPDFs(t, mo.Spool)
			if len(files) != 1 || strings.HasPrefix(files[0], "RR") {
				t.Fatalf("Minsk agent printed %v, want only the activation letter", files)
			}
			if st := h.jobStates(t, []sent{letter}); st[mailbox.JobLeased] != 1 {
				t.Fatalf("the Gomel job changed: %v", st)
			}
			if rows := manifestRows(t, mo.Spool); len(rows) != 1 || len(rows[0]) != 1 || rows[0][0][1] != "220030" {
				t.Fatalf("Minsk manifest %v, want the activation letter only", rows)
			}
		})
	}
}

// corruptingRenderer is the real renderer, except that for letters with
// the subject "испорчено" the stored PDF no longer matches the digest the
// job and the evidence carry (as a damaged blob or a tampered store would).
type corruptingRenderer struct{ *hybrid.Renderer }

func (r corruptingRenderer) RenderLetter(ctx context.Context, l mailbox.PrintLetter) (mailbox.Rendered, error) {
	doc, err := r.Renderer.RenderLetter(ctx, l)
	if err == nil && l.Subject == "испорчено" {
		doc.PDF = slices.Clone(doc.PDF)
		doc.PDF[len(doc.PDF)/2] ^= 0x20
	}
	return doc, err
}

// A PDF that does not match its digest is reported failed and never
// printed.
func TestDigestMismatchIsNeverPrinted(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r, err := hybrid.NewRenderer()
			if err != nil {
				t.Fatal(err)
			}
			h := start(t, url(t), func(c *app.Config) { c.Renderer = corruptingRenderer{r} })
			good, bad := h.sendHTTP(t, "исправно"), h.sendHTTP(t, "испорчено")
			o := h.options(t, h.centre(t, "РЦ Гомель", "246"), t.TempDir())
			if err := printagent.Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			h.refusedOnce(t, o.Spool, good, bad, "SHA-256")
			// The printed one matches the digest in its lease and evidence.
			data, err := os.ReadFile(filepath.Join(o.Spool, good.Tracking+".pdf"))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			var gj mailbox.PrintJob
			_ = h.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
				jobs, err := tx.PrintJobsOfLetter(t.Context(), good.ID)
				if len(jobs) == 1 {
					gj = jobs[0]
				}
				return err
			})
			if hex.EncodeToString(sum[:]) != gj.PDFSHA256 || !strings.HasPrefix(string(data), "%PDF-") {
				t.Fatal("the spooled PDF is not the document whose digest the job carries")
			}
		})
	}
}

// A signal (ctx cancelled) stops the agent after the job in hand; the jobs
// still leased stay in the journal and a restart finishes them.
func TestStopAfterCurrentJob(t *testing.T) {
	t.Parallel()
	h := start(t, "", nil)
	letters := h.submit(t, 5)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	o := h.options(t, h.centre(t, "РЦ Гомель", "246"), t.TempDir())
	o.Once = false
	var first string
	o.Fault = func(step printagent.Step, job string, durable bool) error {
		if step == printagent.StepDownloaded && durable && first == "" {
			first = job
			cancel() // the signal arrives while the first job is in hand
		}
		return nil
	}
	if err := printagent.Run(ctx, o); err != nil {
		t.Fatalf("stopped agent: %v", err)
	}
	if files := spoolPDFs(t, o.Spool); len(files) != 1 {
		t.Fatalf("after the signal: %v, want the job in hand finished", files)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobPosted] != 1 || st[mailbox.JobLeased] != 4 {
		t.Fatalf("job states %v, want 1 posted and 4 still leased", st)
	}
	o.Once, o.Fault = true, nil
	if err := printagent.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobPosted] != 5 {
		t.Fatalf("after the restart: %v", st)
	}
	if files := spoolPDFs(t, o.Spool); len(files) != 5 {
		t.Fatalf("after the restart: %v", files)
	}
	// The journal holds no finished job after a compaction (on start).
	if err := printagent.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(o.Spool, "journal.jsonl")); err != nil || len(data) != 0 {
		t.Fatalf("journal after everything finished: %q %v", data, err)
	}
}

// One spool directory, one agent; a corrupt journal stops the agent.
func TestSpoolLockAndCorruptJournal(t *testing.T) {
	t.Parallel()
	h := start(t, "", nil)
	h.submit(t, 1)
	c := h.centre(t, "РЦ Гомель", "246")
	spool := t.TempDir()
	o := h.options(t, c, spool)
	var second error
	o.Fault = func(step printagent.Step, _ string, durable bool) error {
		if step == printagent.StepLeased && durable {
			second = printagent.Run(t.Context(), h.options(t, c, spool))
		}
		return nil
	}
	if err := printagent.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(second, printagent.ErrSpoolBusy) {
		t.Fatalf("second agent on a busy spool: %v, want ErrSpoolBusy", second)
	}

	bad := []byte("{\"step\":\"leased\"\n{\"also\":\"bad\"}\n")
	if err := os.WriteFile(filepath.Join(spool, "journal.jsonl"), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := printagent.Run(t.Context(), h.options(t, c, spool)); !errors.Is(err, printagent.ErrJournalCorrupt) {
		t.Fatalf("corrupt journal: %v", err)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	c, err := client.New("https://127.0.0.1:1", "")
	if err == nil || c != nil {
		t.Fatal("client without credential")
	}
	for name, tc := range map[string]struct {
		o    printagent.Options
		want error
	}{
		"no client":       {printagent.Options{Spool: "x"}, printagent.ErrOptions},
		"shell in queue":  {printagent.Options{Client: &client.Client{}, Spool: "x", Printer: "lp:q;rm -rf /"}, printagent.ErrBadPrinter},
		"option as queue": {printagent.Options{Client: &client.Client{}, Spool: "x", Printer: "lp:-h"}, printagent.ErrBadPrinter},
		"not lp":          {printagent.Options{Client: &client.Client{}, Spool: "x", Printer: "cups:q"}, printagent.ErrBadPrinter},
		"batch":           {printagent.Options{Client: &client.Client{}, Spool: "x", Batch: 501}, printagent.ErrOptions},
		"lease":           {printagent.Options{Client: &client.Client{}, Spool: "x", LeaseSeconds: 5}, printagent.ErrOptions},
		"no spool":        {printagent.Options{Client: &client.Client{}}, printagent.ErrOptions},
	} {
		if err := printagent.Run(t.Context(), tc.o); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
