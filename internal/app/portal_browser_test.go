package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// browserTimeout bounds each browser step: generous, because these
// machines are busy; every wait polls for a condition within it.
const browserTimeout = 60 * time.Second

// needBrowser returns Chromium and axe-core's axe.min.js. Without them the
// test skips, except under CI (.ci/run installs both), where it fails.
func needBrowser(t *testing.T) (chromium, axe string) {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs it", what)
		}
		t.Skipf("%s is missing (.ci/run installs it)", what)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		missing("chromium")
	}
	for _, tool := range []string{"certutil", "pk12util", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(tool + " (libnss3-tools, openssl)")
		}
	}
	axe = os.Getenv("NPES_AXE_JS")
	if axe == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			missing("axe-core")
		}
		axe = filepath.Join(cache, "npes", "axe-core", "node_modules", "axe-core", "axe.min.js")
	}
	if _, err := os.Stat(axe); err != nil {
		missing("axe-core (" + axe + ")")
	}
	return chromium, axe
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// browserHome makes a HOME whose NSS database trusts the test CA and holds
// cred, as a citizen's browser holds the certificate of their ID card.
func browserHome(t *testing.T, b *bundle, cred certs.Credential) string {
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, "certutil", "-N", "-d", "sql:"+db, "--empty-password")
	ca := filepath.Join(home, "ca.pem")
	certFile, keyFile, p12 := filepath.Join(home, "cert.pem"), filepath.Join(home, "key.pem"), filepath.Join(home, "cred.p12")
	caPEM, err := b.srv.Data.CAPEM()
	if err != nil {
		t.Fatal(err)
	}
	for f, data := range map[string][]byte{ca: caPEM, certFile: cred.CertPEM, keyFile: cred.KeyPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "certutil", "-A", "-n", "npes test CA", "-t", "C,,", "-i", ca, "-d", "sql:"+db)
	run(t, "openssl", "pkcs12", "-export", "-in", certFile, "-inkey", keyFile, "-out", p12, "-passout", "pass:npes", "-name", "citizen")
	run(t, "pk12util", "-i", p12, "-d", "sql:"+db, "-W", "npes")
	return home
}

// browserPolicy serializes the browser tests of this package: the policy
// file is one per machine (Chromium does not merge a policy from several
// files), so two tests with their own servers cannot hold it at once.
// policyLock does the same across processes (test binaries of other
// checkouts on the machine): an exclusive flock on a file next to /tmp.
var browserPolicy sync.Mutex

// policyHolder is the test that holds browserPolicy (and the file lock):
// a test that writes the policy again (before each of its browsers) keeps
// the locks it has instead of waiting for itself.
var (
	holderMu     sync.Mutex
	policyHolder *testing.T
)

const policyLock = "/tmp/npes-chromium-policy.lock"

// lockPolicy takes the machine-wide policy lock, waiting for it within a
// bounded time (another test holds it for one browser session).
func lockPolicy(t *testing.T) {
	f, err := os.OpenFile(policyLock, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("policy lock: %v", err)
	}
	deadline := time.Now().Add(15 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("the Chromium policy stays locked by another test process: %v", err)
		}
		select {
		case <-t.Context().Done():
			f.Close()
			t.Fatal(t.Context().Err())
		case <-time.After(200 * time.Millisecond): // polling a lock, not waiting for a result
		}
	}
	t.Cleanup(func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() })
}

// autoSelectPolicy makes Chromium present the client certificate to the
// test server without asking (DESIGN §11); removed when the test ends,
// which also lets the next browser test start.
func autoSelectPolicy(t *testing.T, origin string) {
	holderMu.Lock()
	held := policyHolder == t
	holderMu.Unlock()
	if !held {
		browserPolicy.Lock()
		holderMu.Lock()
		policyHolder = t
		holderMu.Unlock()
		t.Cleanup(func() {
			holderMu.Lock()
			policyHolder = nil
			holderMu.Unlock()
			browserPolicy.Unlock()
		})
		lockPolicy(t)
	}
	dir := "/etc/chromium/policies/managed"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot write Chromium policies (%v): client-certificate sign-in needs root", err) // CI runs as root: a skip there would prove nothing
		}
		t.Skipf("cannot write Chromium policies (%v): client-certificate sign-in needs root", err)
	}
	rule, _ := json.Marshal(map[string]any{"pattern": origin, "filter": map[string]any{}})
	policy, _ := json.Marshal(map[string]any{"AutoSelectCertificateForUrls": []string{string(rule)}})
	// One file name: Chromium does not merge one policy from several
	// files, so a file left by a killed run must be replaced, not joined.
	f := filepath.Join(dir, "npes-portal-test.json")
	if err := os.WriteFile(f, policy, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(f) })
}

func artifactsDir(t *testing.T) string {
	dir := os.Getenv("NPES_ARTIFACTS")
	if dir == "" {
		d, err := os.MkdirTemp("", "npes-artifacts-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	dir = filepath.Join(dir, "portal")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	fmt.Fprintf(os.Stderr, "portal screenshots in %s\n", dir)
	return dir
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkA11y runs axe-core on the current page (WCAG 2.x A and AA rules)
// and fails on serious or critical violations.
func checkA11y(t *testing.T, ctx context.Context, axeJS, page string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeJS)); err != nil {
		t.Fatalf("injecting axe-core on %s: %v", page, err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}})
		.then(r => JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(res), &vs); err != nil {
		t.Fatalf("axe result on %s: %v", page, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("a11y %s on %s: %s (%s) at %v", v.Impact, page, v.ID, v.Help, v.Nodes)
		} else {
			t.Logf("a11y %s on %s: %s (%s) at %v", v.Impact, page, v.ID, v.Help, v.Nodes)
		}
	}
}

// screenshots saves the current page at phone and desktop widths.
func screenshots(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, w := range []struct {
		name          string
		width, height int64
	}{{"phone", 360, 740}, {"desktop", 1280, 900}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w.width, w.height)); err != nil {
			t.Fatalf("viewport for %s: %v", name, err)
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+w.name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPortalBrowser(t *testing.T) {
	t.Parallel()
	chromium, axeFile := needBrowser(t)
	axeJS, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	var registered string
	for i, sub := range []string{"Уведомление о задолженности", "Счёт за декабрь"} {
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": i == 0, "subject": sub, "body": "Уважаемый абонент! " + sub,
		}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		if i == 0 {
			registered = sent.ID
		}
	}

	port := b.srv.HTTPAddr.(*net.TCPAddr).Port
	origin := fmt.Sprintf("https://localhost:%d", port)
	home := browserHome(t, b, citizen.cred)
	autoSelectPolicy(t, origin)
	shots := artifactsDir(t)
	downloads := t.TempDir()

	tb := openTab(t, chromium, home, "en-US", "")
	ctx, step, text := tb.ctx, tb.step, tb.text
	htmlLang := func() string {
		t.Helper()
		l, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// Sign-in page: the browser presented the certificate by policy.
	for _, lang := range []string{"be", "ru", "en"} {
		step("sign-in page "+lang, chromedp.Navigate(origin+"/?lang="+lang), chromedp.WaitVisible(chromedp.CSS("#signin-cert")))
		if got := htmlLang(); got != lang {
			t.Errorf("<html lang> = %q, want %q", got, lang)
		}
		if lang != "en" {
			screenshots(t, ctx, shots, "signin-"+lang)
		}
	}
	if got := text("main"); !strings.Contains(got, citizenReq.Name) {
		t.Fatalf("sign-in page does not name the certificate's holder: %q", got)
	}
	checkA11y(t, ctx, string(axeJS), "sign-in")

	// Certificate sign-in, then the inbox with the registered letter first.
	step("certificate sign-in", chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS(".awaiting")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/inbox") {
		t.Fatalf("after sign-in at %s", loc)
	}
	first := text(".letters .subject")
	if !strings.Contains(first, "Уведомление о задолженности") {
		t.Errorf("first letter of the inbox is %q, want the registered one", first)
	}
	checkA11y(t, ctx, string(axeJS), "inbox")

	// The remembered language follows the session.
	for _, lang := range []string{"be", "ru"} {
		step("inbox "+lang, chromedp.Navigate(origin+"/inbox?lang="+lang), chromedp.WaitVisible(chromedp.CSS(".awaiting")))
		screenshots(t, ctx, shots, "inbox-"+lang)
		step("letter "+lang, chromedp.Navigate(origin+"/letters/"+registered), chromedp.WaitVisible(chromedp.CSS("#bundle")))
		if got := htmlLang(); got != lang {
			t.Errorf("letter page after ?lang=%s on the inbox: <html lang> = %q", lang, got)
		}
		screenshots(t, ctx, shots, "letter-"+lang)
	}
	checkA11y(t, ctx, string(axeJS), "letter")
	if got := text(".timeline"); !strings.Contains(got, "Атрымальніка паведамілі") && !strings.Contains(got, "Получатель уведомлён") {
		t.Errorf("timeline in plain words: %q", got)
	}

	// Keep proof: the downloaded bundle verifies against pinned trust.
	bundleBytes := tb.download(downloads, "#bundle")
	bundleFile := filepath.Join(t.TempDir(), "bundle.json") // for the verify page's upload
	if err := os.WriteFile(bundleFile, bundleBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := signing.VerifyBundle(bundleBytes, signing.VerifyOptions{Trust: citizen.trust()})
	if err != nil {
		t.Fatalf("the bundle downloaded in the browser does not verify: %v", err)
	}
	if len(rep.Evidence) < 2 {
		t.Errorf("bundle holds %d evidence", len(rep.Evidence))
	}

	step("write page", chromedp.Navigate(origin+"/write?lang=be"), chromedp.WaitVisible(chromedp.CSS("#send")))
	screenshots(t, ctx, shots, "write-be")
	checkA11y(t, ctx, string(axeJS), "write")

	step("mailbox page", chromedp.Navigate(origin+"/mailbox?lang=ru"), chromedp.WaitVisible(chromedp.CSS(".facts")))
	screenshots(t, ctx, shots, "mailbox-ru")
	checkA11y(t, ctx, string(axeJS), "mailbox")

	// The public verify page says the same of the downloaded file.
	step("verify page", chromedp.Navigate(origin+"/verify?lang=be"), chromedp.WaitVisible(chromedp.CSS("#bundle-file")),
		chromedp.SetUploadFiles(chromedp.CSS("#bundle-file"), []string{bundleFile}),
		chromedp.Click(chromedp.CSS("#verify-submit")), chromedp.WaitVisible(chromedp.CSS("#verify-result")))
	if got := text("#verify-result"); !strings.Contains(got, "Сапраўдны") {
		t.Errorf("verify page on the downloaded bundle: %q", got)
	}
	screenshots(t, ctx, shots, "verify-be")
	checkA11y(t, ctx, string(axeJS), "verify")

	// Sign-out ends the session: the inbox sends the browser to sign in.
	step("sign out", chromedp.Navigate(origin+"/inbox?lang=en"), chromedp.WaitVisible(chromedp.CSS(".signout button")),
		chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.CSS("#signin-cert")))
	step("inbox after sign-out", chromedp.Navigate(origin+"/inbox"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")))
}

func ptr[T any](v T) *T { return &v }
