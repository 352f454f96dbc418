package app_test

import (
	"github.com/npes/npes/signing"
)

// trust is what a verifier pins for this test server: the operator keys
// as GET /v1/keys publishes them and the identity CA.
func (p *party) trust() *signing.Trust {
	p.t.Helper()
	status, data := p.do("GET", "/v1/keys", nil, "", nil, nil)
	if status != 200 {
		p.t.Fatalf("GET /v1/keys: %d %s", status, data)
	}
	keys, err := signing.ParseJWKS(data)
	if err != nil {
		p.t.Fatal(err)
	}
	tr, err := signing.NewTrust(keys, p.b.ca.CertPEM())
	if err != nil {
		p.t.Fatal(err)
	}
	return tr
}
