package web

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/npes/npes/signing"
)

// TestCOSERoundTrip: a passkey's COSE key becomes the JWK the log binds,
// and the JWK becomes the COSE key go-webauthn checks sign-ins with, for
// ES256 and EdDSA; other keys are refused at registration.
func TestCOSERoundTrip(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]any{"ES256": &ec.PublicKey, "EdDSA": edPub} {
		jwk, err := signing.NewJWK(pub)
		if err != nil {
			t.Fatal(err)
		}
		cose, err := coseKey(jwk)
		if err != nil {
			t.Fatalf("%s: coseKey: %v", name, err)
		}
		back, err := jwkOfCOSE(cose)
		if err != nil {
			t.Fatalf("%s: jwkOfCOSE: %v", name, err)
		}
		if back.Thumbprint() != jwk.Thumbprint() {
			t.Errorf("%s: the round trip changed the key", name)
		}
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaCOSE, _ := webauthncbor.Marshal(webauthncose.RSAPublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.RSAKey), Algorithm: int64(webauthncose.AlgRS256)},
		Modulus:       rk.N.Bytes(), Exponent: []byte{1, 0, 1}})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	raw, _ := p384.PublicKey.Bytes()
	es384, _ := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES384)},
		Curve:         int64(webauthncose.P384), XCoord: raw[1:49], YCoord: raw[49:]})
	for name, cose := range map[string][]byte{"RS256": rsaCOSE, "ES384": es384, "garbage": {0xa0}} {
		if _, err := jwkOfCOSE(cose); err == nil {
			t.Errorf("%s passkey accepted", name)
		}
	}
}

func TestPasskeyCredID(t *testing.T) {
	for in, ok := range map[string]bool{"AAEC": true, "": false, "AAEC=": false, "a+b/": false, strings.Repeat("A", 1364): true, strings.Repeat("A", 1400): false} {
		if _, got := passkeyCredID(in); got != ok {
			t.Errorf("passkeyCredID(%q) ok = %v, want %v", in, got, ok)
		}
	}
}
