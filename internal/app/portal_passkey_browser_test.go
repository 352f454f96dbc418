package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/cli"
	"github.com/npes/npes/signing"
)

// TestPortalPasskeyBrowser drives Chromium's virtual authenticator (CDP
// WebAuthn domain: CTAP2, internal transport, resident keys, user
// verification) through the portal's passkey flows: add a passkey while
// signed in with the certificate (the endorsement request downloaded, signed
// by `npes mailbox endorse-passkey --request`, pasted), sign out, sign in
// with the passkey, accept a registered letter and verify its downloaded
// bundle with `npes verify` and pinned trust (a passkey signature), refuse
// another, remove the passkey. axe-core checks and screenshots (be, ru; 390
// and 1280 px) of the mailbox page with passkeys and of the letter's
// signing step.
//
// Not parallel: the AutoSelectCertificateForUrls policy is one file that
// TestPortalBrowser writes too (Chromium does not merge a policy across
// files), and sequential tests end before parallel ones start.
func TestPortalPasskeyBrowser(t *testing.T) {
	chromium, axeFile := needBrowser(t)
	axeJS, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	// WebAuthn needs the origin before the server starts: pick a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	origin := fmt.Sprintf("https://localhost:%d", port)
	b := setupWith(t, "", func(c *app.Config) {
		c.HTTPAddr, c.WebOrigin = fmt.Sprintf("127.0.0.1:%d", port), origin
	})
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	box := citizen.registerActive(citizenAddress)
	var letters []string
	for _, sub := range []string{"Уведомление о задолженности", "Требование об оплате"} {
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": true, "subject": sub, "body": "Уважаемый абонент! " + sub,
		}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		letters = append(letters, sent.ID)
	}

	home := browserHome(t, b, citizen.cred)
	autoSelectPolicy(t, origin)
	shots := artifactsDir(t)
	downloads := t.TempDir()
	tb := openTab(t, chromium, home, "en-US", "")
	ctx, step, text := tb.ctx, tb.step, tb.text
	// The page's tab gets a virtual platform authenticator that verifies
	// the user (as a fingerprint would) and keeps discoverable passkeys.
	step("virtual authenticator", chromedp.Navigate(origin+"/?lang=en"), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: ptr(false)}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	}))
	// download saves what clicking sel downloads as file (in downloads).
	download := func(sel, file string) string {
		t.Helper()
		path := filepath.Join(downloads, file)
		if err := os.WriteFile(path, tb.download(downloads, sel), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	shoot := func(name string) {
		t.Helper()
		for _, w := range []struct {
			name          string
			width, height int64
		}{{"phone", 390, 844}, {"desktop", 1280, 900}} {
			sctx, scancel := context.WithTimeout(ctx, browserTimeout)
			if err := chromedp.Do(sctx, chromedp.EmulateViewport(w.width, w.height)); err != nil {
				scancel()
				t.Fatalf("viewport for %s: %v", name, err)
			}
			png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
			scancel()
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(shots, name+"-"+w.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Certificate sign-in; the mailbox page offers to add a passkey (the
	// script showed the form).
	step("certificate sign-in", chromedp.WaitVisible(chromedp.CSS("#signin-cert")), chromedp.Click(chromedp.CSS("#signin-cert")),
		chromedp.WaitVisible(chromedp.CSS(".letters")))
	step("add a passkey", chromedp.Navigate(origin+"/mailbox?lang=en"), chromedp.WaitVisible(chromedp.CSS("form.passkey-register")),
		chromedp.SendKeys(chromedp.CSS("form.passkey-register input[name=label]"), "Ноутбук"),
		chromedp.Click(chromedp.CSS("form.passkey-register button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("a[id^=request-]")))
	reqFile := download("a[id^=request-]", "request.json")
	raw, err := os.ReadFile(reqFile)
	if err != nil {
		t.Fatal(err)
	}
	req, err := signing.ParsePasskeyEndorsementRequest(raw)
	if err != nil || req.Mailbox != box || req.RPID != "localhost" {
		t.Fatalf("the downloaded endorsement request: %v %s", err, raw)
	}
	step("endorsement step ru", chromedp.Navigate(origin+"/mailbox?lang=ru"), chromedp.WaitVisible(chromedp.CSS("section[id^=pending-]")))
	shoot("mailbox-endorse-ru")
	checkA11y(t, ctx, string(axeJS), "mailbox endorsement step (ru)")
	step("back to English", chromedp.Navigate(origin+"/mailbox?lang=en"), chromedp.WaitVisible(chromedp.CSS("textarea[name=endorsement]")))
	// The holder runs the one command the page shows.
	dir := t.TempDir()
	if err := certs.WriteCredentialDir(filepath.Join(dir, "id"), citizen.cred); err != nil {
		t.Fatal(err)
	}
	out, errs, code := npes(t, "mailbox", "endorse-passkey", "--request", reqFile, "--id", filepath.Join(dir, "id"))
	if code != 0 {
		t.Fatalf("npes mailbox endorse-passkey --request: exit %d %s", code, errs)
	}
	step("paste the endorsement", chromedp.SetValue(chromedp.CSS("textarea[name=endorsement]"), strings.TrimSpace(out)),
		chromedp.Click(chromedp.CSS("section[id^=pending-] button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-notice")), chromedp.WaitVisible(chromedp.CSS(".passkey")))
	if got := text(".passkeys"); !strings.Contains(got, "Ноутбук") {
		t.Errorf("the passkey list: %q", got)
	}
	for _, lang := range []string{"be", "ru"} {
		step("mailbox with passkeys "+lang, chromedp.Navigate(origin+"/mailbox?lang="+lang), chromedp.WaitVisible(chromedp.CSS(".passkey")))
		shoot("mailbox-passkeys-" + lang)
		checkA11y(t, ctx, string(axeJS), "mailbox with passkeys ("+lang+")")
	}

	// Sign out; sign in with the passkey (discoverable: nothing typed).
	step("sign out", chromedp.Navigate(origin+"/inbox?lang=en"), chromedp.Click(chromedp.CSS(".signout button")),
		chromedp.WaitVisible(chromedp.CSS("#signin-passkey")))
	step("passkey sign-in", chromedp.Click(chromedp.CSS("#signin-passkey")), chromedp.WaitVisible(chromedp.CSS(".letters")))
	step("passkey session", chromedp.Navigate(origin+"/mailbox?lang=en"), chromedp.WaitVisible(chromedp.CSS(".passkey")))
	if got := text("main"); !strings.Contains(got, "To add a passkey, sign in with your certificate.") {
		t.Errorf("a passkey session is offered to add a passkey: %q", got)
	}

	// Accept the first letter with the passkey.
	for _, lang := range []string{"be", "ru"} {
		step("signing step "+lang, chromedp.Navigate(origin+"/letters/"+letters[0]+"?lang="+lang), chromedp.WaitVisible(chromedp.CSS("form.passkey-decide")))
		shoot("letter-sign-" + lang)
		checkA11y(t, ctx, string(axeJS), "letter signing step ("+lang+")")
	}
	step("accept with the passkey", chromedp.Navigate(origin+"/letters/"+letters[0]+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("#accept-passkey")),
		chromedp.Click(chromedp.CSS("#accept-passkey")), chromedp.WaitVisible(chromedp.CSS("#decided")))
	if got := text("main"); !strings.Contains(got, "Уважаемый абонент! Уведомление о задолженности") {
		t.Errorf("the accepted letter's content is not shown: %q", got)
	}
	bundleFile := download("#bundle", "bundle.json")
	trust := citizen.trust()
	trust.WebAuthn = &signing.WebAuthnTrust{RPID: "localhost", Origins: []string{origin}}
	trustJSON, _ := json.Marshal(trust)
	trustFile := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(trustFile, trustJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code = npes(t, "verify", bundleFile, "--trust", trustFile)
	if code != 0 || !strings.Contains(out, "passkey signature") {
		t.Fatalf("npes verify of the downloaded bundle: exit %d\n%s%s", code, out, errs)
	}
	// Without the pinned relying party the same bundle does not verify.
	trust.WebAuthn = nil
	trustJSON, _ = json.Marshal(trust)
	if err := os.WriteFile(trustFile, trustJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, code := npes(t, "verify", bundleFile, "--trust", trustFile); code == 0 {
		t.Error("npes verify accepted a passkey signature without a pinned WebAuthn relying party")
	}

	// Refuse the second, with a reason.
	step("refuse with the passkey", chromedp.Navigate(origin+"/letters/"+letters[1]+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("#refuse-passkey")),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Долг погашен"),
		chromedp.Click(chromedp.CSS("#refuse-passkey")), chromedp.WaitVisible(chromedp.CSS("#decided")))
	if got := text("#decided"); !strings.Contains(got, "refused") {
		t.Errorf("after refusing: %q", got)
	}

	// Remove the passkey: it is gone from the list and signs in no more.
	step("remove the passkey", chromedp.Navigate(origin+"/mailbox?lang=en"), chromedp.WaitVisible(chromedp.CSS(".passkey button.danger")),
		chromedp.Click(chromedp.CSS(".passkey button.danger")), chromedp.WaitVisible(chromedp.CSS("#passkey-notice")),
		chromedp.WaitNotPresent(chromedp.CSS(".passkey")))
	step("sign out again", chromedp.Click(chromedp.CSS(".signout button")), chromedp.WaitVisible(chromedp.CSS("#signin-passkey")),
		chromedp.Click(chromedp.CSS("#signin-passkey")), chromedp.WaitVisible(chromedp.CSS(".passkey-error")))
	if got := text(".passkey-error"); !strings.Contains(got, "not bound") {
		t.Errorf("sign-in with the removed passkey: %q", got)
	}
}

// npes runs a CLI command in-process.
func npes(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errs bytes.Buffer
	code = cli.Main(t.Context(), args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }})
	return out.String(), errs.String(), code
}
