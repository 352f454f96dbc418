package certs_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

func TestIssueRefusesBadRequests(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	person := func(edit func(*certs.Request)) certs.Request {
		r := personRequest()
		edit(&r)
		return r
	}
	tests := []struct {
		name string
		req  certs.Request
		want string // the whole one-line message
	}{
		{"no role", certs.Request{Name: "X"}, "role is missing (want person, org, printcenter or operator)"},
		{"unknown role", certs.Request{Role: "admin", Name: "X"}, `unknown role "admin" (want person, org, printcenter or operator)`},
		{"empty name", person(func(r *certs.Request) { r.Name = "  " }), "name is empty"},
		{"name too long", person(func(r *certs.Request) { r.Name = strings.Repeat("Ж", 201) }), "name has 201 characters, more than 200"},
		{"name with newline", person(func(r *certs.Request) { r.Name = "Ivan\nAdmin" }), "name contains control or formatting character U+000A"},
		{"name with bidi override", person(func(r *certs.Request) { r.Name = "Ivan\u202eoknaB" }), "name contains control or formatting character U+202E"},
		{"name with zero-width space", person(func(r *certs.Request) { r.Name = "Iv\u200ban" }), "name contains control or formatting character U+200B"},
		{"name not UTF-8", person(func(r *certs.Request) { r.Name = "Iv\xffan" }), "name is not valid UTF-8"},
		{"person without personal number", person(func(r *certs.Request) { r.PersonalID = "" }), "role person requires a personal number"},
		{"personal number too short", person(func(r *certs.Request) { r.PersonalID = "3140582A001PB" }), `personal number "3140582A001PB" must be 14 characters shaped like 3140582A001PB3`},
		{"personal number letter where a digit goes", person(func(r *certs.Request) { r.PersonalID = "314058AA001PB3" }), `personal number "314058AA001PB3" must be 14 characters shaped like 3140582A001PB3`},
		{"personal number Cyrillic letter", person(func(r *certs.Request) { r.PersonalID = "3140582А001PB3" }), `personal number "3140582А001PB3" must be 14 characters shaped like 3140582A001PB3`},
		{"person with UNP", person(func(r *certs.Request) { r.UNP = "190123456" }), "role person does not carry a UNP"},
		{"person with regions", person(func(r *certs.Request) { r.Regions = []string{"220"} }), "role person does not carry regions"},
		{"org without UNP", certs.Request{Role: certs.RoleOrg, Name: "ААТ Белпошта"}, "role org requires a UNP"},
		{"org UNP of 8 digits", certs.Request{Role: certs.RoleOrg, Name: "O", UNP: "19012345"}, `UNP "19012345" must be exactly 9 digits`},
		{"org UNP with a letter", certs.Request{Role: certs.RoleOrg, Name: "O", UNP: "19012345A"}, `UNP "19012345A" must be exactly 9 digits`},
		{"org with personal number", certs.Request{Role: certs.RoleOrg, Name: "O", UNP: "190123456", PersonalID: "3140582A001PB3"}, "role org does not carry a personal number"},
		{"print centre without regions", certs.Request{Role: certs.RolePrintCenter, Name: "P"}, "role printcenter requires at least one region"},
		{"print centre region of 2 digits", certs.Request{Role: certs.RolePrintCenter, Name: "P", Regions: []string{"220", "22"}}, `region "22" must be 3 digits (a postcode prefix)`},
		{"print centre region listed twice", certs.Request{Role: certs.RolePrintCenter, Name: "P", Regions: []string{"220", " 220"}}, "region 220 is listed twice"},
		{"print centre with personal number", certs.Request{Role: certs.RolePrintCenter, Name: "P", Regions: []string{"220"}, PersonalID: "3140582A001PB3"}, "role printcenter does not carry a personal number"},
		{"operator with UNP", certs.Request{Role: certs.RoleOperator, Name: "Op", UNP: "190123456"}, "role operator does not carry a UNP"},
		{"negative days", person(func(r *certs.Request) { r.Days = -1 }), "days -1 must not be negative"},
		{"days over the maximum", person(func(r *certs.Request) { r.Days = 398 }), "days 398 exceeds the maximum of 397 for role person"},
		{"operator days over its maximum", certs.Request{Role: certs.RoleOperator, Name: "Op", Days: 91}, "days 91 exceeds the maximum of 90 for role operator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ca.Issue(tt.req, now)
			if !errors.Is(err, certs.ErrBadRequest) {
				t.Fatalf("err = %v, want ErrBadRequest", err)
			}
			if want := "certs: bad certificate request: " + tt.want; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
		})
	}
}

func TestIssueProfile(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ca := newTestCA(t, "npes test CA", now)
	tests := []struct {
		name     string
		req      certs.Request
		days     int
		wantURIs []string
		want     certs.Identity // role and attributes only
	}{
		{"person, input normalized", certs.Request{Role: certs.RolePerson, Name: "  Алеся Іванова ", PersonalID: " 3140582a001pb3"},
			90, []string{"urn:npes:role:person", "urn:npes:personal-id:3140582A001PB3"},
			certs.Identity{Role: certs.RolePerson, Name: "Алеся Іванова", PersonalID: "3140582A001PB3"}},
		{"org", certs.Request{Role: certs.RoleOrg, Name: "ААТ «Банк»", UNP: "190123456", Days: 397},
			397, []string{"urn:npes:role:org", "urn:npes:unp:190123456"},
			certs.Identity{Role: certs.RoleOrg, Name: "ААТ «Банк»", UNP: "190123456"}},
		{"print centre, regions sorted", certs.Request{Role: certs.RolePrintCenter, Name: "РУП Белпошта ПЦ", UNP: "100000001", Regions: []string{"230", "220", "222"}, Days: 1},
			1, []string{"urn:npes:role:printcenter", "urn:npes:unp:100000001", "urn:npes:regions:220,222,230"},
			certs.Identity{Role: certs.RolePrintCenter, Name: "РУП Белпошта ПЦ", UNP: "100000001", Regions: []string{"220", "222", "230"}}},
		{"operator", certs.Request{Role: certs.RoleOperator, Name: "Operator One"},
			30, []string{"urn:npes:role:operator"},
			certs.Identity{Role: certs.RoleOperator, Name: "Operator One"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cred := issue(t, ca, tt.req, now)
			c := cred.Cert
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || len(c.UnknownExtKeyUsage) != 0 {
				t.Errorf("EKU = %v %v, want clientAuth only", c.ExtKeyUsage, c.UnknownExtKeyUsage)
			}
			if c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage = %v", c.KeyUsage)
			}
			if !c.BasicConstraintsValid || c.IsCA {
				t.Error("not marked as an end entity")
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %x not a positive 128-bit number", c.SerialNumber)
			}
			if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
				t.Errorf("public key %T is not ECDSA P-256", c.PublicKey)
			}
			if got := c.NotAfter.Sub(now); got != time.Duration(tt.days)*24*time.Hour {
				t.Errorf("lifetime = %v, want %d days", got, tt.days)
			}
			if !c.NotBefore.Before(now) {
				t.Errorf("notBefore %v is not backdated", c.NotBefore)
			}
			if len(c.DNSNames)+len(c.IPAddresses)+len(c.EmailAddresses) != 0 {
				t.Error("client certificate carries host or mail SANs")
			}
			var uris []string
			for _, u := range c.URIs {
				uris = append(uris, u.String())
			}
			if !slices.Equal(uris, tt.wantURIs) {
				t.Errorf("URIs = %q, want %q", uris, tt.wantURIs)
			}
			if err := c.CheckSignatureFrom(ca.Certificate()); err != nil {
				t.Errorf("signature: %v", err)
			}
			block, _ := pem.Decode(cred.KeyPEM)
			if block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("key PEM is not PKCS#8: %q", cred.KeyPEM)
			}
			if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
				t.Errorf("key: %v", err)
			}
			if string(cred.CAPEM) != string(ca.CertPEM()) {
				t.Error("CAPEM is not the CA certificate")
			}
			id, err := certs.IdentityFromCert(c)
			if err != nil {
				t.Fatalf("IdentityFromCert: %v", err)
			}
			if id.Role != tt.want.Role || id.Name != tt.want.Name || id.PersonalID != tt.want.PersonalID ||
				id.UNP != tt.want.UNP || !slices.Equal(id.Regions, tt.want.Regions) {
				t.Errorf("identity = %+v, want %+v", id, tt.want)
			}
		})
	}
}

func TestIssueSerialsDiffer(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	seen := map[string]bool{}
	for range 50 {
		s := certs.FormatSerial(issue(t, ca, personRequest(), now).Cert.SerialNumber)
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestIssueWithinCAValidity(t *testing.T) {
	t.Parallel()
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := certs.CreateCA("npes test CA", created)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	caNotAfter := ca.Certificate().NotAfter

	// Near the end of the CA's life a certificate is cut short, not left to outlive it.
	cred, err := ca.Issue(personRequest(), caNotAfter.AddDate(0, 0, -10))
	if err != nil {
		t.Fatal(err)
	}
	if !cred.Cert.NotAfter.Equal(caNotAfter) {
		t.Errorf("notAfter = %v, want the CA's %v", cred.Cert.NotAfter, caNotAfter)
	}
	// Right after creation, notBefore is not earlier than the CA's.
	cred, err = ca.Issue(personRequest(), created)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Cert.NotBefore.Before(ca.Certificate().NotBefore) {
		t.Errorf("notBefore %v precedes the CA's %v", cred.Cert.NotBefore, ca.Certificate().NotBefore)
	}
	for _, at := range []time.Time{created.Add(-time.Hour), caNotAfter.Add(time.Second)} {
		if _, err := ca.Issue(personRequest(), at); !errors.Is(err, certs.ErrCAValidity) {
			t.Errorf("Issue at %v: err = %v, want ErrCAValidity", at, err)
		}
		if _, err := ca.IssueServer(nil, nil, at); !errors.Is(err, certs.ErrCAValidity) {
			t.Errorf("IssueServer at %v: err = %v, want ErrCAValidity", at, err)
		}
	}
}

func TestIssueServer(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second) // certificates keep whole seconds
	ca := newTestCA(t, "npes test CA", now)
	cred, err := ca.IssueServer([]string{"npes.example.by", "LOCALHOST", "post.example.by"},
		[]net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("127.0.0.1"), net.ParseIP("2001:db8::1")}, now)
	if err != nil {
		t.Fatal(err)
	}
	c := cred.Cert
	if want := []string{"localhost", "npes.example.by", "post.example.by"}; !slices.Equal(c.DNSNames, want) {
		t.Errorf("DNS names = %q, want %q", c.DNSNames, want)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if want := []string{"127.0.0.1", "::1", "192.0.2.7", "2001:db8::1"}; !slices.Equal(ips, want) {
		t.Errorf("IPs = %q, want %q", ips, want)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("EKU = %v, want serverAuth only", c.ExtKeyUsage)
	}
	if got := c.NotAfter.Sub(now); got != certs.ServerDays*24*time.Hour {
		t.Errorf("lifetime = %v", got)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "npes.example.by", CurrentTime: now}); err != nil {
		t.Errorf("verify for npes.example.by: %v", err)
	}
	if certs.NeedsRenewal(c, now) || !certs.NeedsRenewal(c, now.AddDate(0, 0, 61)) {
		t.Error("NeedsRenewal does not switch at two thirds of the lifetime")
	}

	for _, bad := range []string{"", "*.example.by", "a..b", "-a.by", "under_score.by", "ex ample.by", strings.Repeat("a", 64) + ".by"} {
		_, err := ca.IssueServer([]string{bad}, nil, now)
		if !errors.Is(err, certs.ErrBadRequest) || strings.Contains(err.Error(), "\n") {
			t.Errorf("DNS name %q: err = %v, want a one-line ErrBadRequest", bad, err)
		}
	}
	if _, err := ca.IssueServer(nil, []net.IP{{1, 2, 3}}, now); !errors.Is(err, certs.ErrBadRequest) {
		t.Errorf("malformed IP: err = %v", err)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, r := range certs.Roles() {
		got, err := certs.ParseRole(string(r))
		if err != nil || got != r || !r.Valid() {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
		def, maxDays := r.Lifetime()
		if def <= 0 || def > maxDays {
			t.Errorf("%s lifetime %d/%d", r, def, maxDays)
		}
	}
	for _, bad := range []string{"", "Person", "admin"} {
		if _, err := certs.ParseRole(bad); !errors.Is(err, certs.ErrBadRequest) {
			t.Errorf("ParseRole(%q): err = %v", bad, err)
		}
	}
}
