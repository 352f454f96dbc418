package mailbox_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/cli"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/webauthntest"
)

// TestPasskeyDecisions: a passkey endorsed by a certificate bound to the
// mailbox is bound; a registered letter accepted with it verifies offline
// as a passkey signature with the pinned relying party; every refusal has
// its code; an unbound passkey signs nothing.
func TestPasskeyDecisions(t *testing.T) {
	for name, open := range map[string]storetest.Factory{"sqlite": storetest.NewSQLite, "postgres": storetest.NewPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testPasskeyDecisions(t, open(t))
		})
	}
}

func testPasskeyDecisions(t *testing.T, store mailbox.Store) {
	ctx := t.Context()
	rp := signing.WebAuthnTrust{RPID: "post.example", Origins: []string{"https://post.example"}}
	revoked := &revokedSet{}
	f := newLogFixture(t, store, nil, func(c *mailbox.Config) { c.WebAuthn, c.Revocations = &rp, revoked })
	svc := f.svc
	operator, _ := f.issue(t, certs.Request{Role: certs.RoleOperator, Name: "op"})
	org, _ := f.issue(t, certs.Request{Role: certs.RoleOrg, Name: "ОАО «Тест»", UNP: "100289066"})
	personReq := certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"}
	person, cred := f.issue(t, personReq)
	_, unboundCred := f.issue(t, personReq) // the same person, not bound to the mailbox
	boxes := map[certs.Role]string{}
	for _, p := range []struct {
		c    mailbox.Caller
		addr string
	}{{org, "220030, г. Минск, ул. Энгельса, 6"}, {person, "220013, г. Минск, ул. Дорошевича, 8, кв. 5"}} {
		m, err := svc.RegisterMailbox(ctx, p.c, mailbox.RegisterRequest{Address: p.addr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VerifyAddress(ctx, operator, m.ID); err != nil {
			t.Fatal(err)
		}
		boxes[p.c.Identity.Role] = m.ID
	}
	box := boxes[certs.RolePerson]
	auth := webauthntest.New(rp.RPID, rp.Origins[0])

	endorse := func(by certs.Credential, mut func(*signing.PasskeyEndorsement)) string {
		e := signing.PasskeyEndorsement{V: 1, Mailbox: box, Passkey: auth.ID(), JWKThumbprint: auth.JWK().Thumbprint(),
			RPID: rp.RPID, Time: f.clk.Now()}
		if mut != nil {
			mut(&e)
		}
		payload, _ := json.Marshal(e)
		kb, _ := pem.Decode(by.KeyPEM)
		key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signing.SignCompact(key.(crypto.Signer), []*x509.Certificate{by.Cert}, payload)
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}
	binding := func(endorsement string) mailbox.PasskeyBinding {
		return mailbox.PasskeyBinding{CredentialID: auth.CredentialID, PublicKey: auth.JWK(), Endorsement: endorsement}
	}
	bindCases := []struct {
		name   string
		caller mailbox.Caller
		b      mailbox.PasskeyBinding
		want   string
	}{
		{"no endorsement", person, binding(""), "bad_endorsement"},
		{"endorsed by a certificate not bound to the mailbox", person, binding(endorse(unboundCred, nil)), "endorser_not_bound"},
		{"endorsement for another RP", person, binding(endorse(cred, func(e *signing.PasskeyEndorsement) { e.RPID = "evil.example" })), "bad_endorsement"},
		{"endorsement of another key", person, binding(endorse(cred, func(e *signing.PasskeyEndorsement) { e.JWKThumbprint = "x" })), "bad_endorsement"},
		{"endorsement for another mailbox", person, binding(endorse(cred, func(e *signing.PasskeyEndorsement) { e.Mailbox = boxes[certs.RoleOrg] })), "bad_endorsement"},
		{"endorsement time far from the server's", person, binding(endorse(cred, func(e *signing.PasskeyEndorsement) { e.Time = e.Time.Add(10 * time.Minute) })), "endorsement_time"},
		{"someone else's mailbox", org, binding(endorse(cred, nil)), "mailbox_not_found"},
		{"ML-DSA key", person, mailbox.PasskeyBinding{CredentialID: auth.CredentialID, PublicKey: f.svc.JWKS().Select(signing.AlgMLDSA65).Keys[0],
			Endorsement: endorse(cred, nil)}, "unsupported_passkey_algorithm"},
	}
	for _, c := range bindCases {
		if err := svc.BindPasskey(ctx, c.caller, box, c.b); codeOf(err) != c.want {
			t.Errorf("bind, %s: %v, want %s", c.name, err, c.want)
		}
	}
	// The holder signs the endorsement with `npes mailbox endorse-passkey`,
	// which stamps it with the wall clock: the server's clock follows.
	f.clk.Add(time.Since(f.clk.Now()))
	dir := t.TempDir()
	if err := certs.WriteCredentialDir(filepath.Join(dir, "holder"), cred); err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(auth.JWK())
	if err := os.WriteFile(filepath.Join(dir, "passkey.jwk"), jwkJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := runCLI(ctx, "mailbox", "endorse-passkey", "--mailbox", box, "--credential-id", auth.ID(),
		"--jwk", filepath.Join(dir, "passkey.jwk"), "--rp-id", rp.RPID, "--id", filepath.Join(dir, "holder"))
	if code != 0 {
		t.Fatalf("npes mailbox endorse-passkey: exit %d %s", code, errs)
	}
	if err := svc.BindPasskey(ctx, person, box, binding(strings.TrimSpace(out))); err != nil {
		t.Fatalf("bind: %v", err)
	}
	head, _ := f.logState(t)
	if err := svc.BindPasskey(ctx, person, box, binding(endorse(cred, nil))); err != nil {
		t.Fatalf("bind again: %v", err)
	}
	if again, _ := f.logState(t); again != head {
		t.Fatal("binding a bound passkey again appended to the log")
	}

	send := func() mailbox.LetterView {
		t.Helper()
		d, err := svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		v, _, err := svc.Submit(ctx, org, mailbox.Submission{RecipientName: "Иванову И.И.",
			RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Registered: true, Subject: "s", Body: "b"}, d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	statement := func(v mailbox.LetterView, decision string, mut func(*signing.Statement)) []byte {
		st := mailbox.NewStatement(v, decision, "", f.clk.Now())
		st.Mailbox, st.CredentialID, st.RPID = box, auth.ID(), rp.RPID
		if mut != nil {
			mut(&st)
		}
		b, _ := json.Marshal(st)
		return b
	}
	letter := send()
	noUV := byte(0x01)
	other := webauthntest.New(rp.RPID, rp.Origins[0])
	decideCases := []struct {
		name string
		a    *signing.WebAuthnAssertion
		want string
	}{
		{"user not verified", auth.Assert(statement(letter, mailbox.DecisionAccept, nil), webauthntest.Options{Flags: &noUV}), "bad_signature"},
		{"origin not the server's", auth.Assert(statement(letter, mailbox.DecisionAccept, nil), webauthntest.Options{Origin: "https://evil.example"}), "bad_signature"},
		{"another mailbox", auth.Assert(statement(letter, mailbox.DecisionAccept, func(s *signing.Statement) { s.Mailbox = boxes[certs.RoleOrg] }), webauthntest.Options{}), "bad_signature"},
		{"a passkey not bound", other.Assert(statement(letter, mailbox.DecisionAccept, func(s *signing.Statement) { s.CredentialID = other.ID() }), webauthntest.Options{}), "signer_not_bound"},
		{"refusal sent as acceptance", auth.Assert(statement(letter, mailbox.DecisionRefuse, nil), webauthntest.Options{}), "bad_statement"},
	}
	for _, c := range decideCases {
		if _, err := svc.AcceptWithPasskey(ctx, person, letter.ID, *c.a); codeOf(err) != c.want {
			t.Errorf("accept, %s: %v, want %s", c.name, err, c.want)
		}
	}
	v, err := svc.AcceptWithPasskey(ctx, person, letter.ID, *auth.Assert(statement(letter, mailbox.DecisionAccept, nil), webauthntest.Options{}))
	if err != nil || v.State != mailbox.StateAccepted {
		t.Fatalf("accept with a passkey: %v %s", err, v.State)
	}

	// The sender's bundle proves it offline, with the relying party pinned.
	bundle, err := svc.Bundle(ctx, org, letter.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.VerifyBundle(bundle, signing.VerifyOptions{Trust: f.trust}); !errors.Is(err, signing.ErrNoTrust) {
		t.Fatalf("passkey decision without a pinned relying party: %v, want ErrNoTrust", err)
	}
	trust := *f.trust
	trust.WebAuthn = &rp
	rep, err := signing.VerifyBundle(bundle, signing.VerifyOptions{Trust: &trust})
	if err != nil {
		t.Fatalf("bundle with a passkey decision: %v", err)
	}
	if len(rep.RecipientSignatures) != 1 || rep.RecipientSignatures[0].Passkey != auth.ID() || !rep.RecipientSignatures[0].BindingProven ||
		rep.RecipientSignatures[0].Signer != cred.Cert.Subject.CommonName {
		t.Fatalf("recipient signatures: %+v", rep.RecipientSignatures)
	}
	// npes verify with the trust file says it is a passkey signature.
	trustJSON, _ := json.Marshal(trust)
	for name, data := range map[string][]byte{"bundle.json": bundle, "trust.json": trustJSON} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code = runCLI(ctx, "verify", filepath.Join(dir, "bundle.json"), "--trust", filepath.Join(dir, "trust.json"))
	if code != 0 || !strings.Contains(out, "passkey signature (WebAuthn, user verified, RP ID post.example) by passkey "+auth.ID()) {
		t.Fatalf("npes verify: exit %d\n%s%s", code, out, errs)
	}
	// Pinned to another site, the same bundle fails.
	trust.WebAuthn = &signing.WebAuthnTrust{RPID: "other.example", Origins: []string{"https://other.example"}}
	if _, err := signing.VerifyBundle(bundle, signing.VerifyOptions{Trust: &trust}); !errors.Is(err, signing.ErrWebAuthn) {
		t.Fatalf("bundle against another relying party: %v, want ErrWebAuthn", err)
	}

	// Once the endorsing certificate is revoked, the passkey signs nothing
	// more.
	next := send()
	refusal := auth.Assert(statement(next, mailbox.DecisionRefuse, nil), webauthntest.Options{})
	revoked.serials.Store(certs.FormatSerial(cred.Cert.SerialNumber), true)
	if _, err := svc.RefuseWithPasskey(ctx, person, next.ID, *refusal); codeOf(err) != "bad_signature" || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("refusal with the passkey of a revoked certificate: %v", err)
	}
	revoked.serials.Clear()

	// Unbound, the passkey signs nothing more.
	if err := svc.UnbindPasskey(ctx, person, box, auth.CredentialID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RefuseWithPasskey(ctx, person, next.ID, *refusal); codeOf(err) != "signer_not_bound" {
		t.Fatalf("refusal with an unbound passkey: %v", err)
	}
	if _, err := svc.Audit(ctx, nil); err != nil {
		t.Fatalf("audit: %v", err)
	}
}

// revokedSet is a revocation checker over a set of serials.
type revokedSet struct{ serials sync.Map }

func (r *revokedSet) IsRevoked(_ context.Context, serial string) (bool, error) {
	_, ok := r.serials.Load(serial)
	return ok, nil
}

// runCLI runs npes with args and returns its output and exit status.
func runCLI(ctx context.Context, args ...string) (stdout, stderr string, code int) {
	var out, errs bytes.Buffer
	code = cli.Main(ctx, args, &cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs, Getenv: func(string) string { return "" }})
	return out.String(), errs.String(), code
}
