package signing

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Limits for recipient signatures; a statement and a short chain fit
// easily, and a hostile input cannot make the server parse megabytes.
const (
	// MaxCompactSize is the largest compact JWS ParseCompact accepts.
	MaxCompactSize = 64 << 10
	// MaxChainLength is the largest x5c chain ParseCompact accepts.
	MaxChainLength = 8
)

// SignCompact signs payload as a compact JWS (RFC 7515 §7.1) with the
// recipient's own key: ES256 for an ECDSA P-256 key, EdDSA for Ed25519.
// The protected header carries the certificate chain as x5c (RFC 7515
// §4.1.6), leaf first; the leaf must hold key's public key.
func SignCompact(key crypto.Signer, chain []*x509.Certificate, payload []byte) (string, error) {
	if key == nil {
		return "", fmt.Errorf("%w: nil key", ErrUnsupportedKey)
	}
	if len(chain) == 0 || chain[0] == nil {
		return "", ErrMissingX5C
	}
	if len(chain) > MaxChainLength {
		return "", fmt.Errorf("%w: chain of %d certificates", ErrMalformedJWS, len(chain))
	}
	scheme, err := SchemeForKey(key.Public())
	if err != nil {
		return "", err
	}
	if scheme.Alg() != AlgES256 && scheme.Alg() != AlgEdDSA {
		return "", fmt.Errorf("%w: recipient signatures use ES256 or EdDSA, not %s", ErrUnsupportedAlg, scheme.Alg())
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pk, ok := key.Public().(equaler); !ok || !pk.Equal(chain[0].PublicKey) {
		return "", fmt.Errorf("%w: key is not the leaf certificate's key", ErrKeyMismatch)
	}
	x5c := make([]string, len(chain))
	for i, c := range chain {
		if c == nil {
			return "", fmt.Errorf("%w: nil certificate %d", ErrMissingX5C, i)
		}
		x5c[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	hdr, err := json.Marshal(struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}{scheme.Alg(), x5c})
	if err != nil {
		return "", err
	}
	input := encodeB64URL(hdr) + "." + encodeB64URL(payload)
	sig, err := scheme.Sign(key, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + encodeB64URL(sig), nil
}

// A CompactJWS is a parsed, not yet verified, recipient signature.
type CompactJWS struct {
	// Alg is the header's algorithm, ES256 or EdDSA.
	Alg string
	// Chain is the x5c chain, leaf first. Verify checks the signature
	// with the leaf's key only: validating the chain against a trusted CA
	// and binding the leaf to a mailbox is the caller's job.
	Chain []*x509.Certificate

	signingInput string
	payload      []byte
	signature    []byte
}

// ParseCompact parses a compact JWS strictly: exactly three canonical
// base64url parts and nothing around them, a protected header with an
// alg of ES256 or EdDSA and a non-empty x5c, no crit, b64, jwk, jku or
// x5u header. "none" and the HS* MAC algorithms fail with
// ErrUnsupportedAlg.
func ParseCompact(jws string) (*CompactJWS, error) {
	if len(jws) > MaxCompactSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformedJWS, len(jws))
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d parts, want 3", ErrMalformedJWS, len(parts))
	}
	h, err := parseProtected(parts[0])
	if err != nil {
		return nil, err
	}
	if h.Alg != AlgES256 && h.Alg != AlgEdDSA {
		return nil, fmt.Errorf("%w: recipient signatures use ES256 or EdDSA, not %s", ErrUnsupportedAlg, h.Alg)
	}
	if len(h.X5C) == 0 {
		return nil, ErrMissingX5C
	}
	if len(h.X5C) > MaxChainLength {
		return nil, fmt.Errorf("%w: chain of %d certificates", ErrMalformedJWS, len(h.X5C))
	}
	chain := make([]*x509.Certificate, len(h.X5C))
	for i, s := range h.X5C {
		// RFC 7515 §4.1.6: standard base64 of DER, not base64url.
		der, err := decodeB64Std(s)
		if err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %w", ErrMalformedJWS, i, err)
		}
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("%w: x5c[%d]: %w", ErrMalformedJWS, i, err)
		}
	}
	payload, err := decodeB64URL(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedJWS, err)
	}
	sig, err := decodeB64URL(parts[2])
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformedJWS, errBase64)
	}
	return &CompactJWS{
		Alg:          h.Alg,
		Chain:        chain,
		signingInput: parts[0] + "." + parts[1],
		payload:      payload,
		signature:    sig,
	}, nil
}

// UnverifiedPayload returns the payload before verification, for routing
// or logging only; never act on it before Verify succeeds.
func (c *CompactJWS) UnverifiedPayload() []byte {
	return append([]byte(nil), c.payload...)
}

// Verify checks the signature with the public key of the x5c leaf. The
// key type must fit the alg (ES256: ECDSA P-256, EdDSA: Ed25519), else
// ErrAlgKeyMismatch. It returns the payload and the leaf certificate.
func (c *CompactJWS) Verify() (payload []byte, leaf *x509.Certificate, err error) {
	if c == nil || len(c.Chain) == 0 {
		return nil, nil, ErrMissingX5C
	}
	scheme, err := SchemeByAlg(c.Alg)
	if err != nil {
		return nil, nil, err
	}
	leaf = c.Chain[0]
	if !scheme.SupportsKey(leaf.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s with a %T certificate key", ErrAlgKeyMismatch, c.Alg, leaf.PublicKey)
	}
	if err := scheme.Verify(leaf.PublicKey, []byte(c.signingInput), c.signature); err != nil {
		return nil, nil, err
	}
	return append([]byte(nil), c.payload...), leaf, nil
}
