package app_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/npes/npes/certs"
)

// citizenBrowser is one headless Chromium holding one certificate, as one
// citizen's browser holds their ID card's.
type citizenBrowser struct {
	tab
	origin    string
	downloads string
}

func newCitizenBrowser(t *testing.T, b *bundle, chromium, origin string, cred certs.Credential) *citizenBrowser {
	t.Helper()
	home := browserHome(t, b, cred)
	cb := &citizenBrowser{tab: openTab(t, chromium, home, "be-BY", "be-BY,be"), origin: origin, downloads: t.TempDir()}
	cb.step("allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: cb.downloads, EventsEnabled: ptr(true)})
		return err
	}))
	return cb
}

func (c *citizenBrowser) lang() string { return c.eval(`document.documentElement.lang`) }

// download clicks a link and returns the downloaded file's bytes, waiting
// for the browser's completion event (bounded, no sleep).
func (c *citizenBrowser) download(sel string) []byte { return c.tab.download(c.downloads, sel) }

// shots saves the page at 390 px (a common phone) and 1280 px, and checks
// that at 360 px (the smallest phone the portal supports) nothing makes the
// page scroll sideways.
func (c *citizenBrowser) shots(dir, name string) {
	c.t.Helper()
	for _, w := range []struct {
		name          string
		width, height int64
	}{{"360", 360, 740}, {"390", 390, 844}, {"1280", 1280, 900}} {
		c.step("viewport "+w.name, chromedp.EmulateViewport(w.width, w.height))
		if w.width == 360 {
			if over := c.eval(`(() => { const w = document.documentElement.clientWidth;
				const wide = [...document.querySelectorAll("main *, header *")].filter(e => e.getBoundingClientRect().right > w + 1);
				return document.documentElement.scrollWidth > w ? "page " + document.documentElement.scrollWidth + " > " + w + ": " + wide.slice(0, 5).map(e => e.tagName + "#" + e.id + "." + e.className).join(", ") : ""; })()`); over != "" {
				c.t.Errorf("%s overflows at 360 px: %s", name, over)
			}
			continue
		}
		png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			c.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+w.name+".png"), png, 0o644); err != nil {
			c.t.Fatal(err)
		}
	}
}

// TestPortalCitizenBrowser drives the citizen portal in headless Chromium:
// certificate sign-in, a search across the inbox's pages, reading a
// letter, writing one and recalling it (the recipient's browser shows it
// withdrawn), replying and seeing the thread, switching languages
// (be → ru → en, remembered across pages, <html lang> set), downloading the
// receipt PDF (text by pdftotext, QR code by zbarimg). axe-core checks
// every page; screenshots of the inbox, letter, write and mailbox pages in
// Belarusian and Russian go to $NPES_ARTIFACTS.
//
// Not parallel: Chromium's certificate policy is one file for the machine
// (autoSelectPolicy), so this test runs before the parallel browser tests
// are released and removes the file before they write theirs.
func TestPortalCitizenBrowser(t *testing.T) {
	chromium, axeFile := needBrowser(t)
	axeJS, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"pdftotext", "pdftoppm", "zbarimg"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; .ci/run installs it", tool)
			}
			t.Skipf("%s is missing", tool)
		}
	}
	axe := string(axeJS)
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	send := func(subject string, registered bool) string {
		t.Helper()
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": registered, "subject": subject, "body": "Уважаемый абонент! " + subject,
		}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		b.clock.Advance(time.Second)
		return sent.ID
	}
	oldest := send("Справка о составе семьи", false)
	for i := range 28 {
		send(fmt.Sprintf("Счёт за услуги связи № %d", i+1), false)
	}
	question := send("Ответ на обращение о тарифе", false)
	send("Уведомление о задолженности за декабрь 2026 года по лицевому счёту 1234567", true)

	port := b.srv.HTTPAddr.(*net.TCPAddr).Port
	origin := fmt.Sprintf("https://localhost:%d", port)
	shots := artifactsDir(t)
	// Both browsers sign in first, each right after (re)writing the
	// certificate policy: the policy directory is shared by everything on
	// the machine and Chromium reloads it when it changes, while a
	// certificate once chosen for the origin stays chosen for the browser's
	// life.
	autoSelectPolicy(t, origin)
	me := newCitizenBrowser(t, b, chromium, origin, citizen.cred)
	me.step("sign-in page", chromedp.Navigate(origin+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")))
	autoSelectPolicy(t, origin)
	them := newCitizenBrowser(t, b, chromium, origin, org.cred)
	them.step("recipient signs in", chromedp.Navigate(origin+"/"), chromedp.Click(chromedp.CSS("#signin-cert")),
		chromedp.WaitVisible(chromedp.CSS("#letters-h")))

	// Certificate sign-in, in Belarusian (the browser's language).
	if got := me.lang(); got != "be" {
		t.Errorf("sign-in page for a be-BY browser: <html lang> = %q", got)
	}
	checkA11y(t, me.ctx, axe, "sign-in")
	me.step("certificate sign-in", chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS(".awaiting")))
	checkA11y(t, me.ctx, axe, "inbox")
	me.shots(shots, "citizen-inbox-be")
	if strings.Contains(me.text("main"), "Справка о составе семьи") {
		t.Fatal("the oldest letter is on the first page: the test needs two pages")
	}
	// The search finds the oldest letter from the first page (it runs over
	// the whole mailbox), case-folded.
	me.step("search", chromedp.SendKeys(chromedp.CSS("#q"), "СЕМЬИ"), chromedp.Click(chromedp.CSS("#search-submit")),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/letters/`+oldest+`"]`)))
	checkA11y(t, me.ctx, axe, "inbox search")
	// Paging a search: "счёт" matches 29 letters, 25 a page.
	me.step("search счёт", chromedp.Navigate(origin+"/inbox?q="+"%D1%81%D1%87%D1%91%D1%82"), chromedp.WaitVisible(chromedp.CSS(`a[rel=next]`)),
		chromedp.Click(chromedp.CSS(`a[rel=next]`)), chromedp.WaitVisible(chromedp.CSS(`.pages a:not([rel])`)))
	if got := me.eval(`String(document.querySelectorAll("li.letter").length)`); got != "4" {
		t.Errorf("second page of the search holds %s letters, want 4", got)
	}
	if v := me.eval(`document.querySelector("#q").value`); v != "счёт" {
		t.Errorf("the second page lost the search: %q", v)
	}

	// Reading a letter: its content is shown, the unread mark goes.
	me.step("read a letter", chromedp.Navigate(origin+"/letters/"+question), chromedp.WaitVisible(chromedp.CSS(".body")))
	if got := me.text(".body"); !strings.Contains(got, "Ответ на обращение о тарифе") {
		t.Errorf("letter content: %q", got)
	}
	me.shots(shots, "citizen-letter-be")
	checkA11y(t, me.ctx, axe, "letter")

	// Reply: the form is addressed to the sender; the reply's page shows
	// the thread.
	me.step("reply", chromedp.Click(chromedp.CSS("#reply")), chromedp.WaitVisible(chromedp.CSS(`#send`)))
	if got := me.eval(`(document.querySelector("input[name=in_reply_to]") || {}).value || ""`); got != question {
		t.Errorf("reply form answers %q, want %s", got, question)
	}
	if got := me.eval(`document.querySelector("#name").value + "|" + document.querySelector("#subject").value`); !strings.HasPrefix(got, orgReq.Name+"|Re: ") {
		t.Errorf("reply form: %q", got)
	}
	me.step("send the reply", chromedp.SendKeys(chromedp.CSS("#body"), "Благодарю за ответ."), chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS("#thread-h")))
	if got := me.text(".thread"); !strings.Contains(got, "Ответ на обращение о тарифе") {
		t.Errorf("thread: %q", got)
	}
	checkA11y(t, me.ctx, axe, "letter with a thread")

	// Write a registered appeal, showing first an error in place.
	me.step("write", chromedp.Navigate(origin+"/write"), chromedp.WaitVisible(chromedp.CSS("#send")))
	me.shots(shots, "citizen-write-be")
	checkA11y(t, me.ctx, axe, "write")
	me.step("write to a bad address",
		chromedp.SendKeys(chromedp.CSS("#name"), orgReq.Name), chromedp.SendKeys(chromedp.CSS("#address"), "нигде"),
		chromedp.SendKeys(chromedp.CSS("#subject"), "Жалоба"), chromedp.SendKeys(chromedp.CSS("#body"), "Прошу разобраться."),
		chromedp.Click(chromedp.CSS("#registered")), chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#address-error")))
	checkA11y(t, me.ctx, axe, "write with an error")
	me.shots(shots, "citizen-write-error-be")
	me.step("fix the address", chromedp.SetValue(chromedp.CSS("#address"), orgAddress), chromedp.Click(chromedp.CSS("#send")),
		chromedp.WaitVisible(chromedp.CSS("#recall")))
	loc, err := chromedp.Run(me.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	appeal, _, _ := strings.Cut(loc[strings.LastIndex(loc, "/letters/")+len("/letters/"):], "?")

	// Recall it; the organization's browser shows it withdrawn.
	me.step("recall", chromedp.Click(chromedp.CSS("#recall")), chromedp.WaitVisible(chromedp.CSS("#done")), chromedp.WaitVisible(chromedp.CSS("#recall-why")))
	checkA11y(t, me.ctx, axe, "recalled letter")
	them.step("recipient's inbox", chromedp.Navigate(origin+"/inbox"), chromedp.WaitVisible(chromedp.CSS(`a[href="/letters/`+appeal+`"]`)))
	them.step("recipient opens the recalled letter", chromedp.Click(chromedp.CSS(`a[href="/letters/`+appeal+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#withdrawn")))
	if got := them.text("main"); strings.Contains(got, "Прошу разобраться.") {
		t.Error("the recipient sees the recalled letter's content")
	}
	checkA11y(t, them.ctx, axe, "recipient's recalled letter")

	// Languages: be → ru → en by the language links, remembered across
	// pages with <html lang>.
	for _, lang := range []string{"ru", "en"} {
		me.step("switch to "+lang, chromedp.Navigate(origin+"/inbox"), chromedp.Click(chromedp.CSS(`.langs a[hreflang=`+lang+`]`)),
			chromedp.WaitVisible(chromedp.CSS(`.langs a[hreflang=`+lang+`][aria-current]`)))
		me.step("mailbox in "+lang, chromedp.Navigate(origin+"/mailbox"), chromedp.WaitVisible(chromedp.CSS("#recovery-h")))
		if got := me.lang(); got != lang {
			t.Errorf("after switching to %s the mailbox page has <html lang> %q", lang, got)
		}
		if lang == "ru" {
			checkA11y(t, me.ctx, axe, "mailbox")
			me.shots(shots, "citizen-mailbox-ru")
			for _, p := range []struct{ name, path, sel string }{
				{"inbox", "/inbox", ".awaiting"}, {"letter", "/letters/" + question, ".body"}, {"write", "/write", "#send"},
			} {
				me.step(p.name+" ru", chromedp.Navigate(origin+p.path), chromedp.WaitVisible(chromedp.CSS(p.sel)))
				me.shots(shots, "citizen-"+p.name+"-ru")
			}
			me.step("mailbox be", chromedp.Navigate(origin+"/mailbox?lang=be"), chromedp.WaitVisible(chromedp.CSS("#recovery-h")))
			me.shots(shots, "citizen-mailbox-be")
			me.step("back to ru", chromedp.Navigate(origin+"/mailbox?lang=ru"), chromedp.WaitVisible(chromedp.CSS("#recovery-h")))
		}
	}
	if got := me.text("h1"); got != "Your mailboxes" {
		t.Errorf("English mailbox page heading: %q", got)
	}

	// The receipt PDF of the recalled appeal, downloaded in the browser.
	me.step("letter for the receipt", chromedp.Navigate(origin+"/letters/"+appeal+"?lang=ru"), chromedp.WaitVisible(chromedp.CSS("#receipt")))
	pdfBytes := me.download("#receipt")
	if !strings.HasPrefix(string(pdfBytes), "%PDF-") {
		t.Fatalf("the receipt is not a PDF: %.40q", pdfBytes)
	}
	text := pdftotext(t, pdfBytes)
	for _, want := range []string{"Квитанция о письме", "Жалоба", "Отправитель отозвал письмо.", "SHA-256"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt text lacks %q:\n%s", want, text)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.pdf"), pdfBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", filepath.Join(dir, "r.pdf"), filepath.Join(dir, "r"))
	out, err := exec.Command("zbarimg", "--quiet", "--raw", filepath.Join(dir, "r.png")).Output()
	if err != nil || strings.TrimSpace(string(out)) != origin+"/verify" {
		t.Errorf("zbarimg on the receipt: %q, %v; want %s/verify", out, err, origin)
	}
}
