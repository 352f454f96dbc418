package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// JWK key types and curves used by the operator keys.
const (
	// KtyOKP is the Octet Key Pair type of RFC 8037 §2 (Ed25519).
	KtyOKP = "OKP"
	// KtyAKP is the Algorithm Key Pair type of RFC 9964 §3 (ML-DSA).
	KtyAKP = "AKP"
	// CrvEd25519 is the OKP curve name of Ed25519 (RFC 8037 §2).
	CrvEd25519 = "Ed25519"
	// KtyEC and CrvP256 are the type and curve of an ECDSA P-256 key
	// (RFC 7518 §6.2): a recipient's credential key in mailbox entries.
	KtyEC   = "EC"
	CrvP256 = "P-256"
)

// A JWK is a public signature key as published in the operator's JWK Set
// (RFC 7517) or a credential key in a mailbox log entry. Only the members
// npes uses are modelled: OKP/Ed25519 (RFC 8037), AKP/ML-DSA-65
// (RFC 9964) and EC/P-256 (RFC 7518 §6.2).
//
// The kid is always the RFC 7638 JWK thumbprint of the key (for AKP with
// the members alg, kty, pub of RFC 9964 §6): anyone can recompute it from
// the key with a stock JOSE library, it names one key forever, and a
// parsed key whose kid is not its thumbprint is refused, so a kid can
// never be made to point at another key.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	Pub string `json:"pub,omitempty"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`

	key crypto.PublicKey // decoded X or Pub; set by NewJWK and UnmarshalJSON
}

// A JWKS is a JWK Set (RFC 7517 §5).
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// NewJWK returns the JWK of an Ed25519, ML-DSA-65 or ECDSA P-256 public key.
func NewJWK(pub crypto.PublicKey) (JWK, error) {
	var k JWK
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if len(p) != ed25519.PublicKeySize {
			return JWK{}, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrUnsupportedKey, len(p))
		}
		k = JWK{Kty: KtyOKP, Crv: CrvEd25519, X: encodeB64URL(p), Alg: AlgEdDSA, Use: "sig",
			key: ed25519.PublicKey(append([]byte(nil), p...))}
	case *mldsa65.PublicKey:
		k = JWK{Kty: KtyAKP, Pub: encodeB64URL(p.Bytes()), Alg: AlgMLDSA65, Use: "sig", key: p}
	case *ecdsa.PublicKey:
		raw, err := p.Bytes()
		if err != nil || p.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("%w: ECDSA key not on P-256", ErrUnsupportedKey)
		}
		k = JWK{Kty: KtyEC, Crv: CrvP256, X: encodeB64URL(raw[1:33]), Y: encodeB64URL(raw[33:]), Alg: AlgES256, Use: "sig", key: p}
	default:
		return JWK{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	k.Kid = k.Thumbprint()
	return k, nil
}

// Thumbprint is the RFC 7638 thumbprint of the key: base64url(SHA-256) of
// the required members in lexicographic order, without whitespace. The
// member values are base64url strings or fixed names, which never need
// JSON escaping, so the string is built directly.
func (k JWK) Thumbprint() string {
	var canon string
	switch k.Kty {
	case KtyOKP:
		canon = `{"crv":"` + k.Crv + `","kty":"OKP","x":"` + k.X + `"}`
	case KtyAKP:
		canon = `{"alg":"` + k.Alg + `","kty":"AKP","pub":"` + k.Pub + `"}`
	case KtyEC:
		canon = `{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`
	default:
		return ""
	}
	sum := sha256.Sum256([]byte(canon))
	return encodeB64URL(sum[:])
}

// PublicKey returns the decoded key: ed25519.PublicKey or
// *mldsa65.PublicKey.
func (k JWK) PublicKey() (crypto.PublicKey, error) {
	if k.key != nil {
		return k.key, nil
	}
	pub, err := k.decode()
	if err != nil {
		return nil, err
	}
	return pub, nil
}

// decode validates the members and returns the key they hold.
func (k JWK) decode() (crypto.PublicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("%w: key %q: use %q, want sig", ErrMalformedJWKS, k.Kid, k.Use)
	}
	var pub crypto.PublicKey
	switch k.Kty {
	case KtyOKP:
		if k.Crv != CrvEd25519 || k.Pub != "" || k.Y != "" || (k.Alg != "" && k.Alg != AlgEdDSA) {
			return nil, fmt.Errorf("%w: key %q: OKP key must be crv Ed25519, alg EdDSA", ErrMalformedJWKS, k.Kid)
		}
		x, err := decodeB64URL(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: key %q: x is not a base64url Ed25519 public key", ErrMalformedJWKS, k.Kid)
		}
		pub = ed25519.PublicKey(x)
	case KtyAKP:
		// RFC 9964 §3: alg is REQUIRED for AKP keys.
		if k.Alg != AlgMLDSA65 || k.Crv != "" || k.X != "" || k.Y != "" {
			return nil, fmt.Errorf("%w: key %q: AKP key must have alg ML-DSA-65", ErrMalformedJWKS, k.Kid)
		}
		raw, err := decodeB64URL(k.Pub)
		if err != nil || len(raw) != mldsa65.PublicKeySize {
			return nil, fmt.Errorf("%w: key %q: pub is not a base64url ML-DSA-65 public key", ErrMalformedJWKS, k.Kid)
		}
		var p mldsa65.PublicKey
		if err := p.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrMalformedJWKS, k.Kid, err)
		}
		pub = &p
	case KtyEC:
		if k.Crv != CrvP256 || k.Pub != "" || (k.Alg != "" && k.Alg != AlgES256) {
			return nil, fmt.Errorf("%w: key %q: EC key must be crv P-256, alg ES256", ErrMalformedJWKS, k.Kid)
		}
		x, errX := decodeB64URL(k.X)
		y, errY := decodeB64URL(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: key %q: x and y must be 32-byte base64url coordinates", ErrMalformedJWKS, k.Kid)
		}
		p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrMalformedJWKS, k.Kid, err)
		}
		pub = p
	default:
		return nil, fmt.Errorf("%w: key %q: kty %q", ErrUnsupportedKey, k.Kid, k.Kty)
	}
	if k.Kid != k.Thumbprint() {
		return nil, fmt.Errorf("%w: key %q: kid is not the RFC 7638 thumbprint %q", ErrMalformedJWKS, k.Kid, k.Thumbprint())
	}
	return pub, nil
}

// jwkWire adds the private members a public key set must never carry:
// "d" (RFC 8037 §2) and "priv" (RFC 9964 §3).
type jwkWire struct {
	Kty  string `json:"kty"`
	Crv  string `json:"crv"`
	X    string `json:"x"`
	Y    string `json:"y"`
	Pub  string `json:"pub"`
	Kid  string `json:"kid"`
	Alg  string `json:"alg"`
	Use  string `json:"use"`
	D    string `json:"d"`
	Priv string `json:"priv"`
}

// UnmarshalJSON parses and validates one public JWK of the npes operator
// key set. The set is npes's own format, so it is read strictly: alg is
// required (it binds the key to one algorithm, RFC 7517 §4.4) and members
// this package does not model are refused rather than ignored, so that no
// change to a published set or a bundle goes unnoticed.
func (k *JWK) UnmarshalJSON(data []byte) error {
	var w jwkWire
	if err := unmarshalStrict(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedJWKS, err)
	}
	if w.D != "" || w.Priv != "" {
		return fmt.Errorf("%w: key %q holds private key material", ErrMalformedJWKS, w.Kid)
	}
	if w.Alg == "" {
		return fmt.Errorf("%w: key %q has no alg", ErrMalformedJWKS, w.Kid)
	}
	nk := JWK{Kty: w.Kty, Crv: w.Crv, X: w.X, Y: w.Y, Pub: w.Pub, Kid: w.Kid, Alg: w.Alg, Use: w.Use}
	pub, err := nk.decode()
	if err != nil {
		return err
	}
	nk.key = pub
	*k = nk
	return nil
}

// ParseJWKS parses and validates a JWK Set: every key must be a supported
// public key whose kid is its thumbprint, and no kid may repeat.
func ParseJWKS(data []byte) (JWKS, error) {
	var s JWKS
	if err := json.Unmarshal(data, &s); err != nil {
		return JWKS{}, err
	}
	return s, nil
}

// UnmarshalJSON implements the checks of ParseJWKS.
func (s *JWKS) UnmarshalJSON(data []byte) error {
	if err := checkJSON(data); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedJWKS, err)
	}
	var w struct {
		Keys []JWK `json:"keys"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedJWKS, err)
	}
	if len(w.Keys) == 0 {
		return fmt.Errorf("%w: no keys", ErrMalformedJWKS)
	}
	seen := make(map[string]bool, len(w.Keys))
	for _, k := range w.Keys {
		if seen[k.Kid] {
			return fmt.Errorf("%w: duplicate kid %q", ErrMalformedJWKS, k.Kid)
		}
		seen[k.Kid] = true
	}
	s.Keys = w.Keys
	return nil
}

// Lookup returns the key with the given kid.
func (s JWKS) Lookup(kid string) (JWK, bool) {
	for _, k := range s.Keys {
		if k.Kid == kid {
			return k, true
		}
	}
	return JWK{}, false
}

// Contains reports whether the set holds the same key as k. kids are
// thumbprints, checked when a set is parsed, so equal kids mean equal keys.
func (s JWKS) Contains(k JWK) bool {
	got, ok := s.Lookup(k.Kid)
	return ok && got.Kid == got.Thumbprint() && got.Thumbprint() == k.Thumbprint()
}

// Select returns the keys of the set for one algorithm. Some JOSE
// libraries (go-jose v4 among them) refuse a whole set that contains a key
// type they do not know, such as AKP; serving Select(AlgEdDSA) as well
// lets them check the Ed25519 signatures.
func (s JWKS) Select(alg string) JWKS {
	var out JWKS
	for _, k := range s.Keys {
		if k.Alg == alg {
			out.Keys = append(out.Keys, k)
		}
	}
	return out
}
