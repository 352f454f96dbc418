package certs_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

func TestFormatSerial(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   *big.Int
		want string
	}{
		{big.NewInt(1), "01"},
		{big.NewInt(0x0a), "0A"},
		{big.NewInt(0x80), "80"}, // DER adds a 00 octet; openssl does not print it
		{big.NewInt(0x100), "0100"},
		{big.NewInt(0xabcdef), "ABCDEF"},
		{big.NewInt(-0x1f), "-1F"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := certs.FormatSerial(tt.in); got != tt.want {
			t.Errorf("FormatSerial(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseSerial(t *testing.T) {
	t.Parallel()
	good := func(in string, want int64) {
		t.Helper()
		n, err := certs.ParseSerial(in)
		if err != nil || n.Cmp(big.NewInt(want)) != 0 {
			t.Errorf("ParseSerial(%q) = %v, %v; want %x", in, n, err, want)
		}
	}
	bad := func(in string) {
		t.Helper()
		if n, err := certs.ParseSerial(in); !errors.Is(err, certs.ErrBadSerial) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseSerial(%q) = %v, %v; want a one-line ErrBadSerial", in, n, err)
		}
	}
	good("0A1B", 0x0a1b)
	good("0a1b", 0x0a1b)
	good("serial=0A1B", 0x0a1b)
	good("SERIAL=0A1B\n", 0x0a1b)
	good("0a:1b", 0x0a1b)
	good("A1B", 0xa1b)
	good("00000001", 1)
	bad("")
	bad("serial=")
	bad(":")
	bad("00")
	bad("-01")
	bad("0x0A")
	bad("0G")
	bad("0A 1B")
	bad(strings.Repeat("01", 21))

	n, err := certs.ParseSerial(strings.Repeat("FF", 20))
	if err != nil || n.BitLen() != 160 {
		t.Errorf("20-octet serial: %v, %v", n, err)
	}
	for range 100 {
		s := certs.FormatSerial(n)
		back, err := certs.ParseSerial(s)
		if err != nil || back.Cmp(n) != 0 {
			t.Fatalf("round trip of %s: %v, %v", s, back, err)
		}
		n.Rsh(n, 3)
		if n.Sign() == 0 {
			break
		}
	}
}

// selfSigned makes a throw-away certificate carrying uris; IdentityFromCert
// does not verify, so these test its reading alone.
func selfSigned(t *testing.T, cn string, uris ...string) *x509.Certificate {
	t.Helper()
	now := time.Now()
	ca := newTestCA(t, "identity test", now)
	cred := forge(t, ca, now, func(c *x509.Certificate) {
		c.Subject.CommonName = cn
		c.URIs = nil
		for _, s := range uris {
			c.URIs = append(c.URIs, mustURL(t, s))
		}
	})
	return cred.Cert
}

func TestIdentityFromCertStrict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cn   string
		uris []string
		want string // "" means accepted
	}{
		{"person", "Ivan", []string{"urn:npes:role:person", "urn:npes:personal-id:3140582A001PB3"}, ""},
		{"other URIs are ignored", "Ivan", []string{"https://example.by/", "urn:npes:role:person", "urn:isbn:0451450523", "urn:npes:personal-id:3140582A001PB3"}, ""},
		{"URN prefix in other case", "Ivan", []string{"URN:NPES:role:person", "urn:npes:personal-id:3140582A001PB3"}, ""},
		{"no role", "Ivan", []string{"urn:npes:personal-id:3140582A001PB3"}, "no urn:npes:role URI"},
		{"role twice", "Ivan", []string{"urn:npes:role:person", "urn:npes:role:operator", "urn:npes:personal-id:3140582A001PB3"}, "attribute role appears twice"},
		{"unknown attribute", "Ivan", []string{"urn:npes:role:person", "urn:npes:personal-id:3140582A001PB3", "urn:npes:scope:all"}, `unknown attribute "scope"`},
		{"attribute without value", "Ivan", []string{"urn:npes:role:"}, `URI "urn:npes:role:" has no value`},
		{"unknown role", "Ivan", []string{"urn:npes:role:root"}, `unknown role "root" (want person, org, printcenter or operator)`},
		{"empty name", "", []string{"urn:npes:role:operator"}, "name is empty"},
		{"name with leading space", " Ivan", []string{"urn:npes:role:operator"}, "name has leading or trailing spaces"},
		{"lower-case personal number", "Ivan", []string{"urn:npes:role:person", "urn:npes:personal-id:3140582a001pb3"}, `personal number "3140582a001pb3" must be 14 characters shaped like 3140582A001PB3`},
		{"person with regions", "Ivan", []string{"urn:npes:role:person", "urn:npes:personal-id:3140582A001PB3", "urn:npes:regions:220"}, "role person does not carry regions"},
		{"print centre, empty region", "P", []string{"urn:npes:role:printcenter", "urn:npes:regions:220,,222"}, `region "" must be 3 digits (a postcode prefix)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := certs.IdentityFromCert(selfSigned(t, tt.cn, tt.uris...))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if id.Role != certs.RolePerson || id.PersonalID != "3140582A001PB3" {
					t.Errorf("identity = %+v", id)
				}
				return
			}
			if !errors.Is(err, certs.ErrBadIdentity) {
				t.Fatalf("err = %v, want ErrBadIdentity", err)
			}
			if want := "certs: certificate carries no valid npes identity: " + tt.want; err.Error() != want {
				t.Errorf("err = %q\nwant  %q", err, want)
			}
		})
	}
	if _, err := certs.IdentityFromCert(nil); !errors.Is(err, certs.ErrBadIdentity) {
		t.Errorf("nil certificate: err = %v", err)
	}
}

func TestIdentityKey(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	other := newTestCA(t, "another CA", now)
	cred := issue(t, ca, certs.Request{Role: certs.RolePrintCenter, Name: "P", Regions: []string{"230", "220"}}, now)
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}:([0-9A-F]{2})+$`).MatchString(id.ID) || !strings.HasSuffix(id.ID, ":"+id.Serial) {
		t.Errorf("ID %q is not issuer-hash:serial", id.ID)
	}
	spki := sha256.Sum256(cred.Cert.RawSubjectPublicKeyInfo)
	if id.SPKISHA256 != hex.EncodeToString(spki[:]) {
		t.Errorf("SPKI hash = %s", id.SPKISHA256)
	}
	if id.Issuer != "CN=npes test CA" || !id.NotAfter.Equal(cred.Cert.NotAfter) || !slices.Equal(id.Regions, []string{"220", "230"}) {
		t.Errorf("identity = %+v", id)
	}

	// The same serial from another issuer is another identity.
	forged := forge(t, other, now, func(c *x509.Certificate) { c.SerialNumber = cred.Cert.SerialNumber })
	fid, err := certs.IdentityFromCert(forged.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if fid.Serial != id.Serial || fid.ID == id.ID {
		t.Errorf("same serial, other issuer: IDs %q and %q", id.ID, fid.ID)
	}
	// Regions out of order in a foreign certificate still come back sorted.
	unsorted := selfSigned(t, "P", "urn:npes:role:printcenter", "urn:npes:regions:230,220")
	if uid, err := certs.IdentityFromCert(unsorted); err != nil || !slices.Equal(uid.Regions, []string{"220", "230"}) {
		t.Errorf("regions = %v, %v", uid.Regions, err)
	}
}
