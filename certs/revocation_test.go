package certs_test

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
)

func TestParseReason(t *testing.T) {
	t.Parallel()
	for _, r := range certs.Reasons() {
		got, err := certs.ParseReason(r.String())
		if err != nil || got != r {
			t.Errorf("ParseReason(%q) = %v, %v", r.String(), got, err)
		}
	}
	good := map[string]certs.Reason{
		"":                       certs.ReasonUnspecified,
		"key-compromise":         certs.ReasonKeyCompromise,
		"KEY_COMPROMISE":         certs.ReasonKeyCompromise,
		" superseded ":           certs.ReasonSuperseded,
		"cessation-of-operation": certs.ReasonCessationOfOperation,
		"affiliationchanged":     certs.ReasonAffiliationChanged,
		"privilegeWithdrawn":     certs.ReasonPrivilegeWithdrawn,
	}
	for in, want := range good {
		if got, err := certs.ParseReason(in); err != nil || got != want {
			t.Errorf("ParseReason(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"certificateHold", "removeFromCRL", "1", "compromised"} {
		if _, err := certs.ParseReason(in); !errors.Is(err, certs.ErrBadReason) {
			t.Errorf("ParseReason(%q): err = %v, want ErrBadReason", in, err)
		}
	}
}

func TestRevocationSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var s certs.RevocationSet // the zero value works
	if revoked, err := s.IsRevoked(ctx, "0A1B"); err != nil || revoked {
		t.Errorf("empty set: %v, %v", revoked, err)
	}
	// Every spelling openssl users type is the same serial.
	if err := s.Revoke("serial=0a:1b"); err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{"0A1B", "a1b", "serial=0A1B", "0A:1B"} {
		if revoked, err := s.IsRevoked(ctx, spelling); err != nil || !revoked {
			t.Errorf("IsRevoked(%q) = %v, %v", spelling, revoked, err)
		}
	}
	if _, err := s.IsRevoked(ctx, "zz"); !errors.Is(err, certs.ErrBadSerial) {
		t.Errorf("bad serial: err = %v", err)
	}
	// Replace is all or nothing.
	if err := s.Replace([]string{"01", "not-hex"}); !errors.Is(err, certs.ErrBadSerial) {
		t.Errorf("Replace with a bad serial: err = %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("a failed Replace changed the set: len %d", s.Len())
	}
	if err := s.Replace([]string{"01", "02"}); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := s.IsRevoked(ctx, "0A1B"); revoked || s.Len() != 2 {
		t.Errorf("Replace kept the old set")
	}

	// Readers during replacements (run with -race).
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				if i == 0 {
					_ = s.Replace([]string{fmt.Sprintf("%02X", j%250+1)})
				} else {
					_, _ = s.IsRevoked(ctx, "01")
				}
			}
		})
	}
	wg.Wait()
}

func TestCRL(t *testing.T) {
	t.Parallel()
	now := time.Now().Truncate(time.Second)
	ca := newTestCA(t, "npes test CA", now)
	foreign := newTestCA(t, "npes test CA", now)
	a := issue(t, ca, personRequest(), now)
	b := issue(t, ca, personRequest(), now)
	entries := []certs.RevokedEntry{
		{Serial: certs.FormatSerial(a.Cert.SerialNumber), RevokedAt: now.Add(-time.Hour), Reason: certs.ReasonKeyCompromise},
		{Serial: "serial=" + certs.FormatSerial(b.Cert.SerialNumber), RevokedAt: now.Add(-time.Minute), Reason: certs.ReasonUnspecified},
	}
	next := now.Add(24 * time.Hour)
	der, err := ca.CRL(entries, big.NewInt(7), now, next)
	if err != nil {
		t.Fatal(err)
	}

	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := rl.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Errorf("signature does not check against the CA: %v", err)
	}
	if err := rl.CheckSignatureFrom(foreign.Certificate()); err == nil {
		t.Error("signature checks against a foreign CA of the same name")
	}
	if rl.Number.Cmp(big.NewInt(7)) != 0 || !rl.ThisUpdate.Equal(now) || !rl.NextUpdate.Equal(next) {
		t.Errorf("number %v, thisUpdate %v, nextUpdate %v", rl.Number, rl.ThisUpdate, rl.NextUpdate)
	}
	if len(rl.RevokedCertificateEntries) != 2 {
		t.Fatalf("%d entries", len(rl.RevokedCertificateEntries))
	}
	e0, e1 := rl.RevokedCertificateEntries[0], rl.RevokedCertificateEntries[1]
	if e0.SerialNumber.Cmp(a.Cert.SerialNumber) != 0 || e0.ReasonCode != 1 || !e0.RevocationTime.Equal(now.Add(-time.Hour)) {
		t.Errorf("entry 0 = %+v", e0)
	}
	reasonOID := asn1.ObjectIdentifier{2, 5, 29, 21}
	for _, ext := range e1.Extensions {
		if ext.Id.Equal(reasonOID) {
			t.Error("unspecified reason written as a reasonCode extension (RFC 5280 §5.3.1 says omit it)")
		}
	}

	got, err := certs.ParseCRL(der, ca.Certificate(), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("ParseCRL: %v", err)
	}
	if len(got) != 2 || got[0].Serial != certs.FormatSerial(a.Cert.SerialNumber) || got[0].Reason != certs.ReasonKeyCompromise ||
		got[1].Serial != certs.FormatSerial(b.Cert.SerialNumber) || got[1].Reason != certs.ReasonUnspecified {
		t.Errorf("ParseCRL = %+v", got)
	}
	if _, err := certs.ParseCRL(der, ca.Certificate(), next.Add(time.Second)); !errors.Is(err, certs.ErrStaleCRL) {
		t.Errorf("past nextUpdate: err = %v, want ErrStaleCRL", err)
	}
	if _, err := certs.ParseCRL(der, foreign.Certificate(), now); !errors.Is(err, certs.ErrBadCRL) {
		t.Errorf("foreign issuer: err = %v, want ErrBadCRL", err)
	}
	if _, err := certs.ParseCRL(der, nil, now); !errors.Is(err, certs.ErrBadCRL) {
		t.Errorf("no issuer: err = %v, want ErrBadCRL", err)
	}
	flipped := append([]byte(nil), der...)
	flipped[len(flipped)-5] ^= 1
	if _, err := certs.ParseCRL(flipped, ca.Certificate(), now); !errors.Is(err, certs.ErrBadCRL) {
		t.Errorf("flipped bit: err = %v, want ErrBadCRL", err)
	}

	empty, err := ca.CRL(nil, big.NewInt(8), now, next)
	if err != nil {
		t.Fatalf("empty CRL: %v", err)
	}
	if got, err := certs.ParseCRL(empty, ca.Certificate(), now); err != nil || len(got) != 0 {
		t.Errorf("empty CRL: %v, %v", got, err)
	}
}

func TestCRLRefusesBadInput(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ca := newTestCA(t, "npes test CA", now)
	ok := certs.RevokedEntry{Serial: "0A1B", RevokedAt: now.Add(-time.Hour)}
	tests := []struct {
		name    string
		entries []certs.RevokedEntry
		number  *big.Int
		next    time.Time
		want    error
	}{
		{"no number", nil, nil, now.Add(time.Hour), certs.ErrBadCRL},
		{"zero number", nil, big.NewInt(0), now.Add(time.Hour), certs.ErrBadCRL},
		{"nextUpdate not after thisUpdate", nil, big.NewInt(1), now, certs.ErrBadCRL},
		{"bad serial", []certs.RevokedEntry{ok, {Serial: "xyz", RevokedAt: now}}, big.NewInt(1), now.Add(time.Hour), certs.ErrBadSerial},
		{"certificateHold", []certs.RevokedEntry{{Serial: "01", RevokedAt: now, Reason: 6}}, big.NewInt(1), now.Add(time.Hour), certs.ErrBadReason},
		{"revocation in the future", []certs.RevokedEntry{{Serial: "01", RevokedAt: now.Add(time.Minute)}}, big.NewInt(1), now.Add(time.Hour), certs.ErrBadCRL},
		{"revocation time unset", []certs.RevokedEntry{{Serial: "01"}}, big.NewInt(1), now.Add(time.Hour), certs.ErrBadCRL},
	}
	for _, tt := range tests {
		if _, err := ca.CRL(tt.entries, tt.number, now, tt.next); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}
