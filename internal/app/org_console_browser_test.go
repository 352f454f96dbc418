package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// orgBrowser is one headless Chromium holding one certificate.
type orgBrowser struct{ tab }

func startBrowser(t *testing.T, chromium, home string) *orgBrowser {
	t.Helper()
	return &orgBrowser{openTab(t, chromium, home, "en-US", "")}
}

// orgShots saves the current page at 390 px (a phone) and 1280 px.
func orgShots(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, w := range []struct {
		name          string
		width, height int64
	}{{"390", 390, 844}, {"1280", 1280, 900}} {
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

// TestOrgConsoleBrowser runs the organization's main tasks in headless
// Chromium: certificate sign-in, an address check, a registered letter
// with an attachment, a mail merge of five rows with one refused, its
// progress, report and CSV, and the sent letters filtered; a person's
// browser finds nothing of the console. Not parallel: the client
// certificate policy is one file that TestPortalBrowser writes too.
func TestOrgConsoleBrowser(t *testing.T) {
	chromium, axeFile := needBrowser(t)
	axeData, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	axeJS := string(axeData)
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)

	port := b.srv.HTTPAddr.(*net.TCPAddr).Port
	origin := fmt.Sprintf("https://localhost:%d", port)
	autoSelectPolicy(t, origin)
	shots := filepath.Join(filepath.Dir(artifactsDir(t)), "org")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("organization console screenshots in %s", shots)
	files := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	attachment := write("conditions.txt", "Условия обслуживания абонентов.\n")
	csvFile := write("recipients.csv", "name;address;registered;amount\n"+
		"Петров Пётр Петрович;220030, г. Минск, ул. Энгельса, 10, кв. 1;no;12,50\n"+
		"Сидорова Анна;220030, г. Минск, ул. Энгельса, 12, кв. 2;yes;8,00\n"+
		"Козлов Олег;нигде;no;1,00\n"+
		"Иванов Иван Иванович;"+citizenAddress+";no;30,00\n"+
		"Орлова Мария;220030, г. Минск, ул. Энгельса, 14;no;5,25\n")
	tmplFile := write("letter.txt", "Subject: Счёт на {{amount}} руб.\n\nУважаемый(ая) {{name}}! К оплате {{amount}} руб.\n")
	downloads := t.TempDir()

	// A person's browser first: no console entry, and 404 on every route.
	// One Chromium at a time on a loaded machine, each started right after
	// the certificate policy is written.
	personHome := browserHome(t, b, citizen.cred)
	autoSelectPolicy(t, origin) // again: the policy directory is the machine's
	pb := startBrowser(t, chromium, personHome)
	pb.step("person signs in", chromedp.Navigate(origin+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")),
		chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS(".signout")))
	if n := pb.eval(`String(document.querySelectorAll('a[href^="/org"]').length)`); n != "0" {
		t.Errorf("a person's page links %s times to the organization console", n)
	}
	routes, _ := json.Marshal(orgRoutes)
	statuses := pb.eval(`Promise.all(` + string(routes) + `.map(([m, p]) => fetch(p, {method: m, redirect: "manual"}).then(r => m + " " + p + " " + r.status))).then(a => a.join("\n"))`)
	for _, line := range strings.Split(statuses, "\n") {
		if !strings.HasSuffix(line, " 404") {
			t.Errorf("a person's browser: %s, want 404", line)
		}
	}
	pb.step("person opens the console", chromedp.Navigate(origin+"/org/letters?lang=be"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	orgShots(t, pb.ctx, shots, "person-404-be")
	pb.close()

	orgHome := browserHome(t, b, org.cred)
	autoSelectPolicy(t, origin)
	br := startBrowser(t, chromium, orgHome)
	ctx := br.ctx
	br.step("sign in", chromedp.Navigate(origin+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")),
		chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS("#nav-org")))

	// Compose: check the address, then send a registered letter with an
	// attachment that the check found printable.
	br.step("compose", chromedp.Navigate(origin+"/org/compose?lang=be"), chromedp.WaitVisible(chromedp.CSS("#check")))
	orgShots(t, ctx, shots, "compose-be")
	checkA11y(t, ctx, axeJS, "compose")
	br.step("check the address",
		chromedp.SendKeys(chromedp.CSS("#name"), citizenReq.Name),
		chromedp.SendKeys(chromedp.CSS("#address"), citizenAddress),
		chromedp.SendKeys(chromedp.CSS("#subject"), "Уведомление об изменении тарифа"),
		chromedp.SendKeys(chromedp.CSS("#body"), "Уважаемый абонент! С 1 января тариф меняется."),
		chromedp.Click(chromedp.CSS("#registered")),
		chromedp.SendKeys(chromedp.CSS("#print_if_unsigned"), "10d"),
		chromedp.SetUploadFiles(chromedp.CSS("#attachment"), []string{attachment}),
		chromedp.Click(chromedp.CSS("#check")),
		chromedp.WaitVisible(chromedp.CSS("#check-result")))
	if got := br.text("#parsed-address"); !strings.Contains(got, "Дорошевича") || !strings.Contains(got, "220013") {
		t.Errorf("the parsed address: %q", got)
	}
	if got := br.text("#verdict"); !strings.Contains(strings.ToLower(got), "можна адпраўляць") {
		t.Errorf("the check's verdict: %q", got)
	}
	if got := br.text("#held-attachments"); !strings.Contains(got, "conditions.txt") {
		t.Errorf("the checked attachment is not kept: %q", got)
	}
	orgShots(t, ctx, shots, "check-be")
	checkA11y(t, ctx, axeJS, "compose check")
	br.step("send", chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#bundle")))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	letterID := loc[strings.LastIndex(loc, "/")+1:]
	var sent struct {
		Registered  bool
		Attachments int
		Subject     string
	}
	org.mustJSON("GET", "/v1/letters/"+letterID, nil, &sent, 200)
	if !sent.Registered || sent.Attachments != 1 {
		t.Errorf("the letter sent in the browser: %+v", sent)
	}

	// Mail merge: preview, send, progress, report, report CSV.
	br.step("merge form", chromedp.Navigate(origin+"/org/merge?lang=ru"), chromedp.WaitVisible(chromedp.CSS("#preview")))
	orgShots(t, ctx, shots, "merge-ru")
	checkA11y(t, ctx, axeJS, "merge")
	br.step("preview", chromedp.SetUploadFiles(chromedp.CSS("#csv"), []string{csvFile}),
		chromedp.SetUploadFiles(chromedp.CSS("#template"), []string{tmplFile}),
		chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#send-merge")))
	if got := br.text("main"); !strings.Contains(got, "Счёт на 12,50 руб.") || !strings.Contains(got, "Уважаемый(ая) Сидорова Анна!") {
		t.Errorf("the preview: %q", got)
	}
	orgShots(t, ctx, shots, "preview-ru")
	checkA11y(t, ctx, axeJS, "merge preview")
	br.step("send the merge", chromedp.Click(chromedp.CSS("#send-merge")), chromedp.WaitVisible(chromedp.CSS("#batch")))
	// The page's script reloads it until the batch is done.
	br.step("the batch finishes", chromedp.WaitVisible(chromedp.CSS(`#batch[data-state="done"]`)))
	for sel, want := range map[string]string{"#count-sent": "4", "#count-refused": "1", "#count-electronic": "1", "#count-print": "3"} {
		if got := strings.TrimSpace(br.text(sel)); got != want {
			t.Errorf("report %s = %q, want %s", sel, got, want)
		}
	}
	if got := br.text("#refused"); !strings.Contains(got, "4") || !strings.Contains(got, "bad_address") {
		t.Errorf("the refused row and its reason: %q", got)
	}
	orgShots(t, ctx, shots, "report-ru")
	checkA11y(t, ctx, axeJS, "merge report")
	report := br.download(downloads, "#report-csv")
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(report), "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 6 {
		t.Fatalf("the downloaded report: %d rows, %v\n%s", len(rows), err, report)
	}
	if r := rows[3]; r[0] != "4" || r[1] != "refused" || r[5] != "bad_address" {
		t.Errorf("the downloaded report's refused row: %v", r)
	}

	// Sent letters, filtered: registered ones only.
	br.step("sent letters", chromedp.Navigate(origin+"/org/letters?lang=be"), chromedp.WaitVisible(chromedp.CSS("#sent-letters")),
		// The filtered list is a new page: mark the old one, so the wait
		// below cannot be satisfied by it.
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "1"`),
		chromedp.SetValue(chromedp.CSS("#registered"), "yes"), chromedp.Click(chromedp.CSS("#filter")),
		chromedp.WaitVisible(chromedp.CSS("body:not([data-old]) #sent-letters")))
	got := br.text("#sent-letters")
	if !strings.Contains(got, "Уведомление об изменении тарифа") || !strings.Contains(got, "Счёт на 8,00") || strings.Contains(got, "Счёт на 12,50") {
		t.Errorf("registered sent letters: %q", got)
	}
	orgShots(t, ctx, shots, "letters-be")
	checkA11y(t, ctx, axeJS, "sent letters")
	br.step("sent letters ru", chromedp.Navigate(origin+"/org/letters?lang=ru&route=print"), chromedp.WaitVisible(chromedp.CSS("#sent-letters")))
	orgShots(t, ctx, shots, "letters-ru")
	for _, page := range []struct{ path, sel, name string }{
		{"/org/compose?lang=ru", "#check", "compose-ru"}, {"/org/merge?lang=be", "#preview", "merge-be"}} {
		br.step(page.name, chromedp.Navigate(origin+page.path), chromedp.WaitVisible(chromedp.CSS(page.sel)))
		orgShots(t, ctx, shots, page.name)
	}

}
