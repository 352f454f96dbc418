package printagent_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/client"
	"github.com/npes/npes/internal/printagent"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// clock is real time plus an offset the test moves forward: the server's
// leases expire on it and the agents date manifests by it.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// engines are the stores every print-path test runs on.
var engines = map[string]func(t testing.TB) string{
	"sqlite":   func(t testing.TB) string { return "" },
	"postgres": func(t testing.TB) string { return storetest.PostgresURL(t) },
}

// harness is a running server, its CA and an organization that sends
// letters to addresses without a mailbox (so they go to print).
type harness struct {
	srv    *app.Server
	ca     *certs.CA
	clock  *clock
	base   string
	org    *client.Client
	orgID  certs.Identity
	serial atomic.Int64
}

func start(t testing.TB, databaseURL string, modify func(*app.Config)) *harness {
	t.Helper()
	clk := &clock{}
	dir := t.TempDir()
	cfg := app.Config{DataDir: dir, DatabaseURL: databaseURL, HTTPAddr: "127.0.0.1:0", Now: clk.Now,
		SMTPAddr: "off", SMTPSAddr: "off"}
	if modify != nil {
		modify(&cfg)
	}
	srv, err := app.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	ca, err := srv.Data.LoadCA()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{srv: srv, ca: ca, clock: clk, base: "https://" + srv.HTTPAddr.String()}

	orgDir := h.credential(t, certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: "100289066"})
	h.org = h.client(t, orgDir)
	cred, err := certs.LoadCredentialDir(orgDir)
	if err != nil {
		t.Fatal(err)
	}
	if h.orgID, err = certs.IdentityFromCert(cred.Cert); err != nil {
		t.Fatal(err)
	}
	// The org's mailbox, verified by the operator at a counter. Its
	// activation letter is a print job of region 220.
	var m struct{ ID string }
	if _, err := h.org.JSON(t.Context(), "POST", "/v1/mailboxes", map[string]string{"address": "220030, г. Минск, ул. Энгельса, 6"}, &m); err != nil {
		t.Fatal(err)
	}
	op := h.client(t, srv.Data.OperatorCredentialDir())
	if _, err := op.JSON(t.Context(), "POST", "/v1/admin/mailboxes/"+m.ID+"/verify", nil, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

// credential issues a certificate and writes a credential directory, as
// `npes ca issue` does.
func (h *harness) credential(t testing.TB, req certs.Request) string {
	t.Helper()
	cred, err := h.ca.Issue(req, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.RecordCertificate(t.Context(), h.srv.Store, cred); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cred")
	if err := certs.WriteCredentialDir(dir, cred); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (h *harness) client(t testing.TB, dir string) *client.Client {
	t.Helper()
	c, err := client.New(h.base, dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// centre issues a print-centre credential for regions.
func (h *harness) centre(t testing.TB, name string, regions ...string) *client.Client {
	t.Helper()
	return h.client(t, h.credential(t, certs.Request{Role: certs.RolePrintCenter, Name: name, Regions: regions}))
}

// sent is a letter that went to print.
type sent struct {
	ID, Tracking, Postcode string
}

// gomel returns a distinct Gomel recipient (region 246) with one of a few
// postcodes, so the manifest's presort has something to sort.
func (h *harness) gomel() (name, address, postcode string) {
	n := h.serial.Add(1)
	postcode = fmt.Sprintf("2460%02d", 50-n%7)
	return fmt.Sprintf("Сидоров С.С. %d", n), fmt.Sprintf("%s, г. Гомель, ул. Билецкого, %d, кв. %d", postcode, 1+n%90, n), postcode
}

// sendHTTP sends a registered letter over the API (multipart, as `npes
// send` does) to a Gomel address without a mailbox: it is rendered and
// queued for print.
func (h *harness) sendHTTP(t *testing.T, subject string) sent {
	t.Helper()
	name, address, postcode := h.gomel()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="letter"`)
	hdr.Set("Content-Type", "application/json")
	w, _ := mw.CreatePart(hdr)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"recipient":  map[string]string{"name": name, "address": address},
		"registered": true, "subject": subject, "body": "Уважаемый получатель!\nТекст письма о задолженности.",
	})
	_ = mw.Close()
	var v mailbox.LetterView
	raw, err := h.org.Do(t.Context(), "POST", "/v1/letters", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.Route != mailbox.RoutePrint || v.Tracking == "" {
		t.Fatalf("letter not routed to print: %s", raw)
	}
	return sent{ID: v.ID, Tracking: v.Tracking, Postcode: postcode}
}

// submit queues n registered print letters through the service in-process
// (the fast path for volume: the same Submit the API calls, the real
// renderer, without HTTP and multipart), with a few workers.
func (h *harness) submit(t *testing.T, n int) []sent {
	t.Helper()
	out := make([]sent, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name, address, postcode := h.gomel()
				d, err := h.srv.Service.NewDraft()
				if err != nil {
					errs <- err
					return
				}
				v, _, err := h.srv.Service.Submit(context.Background(), mailbox.Caller{Identity: h.orgID}, mailbox.Submission{
					RecipientName: name, RecipientAddress: address, Registered: true,
					Subject: "Извещение", Body: "Текст письма.",
				}, d)
				_ = d.Close()
				if err != nil {
					errs <- err
					return
				}
				out[i] = sent{ID: v.ID, Tracking: v.Tracking, Postcode: postcode}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// jobStates counts the print jobs of the letters by state, from the store.
func (h *harness) jobStates(t *testing.T, letters []sent) map[string]int {
	t.Helper()
	states := map[string]int{}
	err := h.srv.Store.View(t.Context(), func(tx mailbox.Tx) error {
		for _, l := range letters {
			jobs, err := tx.PrintJobsOfLetter(t.Context(), l.ID)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				states[j.State]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return states
}

// options are an agent's options for the tests: short polls, the test
// clock, logs into the test log.
func (h *harness) options(t *testing.T, c *client.Client, spool string) printagent.Options {
	return printagent.Options{Client: c, Spool: spool, Once: true, Now: h.clock.Now,
		PollInterval: 10 * time.Millisecond, Logger: testLogger(t)}
}

// spoolPDFs lists the PDF names at the top of a spool directory.
func spoolPDFs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// manifestRows reads every manifest file of a spool directory (a run that
// crosses midnight in Minsk writes two) and returns each file's data rows.
func manifestRows(t *testing.T, dir string) [][][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "manifest-*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var rows [][][]string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(recs) == 0 || strings.Join(recs[0][:min(4, len(recs[0]))], ",") != "tracking,postcode,recipient_name,sheets" {
			t.Fatalf("%s: header %v", f, recs)
		}
		rows = append(rows, recs[1:])
	}
	return rows
}

// today is the manifest date of the test clock.
func (h *harness) today() string { return h.clock.Now().In(hybrid.Minsk).Format("2006-01-02") }

var agentLog = flag.String("agentlog", "warn", "level of the agents' log in the test output")

// testLogger writes the agent's log into the test's output.
func testLogger(t *testing.T) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(*agentLog))
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: l}))
}

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)
