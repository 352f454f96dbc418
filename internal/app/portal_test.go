package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// portalClient is a browser-like client of the web portal: it keeps the
// session cookie itself and never follows redirects, so each test sees
// exactly what the server answered.
type portalClient struct {
	t      *testing.T
	b      *bundle
	c      *http.Client
	cookie string
}

func (b *bundle) portal(t *testing.T, cred *certs.Credential) *portalClient {
	c := b.client(t, cred)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &portalClient{t: t, b: b, c: c}
}

func (p *portalClient) do(method, path string, hdr map[string]string) (*http.Response, string) {
	p.t.Helper()
	return p.request(method, path, nil, hdr)
}

func (p *portalClient) send(method, path string, body io.Reader, contentType string) (*http.Response, string) {
	p.t.Helper()
	return p.request(method, path, body, map[string]string{"Content-Type": contentType})
}

func (p *portalClient) request(method, path string, body io.Reader, hdr map[string]string) (*http.Response, string) {
	p.t.Helper()
	req, err := http.NewRequest(method, p.b.base+path, body)
	if err != nil {
		p.t.Fatal(err)
	}
	if p.cookie != "" {
		req.Header.Set("Cookie", "__Host-npes="+p.cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// postForm posts a form as the portal's pages do.
func (p *portalClient) postForm(path string, form url.Values) (*http.Response, string) {
	p.t.Helper()
	return p.send("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

// signIn signs in with the client's certificate and keeps the cookie.
func (p *portalClient) signIn() *http.Cookie {
	p.t.Helper()
	resp, body := p.do("POST", "/signin/certificate", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/inbox" {
		p.t.Fatalf("sign-in: %d %s %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-npes" {
			p.cookie = c.Value
			return c
		}
	}
	p.t.Fatalf("sign-in set no session cookie: %v", resp.Header["Set-Cookie"])
	return nil
}

func TestPortal(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
		"sqlite":   func(t *testing.T) string { return "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			t.Run("SignInPage", func(t *testing.T) { testPortalSignInPage(t, b) })
			t.Run("Session", func(t *testing.T) { testPortalSession(t, b) })
			t.Run("Timeouts", func(t *testing.T) { testPortalTimeouts(t, b) })
			t.Run("Revocation", func(t *testing.T) { testPortalRevocation(t, b) })
			t.Run("Letters", func(t *testing.T) { testPortalLetters(t, b) })
			t.Run("Languages", func(t *testing.T) { testPortalLanguages(t, b) })
		})
	}
}

func testPortalSignInPage(t *testing.T, b *bundle) {
	anon := b.portal(t, nil)
	resp, body := anon.do("GET", "/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "No certificate was presented.") {
		t.Fatalf("GET / without a certificate: %d %s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if resp, _ := anon.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("inbox without a session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := anon.do("POST", "/signin/certificate", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("certificate sign-in without a certificate: %d", resp.StatusCode)
	}
	cred := b.issue(t, citizenReq, b.clock.Now())
	holder := b.portal(t, &cred)
	if resp, body := holder.do("GET", "/", nil); resp.StatusCode != 200 || !strings.Contains(body, citizenReq.Name) {
		t.Fatalf("GET / with a certificate: %d %s", resp.StatusCode, body)
	}
	// A cross-site form post is refused even though the browser would
	// present the certificate (CSRF).
	if resp, _ := holder.do("POST", "/signin/certificate", map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("cross-site sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
	if resp, _ := holder.do("POST", "/signin/certificate", map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in from a foreign origin: %d", resp.StatusCode)
	}
	// The operator's certificate opens the operator's console (issue 19;
	// console_roles_test.go checks every role).
	op := b.operator(t)
	opPortal := b.portal(t, &op.cred)
	if resp, _ := opPortal.do("POST", "/signin/certificate", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/operator" {
		t.Errorf("operator sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func testPortalSession(t *testing.T, b *bundle) {
	cred := b.issue(t, citizenReq, b.clock.Now())
	holder := b.portal(t, &cred)
	c := holder.signIn()
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("session cookie %+v, want __Host-; Secure; HttpOnly; SameSite=Strict; Path=/", c)
	}
	// The cookie alone (no certificate) opens portal pages...
	browser := b.portal(t, nil)
	browser.cookie = holder.cookie
	if resp, body := browser.do("GET", "/inbox", nil); resp.StatusCode != 200 || !strings.Contains(body, citizenReq.Name) {
		t.Fatalf("inbox with the session cookie: %d %s", resp.StatusCode, body)
	}
	// ...but never the API or the metrics.
	for _, path := range []string{"/v1/whoami", "/v1/letters", "/v1/mailboxes/me", "/metrics"} {
		if resp, body := browser.do("GET", path, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with only the session cookie: %d %s", path, resp.StatusCode, body)
		}
	}
	// Sign-out ends the session on the server: the old cookie is dead.
	if resp, _ := holder.do("POST", "/signout", map[string]string{"Sec-Fetch-Site": "same-origin"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	if resp, _ := browser.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?ended=1" {
		t.Errorf("inbox after sign-out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// A forged cookie is no session.
	browser.cookie = strings.Repeat("A", 43)
	if resp, _ := browser.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("inbox with a forged cookie: %d", resp.StatusCode)
	}
}

func testPortalTimeouts(t *testing.T, b *bundle) {
	cred := b.issue(t, citizenReq, b.clock.Now())
	holder := b.portal(t, &cred)
	alive := func() bool {
		resp, _ := holder.do("GET", "/inbox", nil)
		return resp.StatusCode == 200
	}
	// Idle: activity every 10 minutes keeps the session; 16 quiet
	// minutes end it.
	holder.signIn()
	for range 3 {
		b.clock.Advance(10 * time.Minute)
		if !alive() {
			t.Fatal("session ended while in use")
		}
	}
	b.clock.Advance(16 * time.Minute)
	if alive() {
		t.Fatal("session alive after 16 idle minutes")
	}
	// A certificate that expires ends its session, however active: one
	// issued 20 hours ago for a day has 4 hours left.
	short := b.issue(t, certs.Request{Role: certs.RolePerson, Name: citizenReq.Name, PersonalID: citizenReq.PersonalID, Days: 1},
		b.clock.Now().Add(-20*time.Hour))
	brief := b.portal(t, &short)
	brief.signIn()
	browser := b.portal(t, nil)
	browser.cookie = brief.cookie
	for {
		b.clock.Advance(10 * time.Minute)
		if resp, _ := browser.do("GET", "/inbox", nil); resp.StatusCode != 200 {
			break
		}
		if b.clock.Now().After(short.Cert.NotAfter) {
			t.Fatalf("session alive after its certificate expired at %s", short.Cert.NotAfter)
		}
	}
	if b.clock.Now().Before(short.Cert.NotAfter) {
		t.Fatalf("session ended at %s, before its certificate expired at %s", b.clock.Now(), short.Cert.NotAfter)
	}

	// Absolute: however active, 12 hours end it.
	holder.signIn()
	for range 11 * 6 {
		b.clock.Advance(10 * time.Minute)
		if !alive() {
			t.Fatal("active session ended before 12 hours")
		}
	}
	b.clock.Advance(61 * time.Minute)
	holder.do("GET", "/inbox", nil)
	b.clock.Advance(10 * time.Minute)
	if alive() {
		t.Fatal("session alive after 12 hours")
	}
}

func testPortalRevocation(t *testing.T, b *bundle) {
	cred := b.issue(t, citizenReq, b.clock.Now())
	holder := b.portal(t, &cred)
	holder.signIn()
	browser := b.portal(t, nil)
	browser.cookie = holder.cookie
	if resp, _ := browser.do("GET", "/inbox", nil); resp.StatusCode != 200 {
		t.Fatalf("inbox before revocation: %d", resp.StatusCode)
	}
	id, _ := certs.IdentityFromCert(cred.Cert)
	if err := b.srv.Store.InTx(t.Context(), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(t.Context(), id.Serial, int(certs.ReasonKeyCompromise), b.clock.Now())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.srv.RefreshRevocations(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The cookie is presented without the certificate: the session itself
	// must end with the certificate it rests on.
	if resp, _ := browser.do("GET", "/inbox", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?ended=1" {
		t.Fatalf("inbox after revocation: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func testPortalLetters(t *testing.T, b *bundle) {
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	send := func(subject string, registered bool) string {
		status, sent, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": "Иванову Ивану Ивановичу", "address": citizenAddress},
			"registered": registered, "subject": subject, "body": "Текст письма: " + subject,
		}, "")
		if status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
		return sent.ID
	}
	simple := send("Счёт за декабрь", false)
	b.clock.Advance(time.Minute)
	registered := send("Уведомление о задолженности", true)
	b.clock.Advance(time.Minute)
	newest := send("Новости", false)

	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	resp, body := holder.do("GET", "/inbox", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("inbox: %d %s", resp.StatusCode, body)
	}
	// The registered letter awaiting signature comes first, with its
	// deadline, though it is not the newest.
	iReg, iNew, iSimple := strings.Index(body, registered), strings.Index(body, newest), strings.Index(body, simple)
	if iReg < 0 || iNew < 0 || iSimple < 0 || !(iReg < iNew && iNew < iSimple) {
		t.Fatalf("inbox order: registered %d, newest %d, simple %d", iReg, iNew, iSimple)
	}
	if !strings.Contains(body, "Sign by ") || strings.Count(body, `class="letter unread"`) != 3 {
		t.Errorf("inbox lacks the deadline or the unread marks:\n%s", body)
	}
	// Search and filter.
	if _, body := holder.do("GET", "/inbox?q="+url.QueryEscape("счёт"), nil); !strings.Contains(body, simple) || strings.Contains(body, newest) {
		t.Errorf("search for счёт")
	}
	if _, body := holder.do("GET", "/inbox?state=awaiting_acceptance", nil); !strings.Contains(body, registered) || strings.Contains(body, simple) {
		t.Errorf("filter awaiting")
	}

	// The registered letter: metadata and timeline, no content yet.
	resp, body = holder.do("GET", "/letters/"+registered, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "awaits your signature") || strings.Contains(body, "Текст письма") ||
		!strings.Contains(body, "The recipient was notified and asked to sign.") {
		t.Fatalf("registered letter page: %d %s", resp.StatusCode, body)
	}
	// Opening the simple letter reads it: the content is shown and the
	// mark goes.
	resp, body = holder.do("GET", "/letters/"+simple, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Текст письма: Счёт за декабрь") {
		t.Fatalf("simple letter page: %d %s", resp.StatusCode, body)
	}
	if _, body := holder.do("GET", "/inbox", nil); strings.Count(body, `class="letter unread"`) != 2 {
		t.Errorf("unread marks after reading one letter: %d", strings.Count(body, `class="letter unread"`))
	}
	// The bundle is the API's bundle.
	resp, got := holder.do("GET", "/letters/"+registered+"/bundle", nil)
	status, want := citizen.do("GET", "/v1/letters/"+registered+"/bundle", nil, "", nil, nil)
	if resp.StatusCode != 200 || status != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(got, `"letter"`) || len(got) == 0 || len(want) == 0 {
		t.Fatalf("bundle: %d (%d bytes), API %d (%d bytes)", resp.StatusCode, len(got), status, len(want))
	}
	testPortalVerify(t, b, []byte(got))
	testPortalWrite(t, b, holder, org)

	// Another holder cannot see the letter: not found, as in the API.
	other := b.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB3"}, b.clock.Now())
	stranger := b.portal(t, &other)
	stranger.signIn()
	for _, path := range []string{"/letters/" + registered, "/letters/" + registered + "/bundle", "/letters/" + simple + "/attachments/1"} {
		if resp, body := stranger.do("GET", path, nil); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Уведомление") {
			t.Errorf("stranger %s: %d", path, resp.StatusCode)
		}
	}
}

func testPortalLanguages(t *testing.T, b *bundle) {
	anon := b.portal(t, nil)
	for _, tc := range []struct{ accept, lang, text string }{
		{"be-BY,be;q=0.9,ru;q=0.8", "be", "Сертыфікат не прад'яўлены."},
		{"ru-RU,ru;q=0.9", "ru", "Сертификат не предъявлен."},
		{"de-DE,de;q=0.9", "en", "No certificate was presented."},
		{"", "en", "No certificate was presented."},
	} {
		_, body := anon.do("GET", "/", map[string]string{"Accept-Language": tc.accept})
		if !strings.Contains(body, `<html lang="`+tc.lang+`">`) || !strings.Contains(body, html(tc.text)) {
			t.Errorf("Accept-Language %q: want lang %s and %q", tc.accept, tc.lang, tc.text)
		}
	}
	// ?lang= wins over Accept-Language and is remembered by a cookie...
	resp, body := anon.do("GET", "/?lang=be", map[string]string{"Accept-Language": "ru"})
	if !strings.Contains(body, `<html lang="be">`) {
		t.Fatalf("?lang=be: %s", body)
	}
	var remembered *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-npes-lang" {
			remembered = c
		}
	}
	if remembered == nil || remembered.Value != "be" || !remembered.Secure {
		t.Fatalf("language cookie %+v", remembered)
	}
	// ...and by the session once signed in.
	cred := b.issue(t, citizenReq, b.clock.Now())
	holder := b.portal(t, &cred)
	holder.signIn()
	holder.do("GET", "/inbox?lang=ru", nil)
	if _, body := holder.do("GET", "/inbox", map[string]string{"Accept-Language": "en"}); !strings.Contains(body, `<html lang="ru">`) || !strings.Contains(body, "Входящие") {
		t.Errorf("language not remembered by the session")
	}
}

// testPortalWrite sends a letter from the portal: the service routes it as
// for the API, a second press of Send makes no second letter, and a refused
// letter shows the service's reason.
func testPortalWrite(t *testing.T, b *bundle, holder *portalClient, org *party) {
	if resp, body := holder.do("GET", "/write", nil); resp.StatusCode != 200 || !strings.Contains(body, `name="key"`) {
		t.Fatalf("GET /write: %d", resp.StatusCode)
	}
	send := func(form url.Values) (*http.Response, string) { t.Helper(); return holder.postForm("/write", form) }
	form := url.Values{"key": {"AAAAAAAAAAAAAAAAAAAAAA"}, "name": {orgReq.Name}, "address": {orgAddress},
		"subject": {"Обращение"}, "body": {"Прошу пересчитать плату."}, "registered": {"on"}}
	resp, body := send(form)
	first, _, _ := strings.Cut(resp.Header.Get("Location"), "?")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(first, "/letters/") {
		t.Fatalf("send from the portal: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(form); !strings.HasPrefix(resp.Header.Get("Location"), first+"?") {
		t.Errorf("a second press of Send made another letter: %s, first %s", resp.Header.Get("Location"), first)
	}
	var page struct{ Letters []mailbox.LetterView }
	org.mustJSON("GET", "/v1/letters", nil, &page, 200)
	n := 0
	for _, l := range page.Letters {
		if l.Subject == "Обращение" {
			n++
			if !l.Registered || "/letters/"+l.ID != first {
				t.Errorf("letter from the portal: %+v", l)
			}
		}
	}
	if n != 1 {
		t.Errorf("the organization received %d letters from the portal, want 1", n)
	}
	form.Set("key", "BBBBBBBBBBBBBBBBBBBBBB")
	form.Set("address", "нигде")
	if resp, body := send(form); resp.StatusCode/100 != 4 || !strings.Contains(body, `id="write-error"`) || !strings.Contains(body, "Прошу пересчитать") {
		t.Errorf("letter to an unusable address: %d", resp.StatusCode)
	}
}

// testPortalVerify checks the public verify page: a genuine bundle is
// valid, a tampered one is not, oversized uploads and floods are refused.
func testPortalVerify(t *testing.T, b *bundle, bundleJSON []byte) {
	anon := b.portal(t, nil)
	upload := func(data []byte) (int, string) {
		t.Helper()
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("bundle", "bundle.json")
		fw.Write(data)
		mw.Close()
		resp, body := anon.send("POST", "/verify", &buf, mw.FormDataContentType())
		return resp.StatusCode, body
	}
	if resp, body := anon.do("GET", "/verify", nil); resp.StatusCode != 200 || !strings.Contains(body, `name="bundle"`) {
		t.Fatalf("GET /verify: %d", resp.StatusCode)
	}
	if status, body := upload(bundleJSON); status != 200 || !strings.Contains(body, "Valid: every record") {
		t.Fatalf("genuine bundle: %d %s", status, body)
	}
	var doc map[string]any
	if err := json.Unmarshal(bundleJSON, &doc); err != nil || doc["letter"] == nil {
		t.Fatalf("bundle JSON: %v", err)
	}
	doc["letter"] = "00000000-0000-4000-8000-000000000000"
	tampered, _ := json.Marshal(doc)
	if status, body := upload(tampered); status != http.StatusUnprocessableEntity || !strings.Contains(body, "NOT a valid proof") {
		t.Errorf("tampered bundle: %d", status)
	}
	if status, _ := upload(bytes.Repeat([]byte(" "), 5<<20)); status != http.StatusRequestEntityTooLarge {
		t.Errorf("5 MiB upload: %d", status)
	}
	// The clock stands still: the burst is spent, the next check waits.
	limited := false
	for range 10 {
		if status, _ := upload(bundleJSON); status == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("no rate limit on the verify page")
	}
	b.clock.Advance(time.Minute)
	if status, _ := upload(bundleJSON); status != 200 {
		t.Errorf("verify after waiting: %d", status)
	}
}

// html escapes what html/template escapes in text.
func html(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

func TestPortalMailbox(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	codes := map[string]string{}
	b := setupWith(t, "", func(c *app.Config) {
		c.ActivationCodeSink = func(id, code string) { mu.Lock(); codes[id] = code; mu.Unlock() }
	})
	citizen := b.party(t, citizenReq)
	var m struct{ ID, Status string }
	citizen.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": citizenAddress}, &m, 201)
	holder := b.portal(t, &citizen.cred)
	holder.signIn()
	resp, body := holder.do("GET", "/mailbox", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, m.ID) || !strings.Contains(body, "Not yet proven") || !strings.Contains(body, `name="code"`) {
		t.Fatalf("mailbox page of a pending mailbox: %d %s", resp.StatusCode, body)
	}
	activate := func(code string) (*http.Response, string) {
		t.Helper()
		return holder.postForm("/mailbox/"+m.ID+"/activate", url.Values{"code": {code}})
	}
	if resp, body := activate("WRONG-CODE"); resp.StatusCode/100 != 4 || !strings.Contains(body, `id="activate-error"`) {
		t.Fatalf("wrong code: %d %s", resp.StatusCode, body)
	}
	mu.Lock()
	code := codes[m.ID]
	mu.Unlock()
	if code == "" {
		t.Fatal("no activation code was issued")
	}
	if resp, _ := activate(code); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code: %d", resp.StatusCode)
	}
	if _, body := holder.do("GET", "/mailbox", nil); !strings.Contains(body, "Proven: the mailbox receives electronic post.") || strings.Contains(body, `name="code"`) {
		t.Errorf("mailbox page after activation: %s", body)
	}
	// Someone else's mailbox cannot be activated through the portal.
	other := b.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB3"}, b.clock.Now())
	stranger := b.portal(t, &other)
	stranger.signIn()
	holder.cookie = stranger.cookie
	if resp, _ := activate(code); resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("stranger activating: %d", resp.StatusCode)
	}
}
