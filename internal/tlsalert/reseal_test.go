package tlsalert

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"testing"
)

// sealed is a TLS 1.3 record carrying inner (content then content type)
// under secret at sequence number seq.
func sealed(t *testing.T, suite uint16, secret []byte, seq uint64, inner []byte) []byte {
	t.Helper()
	aead, iv, err := trafficKey(suite, secret)
	if err != nil {
		t.Fatal(err)
	}
	nonce := recordNonce(iv, seq)
	hdr := []byte{recordApplicationData, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(inner)+aead.Overhead()))
	return aead.Seal(hdr, nonce, inner, hdr)
}

func opened(t *testing.T, suite uint16, secret []byte, seq uint64, rec []byte) []byte {
	t.Helper()
	aead, iv, err := trafficKey(suite, secret)
	if err != nil {
		t.Fatal(err)
	}
	nonce := recordNonce(iv, seq)
	pt, err := aead.Open(nil, nonce, rec[recordHeaderLen:], rec[:recordHeaderLen])
	if err != nil {
		t.Fatalf("opening the rewritten record: %v", err)
	}
	return pt
}

// Every TLS 1.3 suite: the alert is found at its sequence number among
// other records and resealed; anything else is left as it was.
func TestReseal(t *testing.T) {
	t.Parallel()
	badCert := []byte{alertLevelFatal, alertBadCertificate, recordAlert}
	for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		t.Run(tls.CipherSuiteName(suite), func(t *testing.T) {
			secret := make([]byte, 48)
			rand.Read(secret)
			other := make([]byte, 48)
			rand.Read(other)
			ticket := sealed(t, suite, secret, 0, append([]byte("ticket-bytes"), 22))
			cases := []struct {
				name    string
				records []byte
				changed bool
				seq     uint64
			}{
				{"alert first", sealed(t, suite, secret, 0, badCert), true, 0},
				{"alert after a ticket", append(bytes.Clone(ticket), sealed(t, suite, secret, 1, badCert)...), true, 1},
				{"another alert", sealed(t, suite, secret, 0, []byte{alertLevelFatal, 40, recordAlert}), false, 0},
				{"application data of the same length", sealed(t, suite, secret, 0, []byte{'h', 'i', recordApplicationData}), false, 0},
				{"another key", sealed(t, suite, other, 0, badCert), false, 0},
				{"beyond the sequence numbers tried", sealed(t, suite, secret, maxSeq, badCert), false, 0},
			}
			for _, c := range cases {
				conn := &conn{secret: bytes.Clone(secret), suite: suite}
				out, ok := conn.rewrite(c.records)
				if ok != c.changed {
					t.Fatalf("%s: rewritten = %v, want %v", c.name, ok, c.changed)
				}
				if !ok {
					if !bytes.Equal(out, c.records) {
						t.Fatalf("%s: records changed without a rewrite", c.name)
					}
					continue
				}
				last := out[len(out)-len(sealed(t, suite, secret, 0, badCert)):]
				if got := opened(t, suite, secret, c.seq, last); !bytes.Equal(got, []byte{alertLevelFatal, alertRevoked, recordAlert}) {
					t.Fatalf("%s: rewritten alert = %x", c.name, got)
				}
				if !bytes.Equal(out[:len(out)-len(last)], c.records[:len(out)-len(last)]) {
					t.Fatalf("%s: records before the alert changed", c.name)
				}
			}
		})
	}
}
