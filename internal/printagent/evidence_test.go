package printagent_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/mailbox"
)

// swappingProxy stands between the agent and the server like a rogue front
// end: for one letter it serves another document and rewrites the lease's
// pdf_sha256 to match it, so the lease check alone passes. Only the signed
// RelayToNonERDS evidence, which it cannot forge, tells the truth.
func swappingProxy(t *testing.T, h *harness, credDir, letterID string, forged []byte) string {
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
	sum := sha256.Sum256(forged)
	forgedHash := hex.EncodeToString(sum[:])
	var jobID string
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{TLSClientConfig: upTLS},
		ModifyResponse: func(resp *http.Response) error {
			path := resp.Request.URL.Path
			var body []byte
			switch {
			case path == "/v1/print/leases" && resp.StatusCode == 200:
				var reply struct {
					Jobs []map[string]any `json:"jobs"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
					return err
				}
				for _, j := range reply.Jobs {
					if j["letter_id"] == letterID {
						j["pdf_sha256"] = forgedHash
						jobID, _ = j["id"].(string)
					}
				}
				if body, err = json.Marshal(reply); err != nil {
					return err
				}
			case jobID != "" && path == "/v1/print/jobs/"+jobID+"/pdf" && resp.StatusCode == 200:
				body = forged
				resp.Header.Set("X-PDF-SHA256", forgedHash)
			default:
				return nil
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
	return ps.URL
}

// TestPDFCheckedAgainstEvidence: a document that matches its lease but not
// the letter's RelayToNonERDS evidence is reported failed and never
// printed; the genuine one next to it is printed.
func TestPDFCheckedAgainstEvidence(t *testing.T) {
	t.Parallel()
	for name, url := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := start(t, url(t), nil)
			good, swapped := h.sendHTTP(t, "подлинное"), h.sendHTTP(t, "подменённое")
			credDir := h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
			forged := []byte("%PDF-1.4\n% a document nobody committed to\n%%EOF\n")
			c, err := client.New(swappingProxy(t, h, credDir, swapped.ID, forged), credDir)
			if err != nil {
				t.Fatal(err)
			}
			o := h.options(t, c, t.TempDir())
			if err := printagent.Run(t.Context(), o); err != nil {
				t.Fatal(err)
			}
			h.refusedOnce(t, o.Spool, good, swapped, "RelayToNonERDS")
		})
	}
}

// refusedOnce checks that the agent printed only printed, and reported
// refused's single job failed once (queued again for another attempt) with
// a reason that mentions why.
func (h *harness) refusedOnce(t *testing.T, spool string, printed, refused sent, why string) {
	t.Helper()
	if files := spoolPDFs(t, spool); !slices.Equal(files, []string{printed.Tracking + ".pdf"}) {
		t.Fatalf("spool %v, want only %s", files, printed.Tracking)
	}
	var job mailbox.PrintJob
	err := h.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
		jobs, err := tx.PrintJobsOfLetter(t.Context(), refused.ID)
		if len(jobs) == 1 {
			job = jobs[0]
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if job.State != mailbox.JobQueued || job.Attempts != 1 || !strings.Contains(job.LastError, why) {
		t.Fatalf("refused job: state %s, attempts %d, error %q; want queued again after a failed attempt naming %s", job.State, job.Attempts, job.LastError, why)
	}
}
