package signing_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/npes/npes/signing"
)

// TestEnvelopeIndependentVerifiers checks an envelope with code that is
// not npes: go-jose verifies the EdDSA signature from the published JWKS
// (as any JOSE library would), and circl verifies the ML-DSA-65 signature
// over the JWS signing input with an empty context.
func TestEnvelopeIndependentVerifiers(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	payload := []byte(`{"v":1,"event":"SubmissionAcceptance","letter":"L-1"}`)
	env, err := s.Seal(payload)
	if err != nil {
		t.Fatal(err)
	}
	envBytes := env.Bytes()
	jwksBytes, err := json.Marshal(s.JWKS())
	if err != nil {
		t.Fatal(err)
	}

	// The published key set, read with encoding/json only.
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwksBytes, &set); err != nil {
		t.Fatal(err)
	}

	t.Run("go-jose EdDSA", func(t *testing.T) {
		var okp jose.JSONWebKey
		if err := okp.UnmarshalJSON(set.Keys[0]); err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSigned(string(envBytes), []jose.SignatureAlgorithm{jose.EdDSA, "ML-DSA-65"})
		if err != nil {
			t.Fatal(err)
		}
		idx, sig, got, err := jws.VerifyMulti(okp)
		if err != nil {
			t.Fatal(err)
		}
		if idx != 0 || sig.Protected.Algorithm != "EdDSA" || sig.Protected.KeyID != okp.KeyID {
			t.Errorf("verified signature %d, header %+v", idx, sig.Protected)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("payload %q", got)
		}
		// The same check on a tampered payload fails in go-jose too.
		bad := strings.Replace(string(envBytes), env.Payload, env.Payload[:10]+flipB64(env.Payload[10:11])+env.Payload[11:], 1)
		if jws, err := jose.ParseSigned(bad, []jose.SignatureAlgorithm{jose.EdDSA, "ML-DSA-65"}); err == nil {
			if _, _, _, err := jws.VerifyMulti(okp); err == nil {
				t.Error("go-jose verified a tampered payload")
			}
		}
	})

	t.Run("circl ML-DSA-65", func(t *testing.T) {
		var akp struct {
			Pub string `json:"pub"`
		}
		if err := json.Unmarshal(set.Keys[1], &akp); err != nil {
			t.Fatal(err)
		}
		rawPub, err := base64.RawURLEncoding.DecodeString(akp.Pub)
		if err != nil {
			t.Fatal(err)
		}
		var pub mldsa65.PublicKey
		if err := pub.UnmarshalBinary(rawPub); err != nil {
			t.Fatal(err)
		}
		var generic struct {
			Payload    string `json:"payload"`
			Signatures []struct {
				Protected string `json:"protected"`
				Signature string `json:"signature"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(envBytes, &generic); err != nil {
			t.Fatal(err)
		}
		ml := generic.Signatures[1]
		hdr, _ := base64.RawURLEncoding.DecodeString(ml.Protected)
		if !strings.Contains(string(hdr), `"alg":"ML-DSA-65"`) {
			t.Fatalf("second header %s", hdr)
		}
		sig, _ := base64.RawURLEncoding.DecodeString(ml.Signature)
		input := []byte(ml.Protected + "." + generic.Payload)
		if !mldsa65.Verify(&pub, input, nil, sig) {
			t.Error("circl rejects the ML-DSA-65 signature")
		}
		if mldsa65.Verify(&pub, input, []byte("ctx"), sig) {
			t.Error("signature verifies with a non-empty context")
		}
	})

	t.Run("npes", func(t *testing.T) {
		got, err := signing.VerifyEnvelope(envBytes, s.JWKS())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("payload %q", got)
		}
		parsed, err := signing.ParseJWKS(jwksBytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := signing.VerifyEnvelope(envBytes, parsed); err != nil {
			t.Errorf("with parsed JWKS: %v", err)
		}
	})
}

// flipB64 returns another base64url character.
func flipB64(c string) string {
	if c == "A" {
		return "B"
	}
	return "A"
}

// mutateSig returns env with signature i replaced by f(old).
func mutateSig(env signing.Envelope, i int, f func(*signing.EnvelopeSignature)) signing.Envelope {
	out := signing.Envelope{Payload: env.Payload, Signatures: append([]signing.EnvelopeSignature(nil), env.Signatures...)}
	f(&out.Signatures[i])
	return out
}

func header(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func flipBit(b64 string, bit int) string {
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		panic(err)
	}
	raw[bit/8%len(raw)] ^= 1 << (bit % 8)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func TestVerifyEnvelopeRefuses(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	other := newSealer(t)
	env, err := s.Seal([]byte(`{"letter":"L-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	edKid, mlKid := s.JWKS().Keys[0].Kid, s.JWKS().Keys[1].Kid
	otherEnv, err := other.Seal([]byte(`{"letter":"L-1"}`))
	if err != nil {
		t.Fatal(err)
	}

	type tc struct {
		env  signing.Envelope
		want error
		msg  string // substring of the error
	}
	cases := map[string]tc{
		"payload bit flipped": {
			env:  signing.Envelope{Payload: flipBit(env.Payload, 3), Signatures: env.Signatures},
			want: signing.ErrSignatureInvalid, msg: "EdDSA signature invalid",
		},
		"EdDSA signature bit flipped": {
			env:  mutateSig(env, 0, func(s *signing.EnvelopeSignature) { s.Signature = flipBit(s.Signature, 77) }),
			want: signing.ErrSignatureInvalid, msg: "EdDSA signature invalid",
		},
		"ML-DSA signature bit flipped": {
			env:  mutateSig(env, 1, func(s *signing.EnvelopeSignature) { s.Signature = flipBit(s.Signature, 1000) }),
			want: signing.ErrSignatureInvalid, msg: "ML-DSA-65 signature invalid",
		},
		"ML-DSA signature stripped": {
			env:  signing.Envelope{Payload: env.Payload, Signatures: env.Signatures[:1]},
			want: signing.ErrSignatureSet,
		},
		"EdDSA signature twice": {
			env:  signing.Envelope{Payload: env.Payload, Signatures: []signing.EnvelopeSignature{env.Signatures[0], env.Signatures[0]}},
			want: signing.ErrSignatureSet,
		},
		"three signatures": {
			env:  signing.Envelope{Payload: env.Payload, Signatures: append(append([]signing.EnvelopeSignature(nil), env.Signatures...), env.Signatures[0])},
			want: signing.ErrSignatureSet,
		},
		"alg none": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]string{"alg": "none", "kid": edKid})
			}),
			want: signing.ErrUnsupportedAlg,
		},
		"HS256": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]string{"alg": "HS256", "kid": edKid})
			}),
			want: signing.ErrUnsupportedAlg,
		},
		"ES256 instead of EdDSA": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]string{"alg": "ES256", "kid": edKid})
			}),
			want: signing.ErrSignatureSet,
		},
		"unknown alg": {
			env: mutateSig(env, 1, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]string{"alg": "ML-DSA-87", "kid": mlKid})
			}),
			want: signing.ErrUnsupportedAlg,
		},
		"crit header": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]any{"alg": "EdDSA", "kid": edKid, "crit": []string{"exp"}, "exp": 1})
			}),
			want: signing.ErrCriticalHeader,
		},
		"b64 false": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]any{"alg": "EdDSA", "kid": edKid, "b64": false})
			}),
			want: signing.ErrCriticalHeader,
		},
		"embedded jwk": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]any{"alg": "EdDSA", "kid": edKid, "jwk": map[string]string{"kty": "OKP"}})
			}),
			want: signing.ErrCriticalHeader,
		},
		"duplicate alg member": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","alg":"EdDSA","kid":"` + edKid + `"}`))
			}),
			want: signing.ErrMalformedJWS,
		},
		"kids swapped": {
			env: mutateSig(env, 0, func(s *signing.EnvelopeSignature) {
				s.Protected = header(t, map[string]string{"alg": "EdDSA", "kid": mlKid})
			}),
			want: signing.ErrAlgKeyMismatch,
		},
		"unknown kid": {
			env:  mutateSig(env, 1, func(s *signing.EnvelopeSignature) { s.Protected = otherEnv.Signatures[1].Protected }),
			want: signing.ErrUnknownKey,
		},
		"missing kid": {
			env:  mutateSig(env, 0, func(s *signing.EnvelopeSignature) { s.Protected = header(t, map[string]string{"alg": "EdDSA"}) }),
			want: signing.ErrUnknownKey,
		},
		"other operator's signatures": {
			env:  signing.Envelope{Payload: env.Payload, Signatures: otherEnv.Signatures},
			want: signing.ErrUnknownKey,
		},
		"empty signature": {
			env:  mutateSig(env, 0, func(s *signing.EnvelopeSignature) { s.Signature = "" }),
			want: signing.ErrMalformedJWS,
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := signing.VerifyEnvelope(c.env.Bytes(), s.JWKS())
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err = %q, want it to say %q", err, c.msg)
			}
		})
	}

	// Textual attacks on the serialization itself.
	good := string(env.Bytes())
	textual := map[string]string{
		"padding":             strings.Replace(good, env.Payload+`"`, env.Payload+`=="`, 1),
		"non-zero spare bits": strings.Replace(good, env.Payload+`"`, spareBits(env.Payload)+`"`, 1),
		"newline in base64":   strings.Replace(good, env.Payload, env.Payload[:4]+`\n`+env.Payload[4:], 1),
		"standard alphabet":   strings.Replace(good, env.Signatures[0].Signature, strings.NewReplacer("-", "+", "_", "/").Replace(env.Signatures[0].Signature)+"+", 1),
		"unprotected header":  strings.Replace(good, `{"protected"`, `{"header":{"kid":"x"},"protected"`, 1),
		"flattened form":      `{"payload":"` + env.Payload + `","protected":"` + env.Signatures[0].Protected + `","signature":"` + env.Signatures[0].Signature + `"}`,
		"duplicate payload":   strings.Replace(good, `{"payload"`, `{"payload":"e30","payload"`, 1),
		"trailing garbage":    good + "x",
		"two values":          good + good,
		"not JSON":            "eyJ.eyJ.sig",
	}
	for name, doc := range textual {
		if _, err := signing.VerifyEnvelope([]byte(doc), s.JWKS()); !errors.Is(err, signing.ErrMalformedJWS) {
			t.Errorf("%s: err = %v, want ErrMalformedJWS", name, err)
		}
	}
	// Whitespace is fine for VerifyEnvelope (any JOSE producer may add
	// it); the log hashes the canonical form, which ignores it.
	spaced := strings.ReplaceAll(good, `,`, ", ")
	if _, err := signing.VerifyEnvelope([]byte(spaced), s.JWKS()); err != nil {
		t.Errorf("whitespace: %v", err)
	}
	if p, err := signing.ParseEnvelope([]byte(spaced)); err != nil || !bytes.Equal(p.Bytes(), env.Bytes()) {
		t.Errorf("canonical form of a spaced envelope differs: %v", err)
	}
}

// spareBits changes the unused low bits of the last base64url character
// (a payload whose length is not a multiple of 3 has some), which a lax
// decoder ignores.
func spareBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|1])
}

func TestSealBatch(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	payloads := make([][]byte, 7)
	for i := range payloads {
		payloads[i] = []byte(`{"n":` + string(rune('0'+i)) + `}`)
	}
	envs, err := s.SealBatch(payloads)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != len(payloads) {
		t.Fatalf("%d envelopes", len(envs))
	}
	for i, env := range envs {
		got, err := env.Verify(s.JWKS())
		if err != nil {
			t.Fatalf("envelope %d: %v", i, err)
		}
		if !bytes.Equal(got, payloads[i]) {
			t.Errorf("envelope %d holds %q, want %q", i, got, payloads[i])
		}
	}
}
