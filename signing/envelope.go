package signing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// An Envelope is an evidence record: a JWS in General JSON Serialization
// (RFC 7515 §7.2.1) with one payload and, in format v2, one EdDSA
// signature; v1 envelopes carry a second, ML-DSA-65 signature over the
// same signing input. Each signature has its own protected header
// {"alg","kid"} and no unprotected header.
//
// Its canonical bytes (Bytes) are what the evidence log stores and hashes
// as a leaf and what the next evidence's prev names:
//
//	{"payload":"<b64url>","signatures":[{"protected":"<b64url>","signature":"<b64url>"},{…}]}
//
// with no whitespace and members in that order. Every value is a
// base64url string, which never needs JSON escaping, so any JOSE library
// reproduces the same bytes and a bundle may carry the envelope as a JSON
// object: whitespace or member order in the bundle never changes the hash.
type Envelope struct {
	Payload    string              `json:"payload"`
	Signatures []EnvelopeSignature `json:"signatures"`
}

// EnvelopeSignature is one entry of the "signatures" array.
type EnvelopeSignature struct {
	Protected string `json:"protected"`
	Signature string `json:"signature"`
}

// Bytes returns the canonical serialization of the envelope. It is
// meaningful for envelopes from Seal or ParseEnvelope, whose values are
// checked base64url; MarshalJSON checks before writing.
func (e Envelope) Bytes() []byte {
	n := len(`{"payload":"","signatures":[]}`) + len(e.Payload)
	for _, s := range e.Signatures {
		n += len(`{"protected":"","signature":""},`) + len(s.Protected) + len(s.Signature)
	}
	var b bytes.Buffer
	b.Grow(n)
	b.WriteString(`{"payload":"`)
	b.WriteString(e.Payload)
	b.WriteString(`","signatures":[`)
	for i, s := range e.Signatures {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"protected":"`)
		b.WriteString(s.Protected)
		b.WriteString(`","signature":"`)
		b.WriteString(s.Signature)
		b.WriteString(`"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// Hash returns the lowercase hex SHA-256 of the canonical bytes: the
// value the next evidence of the same letter carries as prev.
func (e Envelope) Hash() string {
	return DigestHex(e.Bytes())
}

// MarshalJSON writes the canonical bytes.
func (e Envelope) MarshalJSON() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}

// UnmarshalJSON parses strictly: exactly the members payload and
// signatures (each with protected and signature), no unprotected header,
// no duplicate members, every value canonical base64url.
func (e *Envelope) UnmarshalJSON(data []byte) error {
	if c, ok := parseCanonical(data); ok {
		if err := c.validate(); err != nil {
			return err
		}
		*e = c
		return nil
	}
	type wire Envelope // no methods: no recursion into UnmarshalJSON
	var w wire
	if err := unmarshalStrict(data, &w); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedJWS, err)
	}
	if err := Envelope(w).validate(); err != nil {
		return err
	}
	*e = Envelope(w)
	return nil
}

// ParseEnvelope parses an envelope (see UnmarshalJSON).
func ParseEnvelope(data []byte) (Envelope, error) {
	var e Envelope
	if err := e.UnmarshalJSON(data); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// parseCanonical reads an envelope that is exactly in canonical form
// (what the log stores), without the JSON machinery, which otherwise
// costs as much as one signature check. Its values are runs of base64url
// characters, so a match means the same as the strict JSON parse; any
// other input returns false and goes through that parse.
func parseCanonical(data []byte) (Envelope, bool) {
	s := string(data)
	take := func(lit string) bool {
		if !strings.HasPrefix(s, lit) {
			return false
		}
		s = s[len(lit):]
		return true
	}
	value := func() (string, bool) {
		i := 0
		for i < len(s) && isB64URLChar(s[i]) {
			i++
		}
		v := s[:i]
		s = s[i:]
		return v, take(`"`)
	}
	var e Envelope
	var ok bool
	if !take(`{"payload":"`) {
		return Envelope{}, false
	}
	if e.Payload, ok = value(); !ok || !take(`,"signatures":[`) {
		return Envelope{}, false
	}
	for {
		var sig EnvelopeSignature
		if !take(`{"protected":"`) {
			return Envelope{}, false
		}
		if sig.Protected, ok = value(); !ok || !take(`,"signature":"`) {
			return Envelope{}, false
		}
		if sig.Signature, ok = value(); !ok || !take(`}`) {
			return Envelope{}, false
		}
		e.Signatures = append(e.Signatures, sig)
		if take(`]}`) {
			return e, s == ""
		}
		if !take(`,`) {
			return Envelope{}, false
		}
	}
}

func isB64URLChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func (e Envelope) validate() error {
	if _, err := decodeB64URL(e.Payload); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrMalformedJWS, err)
	}
	if len(e.Signatures) == 0 {
		return fmt.Errorf("%w: no signatures", ErrMalformedJWS)
	}
	for i, s := range e.Signatures {
		if s.Protected == "" || s.Signature == "" {
			return fmt.Errorf("%w: signature %d: empty protected header or signature", ErrMalformedJWS, i)
		}
		if _, err := decodeB64URL(s.Protected); err != nil {
			return fmt.Errorf("%w: signature %d: protected header: %w", ErrMalformedJWS, i, err)
		}
		if _, err := decodeB64URL(s.Signature); err != nil {
			return fmt.Errorf("%w: signature %d: %w", ErrMalformedJWS, i, err)
		}
	}
	return nil
}

// protectedHeader is the JOSE header of npes signatures. Crit and B64 are
// decoded only to refuse them.
type protectedHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid,omitempty"`
	Typ  string          `json:"typ,omitempty"`
	X5C  []string        `json:"x5c,omitempty"`
	Crit json.RawMessage `json:"crit,omitempty"`
	B64  json.RawMessage `json:"b64,omitempty"`
	JWK  json.RawMessage `json:"jwk,omitempty"`
	JKU  json.RawMessage `json:"jku,omitempty"`
	X5U  json.RawMessage `json:"x5u,omitempty"`
}

// parseProtected decodes a base64url protected header and applies the
// rules shared by envelopes and compact signatures:
//   - duplicate members are refused (RFC 7515 §5.2);
//   - "crit" is refused: npes understands no extension, and RFC 7515
//     §4.1.11 requires rejecting a JWS whose crit names one the recipient
//     does not understand;
//   - "b64" (RFC 7797) is refused, it changes what the signature covers;
//   - "jwk", "jku", "x5u" are refused: the verification key comes from
//     the operator's key set or the x5c chain, never from a header the
//     signer chose or a URL to fetch.
//
// Other unknown members are ignored (RFC 7515 §4).
func parseProtected(b64 string) (protectedHeader, error) {
	raw, err := decodeB64URL(b64)
	if err != nil {
		return protectedHeader{}, fmt.Errorf("%w: protected header: %w", ErrMalformedJWS, err)
	}
	if err := checkJSON(raw); err != nil {
		return protectedHeader{}, fmt.Errorf("%w: protected header: %w", ErrMalformedJWS, err)
	}
	var h protectedHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return protectedHeader{}, fmt.Errorf("%w: protected header: %w", ErrMalformedJWS, err)
	}
	switch {
	case h.Crit != nil:
		return protectedHeader{}, fmt.Errorf("%w: crit %s", ErrCriticalHeader, h.Crit)
	case h.B64 != nil:
		return protectedHeader{}, fmt.Errorf("%w: b64", ErrCriticalHeader)
	case h.JWK != nil || h.JKU != nil || h.X5U != nil:
		return protectedHeader{}, fmt.Errorf("%w: jwk, jku and x5u headers are not accepted", ErrCriticalHeader)
	}
	if err := checkAlgName(h.Alg); err != nil {
		return protectedHeader{}, err
	}
	return h, nil
}

// checkAlgName refuses "none" and MAC algorithms by name so the error says
// why, then anything outside the registry.
func checkAlgName(alg string) error {
	switch {
	case alg == "":
		return fmt.Errorf("%w: missing alg", ErrUnsupportedAlg)
	case strings.EqualFold(alg, "none"):
		return fmt.Errorf("%w: alg none is never accepted", ErrUnsupportedAlg)
	case strings.HasPrefix(alg, "HS"):
		// A MAC keyed with a public key would let anyone forge
		// (the classic RS256→HS256 confusion).
		return fmt.Errorf("%w: MAC algorithm %q is never accepted", ErrUnsupportedAlg, alg)
	}
	_, err := SchemeByAlg(alg)
	return err
}

// Version returns the envelope format by its shape: 2 for exactly one
// signature (EdDSA), 1 for two (EdDSA and ML-DSA-65). It reads only the
// number of signatures; Verify checks the rest.
func (e Envelope) Version() int {
	if len(e.Signatures) == 1 {
		return 2
	}
	return 1
}

// VerifyEnvelope parses an envelope and verifies its signatures against a
// key set (see Envelope.Verify).
func VerifyEnvelope(envBytes []byte, keys JWKS) ([]byte, error) {
	env, err := ParseEnvelope(envBytes)
	if err != nil {
		return nil, err
	}
	return env.Verify(keys)
}

// Verify checks the envelope's signatures with keys of the set and returns
// the payload. Two shapes are accepted (DESIGN §4):
//   - v2: exactly one EdDSA signature. It has classical strength only: a
//     v2 envelope counts as evidence only together with an inclusion
//     proof into a checkpoint co-signed with ML-DSA-65 (VerifyBundle).
//   - v1: exactly one EdDSA and one ML-DSA-65 signature, both valid.
//
// Any other set of signatures fails with ErrSignatureSet. The payload's
// own "v" must match the shape; VerifyBundle checks that, so an envelope
// cannot be re-presented in the other format.
func (e Envelope) Verify(keys JWKS) ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	var want []string
	switch len(e.Signatures) {
	case 1:
		want = []string{AlgEdDSA}
	case 2:
		want = []string{AlgEdDSA, AlgMLDSA65}
	default:
		return nil, fmt.Errorf("%w: got %d signatures", ErrSignatureSet, len(e.Signatures))
	}
	seen := make(map[string]bool, len(want))
	for i, s := range e.Signatures {
		h, err := parseProtected(s.Protected)
		if err != nil {
			return nil, fmt.Errorf("signature %d: %w", i, err)
		}
		if !slices.Contains(want, h.Alg) {
			return nil, fmt.Errorf("%w: signature %d has alg %s", ErrSignatureSet, i, h.Alg)
		}
		if seen[h.Alg] {
			return nil, fmt.Errorf("%w: two %s signatures", ErrSignatureSet, h.Alg)
		}
		seen[h.Alg] = true
		if err := verifyWithSet(keys, h, s.Protected+"."+e.Payload, s.Signature); err != nil {
			return nil, err
		}
	}
	payload, err := decodeB64URL(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", ErrMalformedJWS, err)
	}
	if len(e.Signatures) == 1 {
		// A v1 envelope stripped of its ML-DSA-65 signature has the
		// shape of a v2 one; its signed payload still says "v": 1.
		var p struct {
			V int `json:"v"`
		}
		if json.Unmarshal(payload, &p) != nil || p.V < 2 {
			return nil, fmt.Errorf("%w: one signature, but the payload is not of version 2 or later", ErrSignatureSet)
		}
	}
	return payload, nil
}

// verifyWithSet verifies one signature with the key its kid names; the
// key's kty and alg must fit the header's alg.
func verifyWithSet(keys JWKS, h protectedHeader, signingInput, sigB64 string) error {
	if h.Kid == "" {
		return fmt.Errorf("%s signature: %w: missing kid", h.Alg, ErrUnknownKey)
	}
	k, ok := keys.Lookup(h.Kid)
	if !ok {
		return fmt.Errorf("%s signature: %w %q", h.Alg, ErrUnknownKey, h.Kid)
	}
	if k.Alg != "" && k.Alg != h.Alg {
		return fmt.Errorf("%s signature: %w: key %q is for %s", h.Alg, ErrAlgKeyMismatch, h.Kid, k.Alg)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return fmt.Errorf("%s signature: %w", h.Alg, err)
	}
	scheme, err := SchemeByAlg(h.Alg)
	if err != nil {
		return err
	}
	sig, err := decodeB64URL(sigB64)
	if err != nil {
		return fmt.Errorf("%w: %s signature: %w", ErrMalformedJWS, h.Alg, err)
	}
	return scheme.Verify(pub, []byte(signingInput), sig)
}
