package reliability_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
)

// opensslBin returns openssl's path; CI (CI set) must have it.
func opensslBin(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is not on PATH; CI must install it")
		}
		t.Skip("openssl is not on PATH")
	}
	return p
}

var (
	briefProtocol = regexp.MustCompile(`Protocol version: (\S+)`)
	briefSuite    = regexp.MustCompile(`Ciphersuite: (\S+)`)
)

// handshake is what `openssl s_client -brief` reports of one attempt.
type handshake struct {
	ok       bool
	protocol string
	suite    string
	out      string
}

// sClient runs openssl s_client against addr with args and sends stdin.
func sClient(t testing.TB, addr, stdin string, args ...string) handshake {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := append([]string{"s_client", "-connect", addr, "-servername", "localhost", "-brief"}, args...)
	cmd := exec.CommandContext(ctx, opensslBin(t), all...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	h := handshake{out: string(out)}
	if m := briefProtocol.FindStringSubmatch(h.out); m != nil {
		h.protocol = m[1]
	}
	if m := briefSuite.FindStringSubmatch(h.out); m != nil {
		h.suite = m[1]
	}
	h.ok = err == nil && h.suite != ""
	return h
}

// tls12Ciphers lists every TLS 1.2 cipher suite this openssl knows,
// including those its default security level hides.
func tls12Ciphers(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command(opensslBin(t), "ciphers", "-tls1_2", "ALL:COMPLEMENTOFALL:@SECLEVEL=0").Output()
	if err != nil {
		t.Fatal(err)
	}
	var list []string
	for _, c := range strings.Split(strings.TrimSpace(string(out)), ":") {
		if !strings.HasPrefix(c, "TLS_") { // TLS 1.3 suites are listed too
			list = append(list, c)
		}
	}
	return list
}

// aeadECDHE is what npes may offer with TLS 1.2 (RFC 9325 §4.2: ECDHE and
// AEAD only), in openssl's names.
var aeadECDHE = []string{
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305",
	"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
}

func isAEAD(c string) bool {
	return strings.Contains(c, "GCM") || strings.Contains(c, "CHACHA20") || strings.Contains(c, "CCM")
}

// acceptedTLS12 enumerates the TLS 1.2 suites a server accepts, as sslscan
// does: offer every suite, note the one chosen, offer the rest, until the
// handshake fails.
func acceptedTLS12(t testing.TB, addr string, extra ...string) []string {
	t.Helper()
	offer := tls12Ciphers(t)
	var accepted []string
	for len(offer) > 0 {
		args := append([]string{"-tls1_2", "-cipher", strings.Join(offer, ":") + ":@SECLEVEL=0"}, extra...)
		h := sClient(t, addr, "", args...)
		if !h.ok {
			break
		}
		accepted = append(accepted, h.suite)
		i := slices.Index(offer, h.suite)
		if i < 0 {
			t.Fatalf("server chose %s, which was not offered", h.suite)
		}
		offer = slices.Delete(offer, i, i+1)
	}
	return accepted
}

// legacyServer is a TLS server that does what npes must not: TLS 1.0 and
// CBC suites. The same openssl commands must succeed against it, or the
// checks against npes could not fail.
func legacyServer(t *testing.T, d *deployment) string {
	t.Helper()
	cred, err := d.ca.IssueServer([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := cred.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS10,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				_ = c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTLSProtocolsAndSuites checks with openssl, an independent TLS stack,
// that the API and both SMTP listeners offer only TLS 1.2 and 1.3, and with
// TLS 1.2 only ECDHE AEAD suites: TLS 1.0/1.1 and every CBC or non-ECDHE
// suite are refused, even with openssl's security level lowered to allow
// them. A deliberately weak control server accepts the same commands, so the
// checks can fail. Scenario 4 of RELIABILITY.md.
func TestTLSProtocolsAndSuites(t *testing.T) {
	t.Parallel()
	opensslBin(t)
	d, srv, _ := inProcess(t, "", func(c *app.Config) { c.SMTPAddr, c.SMTPSAddr = "127.0.0.1:0", "127.0.0.1:0" })
	control := legacyServer(t, d)

	legacy := [][]string{
		{"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"},
		{"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"},
		{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"},
	}
	for _, args := range legacy {
		if h := sClient(t, control, "", args...); !h.ok {
			t.Fatalf("control server refused %v, so the check cannot fail:\n%s", args, h.out)
		}
	}
	var nonAEAD []string
	for _, c := range tls12Ciphers(t) {
		if !isAEAD(c) {
			nonAEAD = append(nonAEAD, c)
		}
	}

	endpoints := []struct {
		name  string
		addr  string
		extra []string
	}{
		{"API", srv.HTTPAddr.String(), nil},
		{"SMTPS", srv.SMTPSAddr.String(), nil},
		{"SMTP STARTTLS", srv.SMTPAddr.String(), []string{"-starttls", "smtp"}},
	}
	for _, ep := range endpoints {
		t.Run(ep.name, func(t *testing.T) {
			t.Parallel()
			refuse := append(slices.Clone(legacy),
				[]string{"-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"},
				[]string{"-tls1_2", "-cipher", strings.Join(nonAEAD, ":") + ":@SECLEVEL=0"})
			for _, args := range refuse {
				if h := sClient(t, ep.addr, "", append(args, ep.extra...)...); h.ok {
					t.Errorf("%v accepted: %s %s", args, h.protocol, h.suite)
				}
			}
			for _, suite := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"} {
				h := sClient(t, ep.addr, "", append([]string{"-tls1_2", "-cipher", suite}, ep.extra...)...)
				if !h.ok || h.protocol != "TLSv1.2" || h.suite != suite {
					t.Errorf("TLS 1.2 %s refused: %s", suite, h.out)
				}
			}
			for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
				h := sClient(t, ep.addr, "", append([]string{"-tls1_3", "-ciphersuites", suite}, ep.extra...)...)
				if !h.ok || h.protocol != "TLSv1.3" || h.suite != suite {
					t.Errorf("TLS 1.3 %s refused: %s", suite, h.out)
				}
			}
			accepted := acceptedTLS12(t, ep.addr, ep.extra...)
			for _, s := range accepted {
				if !slices.Contains(aeadECDHE, s) {
					t.Errorf("TLS 1.2 suite %s accepted: only ECDHE AEAD suites may be", s)
				}
			}
			if len(accepted) == 0 {
				t.Error("no TLS 1.2 suite accepted at all")
			}
			t.Logf("TLS 1.2 suites accepted: %v", accepted)
		})
	}
}

// TestClientCertificatesWithOpenSSL presents credentials to the API with
// openssl s_client (an independent TLS client) and sends a request:
// a valid credential is served; a foreign CA's certificate with the same
// name, an expired, a not yet valid and a serverAuth-only certificate never
// reach the API; a certificate revoked with `npes ca revoke` is refused
// from the next connection, without a restart, and the published CRL
// (checked by `openssl crl`) lists it; a second certificate with the same
// name and personal number but another key is a different identity that
// sees nothing of the first one's mailbox. Scenario 4 of RELIABILITY.md.
func TestClientCertificatesWithOpenSSL(t *testing.T) {
	t.Parallel()
	bin := opensslBin(t)
	d, srv, base := inProcess(t, "", nil)
	addr := srv.HTTPAddr.String()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, d.ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name string, cred certs.Credential) []string {
		c, k := filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem")
		if err := os.WriteFile(c, cred.CertPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(k, cred.KeyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"-cert", c, "-key", k, "-CAfile", caFile, "-verify_return_error", "-ign_eof"}
	}
	const whoami = "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
	served := func(name string, cred certs.Credential) (bool, string) {
		h := sClient(t, addr, whoami, write(name, cred)...)
		return strings.Contains(h.out, "HTTP/1.1 200"), h.out
	}

	now := time.Now()
	holder := d.party(t, citizenReq)
	box := holder.registerActive(t, base, citizenAddress)
	if ok, out := served("holder", holder.cred); !ok || !strings.Contains(out, holder.id.Serial) {
		t.Fatalf("a valid credential was not served:\n%s", out)
	}

	foreignCertPEM, foreignKeyPEM, err := certs.CreateCA(d.ca.Certificate().Subject.CommonName, now)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := certs.LoadCA(foreignCertPEM, foreignKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]certs.Credential{}
	if refused["foreign CA with the same name"], err = foreign.Issue(citizenReq, now); err != nil {
		t.Fatal(err)
	}
	short := citizenReq
	short.Days = 1
	if refused["expired"], err = d.ca.Issue(short, now.Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if refused["not yet valid"], err = d.ca.Issue(short, now.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if refused["serverAuth only"], err = d.ca.IssueServer([]string{"localhost"}, nil, now); err != nil {
		t.Fatal(err)
	}
	for name, cred := range refused {
		if ok, out := served(strings.ReplaceAll(name, " ", "-"), cred); ok {
			t.Errorf("%s: served:\n%s", name, out)
		}
	}

	// Same name and personal number, another key: a valid certificate, but
	// another identity, bound to nothing.
	twin := d.party(t, citizenReq)
	if twin.id.ID == holder.id.ID {
		t.Fatal("two certificates share an identity")
	}
	var mine struct{ Mailboxes []struct{ ID string } }
	twin.must(t, "GET", base+"/v1/mailboxes/me", nil, &mine, 200)
	if len(mine.Mailboxes) != 0 {
		t.Errorf("a second certificate with the same name sees mailboxes %v", mine.Mailboxes)
	}
	if r, _ := twin.call(t.Context(), "GET", base+"/v1/mailboxes/"+box+"/credentials", nil, "", nil); r.status != 404 {
		t.Errorf("a second certificate with the same name reads the mailbox's credentials: %d %s", r.status, r.body)
	}

	// Revoked with the CLI while the server runs.
	victim := d.issue(t, citizen2Req)
	if ok, out := served("victim", victim); !ok {
		t.Fatalf("the credential to revoke was not served:\n%s", out)
	}
	serial := certs.FormatSerial(victim.Cert.SerialNumber)
	if out, err := runNPES(t.Context(), t, "ca", "revoke", "--data", d.dataDir, "--serial", serial, "--reason", "keyCompromise"); err != nil {
		t.Fatalf("npes ca revoke: %v\n%s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, out := served("victim", victim)
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a revoked certificate is still served 60 s after `npes ca revoke`:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	crl := d.anonymous(t).must(t, "GET", base+"/v1/crl", nil, nil, 200).body
	crlFile := filepath.Join(dir, "crl.der")
	if err := os.WriteFile(crlFile, crl, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "crl", "-inform", "DER", "-in", crlFile, "-CAfile", caFile, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	if !strings.Contains(strings.ToUpper(string(out)), "SERIAL NUMBER: "+serial) || !strings.Contains(string(out), "Key Compromise") {
		t.Errorf("the CRL does not list %s as key compromise:\n%s", serial, out)
	}
}
