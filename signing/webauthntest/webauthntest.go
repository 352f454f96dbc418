// Package webauthntest is a software WebAuthn authenticator for tests: it
// makes assertions as a platform authenticator and browser would
// (WebAuthn Level 2 §6.1 authenticator data, §5.8.1 client data, §6.3.3
// signature over authenticatorData || SHA-256(clientDataJSON)), with knobs
// to make each field wrong.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"

	"github.com/npes/npes/signing"
)

// Authenticator holds one ES256 passkey.
type Authenticator struct {
	Key          *ecdsa.PrivateKey
	CredentialID []byte
	RPID         string
	Origin       string
	counter      uint32
}

// New makes a passkey for the relying party rpID used from origin.
func New(rpID, origin string) *Authenticator {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &Authenticator{Key: key, CredentialID: id, RPID: rpID, Origin: origin}
}

// ID is the credential id as statements and assertions carry it.
func (a *Authenticator) ID() string { return base64.RawURLEncoding.EncodeToString(a.CredentialID) }

// JWK is the passkey's public key.
func (a *Authenticator) JWK() signing.JWK {
	k, err := signing.NewJWK(&a.Key.PublicKey)
	if err != nil {
		panic(err)
	}
	return k
}

// Options change one thing of an assertion; the zero value makes a valid
// one.
type Options struct {
	Type        string // default webauthn.get
	Origin      string // default the authenticator's
	CrossOrigin bool
	RPID        string // hashed into the authenticator data; default the authenticator's
	Flags       *byte  // default UP|UV
	Challenge   []byte // default SHA-256 of the statement
	Key         *ecdsa.PrivateKey
}

// Assert signs statement (the exact bytes) and returns the assertion.
func (a *Authenticator) Assert(statement []byte, o Options) *signing.WebAuthnAssertion {
	if o.Type == "" {
		o.Type = "webauthn.get"
	}
	if o.Origin == "" {
		o.Origin = a.Origin
	}
	if o.RPID == "" {
		o.RPID = a.RPID
	}
	flags := byte(0x01 | 0x04)
	if o.Flags != nil {
		flags = *o.Flags
	}
	if o.Challenge == nil {
		o.Challenge = signing.WebAuthnChallenge(statement)
	}
	if o.Key == nil {
		o.Key = a.Key
	}
	cd, _ := json.Marshal(map[string]any{"type": o.Type, "challenge": base64.RawURLEncoding.EncodeToString(o.Challenge),
		"origin": o.Origin, "crossOrigin": o.CrossOrigin})
	rpHash := sha256.Sum256([]byte(o.RPID))
	a.counter++
	ad := append(rpHash[:], flags)
	ad = binary.BigEndian.AppendUint32(ad, a.counter)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, o.Key, digest[:])
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return &signing.WebAuthnAssertion{Statement: enc(statement), CredentialID: a.ID(),
		AuthenticatorData: enc(ad), ClientDataJSON: enc(cd), Signature: enc(sig)}
}

// Create answers navigator.credentials.create for the passkey (WebAuthn
// L2 §6.5.4 attestation object, format "none"): the client data of type
// webauthn.create with challenge, and the authenticator data with the
// attested credential (AAGUID zero, the credential id, the COSE ES256
// key). flags default to UP|UV|AT.
func (a *Authenticator) Create(challenge []byte, flags *byte) (clientDataJSON, attestationObject []byte) {
	f := byte(0x01 | 0x04 | 0x40)
	if flags != nil {
		f = *flags
	}
	clientDataJSON, _ = json.Marshal(map[string]any{"type": "webauthn.create",
		"challenge": base64.RawURLEncoding.EncodeToString(challenge), "origin": a.Origin, "crossOrigin": false})
	raw, err := a.Key.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	// COSE_Key (RFC 9052 §7, RFC 9053 §7.1.1): kty 2 (EC2), alg -7
	// (ES256), crv 1 (P-256), x, y.
	var cose []byte
	cose = cborHead(cose, 5, 5)
	cose = cborInt(cborInt(cose, 1), 2)
	cose = cborInt(cborInt(cose, 3), -7)
	cose = cborInt(cborInt(cose, -1), 1)
	cose = cborBytes(cborInt(cose, -2), raw[1:33])
	cose = cborBytes(cborInt(cose, -3), raw[33:])
	rpHash := sha256.Sum256([]byte(a.RPID))
	ad := append(rpHash[:], f)
	ad = binary.BigEndian.AppendUint32(ad, 0)
	ad = append(ad, make([]byte, 16)...) // AAGUID
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(a.CredentialID)))
	ad = append(ad, a.CredentialID...)
	ad = append(ad, cose...)
	var obj []byte
	obj = cborHead(obj, 5, 3)
	obj = cborText(cborText(obj, "fmt"), "none")
	obj = cborHead(cborText(obj, "attStmt"), 5, 0)
	obj = cborBytes(cborText(obj, "authData"), ad)
	return clientDataJSON, obj
}

// CBOR (RFC 8949 §3) for the few items an attestation object needs.
func cborHead(b []byte, major byte, n uint64) []byte {
	switch {
	case n < 24:
		return append(b, major<<5|byte(n))
	case n < 1<<8:
		return append(b, major<<5|24, byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, major<<5|25), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(b, major<<5|26), uint32(n))
	}
}

func cborInt(b []byte, v int) []byte {
	if v < 0 {
		return cborHead(b, 1, uint64(-1-v))
	}
	return cborHead(b, 0, uint64(v))
}

func cborBytes(b, v []byte) []byte { return append(cborHead(b, 2, uint64(len(v))), v...) }
func cborText(b []byte, s string) []byte {
	return append(cborHead(b, 3, uint64(len(s))), s...)
}
