package printagent_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// routeCounter is a proxy between an agent and the server that counts the
// agent's requests by route (a job id in the path counts as {id}) and may
// rewrite the lease replies.
type routeCounter struct {
	url string
	mu  sync.Mutex
	n   map[string]int
}

var jobInPath = regexp.MustCompile(`^/v1/print/jobs/[^/]+/`)

func (rc *routeCounter) counts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.n))
	for k, v := range rc.n {
		out[k] = v
	}
	return out
}

func (rc *routeCounter) reset() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.n = map[string]int{}
}

// newRouteCounter starts the proxy for the credential in credDir;
// rewriteLease, if set, may change each job of a lease reply.
func newRouteCounter(t *testing.T, h *harness, credDir string, rewriteLease func(job map[string]any)) *routeCounter {
	t.Helper()
	cred, err := certs.LoadCredentialDir(credDir)
	if err != nil {
		t.Fatal(err)
	}
	upTLS, err := certs.ClientTLSConfig(cred.CertPEM, cred.KeyPEM, cred.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(h.base)
	rc := &routeCounter{n: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			rc.mu.Lock()
			rc.n[r.In.Method+" "+jobInPath.ReplaceAllString(r.In.URL.Path, "/v1/print/jobs/{id}/")]++
			rc.mu.Unlock()
			r.SetURL(target)
		},
		Transport: &http.Transport{TLSClientConfig: upTLS},
		ModifyResponse: func(resp *http.Response) error {
			if rewriteLease == nil || resp.Request.URL.Path != "/v1/print/leases" || resp.StatusCode != 200 {
				return nil
			}
			var reply struct {
				Jobs []map[string]any `json:"jobs"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				return err
			}
			for _, j := range reply.Jobs {
				rewriteLease(j)
			}
			body, err := json.Marshal(reply)
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
	serverCert, err := h.srv.Data.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewUnstartedServer(rp)
	ps.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}}
	ps.StartTLS()
	t.Cleanup(ps.Close)
	rc.url = ps.URL
	return rc
}

// events counts each letter's evidence events of kind ev.
func (h *harness) events(t *testing.T, letters []sent, ev signing.Event) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := h.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
		for _, l := range letters {
			recs, err := tx.EvidenceOf(t.Context(), l.ID)
			if err != nil {
				return err
			}
			out[l.ID] = 0
			for _, r := range recs {
				if r.Event == string(ev) {
					out[l.ID]++
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchCutInTheMiddle: the agent reports a leased batch through
// POST /v1/print/reports, Printed for the whole batch once the printer has
// it, then Posted, and never through the single routes. It dies in the
// middle of a batch: while printing it (some jobs printed, none reported),
// after the server recorded the batch's Printed but before the journal
// did, and after Posted likewise (with a torn last record, as a crash
// mid-write leaves). Restarted from its journal it prints nothing twice and
// loses no report: each letter has one Printed and one Posted evidence,
// and is in the manifest once.
func TestBatchCutInTheMiddle(t *testing.T) {
	t.Parallel()
	const n = 5
	crash := errors.New("simulated crash")
	for _, tc := range []struct {
		name    string
		step    printagent.Step
		durable bool
		// printed and reported: what the dead run left behind.
		printed  int
		reported bool
		// batches: the restart's POST /v1/print/reports.
		batches int
	}{
		{"printing the third job", printagent.StepPrinted, true, 3, false, 2},
		{"after the Printed report, before its record", printagent.StepReportedPrinted, false, n, true, 2},
		{"after the Posted report, before its record", printagent.StepReportedPosted, false, n, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := start(t, "", nil)
			letters := h.submit(t, n)
			credDir := h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
			rc := newRouteCounter(t, h, credDir, nil)
			c, err := client.New(rc.url, credDir)
			if err != nil {
				t.Fatal(err)
			}
			o := h.options(t, c, t.TempDir())
			seen := map[string]bool{}
			o.Fault = func(step printagent.Step, job string, durable bool) error {
				if step == tc.step && durable == tc.durable {
					seen[job] = true
					if len(seen) == 3 {
						return crash
					}
				}
				return nil
			}
			if err := printagent.Run(t.Context(), o); !errors.Is(err, crash) {
				t.Fatalf("run with a crash: %v", err)
			}
			if got := len(spoolPDFs(t, o.Spool)); got != tc.printed {
				t.Fatalf("the dead run printed %d jobs, want %d", got, tc.printed)
			}
			st := h.jobStates(t, letters)
			if !tc.reported && st[mailbox.JobLeased] != n {
				t.Fatalf("job states %v after a crash before the batch's report: want all %d still leased (reports go per batch, after printing)", st, n)
			}
			if tc.reported && st[mailbox.JobLeased] != 0 {
				t.Fatalf("job states %v after the batch's report: want none leased", st)
			}
			inodes := spoolInodes(t, o.Spool)
			f, err := os.OpenFile(filepath.Join(o.Spool, "journal.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.WriteString(`{"time":"2026-12-03T13:`)
			_ = f.Close()

			rc.reset()
			o.Fault = nil
			if err := printagent.Run(t.Context(), o); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if st := h.jobStates(t, letters); st[mailbox.JobPosted] != n {
				t.Fatalf("job states %v after the restart: a report was lost", st)
			}
			if got := len(spoolPDFs(t, o.Spool)); got != n {
				t.Fatalf("spool holds %d documents, want %d", got, n)
			}
			for name, ino := range inodes {
				if now := spoolInodes(t, o.Spool)[name]; now != ino {
					t.Errorf("%s was printed again after the restart", name)
				}
			}
			for _, ev := range []signing.Event{signing.EventPrinted, signing.EventPosted} {
				for id, k := range h.events(t, letters, ev) {
					if k != 1 {
						t.Errorf("letter %s has %d %s evidence records, want 1", id, k, ev)
					}
				}
			}
			checkManifestHas(t, manifestRows(t, o.Spool), letters)
			// The restart reported through the batch route only: a
			// Printed batch if the dead run had not reported it, and a
			// Posted batch (repeated where the dead run's was not
			// journaled).
			counts := rc.counts()
			for _, single := range []string{"POST /v1/print/jobs/{id}/printed", "POST /v1/print/jobs/{id}/posted"} {
				if counts[single] != 0 {
					t.Errorf("%s called %d times: the agent reports in batches", single, counts[single])
				}
			}
			if want := tc.batches; counts["POST /v1/print/reports"] != want {
				t.Errorf("POST /v1/print/reports called %d times on the restart, want %d: %v", counts["POST /v1/print/reports"], want, counts)
			}
		})
	}
}

// TestSheetMismatchInABatch: the server checks each job's sheets in a
// batch of reports on its own. A lease that misstates one job's sheets (a
// front end that rewrote it) makes the agent report a count the server
// refuses for that job alone (409 sheet_mismatch in the batch result): the
// agent drops the job and withdraws its document from the spool; the
// others of the batch are printed and posted.
func TestSheetMismatchInABatch(t *testing.T) {
	t.Parallel()
	h := start(t, "", nil)
	letters := h.submit(t, 4)
	wrong := letters[1]
	credDir := h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
	rc := newRouteCounter(t, h, credDir, func(j map[string]any) {
		if j["letter_id"] == wrong.ID {
			j["sheets"] = j["sheets"].(float64) + 1
		}
	})
	c, err := client.New(rc.url, credDir)
	if err != nil {
		t.Fatal(err)
	}
	o := h.options(t, c, t.TempDir())
	if err := printagent.Run(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	st := h.jobStates(t, letters)
	if st[mailbox.JobPosted] != 3 || st[mailbox.JobLeased] != 1 {
		t.Fatalf("job states %v: want 3 posted, the misstated one still leased", st)
	}
	for _, f := range spoolPDFs(t, o.Spool) {
		if f == wrong.Tracking+".pdf" {
			t.Errorf("the document refused with sheet_mismatch is still in the spool")
		}
	}
	if got := len(spoolPDFs(t, o.Spool)); got != 3 {
		t.Errorf("spool holds %d documents, want 3", got)
	}
	if k := h.events(t, []sent{wrong}, signing.EventPrinted)[wrong.ID]; k != 0 {
		t.Errorf("the misstated job has %d Printed records", k)
	}
	if counts := rc.counts(); counts["POST /v1/print/reports"] != 2 {
		t.Errorf("routes %v: want two batches of reports (printed, posted)", counts)
	}
	// Its lease runs out and it is offered again with the true count.
	h.clock.Advance(time.Duration(printagent.DefaultLeaseSeconds+1) * time.Second)
	direct := h.client(t, credDir)
	o2 := h.options(t, direct, t.TempDir())
	if err := printagent.Run(t.Context(), o2); err != nil {
		t.Fatal(err)
	}
	if st := h.jobStates(t, letters); st[mailbox.JobPosted] != 4 {
		t.Fatalf("job states %v after the lease ran out: want all posted", st)
	}
}
