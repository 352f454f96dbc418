package app_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// TestPortalCitizen drives the citizen portal's search, recall, reply,
// receipt and mailbox pages over HTTP on both stores.
func TestPortalCitizen(t *testing.T) {
	t.Parallel()
	for name, dbURL := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			codes := map[string]string{}
			b := setupWith(t, dbURL(t), func(c *app.Config) {
				c.ActivationCodeSink = func(id, code string) { mu.Lock(); codes[id] = code; mu.Unlock() }
			})
			code := func(id string) string { mu.Lock(); defer mu.Unlock(); return codes[id] }
			org := b.party(t, orgReq)
			org.registerActive(orgAddress)
			citizen := b.party(t, citizenReq)
			box := citizen.registerActive(citizenAddress)
			t.Run("Search", func(t *testing.T) { testPortalSearch(t, b, org, citizen) })
			t.Run("RecallReplyReceipt", func(t *testing.T) { testPortalRecallReply(t, b, org, citizen) })
			t.Run("Mailbox", func(t *testing.T) { testPortalMailboxPage(t, b, citizen, box, code) })
		})
	}
}

func testPortalSearch(t *testing.T, b *bundle, org, citizen *party) {
	send := func(subject string, registered bool) string {
		t.Helper()
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": registered, "subject": subject, "body": "Текст: " + subject,
		}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		b.clock.Advance(time.Second)
		return sent.ID
	}
	oldest := send("Справка о составе СЕМЬИ", false)
	var ids []string
	for i := range 30 {
		ids = append(ids, send(fmt.Sprintf("Счёт № %d", i), i%10 == 0))
	}
	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	resp, body := holder.do("GET", "/inbox", nil)
	if resp.StatusCode != 200 || strings.Contains(body, oldest) {
		t.Fatalf("first page: %d, holds the oldest letter: %v", resp.StatusCode, strings.Contains(body, oldest))
	}
	// The search runs over the whole mailbox, not the page: the oldest
	// letter is found from the first page, case-folded in Cyrillic.
	resp, body = holder.do("GET", "/inbox?q="+url.QueryEscape("семьи"), nil)
	if resp.StatusCode != 200 || !strings.Contains(body, oldest) || strings.Count(body, `<li class="letter`) != 1 {
		t.Fatalf("search семьи: %d, found %v, %d rows", resp.StatusCode, strings.Contains(body, oldest), strings.Count(body, `<li class="letter`))
	}
	// Pages of a search keep the search: 30 "Счёт" letters, 25 a page.
	_, body = holder.do("GET", "/inbox?q="+url.QueryEscape("счет"), nil)
	next := regexp.MustCompile(`href="(\?[^"]*cursor=[^"]+)" rel="next"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatalf("no next page of the search:\n%s", body)
	}
	nextURL := strings.ReplaceAll(next[1], "&amp;", "&")
	if !strings.Contains(nextURL, "q=") {
		t.Errorf("the next page drops the search: %s", nextURL)
	}
	_, body2 := holder.do("GET", "/inbox"+nextURL, nil)
	seen := 0
	for _, id := range ids {
		if strings.Contains(body, id) || strings.Contains(body2, id) {
			seen++
		}
	}
	if seen != 30 || strings.Contains(body2, oldest) {
		t.Errorf("search pages show %d of 30 letters", seen)
	}
	// Filters: registered letters (3, all awaiting: first, with a
	// deadline), unread, a date range, a bad date.
	_, body = holder.do("GET", "/inbox?registered=yes", nil)
	if n := strings.Count(body, `<li class="letter`); n != 3 || !strings.Contains(body, "Sign by") {
		t.Errorf("registered filter: %d rows", n)
	}
	_, body = holder.do("GET", "/inbox?registered=no&q="+url.QueryEscape("№ 1"), nil)
	if n := strings.Count(body, `<li class="letter`); n != 10 { // 1, 11..19 (10 is registered)
		t.Errorf("simple letters matching № 1: %d rows", n)
	}
	holder.do("GET", "/letters/"+ids[1], nil) // read one
	_, body = holder.do("GET", "/inbox?unread=1&q="+url.QueryEscape("№ 1"), nil)
	if strings.Contains(body, ids[1]) || !strings.Contains(body, ids[11]) {
		t.Errorf("unread filter shows the read letter or hides an unread one")
	}
	day := b.clock.Now().In(time.FixedZone("", 3*3600)).Format("2006-01-02")
	if _, body := holder.do("GET", "/inbox?from="+day+"&to="+day+"&q="+url.QueryEscape("семьи"), nil); !strings.Contains(body, oldest) {
		t.Errorf("date range of today lacks the letter")
	}
	if _, body := holder.do("GET", "/inbox?to=2001-01-01&q="+url.QueryEscape("семьи"), nil); strings.Contains(body, oldest) {
		t.Errorf("date range in 2001 shows the letter")
	}
	if resp, body := holder.do("GET", "/inbox?from=31.12.2026", nil); resp.StatusCode != 400 || !strings.Contains(body, `id="filter-error"`) {
		t.Errorf("bad date: %d", resp.StatusCode)
	}
	if resp, body := holder.do("GET", "/inbox?from=31.12.2026&lang=ru", nil); resp.StatusCode != 400 || !strings.Contains(body, "Введите даты") {
		t.Errorf("bad date in Russian: %d", resp.StatusCode)
	}
}

func testPortalRecallReply(t *testing.T, b *bundle, org, citizen *party) {
	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	write := func(form url.Values) string {
		t.Helper()
		form.Set("key", strings.Repeat(string(rune('A'+len(form.Get("subject"))%26)), 22))
		resp, body := holder.postForm("/write", form)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/letters/") {
			t.Fatalf("write: %d %s", resp.StatusCode, body)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(loc, "/letters/"), "?")
		return id
	}
	// A registered appeal, written with the address on two lines.
	id := write(url.Values{"name": {orgReq.Name}, "address": {"220030, г. Минск,\r\nул. Энгельса, 6"},
		"subject": {"Жалоба на отключение"}, "body": {"Прошу разобраться."}, "registered": {"on"}})
	_, body := holder.do("GET", "/letters/"+id, nil)
	if !strings.Contains(body, `id="recall"`) || !strings.Contains(body, `action="/letters/`+id+`/recall"`) {
		t.Fatalf("the sender is not offered a recall:\n%s", body)
	}
	// A cross-site post is refused before anything happens.
	resp, _ := holder.request("POST", "/letters/"+id+"/recall", nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site recall: %d", resp.StatusCode)
	}
	var v mailbox.LetterView
	org.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
	if v.State != mailbox.StateAwaitingAcceptance {
		t.Fatalf("before the recall: %s", v.State)
	}
	resp, body = holder.postForm("/letters/"+id+"/recall", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/letters/"+id+"?done=recalled" {
		t.Fatalf("recall: %d %s", resp.StatusCode, body)
	}
	org.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
	if v.State != mailbox.StateRecalled {
		t.Fatalf("the recipient sees %s", v.State)
	}
	// The recipient's portal shows it withdrawn, without content.
	orgPortal := b.portal(t, &org.cred)
	orgPortal.signIn()
	if _, body := orgPortal.do("GET", "/letters/"+id, nil); !strings.Contains(body, `id="withdrawn"`) || strings.Contains(body, "Прошу разобраться") {
		t.Errorf("recipient's page of the recalled letter:\n%s", body)
	}
	// A second recall is explained in place, in the reader's language.
	resp, body = holder.request("POST", "/letters/"+id+"/recall?lang=be", nil, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="letter-error"`) || !strings.Contains(body, "Ліст ужо адкліканы.") {
		t.Errorf("second recall: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="recall"`) || !strings.Contains(body, `id="recall-why"`) {
		t.Errorf("a recalled letter still offers the button")
	}

	// A simple letter; the organization replies from the portal; both see
	// the thread.
	first := write(url.Values{"name": {orgReq.Name}, "address": {orgAddress}, "subject": {"Вопрос о тарифе"}, "body": {"Какой тариф?"}})
	resp, body = orgPortal.do("GET", "/write?reply="+first, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="in_reply_to" value="`+first+`"`) || !strings.Contains(body, "Re: Вопрос о тарифе") ||
		!strings.Contains(body, "Дорошевича") {
		t.Fatalf("reply form: %d\n%s", resp.StatusCode, body)
	}
	resp, body = orgPortal.postForm("/write", url.Values{"key": {"RRRRRRRRRRRRRRRRRRRRRR"}, "in_reply_to": {first}, "name": {"Иванову И. И."},
		"address": {citizenAddress}, "subject": {"Re: Вопрос о тарифе"}, "body": {"Тариф базовый."}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d %s", resp.StatusCode, body)
	}
	reply, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Location"), "/letters/"), "?")
	_, body = holder.do("GET", "/letters/"+first, nil)
	if !strings.Contains(body, `id="thread-h"`) || !strings.Contains(body, `href="/letters/`+reply+`"`) {
		t.Errorf("the thread on the first letter lacks the reply:\n%s", body)
	}
	if strings.Contains(body, `id="recall"`) {
		// The simple letter was read by nobody yet: it can be recalled.
	} else {
		t.Errorf("an unread simple letter is not offered a recall")
	}

	// The receipt PDF of the recalled registered letter.
	resp, pdfBody := holder.do("GET", "/letters/"+id+"/receipt.pdf?lang=ru", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdfBody, "%PDF-") {
		t.Fatalf("receipt: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	text := pdftotext(t, []byte(pdfBody))
	for _, want := range []string{"Квитанция о письме", "Жалоба на отключение", v.Tracking, "Отправитель отозвал письмо.", v.ContentSHA256[:16], "Контрольная точка журнала"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt text lacks %q:\n%s", want, text)
		}
	}
	if resp, _ := orgPortal.do("GET", "/letters/"+ids0(t, org)+"/receipt.pdf", nil); resp.StatusCode != 200 && resp.StatusCode != 404 {
		t.Errorf("receipt of another letter: %d", resp.StatusCode)
	}
	stranger := b.portal(t, ptr(b.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB3"}, b.clock.Now())))
	stranger.signIn()
	if resp, body := stranger.do("GET", "/letters/"+id+"/receipt.pdf", nil); resp.StatusCode != 404 || strings.Contains(body, "%PDF") {
		t.Errorf("a stranger's receipt: %d", resp.StatusCode)
	}
	if resp, _ := stranger.postForm("/letters/"+id+"/recall", url.Values{}); resp.StatusCode != 404 {
		t.Errorf("a stranger's recall: %d", resp.StatusCode)
	}

	// Write errors are shown at their field, in the reader's language.
	resp, body = holder.postForm("/write?lang=be", url.Values{"key": {"EEEEEEEEEEEEEEEEEEEEEE"}, "name": {orgReq.Name}, "address": {"нигде"},
		"subject": {"Тема"}, "body": {"Текст"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `id="address-error"`) || !strings.Contains(body, "Паштовы адрас не ўдалося разабраць") ||
		!strings.Contains(body, `aria-invalid="true"`) {
		t.Errorf("bad address: %d\n%s", resp.StatusCode, body)
	}
	// Attachments: a PDF goes through; a file type that cannot be printed
	// to an address without a mailbox is refused at the file input.
	mp := func(files map[string]string, fields url.Values) (*http.Response, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k := range fields {
			_ = mw.WriteField(k, fields.Get(k))
		}
		for name, data := range files {
			w, _ := mw.CreateFormFile("files", name)
			_, _ = w.Write([]byte(data))
		}
		_ = mw.Close()
		return holder.send("POST", "/write", &buf, mw.FormDataContentType())
	}
	resp, body = mp(map[string]string{"заявление.pdf": minimalPDF}, url.Values{"key": {"FFFFFFFFFFFFFFFFFFFFFF"}, "name": {orgReq.Name},
		"address": {orgAddress}, "subject": {"С вложением"}, "body": {"См. вложение."}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("letter with a PDF: %d %s", resp.StatusCode, body)
	}
	withFile, _, _ := strings.Cut(strings.TrimPrefix(resp.Header.Get("Location"), "/letters/"), "?")
	if _, body := holder.do("GET", "/letters/"+withFile, nil); !strings.Contains(body, "заявление.pdf") {
		t.Errorf("the attachment is not on the letter page")
	}
	many := map[string]string{}
	for i := range 25 {
		many[fmt.Sprintf("f%d.pdf", i)] = minimalPDF
	}
	resp, body = mp(many, url.Values{"key": {"GGGGGGGGGGGGGGGGGGGGGG"}, "name": {orgReq.Name}, "address": {orgAddress}, "subject": {"Много"}, "body": {"x"}})
	if resp.StatusCode/100 != 4 || !strings.Contains(body, `id="attachments-error"`) || !strings.Contains(body, "Вашы файлы не захаваліся") /* the language chosen above (be) is remembered */ ||
		!strings.Contains(body, `value="Много"`) {
		t.Errorf("too many attachments: %d\n%s", resp.StatusCode, body)
	}
}

// minimalPDF is a one-page PDF (what the print path accepts).
const minimalPDF = "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj " +
	"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

func ids0(t *testing.T, p *party) string {
	var page struct{ Letters []mailbox.LetterView }
	p.mustJSON("GET", "/v1/letters", nil, &page, 200)
	if len(page.Letters) == 0 {
		t.Fatal("no letters")
	}
	return page.Letters[0].ID
}

// pdftotext extracts a PDF's text with poppler, whitespace collapsed.
func pdftotext(t *testing.T, doc []byte) string {
	t.Helper()
	tool, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pdftotext is required in CI: %v", err)
		}
		t.Skipf("pdftotext not installed: %v", err)
	}
	file := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-layout", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func testPortalMailboxPage(t *testing.T, b *bundle, citizen *party, box string, code func(string) string) {
	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	// The notification e-mail: a bad one is explained at the field.
	resp, body := holder.postForm("/mailbox/"+box+"/email?lang=ru", url.Values{"email": {"не адрес"}})
	if resp.StatusCode != 400 || !strings.Contains(body, `id="email-error"`) || !strings.Contains(body, "Введите адрес электронной почты") {
		t.Errorf("bad e-mail: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := holder.postForm("/mailbox/"+box+"/email", url.Values{"email": {"ivanov@example.by"}}); resp.StatusCode != http.StatusSeeOther ||
		resp.Header.Get("Location") != "/mailbox?done=email" {
		t.Fatalf("set e-mail: %d", resp.StatusCode)
	}
	var mine []mailbox.Mailbox
	_, body = holder.do("GET", "/mailbox?done=email", nil)
	if !strings.Contains(body, "ivanov@example.by") || !strings.Contains(body, `id="done"`) {
		t.Errorf("mailbox page after setting the e-mail:\n%s", body)
	}
	if m, err := b.srv.Service.MailboxByID(t.Context(), box); err != nil || m.Email != "ivanov@example.by" {
		t.Errorf("stored e-mail %q, %v", m.Email, err)
	}
	_ = mine
	// The session's own certificate has no remove button; another one
	// (bound through the API) is removed from the page.
	if strings.Count(body, `action="/mailbox/`+box+`/unbind"`) != 0 {
		t.Errorf("the session's own certificate is offered for removal")
	}
	second := b.issue(t, citizenReq, b.clock.Now())
	citizen.mustJSON("POST", "/v1/mailboxes/"+box+"/credentials", map[string]string{"certificate": string(second.CertPEM)}, nil, 201)
	_, body = holder.do("GET", "/mailbox", nil)
	m := regexp.MustCompile(`name="identity" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no remove button for the second certificate:\n%s", body)
	}
	secondPortal := b.portal(t, &second)
	secondPortal.signIn()
	resp, _ = holder.postForm("/mailbox/"+box+"/unbind", url.Values{"identity": {m[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unbind: %d", resp.StatusCode)
	}
	// Its sessions end with the binding.
	if resp, _ := secondPortal.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the removed certificate's session lives on: %d", resp.StatusCode)
	}
	// Removing the session's own certificate is refused by the service.
	self := regexp.MustCompile(`^[^ ]+`).FindString(strings.TrimSpace(certIdentity(t, citizen.cred)))
	if resp, body := holder.postForm("/mailbox/"+box+"/unbind", url.Values{"identity": {self}}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, `id="unbind-error"`) {
		t.Errorf("unbinding the own certificate: %d", resp.StatusCode)
	}

	// Recovery: the certificate is lost and revoked; a new one signs in,
	// starts a recovery, and completes it with the code from the letter
	// — the code alone, from another certificate, does not.
	b.revoke(t, citizen.cred)
	if err := b.srv.RefreshRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	renewed := b.issue(t, citizenReq, b.clock.Now())
	np := b.portal(t, &renewed)
	np.signIn()
	if resp, body := np.postForm("/recovery?lang=be", url.Values{"address": {"220013, г. Минск, ул. Дорошевича, д. 9"}}); resp.StatusCode/100 != 4 ||
		!strings.Contains(body, `id="address-error"`) {
		t.Errorf("recovery at a wrong address: %d\n%s", resp.StatusCode, body)
	}
	if resp, body := np.postForm("/recovery", url.Values{"address": {"220013, г. Минск,\nул. Дорошевича, д. 8, кв. 5"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start recovery: %d %s", resp.StatusCode, body)
	}
	_, body = np.do("GET", "/mailbox?done=recovery", nil)
	rm := regexp.MustCompile(`action="/recovery/([^/"]+)/complete"`).FindStringSubmatch(body)
	if rm == nil || code(box) == "" {
		t.Fatalf("no pending recovery on the page (code %q):\n%s", code(box), body)
	}
	other := b.portal(t, ptr(b.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB3"}, b.clock.Now())))
	other.signIn()
	if resp, _ := other.postForm("/recovery/"+rm[1]+"/complete", url.Values{"code": {code(box)}}); resp.StatusCode/100 != 4 {
		t.Errorf("another certificate completed the recovery with the code: %d", resp.StatusCode)
	}
	if resp, body := np.postForm("/recovery/"+rm[1]+"/complete", url.Values{"code": {"WRONG"}}); resp.StatusCode/100 != 4 ||
		!strings.Contains(body, `id="recover-error"`) {
		t.Errorf("wrong recovery code: %d", resp.StatusCode)
	}
	if resp, body := np.postForm("/recovery/"+rm[1]+"/complete", url.Values{"code": {code(box)}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("complete recovery: %d %s", resp.StatusCode, body)
	}
	if _, body := np.do("GET", "/mailbox", nil); !strings.Contains(body, box) || strings.Contains(body, `action="/recovery/`) {
		t.Errorf("mailbox page after recovery:\n%s", body)
	}
}

func certIdentity(t *testing.T, cred certs.Credential) string {
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	return id.ID
}
