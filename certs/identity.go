package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Identity is who a verified client certificate names. Everything in it comes
// from the certificate: the role and attributes from its URI SANs, the name
// from its subject commonName, the rest from the certificate itself.
type Identity struct {
	Role       Role
	Name       string
	PersonalID string   // persons; optional for operators
	UNP        string   // organizations; optional for print centres
	Regions    []string // print centres, sorted
	// Serial is the certificate serial number as `openssl x509 -serial`
	// prints it: upper-case hex, an even number of digits.
	Serial string
	// Issuer is the issuer's distinguished name (RFC 4514 form), for display.
	Issuer string
	// SPKISHA256 is the hex SHA-256 of the subjectPublicKeyInfo: the key,
	// whatever certificate carries it (for pinning and audit).
	SPKISHA256 string
	// ID is the identity key: 32 hex digits of the SHA-256 of the issuer's
	// encoded name, a colon, and Serial. It names exactly one certificate
	// (RFC 5280 §4.1.2.2: issuer name and serial number identify a unique
	// certificate); see the package doc for why not the SPKI hash.
	ID       string
	NotAfter time.Time
}

// IdentityFromCert reads the identity of a client certificate. The caller
// must pass a certificate that crypto/tls (or x509.Certificate.Verify) has
// verified: the leaf of a verified chain, never a merely presented one. It
// refuses a certificate whose npes URIs are unknown, repeated or malformed,
// or whose attributes break the role's profile, with an error wrapping
// ErrBadIdentity.
func IdentityFromCert(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, fmt.Errorf("%w: no certificate", ErrBadIdentity)
	}
	a, err := attributesFromCert(cert)
	if err != nil {
		return Identity{}, err
	}
	if err := a.validate(ErrBadIdentity); err != nil {
		return Identity{}, err
	}
	slices.Sort(a.regions)
	if cert.SerialNumber == nil || cert.SerialNumber.Sign() <= 0 {
		return Identity{}, fmt.Errorf("%w: serial number is not positive", ErrBadIdentity)
	}
	serial := FormatSerial(cert.SerialNumber)
	issuer := sha256.Sum256(cert.RawIssuer)
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return Identity{
		Role:       a.role,
		Name:       a.name,
		PersonalID: a.personalID,
		UNP:        a.unp,
		Regions:    a.regions,
		Serial:     serial,
		Issuer:     cert.Issuer.String(),
		SPKISHA256: hex.EncodeToString(spki[:]),
		ID:         hex.EncodeToString(issuer[:16]) + ":" + serial,
		NotAfter:   cert.NotAfter,
	}, nil
}

// IdentityFromConnectionState reads the identity of the client of a TLS
// connection from its verified chain (http.Request.TLS on a server). Without a
// verified client certificate it returns ErrNoClientCert.
func IdentityFromConnectionState(cs tls.ConnectionState) (Identity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, ErrNoClientCert
	}
	return IdentityFromCert(cs.VerifiedChains[0][0])
}

// attributesFromCert collects the urn:npes: URIs. Other URIs are left alone;
// an unknown or repeated npes attribute is refused, since it may be a
// restriction this version does not understand.
func attributesFromCert(cert *x509.Certificate) (attributes, error) {
	a := attributes{name: cert.Subject.CommonName}
	seen := map[string]bool{}
	for _, u := range cert.URIs {
		s := u.String()
		// RFC 8141 §3.1: the "urn" scheme and the namespace identifier are
		// case-insensitive.
		if len(s) < len(urnPrefix) || !strings.EqualFold(s[:len(urnPrefix)], urnPrefix) {
			continue
		}
		key, value, ok := strings.Cut(s[len(urnPrefix):], ":")
		if !ok || value == "" {
			return attributes{}, fmt.Errorf("%w: URI %q has no value", ErrBadIdentity, s)
		}
		if seen[key] {
			return attributes{}, fmt.Errorf("%w: attribute %s appears twice", ErrBadIdentity, key)
		}
		seen[key] = true
		switch key {
		case attrRole:
			a.role = Role(value)
		case attrPersonalID:
			a.personalID = value
		case attrUNP:
			a.unp = value
		case attrRegions:
			a.regions = strings.Split(value, ",")
		default:
			return attributes{}, fmt.Errorf("%w: unknown attribute %q", ErrBadIdentity, key)
		}
	}
	if a.role == "" {
		return attributes{}, fmt.Errorf("%w: no %s%s URI", ErrBadIdentity, urnPrefix, attrRole)
	}
	return a, nil
}

// FormatSerial renders a serial number as `openssl x509 -noout -serial` does
// (without its "serial=" prefix): upper-case hex of the magnitude, padded to
// an even number of digits, "-" before a negative number.
func FormatSerial(n *big.Int) string {
	if n == nil {
		return ""
	}
	s := strings.ToUpper(new(big.Int).Abs(n).Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if n.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// ParseSerial reads a serial number in the form openssl prints: hex digits
// (either case), optionally after "serial=", with colons between octets
// tolerated ("0A:1B:..."). It refuses serials that RFC 5280 §4.1.2.2 forbids:
// zero, negative, or longer than 20 octets.
func ParseSerial(s string) (*big.Int, error) {
	raw := s
	s = strings.TrimSpace(s)
	if len(s) >= len("serial=") && strings.EqualFold(s[:len("serial=")], "serial=") {
		s = s[len("serial="):]
	}
	s = strings.ReplaceAll(s, ":", "")
	if s == "" {
		return nil, fmt.Errorf("%w: %q is empty", ErrBadSerial, raw)
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return nil, fmt.Errorf("%w: %q is not hexadecimal", ErrBadSerial, raw)
		}
	}
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not hexadecimal", ErrBadSerial, raw)
	}
	switch {
	case n.Sign() == 0:
		return nil, fmt.Errorf("%w: %q is zero", ErrBadSerial, raw)
	case n.BitLen() > 20*8:
		return nil, fmt.Errorf("%w: %q is longer than 20 octets", ErrBadSerial, raw)
	}
	return n, nil
}

// canonicalSerial parses a serial and formats it back, so that every spelling
// openssl users type compares equal.
func canonicalSerial(s string) (string, error) {
	n, err := ParseSerial(s)
	if err != nil {
		return "", err
	}
	return FormatSerial(n), nil
}
