package certs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

// FuzzParseSerial: whatever parses formats back to a canonical form that
// parses to the same number; whatever fails, fails with one line.
func FuzzParseSerial(f *testing.F) {
	for _, s := range []string{"0A1B", "serial=0A:1B", "00", "-1", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", "0x1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := certs.ParseSerial(s)
		if err != nil {
			if !errors.Is(err, certs.ErrBadSerial) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("ParseSerial(%q): %v", s, err)
			}
			return
		}
		canon := certs.FormatSerial(n)
		if len(canon)%2 != 0 || strings.ToUpper(canon) != canon {
			t.Fatalf("FormatSerial = %q", canon)
		}
		back, err := certs.ParseSerial(canon)
		if err != nil || back.Cmp(n) != 0 {
			t.Fatalf("round trip %q -> %q -> %v, %v", s, canon, back, err)
		}
	})
}

// FuzzIssue: a request the CA accepts is read back by IdentityFromCert exactly
// as issued, so the server accepts everything the CA issues; a refusal is a
// one-line ErrBadRequest.
func FuzzIssue(f *testing.F) {
	now := time.Now()
	ca := newTestCA(f, "npes fuzz CA", now)
	f.Add("person", "Алеся Іванова", "3140582A001PB3", "", "")
	f.Add("org", "ААТ «Банк»", "", "190123456", "")
	f.Add("printcenter", "P", "", "", "220,222")
	f.Add("operator", " Op\u202e ", "", "", "")
	f.Fuzz(func(t *testing.T, role, name, personalID, unp, regions string) {
		req := certs.Request{Role: certs.Role(role), Name: name, PersonalID: personalID, UNP: unp}
		if regions != "" {
			req.Regions = strings.Split(regions, ",")
		}
		cred, err := ca.Issue(req, now)
		if err != nil {
			if !errors.Is(err, certs.ErrBadRequest) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Issue(%+v): %v", req, err)
			}
			return
		}
		id, err := certs.IdentityFromCert(cred.Cert)
		if err != nil {
			t.Fatalf("issued %+v but cannot read it back: %v", req, err)
		}
		if id.Role != req.Role || id.Name != strings.TrimSpace(name) ||
			id.PersonalID != strings.ToUpper(strings.TrimSpace(personalID)) || id.UNP != strings.TrimSpace(unp) ||
			len(id.Regions) != len(req.Regions) {
			t.Fatalf("issued %+v, read back %+v", req, id)
		}
	})
}
