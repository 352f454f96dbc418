//go:build cgo

package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThalesGroup/crypto11"

	"github.com/npes/npes/internal/cli"
	"github.com/npes/npes/signing"
)

// softHSMModule is where Debian's softhsm2 package (installed by .ci/run)
// puts the PKCS#11 module.
const softHSMModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSM makes a fresh SoftHSM2 token labelled "npes" (user PIN 1234) in
// a temporary directory, with an ECDSA P-256 key pair for each label, and
// returns the environment the npes commands need to use it.
func softHSM(t *testing.T, labels ...string) map[string]string {
	t.Helper()
	if _, err := os.Stat(softHSMModule); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("SoftHSM2 is not installed (%v): .ci/run installs softhsm2", err)
		}
		t.Skipf("SoftHSM2 is not installed (%v): apt-get install softhsm2", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "npes", "--pin", "1234", "--so-pin", "5678").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: softHSMModule, TokenLabel: "npes", Pin: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range labels {
		if _, err := ctx.GenerateECDSAKeyPairWithLabel([]byte{byte(i + 1)}, []byte(l), elliptic.P256()); err != nil {
			t.Fatal(err)
		}
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"NPES_PKCS11_MODULE": softHSMModule, "NPES_PKCS11_PIN": "1234"}
}

// TestTokenCredential: a person whose key lives on a PKCS#11 token (SoftHSM2)
// makes a CSR with it, gets a certificate from `npes ca issue --csr` (role
// and attributes from the flags, the CSR's subject ignored, no key.pem
// written), registers a mailbox over mutual TLS with the token's key,
// accepts a registered letter with a statement the token signs, and the
// sender's bundle verifies offline with pinned trust, the binding of the
// token's key proven by the log.
func TestTokenCredential(t *testing.T) {
	tok := softHSM(t, "ivan")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data)
	env := map[string]string{"NPES_DATA": data, "NPES_SERVER": "https://" + srv.HTTPAddr.String()}
	with := func(extra ...map[string]string) map[string]string {
		return merged(append([]map[string]string{env}, extra...)...)
	}
	must := func(env map[string]string, args ...string) string { t.Helper(); return npesOK(t, env, args...) }
	const uri = "pkcs11:token=npes;object=ivan"
	req := filepath.Join(dir, "req.pem")
	must(with(tok), "csr", "--pkcs11", uri, "--out", req, "--name", "Someone Else")

	// A CSR whose signature does not verify is refused.
	bad := filepath.Join(dir, "bad.pem")
	raw, _ := os.ReadFile(req)
	block, _ := pem.Decode(raw)
	block.Bytes[len(block.Bytes)-3] ^= 1
	if err := os.WriteFile(bad, pem.EncodeToMemory(block), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := npes(t, env, "ca", "issue", "--role", "person", "--name", "Иванов Иван Иванович", "--personal-id", "3140582A001PB3",
		"--csr", bad, "--out", filepath.Join(dir, "bad")); code == 0 || !strings.Contains(errs, "signature") {
		t.Fatalf("tampered CSR: exit %d, %s", code, errs)
	}

	ivan := filepath.Join(dir, "ivan")
	must(env, "ca", "issue", "--role", "person", "--name", "Иванов Иван Иванович", "--personal-id", "3140582A001PB3", "--csr", req, "--out", ivan)
	if _, err := os.Stat(filepath.Join(ivan, "key.pem")); !os.IsNotExist(err) {
		t.Fatalf("ca issue --csr wrote key.pem: %v", err)
	}
	certPEM, err := os.ReadFile(filepath.Join(ivan, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "Иванов Иван Иванович" {
		t.Fatalf("certificate subject %q: the CSR's subject was trusted", cert.Subject.CommonName)
	}

	must(env, "ca", "issue", "--role", "org", "--name", "ОАО «Белтелеком»", "--unp", "100289066", "--out", filepath.Join(dir, "org"))
	org := with(map[string]string{"NPES_ID": filepath.Join(dir, "org")})
	holder := with(tok, map[string]string{"NPES_ID": ivan})
	operator := map[string]string{"NPES_ID": filepath.Join(data, "credentials", "operator"), "NPES_SERVER": env["NPES_SERVER"]}

	// Without the token the directory is no credential (no key.pem).
	if code, _, _ := npes(t, with(map[string]string{"NPES_ID": ivan}), "whoami"); code == 0 {
		t.Fatal("whoami without --pkcs11 succeeded with a directory that has no key.pem")
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		uri  string
		want string
	}{
		{"wrong PIN", with(holder, map[string]string{"NPES_PKCS11_PIN": "0000"}), uri, "CKR_PIN_INCORRECT"},
		{"no such key", holder, "pkcs11:token=npes;object=nobody", "no key pair"},
		{"no such token", holder, "pkcs11:token=other;object=ivan", "opening the token"},
		{"no module", with(holder, map[string]string{"NPES_PKCS11_MODULE": ""}), uri, "NPES_PKCS11_MODULE"},
		{"PIN in the URI", holder, uri + "?pin-value=1234", "NPES_PKCS11_PIN"},
	} {
		if code, _, errs := npes(t, tc.env, "whoami", "--pkcs11", tc.uri); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want it to mention %q", tc.name, code, errs, tc.want)
		}
	}
	if who := must(holder, "whoami", "--pkcs11", uri); !strings.Contains(who, "3140582A001PB3") {
		t.Fatalf("whoami with the token: %s", who)
	}
	must(holder, "mailbox", "register", "--pkcs11", uri, "--address", "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5")
	var me struct {
		Mailboxes []struct{ ID string } `json:"mailboxes"`
	}
	if err := json.Unmarshal([]byte(must(holder, "mailbox", "show", "--pkcs11", uri, "--json")), &me); err != nil || len(me.Mailboxes) != 1 {
		t.Fatalf("mailbox show: %v %+v", err, me)
	}
	must(operator, "admin", "verify-address", me.Mailboxes[0].ID)
	must(org, "mailbox", "register", "--address", "220030, г. Минск, ул. Энгельса, 6")
	if err := json.Unmarshal([]byte(must(org, "mailbox", "show", "--json")), &me); err != nil || len(me.Mailboxes) != 1 {
		t.Fatalf("mailbox show: %v %+v", err, me)
	}
	must(operator, "admin", "verify-address", me.Mailboxes[0].ID)

	out := must(org, "send", "--json", "--to-name", "Иванову Ивану Ивановичу", "--to-address", "220013, г. Минск, ул. Дорошевича, 8, кв. 5",
		"--registered", "--acceptance-period", "3d", "--body", "Заказное")
	var sent struct{ ID string }
	if err := json.Unmarshal([]byte(out), &sent); err != nil || sent.ID == "" {
		t.Fatalf("send --json: %v %s", err, out)
	}
	// The PIN may come from a prompt instead of the environment.
	prompted := with(map[string]string{"NPES_ID": ivan, "NPES_PKCS11_MODULE": softHSMModule})
	code, accepted, errs := npesIn(t, prompted, "1234\n", "accept", sent.ID, "--pkcs11", uri)
	if code != 0 || !strings.Contains(accepted, "accepted") || !strings.Contains(errs, "PIN for token") {
		t.Fatalf("accept with the token: exit %d\n%s%s", code, accepted, errs)
	}

	bundle := filepath.Join(dir, "bundle.json")
	must(org, "bundle", sent.ID, "--out", bundle)
	keys, err := json.Marshal(srv.Service.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(ivan, "ca.pem"))
	trust, _ := json.Marshal(map[string]any{"keys": json.RawMessage(keys), "identity_cas": []string{string(caPEM)}})
	trustFile := filepath.Join(dir, "trust.json")
	if err := os.WriteFile(trustFile, trust, 0o644); err != nil {
		t.Fatal(err)
	}
	verified := must(nil, "verify", bundle, "--trust", trustFile)
	if !strings.Contains(verified, "key bound to the mailbox") {
		t.Fatalf("verify does not prove the token key's binding:\n%s", verified)
	}

	// The web portal's endorsement request for a passkey, signed on the
	// token: the JWS carries the token key's certificate and names the
	// request's mailbox, passkey, key and RP ID.
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := signing.NewJWK(&pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	request, _ := json.Marshal(signing.PasskeyEndorsementRequest{Type: signing.PasskeyEndorsementRequestType, V: 1,
		Mailbox: "mb-1", CredentialID: "AAECAwQ", JWK: jwk, RPID: "post.example"})
	requestFile := filepath.Join(dir, "npes-passkey-request.json")
	if err := os.WriteFile(requestFile, request, 0o600); err != nil {
		t.Fatal(err)
	}
	cj, err := signing.ParseCompact(strings.TrimSpace(must(holder, "mailbox", "endorse-passkey", "--request", requestFile, "--pkcs11", uri)))
	if err != nil {
		t.Fatal(err)
	}
	payload, leaf, err := cj.Verify()
	if err != nil || !leaf.Equal(cert) {
		t.Fatalf("endorsement on the token: %v, signed by %v", err, leaf.Subject)
	}
	var e signing.PasskeyEndorsement
	if err := json.Unmarshal(payload, &e); err != nil || e.Mailbox != "mb-1" || e.Passkey != "AAECAwQ" ||
		e.JWKThumbprint != jwk.Thumbprint() || e.RPID != "post.example" || e.Time.IsZero() {
		t.Fatalf("endorsement payload: %v %s", err, payload)
	}
	// --request names the passkey alone.
	if code, _, errs := npes(t, holder, "mailbox", "endorse-passkey", "--request", requestFile, "--rp-id", "x", "--pkcs11", uri); code == 0 || !strings.Contains(errs, "--request") {
		t.Errorf("--request with --rp-id: exit %d %s", code, errs)
	}
}

// npesIn runs npes with stdin.
func npesIn(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb strings.Builder
	code := cli.Main(context.Background(), args, &cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}
