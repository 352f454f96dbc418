package signing_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/npes/npes/signing"
)

// benchPayload is the size of a typical evidence payload.
var benchPayload = []byte(`{"v":1,"id":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d8c","event":"SubmissionAcceptance","time":"2025-03-01T09:00:00Z","letter":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d8b","tracking":"RR123456785BY","sender":{"mailbox":"MB-1","name":"ОАО Белтелеком"},"recipient":{"name":"Иванов Иван Иванович","address":"220030, г. Минск, ул. Ленина, 1"},"content":{"body_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","attachments":[{"name":"решение.pdf","size":183412,"sha256":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}]},"route":"electronic","prev":"","log_index":1000000}`)

// BenchmarkSeal measures an envelope (Ed25519 + ML-DSA-65); the
// "ed25519-only" sub-benchmark is the baseline in the same run.
func BenchmarkSeal(b *testing.B) {
	s := newSealer(b)
	b.Run("hybrid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Seal(benchPayload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ed25519-only", func(b *testing.B) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		for b.Loop() {
			ed25519.Sign(key, benchPayload)
		}
	})
	b.Run("batch-of-16", func(b *testing.B) {
		batch := make([][]byte, 16)
		for i := range batch {
			batch[i] = benchPayload
		}
		for b.Loop() {
			if _, err := s.SealBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/envelope")
	})
}

func BenchmarkVerifyEnvelope(b *testing.B) {
	s := newSealer(b)
	env, err := s.Seal(benchPayload)
	if err != nil {
		b.Fatal(err)
	}
	envBytes := env.Bytes()
	keys := s.JWKS()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signing.VerifyEnvelope(envBytes, keys); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyBundle(b *testing.B) {
	f := newLetterFixture(b, newSealer(b))
	raw := f.marshal(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := signing.VerifyBundle(raw, signing.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
