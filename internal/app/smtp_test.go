package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/text/encoding/charmap"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/smtpgw"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

const mailDomain = app.DefaultMailDomain

// smtpParties are a sending organization and a receiving citizen, each with
// an active mailbox.
type smtpParties struct {
	b                    *bundle
	org, citizen         *party
	orgBox, citizenBox   string
	orgAddr, citizenAddr string
}

func newSMTPParties(t *testing.T, b *bundle) *smtpParties {
	t.Helper()
	p := &smtpParties{b: b, org: b.party(t, orgReq), citizen: b.party(t, citizenReq)}
	p.orgBox = p.org.registerActive(orgAddress)
	p.citizenBox = p.citizen.registerActive(citizenAddress)
	p.orgAddr, p.citizenAddr = p.orgBox+"@"+mailDomain, p.citizenBox+"@"+mailDomain
	return p
}

// tlsFor is a client TLS configuration presenting cred (nil: none). The
// certificate is always presented, even when the server's CA list does not
// name its issuer (a foreign certificate), as other clients do.
func (b *bundle) tlsFor(t *testing.T, cred *certs.Credential) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}
	if cred != nil {
		kp, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }
	}
	return cfg
}

// dialSMTP connects a go-smtp client over implicit TLS (or STARTTLS) to addr
// (empty: the server's own listener).
func (b *bundle) dialSMTP(t *testing.T, cred *certs.Credential, implicit bool, addr string) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	if implicit {
		if addr == "" {
			addr = b.srv.SMTPSAddr.String()
		}
		c, err = smtp.DialTLS(addr, b.tlsFor(t, cred))
	} else {
		if addr == "" {
			addr = b.srv.SMTPAddr.String()
		}
		c, err = smtp.DialStartTLS(addr, b.tlsFor(t, cred))
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// submit runs one transaction and returns the reply to DATA.
func submit(c *smtp.Client, from, to string, msg []byte) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(msg); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

var letterIDRe = regexp.MustCompile(`Letter ([0-9a-f-]{36}) accepted`)

func letterIDOf(t *testing.T, reply string) string {
	t.Helper()
	m := letterIDRe.FindStringSubmatch(reply)
	if m == nil {
		t.Fatalf("no letter id in reply %q", reply)
	}
	return m[1]
}

// smtpCode is the reply code of an SMTP error (0 if err is not one).
func smtpCode(err error) (int, string) {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code, fmt.Sprintf("%d.%d.%d %s", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return 0, fmt.Sprint(err)
}

type mimeAttachment struct {
	name, ctype string
	data        []byte
}

// compose builds a MIME message with CRLF line ends: a base64 UTF-8 body
// and base64 attachments named with RFC 2231.
func compose(from, msgID string, headers []string, body string, atts ...mimeAttachment) []byte {
	var b bytes.Buffer
	w := func(s string) { b.WriteString(s + "\r\n") }
	w("From: <" + from + ">")
	w("Message-ID: <" + msgID + ">")
	w("Date: " + time.Now().Format(time.RFC1123Z))
	for _, h := range headers {
		w(h)
	}
	w("MIME-Version: 1.0")
	w(`Content-Type: multipart/mixed; boundary="=_npes_test"`)
	w("")
	w("--=_npes_test")
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Transfer-Encoding: base64")
	w("")
	writeBase64(&b, []byte(strings.ReplaceAll(body, "\n", "\r\n")))
	for _, a := range atts {
		w("--=_npes_test")
		w("Content-Type: " + a.ctype)
		w("Content-Disposition: attachment; filename*=utf-8''" + url.PathEscape(a.name))
		w("Content-Transfer-Encoding: base64")
		w("")
		writeBase64(&b, a.data)
	}
	w("--=_npes_test--")
	return b.Bytes()
}

func writeBase64(b *bytes.Buffer, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
}

// testPDF has every byte value a careless gateway mangles: NUL, bare CR and
// LF, a dot at the start of a line, high bytes.
var testPDF = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n.\r\n\x00\x01\r\x1a\n1 0 obj<</Type/Catalog>>endobj\n.\n%%EOF\n")

func (p *party) sentCount(t *testing.T) int {
	t.Helper()
	var page struct{ Letters []mailbox.LetterView }
	p.mustJSON("GET", "/v1/letters?folder=sent&limit=200", nil, &page, 200)
	return len(page.Letters)
}

func (p *party) content(t *testing.T, id string) mailbox.Content {
	t.Helper()
	var c mailbox.Content
	p.mustJSON("GET", "/v1/letters/"+id+"/content", nil, &c, 200)
	return c
}

func (p *party) attachment(t *testing.T, id string, n int) []byte {
	t.Helper()
	status, data := p.do("GET", fmt.Sprintf("/v1/letters/%s/attachments/%d", id, n), nil, "", nil, nil)
	if status != 200 {
		t.Fatalf("attachment %d: %d %s", n, status, data)
	}
	return data
}

func TestSMTPGateway(t *testing.T) {
	t.Parallel()
	for name, url := range map[string]func(*testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newSMTPParties(t, setup(t, url(t)))
			t.Run("go-smtp client", func(t *testing.T) { testSMTPGoClient(t, p) })
			t.Run("swaks", func(t *testing.T) { testSMTPSwaks(t, p) })
			t.Run("windows-1251", func(t *testing.T) { testSMTPWindows1251(t, p) })
			t.Run("post@ form", func(t *testing.T) { testSMTPPostForm(t, p) })
			t.Run("retry", func(t *testing.T) { testSMTPRetry(t, p) })
			t.Run("refusals", func(t *testing.T) { testSMTPRefusals(t, p) })
			t.Run("smuggling", func(t *testing.T) { testSMTPSmuggling(t, p) })
			t.Run("revocation", func(t *testing.T) { testSMTPRevocation(t, p) })
		})
	}
}

// testSMTPGoClient submits over both listeners and reads the letter back
// through the API: body and attachments byte-identical, evidence signed.
func testSMTPGoClient(t *testing.T, p *smtpParties) {
	body := "Уважаемый Иван Иванович!\n\nНаправляем счёт за май. ☎ 123\n.\nС уважением,\nБелтелеком\n"
	text := []byte("Строка 1\r\nСтрока 2\n")
	for _, implicit := range []bool{true, false} {
		c := p.b.dialSMTP(t, &p.org.cred, implicit, "")
		msg := compose(p.orgAddr, fmt.Sprintf("gc-%v@mta.example", implicit), []string{"Subject: Счёт за май"}, body,
			mimeAttachment{"счёт №5.pdf", "application/pdf", testPDF}, mimeAttachment{"расчёт.txt", "text/plain", text})
		reply, err := submit(c, p.orgAddr, p.citizenAddr, msg)
		if err != nil {
			t.Fatalf("implicit=%v: %v", implicit, err)
		}
		id := letterIDOf(t, reply)
		if !strings.Contains(reply, "route electronic") {
			t.Fatalf("reply %q", reply)
		}
		_ = c.Quit()

		var v mailbox.LetterView
		p.citizen.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
		if v.Recipient.Mailbox != p.citizenBox || v.Sender.Mailbox != p.orgBox || v.Subject != "Счёт за май" || v.Registered || v.Attachments != 2 {
			t.Fatalf("letter: %+v", v)
		}
		content := p.citizen.content(t, id)
		if content.Body != body {
			t.Fatalf("body %q, want %q", content.Body, body)
		}
		if content.Attachments[0].Name != "счёт №5.pdf" || content.Attachments[1].Name != "расчёт.txt" {
			t.Fatalf("names %+v", content.Attachments)
		}
		if got := p.citizen.attachment(t, id, 1); !bytes.Equal(got, testPDF) {
			t.Fatalf("PDF not byte-identical: %q", got)
		}
		if got := p.citizen.attachment(t, id, 2); !bytes.Equal(got, text) {
			t.Fatalf("text not byte-identical: %q", got)
		}
		// SubmissionAcceptance for the sender: signed, with the digests of
		// what arrived.
		ev := evidenceOf(t, p.org, id, signing.EventSubmissionAcceptance)
		if ev.Content == nil || ev.Content.BodySHA256 != signing.DigestHex([]byte(body)) || len(ev.Content.Attachments) != 2 ||
			ev.Content.Attachments[0].SHA256 != signing.DigestHex(testPDF) || ev.Content.Attachments[1].SHA256 != signing.DigestHex(text) {
			t.Fatalf("evidence content %+v", ev.Content)
		}
		status, bundleBytes := p.org.do("GET", "/v1/letters/"+id+"/bundle", nil, "", nil, nil)
		if status != 200 {
			t.Fatalf("bundle: %d", status)
		}
		if _, err := signing.VerifyBundle(bundleBytes, signing.VerifyOptions{Trust: p.org.trust(), Attachments: map[string][]byte{"счёт №5.pdf": testPDF, "расчёт.txt": text}}); err != nil {
			t.Fatalf("bundle: %v", err)
		}
	}

	// A registered letter: tracking in the reply, acceptance period set.
	c := p.b.dialSMTP(t, &p.org.cred, true, "")
	msg := compose(p.orgAddr, "registered-1@mta.example", []string{"Subject: Уведомление", "X-Npes-Registered: yes", "X-Npes-Print-If-Unsigned: 240h"},
		"Текст заказного письма.\n", mimeAttachment{"расчёт.txt", "text/plain", text})
	reply, err := submit(c, p.orgAddr, p.citizenAddr, msg)
	if err != nil {
		t.Fatal(err)
	}
	id := letterIDOf(t, reply)
	var v mailbox.LetterView
	p.org.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
	if !v.Registered || v.State != mailbox.StateAwaitingAcceptance || checkS10(v.Tracking) != nil || !strings.Contains(reply, "tracking "+v.Tracking) ||
		v.Deadline == nil || v.Deadline.Sub(v.CreatedAt) != 240*time.Hour {
		t.Fatalf("registered letter %+v, reply %q", v, reply)
	}
}

// testSMTPSwaks submits with a real, independent SMTP client over
// STARTTLS with a client certificate.
func testSMTPSwaks(t *testing.T, p *smtpParties) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("swaks is not installed; CI must install it (apt-get install swaks)")
		}
		t.Skip("swaks is not installed (apt-get install swaks)")
	}
	dir := t.TempDir()
	certFile, keyFile, pdfFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "a.pdf")
	for f, data := range map[string][]byte{certFile: p.org.cred.CertPEM, keyFile: p.org.cred.KeyPEM, pdfFile: testPDF} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(p.b.srv.SMTPAddr.String())
	body := "Привет из swaks.\nВторая строка."
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--tls", "--tls-cert", certFile, "--tls-key", keyFile,
		"--from", p.orgAddr, "--to", p.citizenAddr, "--header", "Subject: swaks", "--header", "Message-Id: <swaks-1@mta.example>",
		"--body", body, "--attach-type", "application/pdf", "--attach-name", "счёт.pdf", "--attach", "@"+pdfFile).CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	id := letterIDOf(t, string(out))
	content := p.citizen.content(t, id)
	if strings.TrimSuffix(content.Body, "\n") != body {
		t.Fatalf("body %q", content.Body)
	}
	if len(content.Attachments) != 1 || content.Attachments[0].Name != "счёт.pdf" {
		t.Fatalf("attachments %+v", content.Attachments)
	}
	if got := p.citizen.attachment(t, id, 1); !bytes.Equal(got, testPDF) {
		t.Fatalf("PDF via swaks not byte-identical: %q", got)
	}
	evidenceOf(t, p.org, id, signing.EventSubmissionAcceptance)
}

func testSMTPWindows1251(t *testing.T, p *smtpParties) {
	enc := func(s string) []byte {
		b, err := charmap.Windows1251.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pct := func(b []byte) string {
		var sb strings.Builder
		for _, c := range b {
			fmt.Fprintf(&sb, "%%%02X", c)
		}
		return sb.String()
	}
	body := "Уважаемый абонент!\nЗадолженность: 12,50 руб. Ёлки-палки, ўсё добра.\n"
	file := enc("Счёт-фактура в cp1251")
	msg := "From: =?windows-1251?B?" + base64.StdEncoding.EncodeToString(enc("Белтелеком")) + "?= <" + p.orgAddr + ">\r\n" +
		"Message-ID: <cp1251-1@mta.example>\r\n" +
		"Subject: =?windows-1251?Q?" + strings.ReplaceAll(pct(enc("Извещение о долге")), "%", "=") + "?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
		string(enc(strings.ReplaceAll(body, "\n", "\r\n"))) + "\r\n--b\r\n" +
		"Content-Type: text/plain; charset=windows-1251\r\nContent-Disposition: attachment; filename*=windows-1251''" + pct(enc("счёт.txt")) + "\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(file) + "\r\n--b--\r\n"
	c := p.b.dialSMTP(t, &p.org.cred, true, "")
	reply, err := submit(c, p.orgAddr, p.citizenAddr, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	id := letterIDOf(t, reply)
	var v mailbox.LetterView
	p.citizen.mustJSON("GET", "/v1/letters/"+id, nil, &v, 200)
	content := p.citizen.content(t, id)
	// "ў" has no windows-1251 code: the encoder cannot have sent it.
	want := strings.ReplaceAll(body, "ўсё", "\x1asё")
	if v.Subject != "Извещение о долге" || (content.Body != body && content.Body != want) {
		t.Fatalf("subject %q body %q", v.Subject, content.Body)
	}
	if content.Attachments[0].Name != "счёт.txt" || !bytes.Equal(p.citizen.attachment(t, id, 1), file) {
		t.Fatalf("attachment %+v", content.Attachments)
	}
}

// testSMTPPostForm names the recipient in the header: routed like an HTTP
// submission; an address that does not parse is refused with the parser's
// reason.
func testSMTPPostForm(t *testing.T, p *smtpParties) {
	c := p.b.dialSMTP(t, &p.org.cred, true, "")
	post := "post@" + mailDomain
	msg := compose(p.orgAddr, "post-1@mta.example", []string{
		"X-Npes-Recipient-Name: =?utf-8?B?" + base64.StdEncoding.EncodeToString([]byte("Иванову Ивану Ивановичу")) + "?=",
		"X-Npes-Recipient-Address: " + citizenAddress2, "Subject: post"}, "Текст.\n")
	reply, err := submit(c, p.orgAddr, post, msg)
	if err != nil {
		t.Fatal(err)
	}
	var v mailbox.LetterView
	p.org.mustJSON("GET", "/v1/letters/"+letterIDOf(t, reply), nil, &v, 200)
	if v.Route != mailbox.RouteElectronic || v.Recipient.Mailbox != p.citizenBox || v.Recipient.Address != citizenAddress2 {
		t.Fatalf("post@ letter %+v", v)
	}

	before := p.org.sentCount(t)
	const bad = "Луна, кратер Тихо"
	_, perr := addressing.Parse(bad)
	if perr == nil {
		t.Fatal("the test address parses")
	}
	msg = compose(p.orgAddr, "post-2@mta.example", []string{"X-Npes-Recipient-Name: Иванов И.И.", "X-Npes-Recipient-Address: " + bad}, "x\n")
	_, err = submit(c, p.orgAddr, post, msg)
	if code, text := smtpCode(err); code != 550 || !strings.Contains(text, "5.1.3") || !strings.Contains(text, perr.Error()) {
		t.Fatalf("bad address: %s, want 550 5.1.3 with %q", text, perr.Error())
	}
	for _, tc := range []struct {
		name    string
		to      string
		headers []string
		code    int
	}{
		{"post@ without the recipient fields", post, nil, 550},
		{"recipient fields with a mailbox address", p.citizenAddr, []string{"X-Npes-Recipient-Name: x", "X-Npes-Recipient-Address: " + citizenAddress}, 550},
	} {
		_ = c.Reset()
		_, err := submit(c, p.orgAddr, tc.to, compose(p.orgAddr, "post-3@mta.example", tc.headers, "x\n"))
		if code, text := smtpCode(err); code != tc.code {
			t.Fatalf("%s: %s", tc.name, text)
		}
	}
	if n := p.org.sentCount(t); n != before {
		t.Fatalf("refused messages made %d letters", n-before)
	}
}

// testSMTPRetry: a client that retries after a lost 250 gets the same
// letter, also when the two attempts race.
func testSMTPRetry(t *testing.T, p *smtpParties) {
	msg := compose(p.orgAddr, "retry-1@mta.example", []string{"Subject: retry"}, "once\n", mimeAttachment{"a.txt", "text/plain", []byte("a")})
	before := p.org.sentCount(t)
	first, err := submit(p.b.dialSMTP(t, &p.org.cred, true, ""), p.orgAddr, p.citizenAddr, msg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := submit(p.b.dialSMTP(t, &p.org.cred, false, ""), p.orgAddr, p.citizenAddr, msg)
	if err != nil {
		t.Fatal(err)
	}
	if letterIDOf(t, first) != letterIDOf(t, again) || !strings.Contains(again, "retry") {
		t.Fatalf("retry: %q then %q", first, again)
	}
	// Racing retries of a new message.
	msg = compose(p.orgAddr, "retry-2@mta.example", []string{"Subject: race"}, "race\n")
	var wg sync.WaitGroup
	ids := make([]string, 4)
	errs := make([]error, 4)
	for i := range ids {
		wg.Add(1)
		c := p.b.dialSMTP(t, &p.org.cred, i%2 == 0, "")
		go func() {
			defer wg.Done()
			r, err := submit(c, p.orgAddr, p.citizenAddr, msg)
			errs[i] = err
			if m := letterIDRe.FindStringSubmatch(r); m != nil {
				ids[i] = m[1]
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("racing retries: %v %v", ids, errs)
		}
	}
	// The same Message-ID to another recipient (a client splitting one
	// message over transactions) is another letter.
	other, err := submit(p.b.dialSMTP(t, &p.org.cred, true, ""), p.orgAddr, p.orgAddr, msg)
	if err != nil || letterIDOf(t, other) == ids[0] {
		t.Fatalf("same Message-ID to another recipient: %q %v", other, err)
	}
	// The same Message-ID with other content is refused, not answered with
	// the first letter.
	changed := compose(p.orgAddr, "retry-1@mta.example", []string{"Subject: retry"}, "twice\n")
	_, err = submit(p.b.dialSMTP(t, &p.org.cred, true, ""), p.orgAddr, p.citizenAddr, changed)
	if code, text := smtpCode(err); code != 554 || !strings.Contains(text, "idempotency_key_reused") {
		t.Fatalf("reused Message-ID: %s", text)
	}
	if n := p.org.sentCount(t) - before; n != 3 {
		t.Fatalf("%d letters, want 3", n)
	}
}

func testSMTPRefusals(t *testing.T, p *smtpParties) {
	b := p.b
	before := p.org.sentCount(t)
	ok := func(id string) []byte { return compose(p.orgAddr, id+"@mta.example", []string{"Subject: x"}, "x\n") }

	// No TLS: MAIL before STARTTLS.
	plain, err := smtp.Dial(b.srv.SMTPAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	if code, text := smtpCode(plain.Mail(p.orgAddr, nil)); code != 530 || !strings.Contains(text, "STARTTLS") {
		t.Fatalf("MAIL in plaintext: %s", text)
	}
	_ = plain.Close()
	// TLS without a client certificate.
	for _, implicit := range []bool{true, false} {
		c := b.dialSMTP(t, nil, implicit, "")
		if code, text := smtpCode(c.Mail(p.orgAddr, nil)); code != 530 || !strings.Contains(text, "5.7.0") {
			t.Fatalf("no certificate (implicit=%v): %s", implicit, text)
		}
	}
	// A certificate of a foreign CA: the handshake fails, nothing is said.
	foreignPEM, foreignKey, err := certs.CreateCA("foreign CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := certs.LoadCA(foreignPEM, foreignKey)
	if err != nil {
		t.Fatal(err)
	}
	foreignCred, err := foreign.Issue(orgReq, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := smtp.DialTLS(b.srv.SMTPSAddr.String(), b.tlsFor(t, &foreignCred)); err == nil {
		if err := c.Mail(p.orgAddr, nil); err == nil {
			t.Fatal("a foreign certificate reached MAIL")
		}
		_ = c.Close()
	}
	if c, err := smtp.DialStartTLS(b.srv.SMTPAddr.String(), b.tlsFor(t, &foreignCred)); err == nil {
		if err := c.Mail(p.orgAddr, nil); err == nil {
			t.Fatal("a foreign certificate reached MAIL after STARTTLS")
		}
		_ = c.Close()
	}

	c := b.dialSMTP(t, &p.org.cred, true, "")
	envelope := []struct {
		name, from string
		code       int
	}{
		{"another holder's mailbox", p.citizenAddr, 553},
		{"another domain", p.orgBox + "@example.by", 553},
		{"not a mailbox id", "boss@" + mailDomain, 553},
		{"null sender", "", 553},
	}
	for _, tc := range envelope {
		if code, text := smtpCode(c.Mail(tc.from, nil)); code != tc.code || !strings.Contains(text, "5.7.1") {
			t.Fatalf("%s: %s", tc.name, text)
		}
	}
	// Recipients.
	if err := c.Mail(p.orgAddr, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, to string
		code     int
		enh      string
	}{
		{"unknown mailbox", "00000000-0000-4000-8000-000000000000@" + mailDomain, 550, "5.1.1"},
		{"not a mailbox", "someone@" + mailDomain, 550, "5.1.1"},
		{"relaying", "someone@example.by", 550, "5.7.1"},
	} {
		if code, text := smtpCode(c.Rcpt(tc.to, nil)); code != tc.code || !strings.Contains(text, tc.enh) {
			t.Fatalf("%s: %s", tc.name, text)
		}
	}
	if err := c.Rcpt(p.citizenAddr, nil); err != nil {
		t.Fatal(err)
	}
	if code, text := smtpCode(c.Rcpt(p.orgAddr, nil)); code != 452 || !strings.Contains(text, "4.5.3") {
		t.Fatalf("second recipient: %s", text)
	}
	_ = c.Reset()
	// A pending mailbox receives nothing.
	pending := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр", PersonalID: "3140582A002PB4"})
	var m struct{ ID string }
	pending.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": citizenAddress}, &m, 201)
	_ = c.Mail(p.orgAddr, nil)
	// ... and is answered as one that does not exist: the sender learns
	// nothing of it.
	const unknown = "00000000-0000-4000-8000-000000000000"
	pcode, ptext := smtpCode(c.Rcpt(m.ID+"@"+mailDomain, nil))
	ucode, utext := smtpCode(c.Rcpt(unknown+"@"+mailDomain, nil))
	if pcode != 550 || pcode != ucode || strings.ReplaceAll(ptext, m.ID, unknown) != utext {
		t.Fatalf("pending mailbox: %d %s; unknown mailbox: %d %s", pcode, ptext, ucode, utext)
	}
	// ... and sends nothing.
	pc := b.dialSMTP(t, &pending.cred, true, "")
	if code, text := smtpCode(pc.Mail(m.ID+"@"+mailDomain, nil)); code != 553 {
		t.Fatalf("pending sender: %s", text)
	}
	// SIZE beyond the limit is refused at MAIL (RFC 1870).
	if code, text := smtpCode(c.Mail(p.orgAddr, &smtp.MailOptions{Size: 1 << 40})); code != 501 && code != 552 {
		t.Fatalf("SIZE: %s", text)
	}
	if code, text := smtpCode(c.Mail(p.orgAddr, &smtp.MailOptions{Size: b.srv.Service.Limits().MaxAttachmentBytes * 2})); code != 552 {
		t.Fatalf("SIZE: %s", text)
	}
	c.Close()

	// Content refusals at the end of DATA.
	for _, tc := range []struct {
		name string
		msg  []byte
		code int
		enh  string
	}{
		{"forged From", []byte(strings.Replace(string(ok("f1")), "From: <"+p.orgAddr+">", "From: <"+p.citizenAddr+">", 1)), 550, "5.7.1"},
		{"two authors", []byte(strings.Replace(string(ok("f2")), "From: <"+p.orgAddr+">", "From: <"+p.orgAddr+">, <"+p.citizenAddr+">", 1)), 550, "5.7.1"},
		{"no From", []byte(strings.Replace(string(ok("f3")), "From: <"+p.orgAddr+">\r\n", "", 1)), 550, "5.7.1"},
		{"no Message-ID", []byte(strings.Replace(string(ok("f4")), "Message-ID: <f4@mta.example>\r\n", "", 1)), 550, "5.6.0"},
		{"misspelt npes field", compose(p.orgAddr, "f5@mta.example", []string{"X-Npes-Registred: yes"}, "x\n"), 550, "5.6.0"},
		{"period without registration", compose(p.orgAddr, "f6@mta.example", []string{"X-Npes-Print-If-Unsigned: 240h"}, "x\n"), 550, "5.6.0"},
		{"line too long", compose(p.orgAddr, "f7@mta.example", nil, strings.Repeat("я", 600)+"\n"), 0, ""},
		{"too many attachments", compose(p.orgAddr, "f8@mta.example", nil, "x\n", manyAttachments(21)...), 552, "5.3.4"},
		{"attachment name with a slash", compose(p.orgAddr, "f9@mta.example", nil, "x\n", mimeAttachment{"a:b.txt", "text/plain", []byte("x")}), 550, "5.6.0"},
	} {
		c := b.dialSMTP(t, &p.org.cred, true, "")
		_, err := submit(c, p.orgAddr, p.citizenAddr, tc.msg)
		if tc.code == 0 {
			// base64 keeps lines short: this one must pass.
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			before++
			continue
		}
		if code, text := smtpCode(err); code != tc.code || !strings.Contains(text, tc.enh) {
			t.Fatalf("%s: %s, want %d %s", tc.name, text, tc.code, tc.enh)
		}
		// The session goes on after a refusal.
		if err := c.Noop(); err != nil {
			t.Fatalf("%s: session broken: %v", tc.name, err)
		}
	}
	if n := p.org.sentCount(t); n != before {
		t.Fatalf("refused messages made %d letters", n-before)
	}
}

func manyAttachments(n int) []mimeAttachment {
	out := make([]mimeAttachment, n)
	for i := range out {
		out[i] = mimeAttachment{fmt.Sprintf("f%d.txt", i), "text/plain", []byte("x")}
	}
	return out
}

// rawSMTP is a hand-driven SMTP session for what no client library sends.
type rawSMTP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (b *bundle) raw(t *testing.T, cred *certs.Credential, addr string) *rawSMTP {
	t.Helper()
	if addr == "" {
		addr = b.srv.SMTPSAddr.String()
	}
	conn, err := tls.Dial("tcp", addr, b.tlsFor(t, cred))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := &rawSMTP{t: t, conn: conn, r: bufio.NewReader(conn)}
	r.expect("220")
	return r
}

// reply reads one (possibly multi-line) reply.
func (r *rawSMTP) reply() (string, error) {
	var all strings.Builder
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			return all.String(), err
		}
		all.WriteString(line)
		if len(line) < 4 || line[3] != '-' {
			return all.String(), nil
		}
	}
}

func (r *rawSMTP) expect(prefix string) string {
	r.t.Helper()
	s, err := r.reply()
	if err != nil || !strings.HasPrefix(s, prefix) {
		r.t.Fatalf("reply %q (%v), want %s", s, err, prefix)
	}
	return s
}

func (r *rawSMTP) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.conn, s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSMTP) cmd(line, prefix string) string {
	r.t.Helper()
	r.send(line + "\r\n")
	return r.expect(prefix)
}

// testSMTPSmuggling sends the SMTP smuggling payloads: each must be refused
// with one 5xx reply at the real end of data, the "smuggled" commands inside
// never run, and no letter made.
func testSMTPSmuggling(t *testing.T, p *smtpParties) {
	before := p.org.sentCount(t)
	payloads := map[string]string{
		`\n.\r\n`:   "\n.\r\n",
		`\r.\r\n`:   "\r.\r\n",
		`\n.\n`:     "\n.\n",
		`bare LF`:   "\n",
		`bare CR`:   "\r",
		`NUL octet`: "\x00",
	}
	for name, sep := range payloads {
		r := p.b.raw(t, &p.org.cred, "")
		r.cmd("EHLO client.example", "250")
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		r.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
		r.cmd("DATA", "354")
		r.send("From: <" + p.orgAddr + ">\r\nMessage-ID: <smuggle@mta.example>\r\nSubject: one\r\n\r\nfirst" + sep +
			"MAIL FROM:<" + p.orgAddr + ">\r\nRCPT TO:<" + p.citizenAddr + ">\r\nDATA\r\n" +
			"From: <" + p.orgAddr + ">\r\nMessage-ID: <smuggled@mta.example>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
		reply := r.expect("554 5.6.0")
		if !strings.Contains(reply, "CRLF") && !strings.Contains(reply, "NUL") {
			t.Fatalf("%s: %q", name, reply)
		}
		// Exactly one reply: the next one answers our NOOP.
		r.cmd("NOOP", "250")
	}
	if n := p.org.sentCount(t); n != before {
		t.Fatalf("smuggling payloads made %d letters", n-before)
	}

	// BDAT (RFC 3030, CHUNKING) passes octets unchanged: the same rule
	// holds, and a clean message split mid-line over chunks goes through.
	r := p.b.raw(t, &p.org.cred, "")
	r.cmd("EHLO client.example", "250")
	for _, tc := range []struct {
		name, msg, want string
	}{
		{"bare LF", "From: <" + p.orgAddr + ">\r\nMessage-ID: <bdat-1@mta.example>\r\n\r\nbad\n.\nline\r\n", "554 5.6.0"},
		{"clean", "From: <" + p.orgAddr + ">\r\nMessage-ID: <bdat-2@mta.example>\r\n\r\ngood\r\nline\r\n", "250 2.0.0 Letter"},
	} {
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		r.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
		half := strings.Index(tc.msg, "line") + 2
		r.send(fmt.Sprintf("BDAT %d\r\n", half) + tc.msg[:half])
		r.expect("250")
		r.send(fmt.Sprintf("BDAT %d LAST\r\n", len(tc.msg)-half) + tc.msg[half:])
		if reply := r.expect(""); !strings.HasPrefix(reply, tc.want) {
			t.Fatalf("BDAT %s: %q", tc.name, reply)
		}
	}
	if n := p.org.sentCount(t); n != before+1 {
		t.Fatalf("BDAT made %d letters, want 1", n-before)
	}
}

// testSMTPRevocation: a revoked certificate is refused at the handshake,
// and a connection opened before the revocation cannot start a transaction.
func testSMTPRevocation(t *testing.T, p *smtpParties) {
	b := p.b
	req := certs.Request{Role: certs.RoleOrg, Name: "ООО «Ромашка»", UNP: "190000001"}
	holder := b.party(t, req)
	box := holder.registerActive("220004, г. Минск, пр-т Победителей, 5")
	open := b.dialSMTP(t, &holder.cred, true, "")
	if err := open.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	id, err := certs.IdentityFromCert(holder.cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	err = b.srv.Store.InTx(t.Context(), func(tx mailbox.Tx) error {
		_, err := tx.RevokeCertificate(t.Context(), id.Serial, int(certs.ReasonKeyCompromise), b.clock.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.clock.Advance(2 * time.Second) // past the revocation caches' lifetime
	if code, text := smtpCode(open.Mail(box+"@"+mailDomain, nil)); code != 535 || !strings.Contains(text, "revoked") {
		t.Fatalf("MAIL on a connection of a revoked certificate: %s", text)
	}
	if c, err := smtp.DialTLS(b.srv.SMTPSAddr.String(), b.tlsFor(t, &holder.cred)); err == nil {
		if err := c.Mail(box+"@"+mailDomain, nil); err == nil {
			t.Fatal("a revoked certificate reached MAIL")
		}
		_ = c.Close()
	}
}

// gateway starts a second gateway on the app's core with its own limits
// (short deadlines, small caps), on implicit TLS and STARTTLS listeners.
func (b *bundle) gateway(t *testing.T, lim smtpgw.Limits) (implicit, starttls string) {
	t.Helper()
	gw, implicit, starttls := b.gatewayServer(t, lim)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return implicit, starttls
}

func (b *bundle) gatewayServer(t *testing.T, lim smtpgw.Limits) (gw *smtpgw.Server, implicit, starttls string) {
	t.Helper()
	serverCert, err := b.srv.Data.ServerCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	never := certs.RevocationCheckerFunc(func(context.Context, string) (bool, error) { return false, nil })
	gw, err = smtpgw.New(smtpgw.Config{Service: b.srv.Service, TLSConfig: certs.ServerTLSConfig(serverCert, pool, never),
		Domain: mailDomain, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, serve := range []func(net.Listener) error{gw.ServeTLS, gw.Serve} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		go func() { _ = serve(ln) }()
	}
	return gw, addrs[0], addrs[1]
}

// TestSMTPShutdown: idle connections close at once; a transaction in
// progress gets its 250 (the letter is committed), then its connection
// closes.
func TestSMTPShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	p := newSMTPParties(t, b)
	gw, addr, _ := b.gatewayServer(t, smtpgw.Limits{})

	idle := b.raw(t, &p.org.cred, addr)
	idle.cmd("EHLO client.example", "250")
	busy := b.raw(t, &p.org.cred, addr)
	busy.cmd("EHLO client.example", "250")
	busy.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
	busy.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
	busy.cmd("DATA", "354")
	busy.send("From: <" + p.orgAddr + ">\r\nMessage-ID: <shutdown@mta.example>\r\n\r\nfirst half ")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- gw.Shutdown(ctx)
	}()
	if s, err := idle.reply(); err == nil {
		t.Fatalf("idle connection still open during shutdown: %q", s)
	}
	busy.send("second half\r\n.\r\n")
	id := letterIDOf(t, busy.expect("250 2.0.0"))
	if s, err := busy.reply(); err == nil {
		t.Fatalf("connection still open after its last reply: %q", s)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if c := p.citizen.content(t, id); c.Body != "first half second half\n" {
		t.Fatalf("body %q", c.Body)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

// TestSMTPDeadlines: a client that stalls is cut off by the per-command and
// per-transaction deadlines (only replies and closing are asserted, never
// how long anything took).
func TestSMTPDeadlines(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	p := newSMTPParties(t, b)
	// Idle cut-off: short command timeout, long transaction.
	addr, _ := b.gateway(t, smtpgw.Limits{CommandTimeout: 500 * time.Millisecond, TransactionTimeout: time.Minute})
	// Transaction cut-off: the command timeout never fires.
	txAddr, _ := b.gateway(t, smtpgw.Limits{CommandTimeout: time.Minute, TransactionTimeout: time.Second})

	start := func(addr string) *rawSMTP {
		r := b.raw(t, &p.org.cred, addr)
		r.cmd("EHLO client.example", "250")
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		r.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
		r.cmd("DATA", "354")
		r.send("From: <" + p.orgAddr + ">\r\nMessage-ID: <stall@mta.example>\r\n\r\nstart of the body")
		return r
	}
	closed := func(t *testing.T, r *rawSMTP) {
		t.Helper()
		if s, err := r.reply(); err == nil {
			t.Fatalf("connection still open after the timeout reply: %q", s)
		}
	}
	t.Run("stall inside DATA", func(t *testing.T) {
		r := start(addr)
		r.expect("451 4.4.2")
		closed(t, r)
	})
	t.Run("dribbling DATA past the transaction deadline", func(t *testing.T) {
		r := start(txAddr)
		stop := make(chan struct{})
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(r.conn, "x"); err != nil {
					return
				}
			}
		}()
		reply, err := r.reply()
		close(stop)
		if err != nil || !strings.HasPrefix(reply, "451 4.4.2") {
			t.Fatalf("%q %v", reply, err)
		}
		closed(t, r)
	})
	t.Run("commands past the transaction deadline", func(t *testing.T) {
		r := b.raw(t, &p.org.cred, txAddr)
		r.cmd("EHLO client.example", "250")
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		// Busy, but past the transaction's deadline (1s) by the time of RCPT.
		for range 15 {
			r.cmd("NOOP", "250")
			time.Sleep(100 * time.Millisecond)
		}
		r.cmd("RCPT TO:<"+p.citizenAddr+">", "451 4.4.2")
		// The stream is in step: the session goes on.
		r.cmd("RSET", "250")
		r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
		r.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
	})
	t.Run("stall between commands", func(t *testing.T) {
		r := b.raw(t, &p.org.cred, addr)
		r.cmd("EHLO client.example", "250")
		r.expect("421 4.4.2")
		closed(t, r)
	})
	t.Run("no certificate, kept alive with NOOP", func(t *testing.T) {
		r := b.raw(t, nil, addr)
		r.cmd("EHLO client.example", "250")
		for {
			r.send("NOOP\r\n")
			if _, err := r.reply(); err != nil {
				return // closed
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if n := p.org.sentCount(t); n != 0 {
		t.Fatalf("stalled transactions made %d letters", n)
	}
}

// TestSMTPConnectionCaps: per certificate and in total.
func TestSMTPConnectionCaps(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	p := newSMTPParties(t, b)
	implicit, starttls := b.gateway(t, smtpgw.Limits{MaxConnectionsPerIdentity: 2, MaxConnections: 4})

	first := b.dialSMTP(t, &p.org.cred, true, implicit)
	second := b.dialSMTP(t, &p.org.cred, true, implicit)
	for _, c := range []*smtp.Client{first, second} {
		if err := c.Hello("client.example"); err != nil {
			t.Fatal(err)
		}
	}
	third := b.dialSMTP(t, &p.org.cred, true, implicit)
	if code, text := smtpCode(third.Hello("client.example")); code != 421 {
		t.Fatalf("third connection of one certificate: %s", text)
	}
	// Another certificate is not affected.
	other := b.dialSMTP(t, &p.citizen.cred, true, implicit)
	if err := other.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	// A slot frees when a connection ends.
	_ = first.Quit()
	var err error
	waitFor(t, 30*time.Second, "the first connection's slot to be freed", func() bool {
		again := b.dialSMTP(t, &p.org.cred, true, implicit)
		err = again.Hello("client.example")
		return err == nil
	})
	if err != nil {
		t.Fatalf("slot not freed: %v", err)
	}
	// Total: 4 connections are open (second, other, again, and the
	// refused ones closed); fill up and check the next plaintext one.
	var conns []net.Conn
	var refused string
	for range 10 {
		c, err := net.Dial("tcp", starttls)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(line, "421") {
			refused = line
			break
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	if !strings.HasPrefix(refused, "421 4.4.5") {
		t.Fatalf("the connection cap never refused: %q", refused)
	}
}

// TestSMTPOversizedMessage streams a message far beyond the limit: refused
// with 552 during DATA, and the server's memory does not grow with it.
// Not parallel: it samples the process's heap.
func TestSMTPOversizedMessage(t *testing.T) {
	b := setup(t, "")
	p := newSMTPParties(t, b)
	const limit = 1 << 20
	addr, _ := b.gateway(t, smtpgw.Limits{MaxMessageBytes: limit})

	r := b.raw(t, &p.org.cred, addr)
	ehlo := r.cmd("EHLO client.example", "250")
	if !strings.Contains(ehlo, fmt.Sprintf("SIZE %d", limit)) {
		t.Fatalf("SIZE not advertised: %q", ehlo)
	}
	r.cmd(fmt.Sprintf("MAIL FROM:<%s> SIZE=%d", p.orgAddr, limit+1), "552 5.3.4")
	r.cmd("MAIL FROM:<"+p.orgAddr+">", "250")
	r.cmd("RCPT TO:<"+p.citizenAddr+">", "250")
	r.cmd("DATA", "354")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	const sent = 64 << 20
	r.send("From: <" + p.orgAddr + ">\r\nMessage-ID: <big@mta.example>\r\n" +
		"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := []byte(strings.Repeat("QUJD", 19) + "\r\n")
	chunk := bytes.Repeat(line, 64<<10/len(line))
	for n := 0; n < sent; n += len(chunk) {
		r.send(string(chunk))
	}
	r.send(".\r\n")
	r.expect("552 5.3.4")
	close(done)
	<-sampled
	if grew := int64(peak.Load()) - int64(base); grew > sent/2 {
		t.Fatalf("heap grew by %d MiB while %d MiB streamed in", grew>>20, sent>>20)
	}
	if n := p.org.sentCount(t); n != 0 {
		t.Fatalf("%d letters", n)
	}
}

// TestSMTPNotificationsThroughRelay: with a relay configured, the recipient
// and the sender hear of the letter by email, and the notice carries none of
// its content.
func TestSMTPNotificationsThroughRelay(t *testing.T) {
	t.Parallel()
	relayAddr, received := startTestRelay(t)
	b := setupWith(t, "", func(c *app.Config) { c.SMTPRelay = relayAddr })
	org, citizen := b.party(t, orgReq), b.party(t, citizenReq)
	register := func(p *party, address, email string) string {
		var m struct{ ID string }
		p.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": address, "email": email}, &m, 201)
		b.operator(t).mustJSON("POST", "/v1/admin/mailboxes/"+m.ID+"/verify", nil, nil, 200)
		return m.ID + "@" + mailDomain
	}
	orgAddr := register(org, orgAddress, "office@beltelecom.example")
	citizenAddr := register(citizen, citizenAddress, "ivanov@example.by")

	const secret = "Секретное содержание письма"
	c := b.dialSMTP(t, &org.cred, true, "")
	reply, err := submit(c, orgAddr, citizenAddr, compose(orgAddr, "notify-1@mta.example", []string{"Subject: " + secret}, secret+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	id := letterIDOf(t, reply)
	var msgs map[string]string
	waitFor(t, 60*time.Second, "both notifications to reach the relay", func() bool {
		msgs = received()
		return len(msgs) >= 2
	})
	toCitizen, toOrg := msgs["ivanov@example.by"], msgs["office@beltelecom.example"]
	if !strings.Contains(toCitizen, "GET /v1/letters/"+id) || !strings.Contains(toOrg, "GET /v1/letters/"+id+"/evidence") {
		t.Fatalf("notifications: %v", msgs)
	}
	for _, m := range msgs {
		if strings.Contains(m, secret) || strings.Contains(m, base64.StdEncoding.EncodeToString([]byte(secret))[:16]) {
			t.Fatalf("a notification carries the letter's content:\n%s", m)
		}
	}
}

// startTestRelay runs a minimal SMTP relay and returns what it received by
// recipient.
func startTestRelay(t *testing.T) (string, func() map[string]string) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &relaySession{deliver: func(to []string, data []byte) {
			mu.Lock()
			defer mu.Unlock()
			for _, rcpt := range to {
				got[rcpt] = string(data)
			}
		}}, nil
	}))
	srv.Domain = "relay.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]string{}
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}

type relaySession struct {
	to      []string
	deliver func(to []string, data []byte)
}

func (s *relaySession) Reset()                               { s.to = nil }
func (s *relaySession) Logout() error                        { return nil }
func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.deliver(s.to, b)
	}
	return err
}
