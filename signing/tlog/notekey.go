package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"
)

// Signed-note keys (c2sp.org/signed-note).
//
// Ed25519 keys use signature type 0x01 and the standard verifier key
// format of golang.org/x/mod/sumdb/note, so any note implementation can
// check the log's signature.
//
// The ML-DSA-65 cosignature has no type byte assigned by the signed-note
// spec, so it uses the extension type 0xff followed by the identifier
// "npes/ml-dsa-65" (the spec recommends an identifier after 0xff):
//
//	key ID        = SHA-256(name || 0x0A || 0xff || "npes/ml-dsa-65" || pk)[:4]
//	verifier key  = name "+" hex(key ID) "+" base64(0xff || "npes/ml-dsa-65" || pk)
//	signature     = base64(key ID || ML-DSA-65.Sign(sk, note text, ctx = ""))
//
// where pk is the 1952-byte FIPS 204 public key encoding and the
// signature is pure ML-DSA-65 (FIPS 204 Algorithm 2) over the note text,
// like Ed25519 notes. Verifiers that do not know this key ignore the line,
// as the spec requires, so the cosignature costs nothing to others.

const (
	sigTypeEd25519 = 0x01
	sigTypeExt     = 0xff
	mldsaNoteID    = "npes/ml-dsa-65"
)

var (
	// ErrVerifierKey: a malformed or unsupported note verifier key.
	ErrVerifierKey = errors.New("malformed note verifier key")
	// ErrKeyName: a note key name (and checkpoint origin) that the
	// signed-note spec does not allow.
	ErrKeyName = errors.New("invalid note key name")
)

// validName reports whether name may name a note key: non-empty UTF-8
// without Unicode spaces or '+' (c2sp.org/signed-note).
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) &&
		strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

func keyID(name string, typed []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(typed)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func mldsaTyped(pub []byte) []byte {
	return append(append([]byte{sigTypeExt}, mldsaNoteID...), pub...)
}

// noteSigner is a note.Signer around a signing function, so the private
// key can stay behind a crypto.Signer.
type noteSigner struct {
	name string
	hash uint32
	sign func([]byte) ([]byte, error)
}

func (s noteSigner) Name() string                    { return s.name }
func (s noteSigner) KeyHash() uint32                 { return s.hash }
func (s noteSigner) Sign(msg []byte) ([]byte, error) { return s.sign(msg) }

// NewEd25519NoteSigner returns a note signer named name for the Ed25519
// key pub; sign must return a pure Ed25519 signature of its argument.
func NewEd25519NoteSigner(name string, pub ed25519.PublicKey, sign func(msg []byte) ([]byte, error)) (note.Signer, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrKeyName, name)
	}
	if len(pub) != ed25519.PublicKeySize || sign == nil {
		return nil, fmt.Errorf("%w: Ed25519 key of %d bytes", ErrVerifierKey, len(pub))
	}
	return noteSigner{name: name, hash: keyID(name, append([]byte{sigTypeEd25519}, pub...)), sign: sign}, nil
}

// NewMLDSA65NoteSigner returns a note signer named name for the ML-DSA-65
// key pub; sign must return a pure ML-DSA-65 signature with empty context.
func NewMLDSA65NoteSigner(name string, pub *mldsa65.PublicKey, sign func(msg []byte) ([]byte, error)) (note.Signer, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrKeyName, name)
	}
	if pub == nil || sign == nil {
		return nil, fmt.Errorf("%w: nil ML-DSA-65 key", ErrVerifierKey)
	}
	return noteSigner{name: name, hash: keyID(name, mldsaTyped(pub.Bytes())), sign: sign}, nil
}

// Ed25519VerifierKey returns the standard note verifier key of pub.
func Ed25519VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("%w: %q", ErrKeyName, name)
	}
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrVerifierKey, err)
	}
	return vkey, nil
}

// MLDSA65VerifierKey returns the verifier key of an ML-DSA-65 cosigner.
func MLDSA65VerifierKey(name string, pub *mldsa65.PublicKey) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("%w: %q", ErrKeyName, name)
	}
	if pub == nil {
		return "", fmt.Errorf("%w: nil ML-DSA-65 key", ErrVerifierKey)
	}
	typed := mldsaTyped(pub.Bytes())
	return fmt.Sprintf("%s+%08x+%s", name, keyID(name, typed), base64.StdEncoding.EncodeToString(typed)), nil
}

type mldsaVerifier struct {
	name string
	hash uint32
	pub  *mldsa65.PublicKey
}

func (v mldsaVerifier) Name() string    { return v.name }
func (v mldsaVerifier) KeyHash() uint32 { return v.hash }
func (v mldsaVerifier) Verify(msg, sig []byte) bool {
	return len(sig) == mldsa65.SignatureSize && mldsa65.Verify(v.pub, msg, nil, sig)
}

// NewNoteVerifier parses a verifier key of either kind: a standard Ed25519
// key or an npes ML-DSA-65 key. The key ID must match the key.
func NewNoteVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validName(name) || len(hash16) != 8 {
		return nil, fmt.Errorf("%w: want name+hash+key", ErrVerifierKey)
	}
	hash, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: key hash %q", ErrVerifierKey, hash16)
	}
	typed, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(typed) == 0 || strings.ContainsAny(b64, "\r\n") {
		return nil, fmt.Errorf("%w: key is not base64", ErrVerifierKey)
	}
	switch {
	case typed[0] == sigTypeEd25519:
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrVerifierKey, err)
		}
		return v, nil
	case typed[0] == sigTypeExt && bytes.HasPrefix(typed[1:], []byte(mldsaNoteID)):
		raw := typed[1+len(mldsaNoteID):]
		if len(raw) != mldsa65.PublicKeySize {
			return nil, fmt.Errorf("%w: ML-DSA-65 key of %d bytes", ErrVerifierKey, len(raw))
		}
		if uint32(hash) != keyID(name, typed) {
			return nil, fmt.Errorf("%w: key hash does not match the key", ErrVerifierKey)
		}
		var pub mldsa65.PublicKey
		if err := pub.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrVerifierKey, err)
		}
		return mldsaVerifier{name: name, hash: uint32(hash), pub: &pub}, nil
	}
	return nil, fmt.Errorf("%w: unsupported signature type 0x%02x", ErrVerifierKey, typed[0])
}
