package app_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// consoleBrowser is a headless Chromium signed in with one credential
// (certificate sign-in by policy, as TestPortalBrowser does), with the
// helpers the console tests share.
type consoleBrowser struct {
	tab
	origin    string
	axeJS     string
	shots     string
	downloads string
}

func newConsoleBrowser(t *testing.T, b *bundle, cred certs.Credential) *consoleBrowser {
	t.Helper()
	chromium, axeFile := needBrowser(t)
	axeJS, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	port := b.srv.HTTPAddr.(*net.TCPAddr).Port
	origin := fmt.Sprintf("https://localhost:%d", port)
	home := browserHome(t, b, cred)
	autoSelectPolicy(t, origin)
	bt := openTab(t, chromium, home, "en-US", "")
	ctx := bt.ctx
	downloads := t.TempDir()
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true)})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return &consoleBrowser{tab: bt, origin: origin, axeJS: string(axeJS), shots: artifactsDir(t), downloads: downloads}
}

func (c *consoleBrowser) count(sel string) int {
	c.t.Helper()
	n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// download clicks sel and returns the file the browser saved.
func (c *consoleBrowser) download(name, sel string) []byte {
	c.t.Helper()
	c.t.Logf("%s", name)
	return c.tab.download(c.downloads, sel)
}

// pages checks the current page with axe and keeps its screenshots in
// Belarusian and Russian at phone (390 px) and desktop (1280 px) widths.
func (c *consoleBrowser) pages(path, name, ready string) {
	c.t.Helper()
	for _, lang := range []string{"be", "ru"} {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		c.step(name+" "+lang, chromedp.Navigate(c.origin+path+sep+"lang="+lang), chromedp.WaitVisible(chromedp.CSS(ready)))
		for _, w := range []struct {
			name          string
			width, height int64
		}{{"phone", 390, 844}, {"desktop", 1280, 900}} {
			if err := chromedp.Do(c.ctx, chromedp.EmulateViewport(w.width, w.height)); err != nil {
				c.t.Fatal(err)
			}
			png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				c.t.Fatalf("screenshot %s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(c.shots, name+"-"+lang+"-"+w.name+".png"), png, 0o644); err != nil {
				c.t.Fatal(err)
			}
			checkA11y(c.t, c.ctx, c.axeJS, name+" "+lang+" "+w.name)
		}
	}
}

func TestPrintConsoleBrowser(t *testing.T) {
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	pc := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гродно", Regions: []string{"230"}})
	// A job that died, one posted by this centre, one waiting.
	deadLetter, deadJob := deadJob(t, b, org, pc)
	send := func(name string) string {
		status, sent, data := org.send(map[string]any{"recipient": map[string]string{"name": name, "address": "230023, г. Гродно, ул. Советская, 5, кв. 2"},
			"registered": true, "subject": "Извещение", "body": "Текст"}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		return sent.ID
	}
	postedLetter := send("Ясюкевичу Янке")
	var l jobsReply
	pc.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &l, 200)
	if len(l.Jobs) != 1 || l.Jobs[0].LetterID != postedLetter {
		t.Fatalf("lease: %+v", l.Jobs)
	}
	posted := l.Jobs[0]
	pc.mustJSON("POST", "/v1/print/jobs/"+posted.ID+"/printed", map[string]any{"lease_token": posted.LeaseToken, "sheets": posted.Sheets}, nil, 200)
	pc.mustJSON("POST", "/v1/print/jobs/"+posted.ID+"/posted", map[string]any{"lease_token": posted.LeaseToken}, nil, 200)
	send("Касцюшку Тадэвушу")

	c := newConsoleBrowser(t, b, pc.cred)
	c.step("sign in", chromedp.Navigate(c.origin+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")),
		chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS("#queue-h")))
	if loc, _ := chromedp.Run(c.ctx, chromedp.Location()); !strings.HasSuffix(loc, "/print") {
		t.Fatalf("the print centre landed on %s", loc)
	}
	if got := c.text("#failed-h"); !strings.HasSuffix(got, ": 1") {
		t.Errorf("failed jobs heading: %q", got)
	}
	if got := c.text("main"); !strings.Contains(got, "замятие бумаги") || !strings.Contains(got, deadJob) {
		t.Errorf("the failed job and its reason are not shown")
	}
	// Queue depth and oldest age of its region; nothing of the others'.
	if n := c.count("svg.chart"); n != 2 {
		t.Errorf("%d charts, want 2 (queue depth, oldest age)", n)
	}
	if n := c.count("#letters-per-day, #acceptance-rate-cap"); n != 0 {
		t.Errorf("the print centre sees the operator's charts")
	}
	c.pages("/print", "print", "#queue-h")

	// Retry the failed job: it is queued again, its letter too.
	c.step("retry", chromedp.Navigate(c.origin+"/print?lang=en"), chromedp.WaitVisible(chromedp.CSS("#failed-h")),
		chromedp.Click(chromedp.CSS(`form[action="/print/jobs/`+deadJob+`/retry"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := c.text(".notice"); !strings.Contains(got, "back in the queue") {
		t.Errorf("after retry: %q", got)
	}
	var v mailbox.LetterView
	org.mustJSON("GET", "/v1/letters/"+deadLetter, nil, &v, 200)
	if v.State != mailbox.StatePrintQueued {
		t.Errorf("retried letter is %s", v.State)
	}
	if got := c.text("#failed-h"); !strings.HasSuffix(got, ": 0") {
		t.Errorf("failed jobs after the retry: %q", got)
	}

	// The day's manifest as CSV and as PDF.
	csvData := c.download("manifest CSV", "#manifest-csv")
	rows, err := csv.NewReader(strings.NewReader(string(csvData))).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][0] != "tracking" || rows[1][0] != posted.Tracking || rows[1][4] != posted.ID {
		t.Fatalf("manifest CSV: %v %q", err, csvData)
	}
	c.step("back to the console", chromedp.Navigate(c.origin+"/print?lang=en"), chromedp.WaitVisible(chromedp.CSS("#manifest-pdf")))
	pdfData := c.download("manifest PDF", "#manifest-pdf")
	if !strings.HasPrefix(string(pdfData), "%PDF-") {
		t.Fatalf("manifest PDF: %.20q", pdfData)
	}
	if pdftotext, err := exec.LookPath("pdftotext"); err == nil {
		f := filepath.Join(t.TempDir(), "m.pdf")
		if err := os.WriteFile(f, pdfData, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(pdftotext, f, "-").Output()
		if err != nil || !strings.Contains(string(out), posted.Tracking) || !strings.Contains(string(out), "РЦ Гродно") {
			t.Errorf("manifest PDF text: %v %q", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Fatal("pdftotext (poppler-utils) is required in CI")
	}

	// A physical event for the job this centre posted.
	c.step("report delivery", chromedp.Navigate(c.origin+"/print?lang=en"), chromedp.WaitVisible(chromedp.CSS("#posted-h")),
		chromedp.SetValue(chromedp.CSS("#ev-"+posted.ID), "Delivered"),
		chromedp.SendKeys(chromedp.CSS("#note-"+posted.ID), "вручено лично"),
		chromedp.Click(chromedp.CSS(`form[action="/print/jobs/`+posted.ID+`/events"] button`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")))
	org.mustJSON("GET", "/v1/letters/"+postedLetter, nil, &v, 200)
	if v.State != mailbox.StatePhysicallyDelivered {
		t.Errorf("reported letter is %s", v.State)
	}
	ev := evidenceOf(t, org, postedLetter, "Delivered")
	if ev.Details["reported.note"] != "вручено лично" || ev.Details["emsevt"] != "EMI" {
		t.Errorf("Delivered details: %v", ev.Details)
	}
}
