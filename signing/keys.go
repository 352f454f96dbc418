package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// pemPrivateKey is the PEM label of PKCS#8 private keys (RFC 7468 §10),
// used for both operator keys.
const pemPrivateKey = "PRIVATE KEY"

// oidMLDSA65 returns id-ml-dsa-65 (RFC 9881 §2; NIST CSOR
// 2.16.840.1.101.3.4.3.18).
func oidMLDSA65() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}
}

// pkcs8 is OneAsymmetricKey version 0 (RFC 5958 §2) without attributes.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// mldsaBoth is the "both" CHOICE of ML-DSA-PrivateKey (RFC 9881 §6):
// the seed and the expanded key it derives.
type mldsaBoth struct {
	Seed        []byte
	ExpandedKey []byte
}

// GenerateOperatorKeys makes the operator's two signing keys and returns
// them PEM encoded: Ed25519 as PKCS#8 (RFC 8410 §7) and ML-DSA-65 as
// PKCS#8 in the seed-only form of RFC 9881 §6. Both are secrets; write
// them with mode 0600.
func GenerateOperatorKeys() (ed25519PEM, mldsaPEM []byte, err error) {
	return generateOperatorKeys(rand.Reader)
}

func generateOperatorKeys(r io.Reader) (ed25519PEM, mldsaPEM []byte, err error) {
	_, edKey, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	var seed [mldsa65.SeedSize]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, nil, fmt.Errorf("generate ML-DSA-65 seed: %w", err)
	}
	if ed25519PEM, err = MarshalEd25519PrivateKey(edKey); err != nil {
		return nil, nil, err
	}
	if mldsaPEM, err = MarshalMLDSA65Seed(seed[:]); err != nil {
		return nil, nil, err
	}
	return ed25519PEM, mldsaPEM, nil
}

// MarshalEd25519PrivateKey encodes key as a PKCS#8 "PRIVATE KEY" PEM block.
func MarshalEd25519PrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// MarshalMLDSA65Seed encodes a 32-byte ML-DSA-65 seed as a PKCS#8 "PRIVATE
// KEY" PEM block in the seed-only form of RFC 9881 §6: privateKey holds
// the DER of `seed [0] IMPLICIT OCTET STRING (SIZE (32))`. The seed is the
// whole secret (FIPS 204 §6.1 ML-DSA.KeyGen_internal expands it), so this
// is the smallest and most portable encoding.
func MarshalMLDSA65Seed(seed []byte) ([]byte, error) {
	if len(seed) != mldsa65.SeedSize {
		return nil, fmt.Errorf("%w: ML-DSA-65 seed is %d bytes, want %d", ErrMalformedKey, len(seed), mldsa65.SeedSize)
	}
	inner := append([]byte{0x80, mldsa65.SeedSize}, seed...)
	der, err := asn1.Marshal(pkcs8{
		Algo:       pkix.AlgorithmIdentifier{Algorithm: oidMLDSA65()},
		PrivateKey: inner,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}), nil
}

// ParseEd25519PrivateKey decodes a PKCS#8 "PRIVATE KEY" PEM block holding
// an Ed25519 key. Trailing data after the block is refused.
func ParseEd25519PrivateKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	der, err := singlePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedKey, err)
	}
	edKey, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#8 key is %T, want Ed25519", ErrMalformedKey, key)
	}
	return edKey, nil
}

// ParseMLDSA65PrivateKey decodes a PKCS#8 "PRIVATE KEY" PEM block holding
// an ML-DSA-65 key (RFC 9881 §6) in the seed or the both form; for the
// both form the expanded key must be the one the seed derives (RFC 9881
// §8: a mismatch means a corrupt or manipulated key). The expandedKey-only
// form is refused: without the seed the key cannot be checked or
// re-exported.
func ParseMLDSA65PrivateKey(pemBytes []byte) (*mldsa65.PrivateKey, error) {
	der, err := singlePEM(pemBytes)
	if err != nil {
		return nil, err
	}
	var k pkcs8
	rest, err := asn1.Unmarshal(der, &k)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a PKCS#8 structure", ErrMalformedKey)
	}
	if k.Version != 0 || !k.Algo.Algorithm.Equal(oidMLDSA65()) || len(k.Algo.Parameters.FullBytes) != 0 {
		return nil, fmt.Errorf("%w: PKCS#8 algorithm is not id-ml-dsa-65 without parameters", ErrMalformedKey)
	}
	var seed [mldsa65.SeedSize]byte
	var expanded []byte
	switch {
	case len(k.PrivateKey) == 2+mldsa65.SeedSize && k.PrivateKey[0] == 0x80 && k.PrivateKey[1] == mldsa65.SeedSize:
		copy(seed[:], k.PrivateKey[2:])
	case len(k.PrivateKey) > 0 && k.PrivateKey[0] == 0x30:
		var both mldsaBoth
		rest, err := asn1.Unmarshal(k.PrivateKey, &both)
		if err != nil || len(rest) != 0 || len(both.Seed) != mldsa65.SeedSize || len(both.ExpandedKey) != mldsa65.PrivateKeySize {
			return nil, fmt.Errorf("%w: malformed ML-DSA-65 both form", ErrMalformedKey)
		}
		copy(seed[:], both.Seed)
		expanded = both.ExpandedKey
	default:
		return nil, fmt.Errorf("%w: ML-DSA-65 key must hold its seed (RFC 9881 seed or both form)", ErrMalformedKey)
	}
	_, sk := mldsa65.NewKeyFromSeed(&seed)
	if expanded != nil && !bytes.Equal(sk.Bytes(), expanded) {
		return nil, fmt.Errorf("%w: ML-DSA-65 expanded key does not match its seed", ErrMalformedKey)
	}
	return sk, nil
}

func singlePEM(pemBytes []byte) ([]byte, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrMalformedKey)
	}
	if block.Type != pemPrivateKey {
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrMalformedKey, block.Type, pemPrivateKey)
	}
	if len(block.Headers) != 0 {
		// Encrypted legacy PEM (RFC 1421 headers) is not supported.
		return nil, fmt.Errorf("%w: PEM headers are not supported", ErrMalformedKey)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrMalformedKey)
	}
	return block.Bytes, nil
}
