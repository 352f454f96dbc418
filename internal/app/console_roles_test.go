package app_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// signInAs signs the client in with its certificate and checks where the
// role lands.
func (p *portalClient) signInAs(landing string) {
	p.t.Helper()
	resp, body := p.do("POST", "/signin/certificate", map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != landing {
		p.t.Fatalf("sign-in: %d %s, want %s; %s", resp.StatusCode, resp.Header.Get("Location"), landing, body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "__Host-npes" {
			p.cookie = c.Value
			return
		}
	}
	p.t.Fatal("sign-in set no session cookie")
}

// TestConsoleRoles: every console route × every role. A role sees its own
// console only: another role's pages and actions are 404 (they do not
// exist for it), and no navigation entry points at them; without a
// session every route sends the browser to sign in.
func TestConsoleRoles(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	clients := map[string]*portalClient{}
	landings := map[string]string{"person": "/inbox", "org": "/inbox", "printcenter": "/print", "operator": "/operator"}
	for role, req := range map[string]certs.Request{
		"person":      citizenReq,
		"org":         orgReq,
		"printcenter": {Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}},
	} {
		p := b.party(t, req)
		clients[role] = b.portal(t, &p.cred)
	}
	op := b.operator(t)
	clients["operator"] = b.portal(t, &op.cred)
	for role, c := range clients {
		c.signInAs(landings[role])
		// The home page sends each role to its console.
		if resp, _ := c.do("GET", "/", nil); resp.Header.Get("Location") != landings[role] {
			t.Errorf("%s: / → %s", role, resp.Header.Get("Location"))
		}
	}
	clients["anonymous"] = b.portal(t, nil)

	holders := []string{"person", "org"}
	routes := []struct {
		method, path string
		owners       []string
		// ownerNotFound: the owner's request names nothing that exists,
		// so the service itself answers 404.
		ownerNotFound bool
	}{
		{"GET", "/inbox", holders, false},
		{"GET", "/sent", holders, false},
		{"GET", "/write", holders, false},
		{"GET", "/mailbox", holders, false},
		{"GET", "/letters/00000000-0000-4000-8000-000000000000", holders, true},
		{"GET", "/letters/00000000-0000-4000-8000-000000000000/bundle", holders, true},
		{"GET", "/letters/00000000-0000-4000-8000-000000000000/attachments/0", holders, true},
		{"POST", "/mailbox/nope/activate", holders, true},
		{"POST", "/write", holders, false},
		{"GET", "/print", []string{"printcenter"}, false},
		{"GET", "/print/manifest.csv", []string{"printcenter"}, false},
		{"GET", "/print/manifest.pdf?date=2026-12-01", []string{"printcenter"}, false},
		{"POST", "/print/jobs/nope/retry", []string{"printcenter"}, false},
		{"POST", "/print/jobs/nope/events", []string{"printcenter"}, false},
		{"GET", "/operator", []string{"operator"}, false},
		{"GET", "/operator/counter", []string{"operator"}, false},
		{"GET", "/operator/credentials?q=Иван", []string{"operator"}, false},
		{"GET", "/operator/audits", []string{"operator"}, false},
		{"POST", "/operator/mailboxes/nope/verify", []string{"operator"}, false},
		{"POST", "/operator/recoveries/nope/verify", []string{"operator"}, false},
		{"POST", "/operator/certificates/0A/revoke", []string{"operator"}, false},
	}
	for _, rt := range routes {
		for role, c := range clients {
			t.Run(role+" "+rt.method+" "+rt.path, func(t *testing.T) {
				var resp *http.Response
				var body string
				if rt.method == "GET" {
					resp, body = c.do("GET", rt.path, nil)
				} else {
					resp, body = c.send("POST", rt.path, strings.NewReader(url.Values{"event": {"Delivered"}}.Encode()), "application/x-www-form-urlencoded")
				}
				owner := false
				for _, o := range rt.owners {
					owner = owner || o == role
				}
				switch {
				case role == "anonymous":
					if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
						t.Fatalf("%d %s, want 303 to sign-in", resp.StatusCode, resp.Header.Get("Location"))
					}
				case !owner:
					if resp.StatusCode != http.StatusNotFound {
						t.Fatalf("%d, want 404", resp.StatusCode)
					}
				case rt.method == "GET" && !rt.ownerNotFound:
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("%d, want 200: %s", resp.StatusCode, body)
					}
				case !rt.ownerNotFound:
					if resp.StatusCode == http.StatusNotFound {
						t.Fatalf("the owner's action is 404")
					}
				}
			})
		}
	}

	// Navigation names only the role's own console.
	for role, c := range clients {
		if role == "anonymous" {
			continue
		}
		_, body := c.do("GET", landings[role], nil)
		for _, other := range []string{`href="/inbox"`, `href="/print"`, `href="/operator"`, `href="/write"`, `href="/operator/counter"`} {
			own := strings.Contains(other, landings[role]) || landings[role] == "/inbox" && other == `href="/write"` ||
				landings[role] == "/operator" && other == `href="/operator/counter"`
			if strings.Contains(body, other) != own {
				t.Errorf("%s's page: link %s present=%v", role, other, !own)
			}
		}
	}
}

// TestOperatorConsoleCertificateOnly: a session of the operator that was
// not signed in with the certificate (a passkey session) gets 403 and the
// sign-in page on the operator's console.
func TestOperatorConsoleCertificateOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	op := b.operator(t)
	block, _ := pem.Decode(op.cred.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	token := make([]byte, 32)
	token[0] = 7
	hash := sha256.Sum256(token)
	now := b.clock.Now()
	if err := b.srv.Service.StartWebSession(t.Context(), mailbox.WebSession{TokenHash: hash[:], Identity: id, CertSerial: id.Serial,
		Method: "passkey", CreatedAt: now, LastSeen: now}, now.Add(-time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := b.portal(t, nil)
	c.cookie = base64.RawURLEncoding.EncodeToString(token)
	for _, path := range []string{"/operator", "/operator/counter", "/operator/audits"} {
		resp, body := c.do("GET", path, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "certificate sign-in only") {
			t.Errorf("%s with a passkey session: %d", path, resp.StatusCode)
		}
	}
}
