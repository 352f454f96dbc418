package signing_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/npes/npes/signing"
)

// rfc9881SeedPEM is the ML-DSA-65 seed-form private key of RFC 9881
// Appendix C.1.2.1 (seed 00 01 … 1f).
const rfc9881SeedPEM = `-----BEGIN PRIVATE KEY-----
MDQCAQAwCwYJYIZIAWUDBAMSBCKAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZ
GhscHR4f
-----END PRIVATE KEY-----
`

// rfc9881Rho is the first 32 bytes (ρ) of the public and expanded private
// key RFC 9881 Appendix C lists for that seed.
const rfc9881Rho = "48683d91978e31eb3dddb8b0473482d2b88a5f625949fd8f58a561e696bd4c27"

func TestMLDSA65PrivateKeyRFC9881(t *testing.T) {
	t.Parallel()
	sk, err := signing.ParseMLDSA65PrivateKey([]byte(rfc9881SeedPEM))
	if err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	if !bytes.Equal(sk.Seed(), seed) {
		t.Errorf("seed = %x", sk.Seed())
	}
	pub := sk.Public().(*mldsa65.PublicKey).Bytes()
	if got := hex.EncodeToString(pub[:32]); got != rfc9881Rho {
		t.Errorf("public key rho = %s, want %s (RFC 9881)", got, rfc9881Rho)
	}
	// Our encoder writes the same bytes as the RFC example.
	enc, err := signing.MarshalMLDSA65Seed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != rfc9881SeedPEM {
		t.Errorf("MarshalMLDSA65Seed:\n%s\nwant\n%s", enc, rfc9881SeedPEM)
	}
}

// pkcs8PEM wraps a raw privateKey OCTET STRING content in PKCS#8.
func pkcs8PEM(t *testing.T, oid asn1.ObjectIdentifier, inner []byte) []byte {
	t.Helper()
	der, err := asn1.Marshal(struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		PrivateKey []byte
	}{0, pkix.AlgorithmIdentifier{Algorithm: oid}, inner})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParseMLDSA65PrivateKeyForms(t *testing.T) {
	t.Parallel()
	oid := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	_, sk := mldsa65.NewKeyFromSeed(&seed)
	both := func(s, expanded []byte) []byte {
		b, err := asn1.Marshal(struct{ Seed, Expanded []byte }{s, expanded})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherExpanded := append([]byte(nil), sk.Bytes()...)
	otherExpanded[100] ^= 1
	expandedOnly, err := asn1.Marshal(sk.Bytes())
	if err != nil {
		t.Fatal(err)
	}

	good := map[string][]byte{
		"seed": pkcs8PEM(t, oid, append([]byte{0x80, 0x20}, seed[:]...)),
		"both": pkcs8PEM(t, oid, both(seed[:], sk.Bytes())),
	}
	for name, p := range good {
		got, err := signing.ParseMLDSA65PrivateKey(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(sk) {
			t.Errorf("%s: parsed another key", name)
		}
	}

	edPEM, _, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"both with foreign expanded key": pkcs8PEM(t, oid, both(seed[:], otherExpanded)),
		"expanded only":                  pkcs8PEM(t, oid, expandedOnly),
		"short seed":                     pkcs8PEM(t, oid, append([]byte{0x80, 0x1f}, seed[:31]...)),
		"ML-DSA-44 oid":                  pkcs8PEM(t, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, append([]byte{0x80, 0x20}, seed[:]...)),
		"Ed25519 key":                    edPEM,
		"not PEM":                        []byte("hello"),
		"wrong PEM type":                 bytes.Replace(pkcs8PEM(t, oid, append([]byte{0x80, 0x20}, seed[:]...)), []byte("PRIVATE KEY"), []byte("ML-DSA-65 SEED"), 2),
		"trailing data":                  append(pkcs8PEM(t, oid, append([]byte{0x80, 0x20}, seed[:]...)), "junk"...),
	}
	for name, p := range bad {
		if _, err := signing.ParseMLDSA65PrivateKey(p); !errors.Is(err, signing.ErrMalformedKey) {
			t.Errorf("%s: err = %v, want ErrMalformedKey", name, err)
		}
	}
}

func TestOperatorKeys(t *testing.T) {
	t.Parallel()
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	s1, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := s1.JWKS(), s2.JWKS()
	if k1.Keys[0].Kid != k2.Keys[0].Kid || k1.Keys[1].Kid != k2.Keys[1].Kid {
		t.Error("loading the same PEM twice gives other keys")
	}
	// The Ed25519 PEM is standard PKCS#8 any tool reads.
	block, _ := pem.Decode(edPEM)
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		t.Errorf("x509 cannot read the Ed25519 PEM: %v", err)
	} else if _, ok := k.(ed25519.PrivateKey); !ok {
		t.Errorf("Ed25519 PEM holds %T", k)
	}

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	for name, args := range map[string][2][]byte{
		"swapped":          {mlPEM, edPEM},
		"ECDSA as Ed25519": {ecPEM, mlPEM},
		"empty ML-DSA":     {edPEM, nil},
	} {
		if _, err := signing.LoadSealer(args[0], args[1]); !errors.Is(err, signing.ErrMalformedKey) {
			t.Errorf("%s: err = %v, want ErrMalformedKey", name, err)
		}
	}

	// NewSealer takes any crypto.Signer pair, in the right order only.
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	_, mlKey, _ := mldsa65.GenerateKey(rand.Reader)
	if _, err := signing.NewSealer(edKey, mlKey); err != nil {
		t.Errorf("NewSealer: %v", err)
	}
	if _, err := signing.NewSealer(mlKey, edKey); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("NewSealer swapped: err = %v", err)
	}
	if _, err := signing.NewSealer(ecKey, mlKey); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("NewSealer ECDSA: err = %v", err)
	}
}
