package signing_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"testing"

	"github.com/npes/npes/signing"
)

// FuzzVerifyBundle: no input makes VerifyBundle panic, and whatever it
// accepts is a complete report.
func FuzzVerifyBundle(f *testing.F) {
	fx := newLetterFixture(f, newSealer(f))
	f.Add(fx.marshal(f))
	r, _ := json.Marshal(signing.Receipt{Checkpoint: fx.bundle.Checkpoint, Evidence: fx.bundle.Evidence[:2]})
	f.Add(r)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"letter":"L","keys":{"keys":[]},"evidence":[]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := signing.VerifyBundle(data, signing.VerifyOptions{Trust: fx.trust})
		if err != nil {
			return
		}
		if rep == nil || len(rep.Evidence) == 0 || rep.Letter == "" {
			t.Fatalf("accepted bundle with report %+v", rep)
		}
	})
}

// FuzzParseCompact: no input makes ParseCompact or Verify panic.
func FuzzParseCompact(f *testing.F) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	es, err := signing.SignCompact(ecKey, []*x509.Certificate{selfSigned(f, ecKey)}, []byte(`{"letter":"L-1"}`))
	if err != nil {
		f.Fatal(err)
	}
	ed, err := signing.SignCompact(edKey, []*x509.Certificate{selfSigned(f, edKey)}, []byte(`{"letter":"L-1"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(es)
	f.Add(ed)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := signing.ParseCompact(s)
		if err != nil {
			return
		}
		if len(c.Chain) == 0 || (c.Alg != signing.AlgES256 && c.Alg != signing.AlgEdDSA) {
			t.Fatalf("accepted alg %q with %d certificates", c.Alg, len(c.Chain))
		}
		_, _, _ = c.Verify()
	})
}

// FuzzParseEnvelope: whatever parses re-serializes to a canonical form
// that parses to the same envelope. Signature checks are left to
// FuzzVerifyBundle: ML-DSA under coverage instrumentation would slow this
// target a hundredfold.
func FuzzParseEnvelope(f *testing.F) {
	s := newSealer(f)
	env, err := s.Seal([]byte(`{"v":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env.Bytes())
	f.Add([]byte(`{"payload":"","signatures":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := signing.ParseEnvelope(data)
		if err != nil {
			return
		}
		again, err := signing.ParseEnvelope(e.Bytes())
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		if string(again.Bytes()) != string(e.Bytes()) {
			t.Fatal("canonical form is not stable")
		}
	})
}
