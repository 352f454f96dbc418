package app_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

func TestOperatorConsoleBrowser(t *testing.T) {
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	// Letters for the charts: registered ones accepted later by nobody
	// here, and one to print.
	for i, addr := range []string{citizenAddress, citizenAddress, "230025, г. Гродно, ул. Ожешко, 3"} {
		if status, _, data := org.send(map[string]any{"recipient": map[string]string{"name": "Иванову Ивану Ивановичу", "address": addr},
			"registered": i < 2, "subject": "Письмо", "body": "Текст"}, ""); status != 201 {
			t.Fatalf("send: %d %s", status, data)
		}
	}
	// A holder whose address waits for a counter verification.
	pending := b.party(t, certs.Request{Role: certs.RolePerson, Name: "Петрова Анна Сергеевна", PersonalID: "4250590A003PB5"})
	var m struct{ ID, Status string }
	pending.mustJSON("POST", "/v1/mailboxes", map[string]string{"address": "220030, г. Минск, пр-т Независимости, 10, кв. 7"}, &m, 201)
	// A certificate to revoke, in use on a kept-alive connection.
	victim := b.party(t, certs.Request{Role: certs.RoleOrg, Name: "ООО «Ромашка»", UNP: "190000007"})
	pool := x509.NewCertPool()
	pool.AddCert(b.ca.Certificate())
	kp, err := tls.X509KeyPair(victim.cred.CertPEM, victim.cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	keepAlive := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &kp, nil }}}}
	whoami := func() (int, error) {
		resp, err := keepAlive.Get(b.base + "/v1/whoami")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := whoami(); status != 200 {
		t.Fatalf("before revocation: %d %v", status, err)
	}

	op := b.operator(t)
	c := newConsoleBrowser(t, b, op.cred)
	c.step("sign in", chromedp.Navigate(c.origin+"/?lang=en"), chromedp.WaitVisible(chromedp.CSS("#signin-cert")),
		chromedp.Click(chromedp.CSS("#signin-cert")), chromedp.WaitVisible(chromedp.CSS("#health")))
	if loc, _ := chromedp.Run(c.ctx, chromedp.Location()); !strings.HasSuffix(loc, "/operator") {
		t.Fatalf("the operator landed on %s", loc)
	}
	// Health, log size, checkpoint, metrics and the three pictures.
	if got := c.text("#health"); !strings.Contains(got, "serving") {
		t.Errorf("health: %q", got)
	}
	if got := c.text("#log-size"); got == "0" || got == "" {
		t.Errorf("log size %q", got)
	}
	if got := c.text("#checkpoint"); !strings.Contains(got, "npes") || strings.Contains(got, "\u2014") {
		t.Errorf("checkpoint text %q", got)
	}
	if got := c.text("main"); !strings.Contains(got, "npes_letters_accepted_total") || !strings.Contains(got, "npes_log_size") {
		t.Errorf("key figures missing")
	}
	for _, id := range []string{"letters-per-day", "acceptance-rate", "queue-depth", "queue-age"} {
		if c.count("svg[aria-labelledby='"+id+"-t "+id+"-d']") != 1 {
			t.Errorf("no chart %s", id)
		}
	}
	if got := c.text("#letters-per-day-cap"); !strings.Contains(got, "Letters per day") {
		t.Errorf("chart caption %q", got)
	}
	c.pages("/operator", "operator", "#health")

	// Counter: the pending proof with its parsed address and match key.
	c.step("counter", chromedp.Navigate(c.origin+"/operator/counter?lang=en"), chromedp.WaitVisible(chromedp.CSS("#p-"+m.ID)))
	if got := c.text("#proofs-h + p + article"); !strings.Contains(got, "Независимости") || !strings.Contains(got, "220030") {
		t.Errorf("pending proof: %q", got)
	}
	c.pages("/operator/counter", "operator-counter", "#proofs-h")
	c.step("verify at the counter", chromedp.Navigate(c.origin+"/operator/counter?lang=en"), chromedp.WaitVisible(chromedp.CSS("#p-"+m.ID)),
		chromedp.Click(chromedp.CSS(`form[action="/operator/mailboxes/`+m.ID+`/verify"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	var mine struct {
		Mailboxes []struct{ ID, Status string } `json:"mailboxes"`
	}
	pending.mustJSON("GET", "/v1/mailboxes/me", nil, &mine, 200)
	if len(mine.Mailboxes) != 1 || mine.Mailboxes[0].Status != mailbox.StatusActive {
		t.Errorf("after counter verification: %+v", mine.Mailboxes)
	}
	if c.count("#p-"+m.ID) != 0 {
		t.Error("the verified proof is still listed")
	}

	// Audit: started in the background, its result listed.
	c.step("start an audit", chromedp.Navigate(c.origin+"/operator/audits?lang=en"), chromedp.WaitVisible(chromedp.CSS("#start-audit")),
		chromedp.Click(chromedp.CSS("#start-audit")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	deadline := time.Now().Add(browserTimeout)
	for c.count("tr.audit-passed") == 0 {
		if c.count("tr.audit-failed") > 0 || time.Now().After(deadline) {
			t.Fatalf("audit result: %q", c.text("main"))
		}
		c.step("reload audits", chromedp.Navigate(c.origin+"/operator/audits?lang=en"), chromedp.WaitVisible(chromedp.CSS("#runs-h")))
	}
	if got := c.text("tr.audit-passed"); !strings.Contains(got, "log entries") {
		t.Errorf("audit row: %q", got)
	}
	c.pages("/operator/audits", "operator-audits", "tr.audit-passed")

	// Credentials: search by name, revoke; the open connection is refused
	// on its next request.
	c.pages("/operator/credentials?q=Ромашка", "operator-credentials", "#results-h")
	serial := victim.serial(t)
	c.step("revoke", chromedp.Navigate(c.origin+"/operator/credentials?lang=en&q=Ромашка"), chromedp.WaitVisible(chromedp.CSS("#results-h")),
		chromedp.SetValue(chromedp.CSS("#reason-"+serial), "1"),
		chromedp.Click(chromedp.CSS(`form[action="/operator/certificates/`+serial+`/revoke"] button`)), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := c.text(".notice"); !strings.Contains(got, "revoked") {
		t.Errorf("after revoking: %q", got)
	}
	if got := c.text("main"); !strings.Contains(got, "Revoked") {
		t.Errorf("the certificate is not shown revoked")
	}
	if status, err := whoami(); err == nil && status == 200 {
		t.Error("the revoked certificate still works on its open connection")
	}
}

// serial is the party's certificate serial as the registry writes it.
func (p *party) serial(t *testing.T) string {
	t.Helper()
	cert := p.cred.Cert
	if cert == nil {
		block, _ := pem.Decode(p.cred.CertPEM)
		var err error
		if cert, err = x509.ParseCertificate(block.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	return id.Serial
}
