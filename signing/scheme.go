package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// JOSE "alg" values of the registry.
const (
	// AlgEdDSA is Ed25519 (RFC 8037 §3.1, RFC 8032 pure Ed25519).
	AlgEdDSA = "EdDSA"
	// AlgES256 is ECDSA P-256 with SHA-256 (RFC 7518 §3.4): the signature
	// is the 64-byte big-endian R||S, not ASN.1 DER.
	AlgES256 = "ES256"
	// AlgMLDSA65 is ML-DSA-65 (FIPS 204, pure mode, empty context) as
	// registered for JOSE by RFC 9964.
	AlgMLDSA65 = "ML-DSA-65"
)

// es256SigSize is the JOSE ES256 signature length: R and S as 32-byte
// big-endian integers (RFC 7518 §3.4).
const es256SigSize = 64

// A Scheme is one JOSE signature algorithm. The set of schemes is closed
// (SchemeByAlg, Schemes): verification never accepts an algorithm by
// name alone, which rules out "none" and the HMAC confusion attacks.
//
// Keys are held as crypto.Signer so a PKCS#11 token or another key store
// can stand in for an in-memory key: a scheme only calls Public and Sign.
// That is also the seam for Belarus' STB 34.101.45 (bign) once a Go
// implementation exists: a new Scheme, nothing else changes.
type Scheme interface {
	// Alg is the JOSE "alg" header value.
	Alg() string
	// SupportsKey reports whether pub is a public key of this scheme.
	SupportsKey(pub crypto.PublicKey) bool
	// GenerateKey makes a fresh key pair of this scheme.
	GenerateKey(rand io.Reader) (crypto.Signer, error)
	// Sign signs msg with key and returns the signature in its JOSE
	// encoding. The key's public key must be of this scheme.
	Sign(key crypto.Signer, msg []byte) ([]byte, error)
	// Verify checks a JOSE-encoded signature over msg. It returns nil or
	// an error wrapping ErrSignatureInvalid, ErrAlgKeyMismatch.
	Verify(pub crypto.PublicKey, msg, sig []byte) error
}

// SchemeByAlg returns the scheme for a JOSE "alg" value, or an error
// wrapping ErrUnsupportedAlg.
func SchemeByAlg(alg string) (Scheme, error) {
	switch alg {
	case AlgEdDSA:
		return eddsaScheme{}, nil
	case AlgES256:
		return es256Scheme{}, nil
	case AlgMLDSA65:
		return mldsa65Scheme{}, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
}

// Schemes returns every scheme of the registry.
func Schemes() []Scheme {
	return []Scheme{eddsaScheme{}, es256Scheme{}, mldsa65Scheme{}}
}

// SchemeForKey returns the scheme whose keys pub belongs to, or an error
// wrapping ErrUnsupportedKey.
func SchemeForKey(pub crypto.PublicKey) (Scheme, error) {
	for _, s := range Schemes() {
		if s.SupportsKey(pub) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

type eddsaScheme struct{}

func (eddsaScheme) Alg() string { return AlgEdDSA }

func (eddsaScheme) SupportsKey(pub crypto.PublicKey) bool {
	k, ok := pub.(ed25519.PublicKey)
	return ok && len(k) == ed25519.PublicKeySize
}

func (eddsaScheme) GenerateKey(r io.Reader) (crypto.Signer, error) {
	_, priv, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, err
	}
	return priv, nil
}

func (s eddsaScheme) Sign(key crypto.Signer, msg []byte) ([]byte, error) {
	if !s.SupportsKey(key.Public()) {
		return nil, fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgEdDSA, key.Public())
	}
	// crypto.Hash(0) selects pure Ed25519 (RFC 8032 §5.1), the only
	// variant JOSE EdDSA allows (RFC 8037 §3.1).
	sig, err := key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("%s sign: %w", AlgEdDSA, err)
	}
	if len(sig) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%s sign: signer returned %d bytes", AlgEdDSA, len(sig))
	}
	return sig, nil
}

func (s eddsaScheme) Verify(pub crypto.PublicKey, msg, sig []byte) error {
	if !s.SupportsKey(pub) {
		return fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgEdDSA, pub)
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
		return fmt.Errorf("%s %w", AlgEdDSA, ErrSignatureInvalid)
	}
	return nil
}

type es256Scheme struct{}

func (es256Scheme) Alg() string { return AlgES256 }

func (es256Scheme) SupportsKey(pub crypto.PublicKey) bool {
	k, ok := pub.(*ecdsa.PublicKey)
	return ok && k.Curve == elliptic.P256()
}

func (es256Scheme) GenerateKey(r io.Reader) (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), r)
}

// ecdsaSig is the ASN.1 form crypto.Signer implementations return for
// ECDSA (SEC 1 §C.8, RFC 3279 §2.2.3).
type ecdsaSig struct {
	R, S *big.Int
}

func (s es256Scheme) Sign(key crypto.Signer, msg []byte) ([]byte, error) {
	if !s.SupportsKey(key.Public()) {
		return nil, fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgES256, key.Public())
	}
	digest := sha256.Sum256(msg)
	der, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%s sign: %w", AlgES256, err)
	}
	var rs ecdsaSig
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil ||
		rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
		return nil, fmt.Errorf("%s sign: signer returned a malformed ECDSA signature", AlgES256)
	}
	// RFC 7518 §3.4: R and S as fixed 32-byte big-endian octet strings.
	sig := make([]byte, es256SigSize)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return sig, nil
}

func (s es256Scheme) Verify(pub crypto.PublicKey, msg, sig []byte) error {
	if !s.SupportsKey(pub) {
		return fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgES256, pub)
	}
	if len(sig) != es256SigSize {
		return fmt.Errorf("%s %w", AlgES256, ErrSignatureInvalid)
	}
	digest := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	sv := new(big.Int).SetBytes(sig[32:])
	// ecdsa.Verify rejects R or S outside [1, N-1].
	if !ecdsa.Verify(pub.(*ecdsa.PublicKey), digest[:], r, sv) {
		return fmt.Errorf("%s %w", AlgES256, ErrSignatureInvalid)
	}
	return nil
}

type mldsa65Scheme struct{}

func (mldsa65Scheme) Alg() string { return AlgMLDSA65 }

func (mldsa65Scheme) SupportsKey(pub crypto.PublicKey) bool {
	k, ok := pub.(*mldsa65.PublicKey)
	return ok && k != nil
}

func (mldsa65Scheme) GenerateKey(r io.Reader) (crypto.Signer, error) {
	_, priv, err := mldsa65.GenerateKey(r)
	if err != nil {
		return nil, err
	}
	return priv, nil
}

func (s mldsa65Scheme) Sign(key crypto.Signer, msg []byte) ([]byte, error) {
	if !s.SupportsKey(key.Public()) {
		return nil, fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgMLDSA65, key.Public())
	}
	sig := make([]byte, mldsa65.SignatureSize)
	if sk, ok := key.(*mldsa65.PrivateKey); ok {
		// Hedged signing, the FIPS 204 §3.4 default: fresh randomness
		// protects against fault and side-channel attacks on the
		// deterministic variant. nil context = the empty context that
		// RFC 9964 §5 requires.
		if err := mldsa65.SignTo(sk, msg, nil, true, sig); err != nil {
			return nil, fmt.Errorf("%s sign: %w", AlgMLDSA65, err)
		}
		return sig, nil
	}
	// Another crypto.Signer (a token): pure ML-DSA with empty context is
	// what crypto.Hash(0) means for every ML-DSA signer we know of.
	out, err := key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("%s sign: %w", AlgMLDSA65, err)
	}
	if len(out) != mldsa65.SignatureSize {
		return nil, fmt.Errorf("%s sign: signer returned %d bytes", AlgMLDSA65, len(out))
	}
	return out, nil
}

func (s mldsa65Scheme) Verify(pub crypto.PublicKey, msg, sig []byte) error {
	if !s.SupportsKey(pub) {
		return fmt.Errorf("%w: %s with %T", ErrAlgKeyMismatch, AlgMLDSA65, pub)
	}
	if len(sig) != mldsa65.SignatureSize || !mldsa65.Verify(pub.(*mldsa65.PublicKey), msg, nil, sig) {
		return fmt.Errorf("%s %w", AlgMLDSA65, ErrSignatureInvalid)
	}
	return nil
}
