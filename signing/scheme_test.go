package signing_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/npes/npes/signing"
)

// TestSchemes sweeps every scheme of the registry, as circl's
// sign/schemes test does: a signature verifies, and a flipped bit in the
// message or in the signature makes it fail.
func TestSchemes(t *testing.T) {
	t.Parallel()
	msg := []byte("eyJhbGciOiJFZERTQSJ9.eyJsZXR0ZXIiOiJMLTEifQ")
	for _, s := range signing.Schemes() {
		t.Run(s.Alg(), func(t *testing.T) {
			t.Parallel()
			got, err := signing.SchemeByAlg(s.Alg())
			if err != nil || got.Alg() != s.Alg() {
				t.Fatalf("SchemeByAlg(%q) = %v, %v", s.Alg(), got, err)
			}
			key, err := s.GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			if !s.SupportsKey(key.Public()) {
				t.Fatal("scheme does not support its own key")
			}
			if fk, err := signing.SchemeForKey(key.Public()); err != nil || fk.Alg() != s.Alg() {
				t.Fatalf("SchemeForKey = %v, %v", fk, err)
			}
			sig, err := s.Sign(key, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(key.Public(), msg, sig); err != nil {
				t.Fatalf("valid signature: %v", err)
			}
			for _, bit := range []int{0, 7, len(msg)*8 - 1} {
				m := append([]byte(nil), msg...)
				m[bit/8] ^= 1 << (bit % 8)
				if err := s.Verify(key.Public(), m, sig); !errors.Is(err, signing.ErrSignatureInvalid) {
					t.Errorf("message bit %d flipped: err = %v, want ErrSignatureInvalid", bit, err)
				}
			}
			for _, bit := range []int{0, 9, len(sig)*8/2 + 3, len(sig)*8 - 1} {
				sg := append([]byte(nil), sig...)
				sg[bit/8] ^= 1 << (bit % 8)
				if err := s.Verify(key.Public(), msg, sg); !errors.Is(err, signing.ErrSignatureInvalid) {
					t.Errorf("signature bit %d flipped: err = %v, want ErrSignatureInvalid", bit, err)
				}
			}
			if err := s.Verify(key.Public(), msg, sig[:len(sig)-1]); !errors.Is(err, signing.ErrSignatureInvalid) {
				t.Errorf("truncated signature: err = %v", err)
			}
			// Every other scheme's key is refused, never misread.
			for _, other := range signing.Schemes() {
				if other.Alg() == s.Alg() {
					continue
				}
				ok, err := other.GenerateKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Verify(ok.Public(), msg, sig); !errors.Is(err, signing.ErrAlgKeyMismatch) {
					t.Errorf("verify with %s key: err = %v, want ErrAlgKeyMismatch", other.Alg(), err)
				}
				if _, err := s.Sign(ok, msg); !errors.Is(err, signing.ErrAlgKeyMismatch) {
					t.Errorf("sign with %s key: err = %v, want ErrAlgKeyMismatch", other.Alg(), err)
				}
			}
		})
	}
}

func TestSchemeByAlgRefuses(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"", "none", "None", "HS256", "HS512", "RS256", "ES384", "Ed25519", "ML-DSA-44", "ml-dsa-65", "eddsa"} {
		if s, err := signing.SchemeByAlg(alg); !errors.Is(err, signing.ErrUnsupportedAlg) {
			t.Errorf("SchemeByAlg(%q) = %v, %v; want ErrUnsupportedAlg", alg, s, err)
		}
	}
	if _, err := signing.SchemeForKey("not a key"); !errors.Is(err, signing.ErrUnsupportedKey) {
		t.Errorf("SchemeForKey(string) err = %v", err)
	}
}
