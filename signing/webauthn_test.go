package signing_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/webauthntest"
)

// TestVerifyWebAuthn: an assertion made as a browser and authenticator make
// it verifies; each field made wrong is refused for its own reason.
func TestVerifyWebAuthn(t *testing.T) {
	rp := signing.WebAuthnTrust{RPID: "post.example", Origins: []string{"https://post.example"}}
	auth := webauthntest.New(rp.RPID, "https://post.example")
	statement := func(mut func(*signing.Statement)) []byte {
		st := signing.Statement{V: 1, Decision: signing.DecisionAccept, Letter: "L", Notification: "N",
			ContentSHA256: strings.Repeat("ab", 32), Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
			Mailbox: "M", CredentialID: auth.ID(), RPID: rp.RPID}
		if mut != nil {
			mut(&st)
		}
		b, _ := json.Marshal(st)
		return b
	}
	good := statement(nil)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	flags := func(b byte) *byte { return &b }
	type testCase struct {
		name string
		a    *signing.WebAuthnAssertion
		key  signing.JWK
		rp   signing.WebAuthnTrust
		want string // "" verifies
	}
	cases := []testCase{
		{"valid", auth.Assert(good, webauthntest.Options{}), auth.JWK(), rp, ""},
		{"registration, not assertion", auth.Assert(good, webauthntest.Options{Type: "webauthn.create"}), auth.JWK(), rp, "type"},
		{"challenge of other bytes", auth.Assert(good, webauthntest.Options{Challenge: []byte("x")}), auth.JWK(), rp, "challenge"},
		{"origin not pinned", auth.Assert(good, webauthntest.Options{Origin: "https://evil.example"}), auth.JWK(), rp, "origin"},
		{"cross-origin frame", auth.Assert(good, webauthntest.Options{CrossOrigin: true}), auth.JWK(), rp, "cross-origin"},
		{"other RP ID hash", auth.Assert(good, webauthntest.Options{RPID: "evil.example"}), auth.JWK(), rp, "RP ID"},
		{"user not present", auth.Assert(good, webauthntest.Options{Flags: flags(0x04)}), auth.JWK(), rp, "UP"},
		{"user not verified", auth.Assert(good, webauthntest.Options{Flags: flags(0x01)}), auth.JWK(), rp, "UV"},
		{"signed by another key", auth.Assert(good, webauthntest.Options{Key: other}), auth.JWK(), rp, "does not verify"},
		{"statement names another credential", auth.Assert(statement(func(s *signing.Statement) { s.CredentialID = "AAAA" }), webauthntest.Options{}), auth.JWK(), rp, "credential"},
		{"statement names another RP", auth.Assert(statement(func(s *signing.Statement) { s.RPID = "evil.example" }), webauthntest.Options{}), auth.JWK(), rp, "RP ID"},
		{"statement names no mailbox", auth.Assert(statement(func(s *signing.Statement) { s.Mailbox = "" }), webauthntest.Options{}), auth.JWK(), rp, "mailbox"},
		{"no pinned RP", auth.Assert(good, webauthntest.Options{}), auth.JWK(), signing.WebAuthnTrust{}, "pinned"},
		{"ML-DSA key", auth.Assert(good, webauthntest.Options{}), mldsaJWK(t), rp, "only ES256 and EdDSA"},
	}
	// A statement changed after signing no longer matches the challenge.
	swapped := auth.Assert(good, webauthntest.Options{})
	swapped.Statement = base64.RawURLEncoding.EncodeToString(statement(func(s *signing.Statement) { s.Decision = signing.DecisionRefuse }))
	cases = append(cases, testCase{"statement swapped", swapped, auth.JWK(), rp, "challenge"})
	// Padding in base64url is refused: one encoding per value.
	padded := auth.Assert(good, webauthntest.Options{})
	padded.Signature += "=="
	cases = append(cases, testCase{"padded base64", padded, auth.JWK(), rp, "base64url"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, _, err := signing.VerifyWebAuthn(c.a, c.key, c.rp)
			if c.want == "" {
				if err != nil || st.Decision != signing.DecisionAccept || st.Mailbox != "M" {
					t.Fatalf("valid assertion: %v %+v", err, st)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one about %q", err, c.want)
			}
			if !errors.Is(err, signing.ErrWebAuthn) && !errors.Is(err, signing.ErrNoTrust) {
				t.Fatalf("err = %v is neither ErrWebAuthn nor ErrNoTrust", err)
			}
		})
	}
}

func mldsaJWK(t *testing.T) signing.JWK {
	t.Helper()
	pub, _, err := mldsa65.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.NewJWK(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
