package signing_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/npes/npes/signing"
)

// selfSigned returns a certificate for key's public key.
func selfSigned(t testing.TB, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "Иванов Иван Иванович"},
		NotBefore:    time.Unix(1_700_000_000, 0),
		NotAfter:     time.Unix(1_900_000_000, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCompactRoundTrip(t *testing.T) {
	t.Parallel()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	statement := []byte(`{"letter":"L-1","notification":"E-2","content_sha256":"ab"}`)
	for _, tc := range []struct {
		alg string
		key crypto.Signer
		jose.SignatureAlgorithm
	}{
		{"ES256", ecKey, jose.ES256},
		{"EdDSA", edKey, jose.EdDSA},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			t.Parallel()
			cert := selfSigned(t, tc.key)
			jws, err := signing.SignCompact(tc.key, []*x509.Certificate{cert}, statement)
			if err != nil {
				t.Fatal(err)
			}
			c, err := signing.ParseCompact(jws)
			if err != nil {
				t.Fatal(err)
			}
			if c.Alg != tc.alg || len(c.Chain) != 1 || !c.Chain[0].Equal(cert) {
				t.Errorf("parsed alg %s, chain %d", c.Alg, len(c.Chain))
			}
			payload, leaf, err := c.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if string(payload) != string(statement) || !leaf.Equal(cert) {
				t.Errorf("payload %q", payload)
			}

			// go-jose verifies the same JWS with the certificate key and
			// reads the same chain: the R||S and x5c encodings are right.
			obj, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{tc.SignatureAlgorithm})
			if err != nil {
				t.Fatal(err)
			}
			got, err := obj.Verify(cert.PublicKey)
			if err != nil {
				t.Fatalf("go-jose: %v", err)
			}
			if string(got) != string(statement) {
				t.Errorf("go-jose payload %q", got)
			}
			roots := x509.NewCertPool()
			roots.AddCert(cert)
			chains, err := obj.Signatures[0].Protected.Certificates(x509.VerifyOptions{
				Roots: roots, CurrentTime: time.Unix(1_800_000_000, 0),
			})
			if err != nil || len(chains) != 1 || !chains[0][0].Equal(cert) {
				t.Errorf("go-jose x5c: %v", err)
			}
		})
	}
}

func TestSignCompactRefuses(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, mlKey, _ := mldsa65.GenerateKey(rand.Reader)
	cert := selfSigned(t, ecKey)
	for name, tc := range map[string]struct {
		key   crypto.Signer
		chain []*x509.Certificate
		want  error
	}{
		"no chain":        {ecKey, nil, signing.ErrMissingX5C},
		"foreign leaf":    {otherKey, []*x509.Certificate{cert}, signing.ErrKeyMismatch},
		"P-384 key":       {p384, []*x509.Certificate{selfSigned(t, p384)}, signing.ErrUnsupportedKey},
		"ML-DSA-65 key":   {mlKey, []*x509.Certificate{cert}, signing.ErrUnsupportedAlg},
		"nil certificate": {ecKey, []*x509.Certificate{nil}, signing.ErrMissingX5C},
	} {
		if _, err := signing.SignCompact(tc.key, tc.chain, []byte("x")); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func hdr(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64u(b)
}

func TestParseCompactRefuses(t *testing.T) {
	t.Parallel()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecCert, edCert := selfSigned(t, ecKey), selfSigned(t, edKey)
	x5c := func(c *x509.Certificate) []string { return []string{base64.StdEncoding.EncodeToString(c.Raw)} }
	payload := b64u([]byte(`{"letter":"L-1"}`))

	good, err := signing.SignCompact(ecKey, []*x509.Certificate{ecCert}, []byte(`{"letter":"L-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")

	// HS256 keyed with the certificate's public key: the classic
	// confusion where a verifier uses "the key" as an HMAC secret.
	hsHeader := hdr(t, map[string]any{"alg": "HS256", "x5c": x5c(ecCert)})
	mac := hmac.New(sha256.New, ecCert.RawSubjectPublicKeyInfo)
	mac.Write([]byte(hsHeader + "." + payload))
	hs256 := hsHeader + "." + payload + "." + b64u(mac.Sum(nil))

	// EdDSA header over an ECDSA certificate, validly signed by the
	// Ed25519 key: the key type must follow the certificate, not the alg.
	mixHeader := hdr(t, map[string]any{"alg": "EdDSA", "x5c": x5c(ecCert)})
	mixSig := ed25519.Sign(edKey, []byte(mixHeader+"."+payload))
	mismatch := mixHeader + "." + payload + "." + b64u(mixSig)

	noX5C := hdr(t, map[string]any{"alg": "EdDSA"})
	noX5CJWS := noX5C + "." + payload + "." + b64u(ed25519.Sign(edKey, []byte(noX5C+"."+payload)))

	urlX5C := hdr(t, map[string]any{"alg": "EdDSA", "x5c": []string{base64.URLEncoding.EncodeToString(edCert.Raw) + "-_"}})

	parseCases := map[string]struct {
		jws  string
		want error
	}{
		"alg none":          {hdr(t, map[string]any{"alg": "none", "x5c": x5c(ecCert)}) + "." + payload + ".", signing.ErrUnsupportedAlg},
		"HS256 with pubkey": {hs256, signing.ErrUnsupportedAlg},
		"RS256":             {hdr(t, map[string]any{"alg": "RS256", "x5c": x5c(ecCert)}) + "." + payload + "." + parts[2], signing.ErrUnsupportedAlg},
		"ML-DSA-65":         {hdr(t, map[string]any{"alg": "ML-DSA-65", "x5c": x5c(ecCert)}) + "." + payload + "." + parts[2], signing.ErrUnsupportedAlg},
		"missing x5c":       {noX5CJWS, signing.ErrMissingX5C},
		"x5c base64url":     {urlX5C + "." + payload + "." + parts[2], signing.ErrMalformedJWS},
		"crit":              {hdr(t, map[string]any{"alg": "ES256", "x5c": x5c(ecCert), "crit": []string{"x"}}) + "." + payload + "." + parts[2], signing.ErrCriticalHeader},
		"jku":               {hdr(t, map[string]any{"alg": "ES256", "x5c": x5c(ecCert), "jku": "https://evil"}) + "." + payload + "." + parts[2], signing.ErrCriticalHeader},
		"trailing dot":      {good + ".", signing.ErrMalformedJWS},
		"four parts":        {good + ".AAAA", signing.ErrMalformedJWS},
		"trailing space":    {good + " ", signing.ErrMalformedJWS},
		"trailing newline":  {good + "\n", signing.ErrMalformedJWS},
		"leading space":     {" " + good, signing.ErrMalformedJWS},
		"padded signature":  {good + "==", signing.ErrMalformedJWS},
		"two parts":         {parts[0] + "." + parts[1], signing.ErrMalformedJWS},
		"empty signature":   {parts[0] + "." + parts[1] + ".", signing.ErrMalformedJWS},
		"empty":             {"", signing.ErrMalformedJWS},
		"too large":         {strings.Repeat("A", signing.MaxCompactSize+1), signing.ErrMalformedJWS},
	}
	for name, tc := range parseCases {
		if _, err := signing.ParseCompact(tc.jws); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}

	verifyCases := map[string]struct {
		jws  string
		want error
	}{
		"alg/key mismatch":  {mismatch, signing.ErrAlgKeyMismatch},
		"payload changed":   {parts[0] + "." + b64u([]byte(`{"letter":"L-2"}`)) + "." + parts[2], signing.ErrSignatureInvalid},
		"signature changed": {parts[0] + "." + parts[1] + "." + flipBit(parts[2], 5), signing.ErrSignatureInvalid},
		"short ES256 sig":   {parts[0] + "." + parts[1] + "." + b64u(make([]byte, 63)), signing.ErrSignatureInvalid},
		"zero R and S":      {parts[0] + "." + parts[1] + "." + b64u(make([]byte, 64)), signing.ErrSignatureInvalid},
		"other key's x5c":   {hdr(t, map[string]any{"alg": "EdDSA", "x5c": x5c(selfSigned(t, ed25519.NewKeyFromSeed(make([]byte, 32))))}) + "." + payload + "." + b64u(mixSig), signing.ErrSignatureInvalid},
	}
	for name, tc := range verifyCases {
		c, err := signing.ParseCompact(tc.jws)
		if err != nil {
			t.Errorf("%s: parse: %v", name, err)
			continue
		}
		if _, _, err := c.Verify(); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}
