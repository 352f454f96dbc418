package signing_test

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/npes/npes/signing"
)

func newSealer(t testing.TB) *signing.Sealer {
	t.Helper()
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestThumbprintRFC8037 checks the kid against the Ed25519 JWK thumbprint
// example of RFC 8037 Appendix A.3.
func TestThumbprintRFC8037(t *testing.T) {
	t.Parallel()
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	k, err := signing.NewJWK(ed25519.PublicKey(x))
	if err != nil {
		t.Fatal(err)
	}
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; k.Kid != want {
		t.Errorf("kid = %s, want %s", k.Kid, want)
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	raw, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}

	// The published shape, member by member.
	var wire struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatal(err)
	}
	if len(wire.Keys) != 2 {
		t.Fatalf("%d keys", len(wire.Keys))
	}
	ok, akp := wire.Keys[0], wire.Keys[1]
	if ok["kty"] != "OKP" || ok["crv"] != "Ed25519" || ok["alg"] != "EdDSA" || ok["use"] != "sig" || ok["x"] == "" || ok["kid"] == "" {
		t.Errorf("OKP key = %v", ok)
	}
	if akp["kty"] != "AKP" || akp["alg"] != "ML-DSA-65" || akp["pub"] == "" || akp["kid"] == "" {
		t.Errorf("AKP key = %v", akp)
	}
	if pub, _ := base64.RawURLEncoding.DecodeString(akp["pub"]); len(pub) != 1952 {
		t.Errorf("AKP pub of %d bytes", len(pub))
	}

	// go-jose computes the same RFC 7638 thumbprint for the OKP key.
	var jk jose.JSONWebKey
	okRaw, _ := json.Marshal(ok)
	if err := jk.UnmarshalJSON(okRaw); err != nil {
		t.Fatal(err)
	}
	tp, err := jk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != ok["kid"] {
		t.Errorf("go-jose thumbprint %s, kid %s", got, ok["kid"])
	}

	parsed, err := signing.ParseJWKS(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range parsed.Keys {
		if !s.JWKS().Contains(k) {
			t.Errorf("parsed key %d not in the original set", i)
		}
		if _, err := k.PublicKey(); err != nil {
			t.Errorf("key %d: %v", i, err)
		}
	}
	if other := newSealer(t).JWKS(); other.Contains(parsed.Keys[0]) || other.Contains(parsed.Keys[1]) {
		t.Error("another operator's set contains our keys")
	}
}

func TestParseJWKSRefuses(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	raw, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	okKey, _ := json.Marshal(s.JWKS().Keys[0])
	okStr := string(okKey)
	kid := s.JWKS().Keys[0].Kid
	for name, tc := range map[string]string{
		"private d":          strings.Replace(doc, `"kty":"OKP"`, `"kty":"OKP","d":"AAAA"`, 1),
		"private priv":       strings.Replace(doc, `"kty":"AKP"`, `"kty":"AKP","priv":"AAAA"`, 1),
		"kid not thumbprint": strings.Replace(doc, kid, strings.Repeat("A", len(kid)), 1),
		"duplicate kid":      `{"keys":[` + okStr + `,` + okStr + `]}`,
		"duplicate member":   strings.Replace(doc, `"kty":"OKP"`, `"kty":"OKP","kty":"OKP"`, 1),
		"RSA key":            `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"x"}]}`,
		"enc key":            strings.Replace(doc, `"use":"sig"`, `"use":"enc"`, 1),
		"AKP other alg":      strings.Replace(doc, `"alg":"ML-DSA-65"`, `"alg":"ML-DSA-44"`, 1),
		"OKP X25519":         strings.Replace(doc, `"crv":"Ed25519"`, `"crv":"X25519"`, 1),
		"no keys":            `{"keys":[]}`,
		"short x":            strings.Replace(doc, `"x":"`, `"x":"AA`, 1),
	} {
		if _, err := signing.ParseJWKS([]byte(tc)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, signing.ErrMalformedJWKS) && !errors.Is(err, signing.ErrUnsupportedKey) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
