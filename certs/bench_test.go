package certs_test

import (
	"testing"

	"github.com/npes/npes/certs"
)

func BenchmarkIssue(b *testing.B) {
	s := newServerSetup(b)
	req := personRequest()
	for b.Loop() {
		if _, err := s.ca.Issue(req, s.now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIdentityFromCert(b *testing.B) {
	s := newServerSetup(b)
	cred := issue(b, s.ca, personRequest(), s.now)
	for b.Loop() {
		if _, err := certs.IdentityFromCert(cred.Cert); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandshake measures a full TLS 1.3 connection to a ServerTLSConfig
// server (X25519MLKEM768, no resumption) with and without a client
// certificate; the difference is client-certificate verification plus
// VerifyConnection with a 1,000-entry RevocationSet.
func BenchmarkHandshake(b *testing.B) {
	s := newServerSetup(b)
	serials := make([]string, 1000)
	for i := range serials {
		serials[i] = certs.FormatSerial(issue(b, s.ca, personRequest(), s.now).Cert.SerialNumber)
	}
	if err := s.rev.Replace(serials); err != nil {
		b.Fatal(err)
	}
	srv := startServer(b, s.config())
	cred := issue(b, s.ca, personRequest(), s.now)
	for _, bc := range []struct {
		name string
		cred *certs.Credential
	}{{"anonymous", nil}, {"client-cert", &cred}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := clientConfig(b, bc.cred, s.ca)
			for b.Loop() {
				if _, _, err := dial(srv.addr, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
