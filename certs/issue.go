package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ServerDays is the lifetime of a server certificate made by IssueServer. It
// is short on purpose: the server re-issues its own certificate when
// NeedsRenewal says so.
const ServerDays = 90

// Request asks the CA for a client certificate. Which attributes a role needs
// or refuses is in the package doc.
type Request struct {
	Role Role
	// Name is the holder's name (a person's full name, an organization's
	// name). It goes to the subject commonName.
	Name string
	// PersonalID is a Belarusian personal number, e.g. 3140582A001PB3.
	PersonalID string
	// UNP is a taxpayer number: 9 digits.
	UNP string
	// Regions are 3-digit postcode prefixes a print centre serves.
	Regions []string
	// Days is the lifetime; 0 means the role's default (Role.Lifetime).
	Days int
}

// Credential is an issued certificate with its new private key.
type Credential struct {
	CertPEM []byte // the certificate (what cert.pem holds)
	KeyPEM  []byte // the PKCS#8 private key (key.pem), unencrypted
	CAPEM   []byte // the issuing root (ca.pem)
	Cert    *x509.Certificate
	// Key is the private key of a loaded credential: parsed from key.pem,
	// or on a token (LoadCredentialDirWithKey). Issue leaves it nil.
	Key crypto.Signer
}

// A certModifier fills in part of a certificate template.
type certModifier func(tmpl *x509.Certificate) error

// A certValidator checks the finished template before the CA signs it; it
// guards the profile against a modifier that went wrong.
type certValidator func(tmpl *x509.Certificate) error

// Issue issues a client certificate with a new ECDSA P-256 key. It applies, in
// this order: request modifiers (trim spaces, upper-case the personal number),
// request validators (role, name, attributes, lifetime; the first failure is
// returned as a one-line error wrapping ErrBadRequest), certificate modifiers
// (subject, identity URIs, validity, client-auth usage, clamping to the CA's
// validity) and certificate validators; then the CA signs.
func (ca *CA) Issue(req Request, now time.Time) (Credential, error) {
	return ca.issueClient(req, nil, now)
}

// IssueCSR issues a client certificate for the key of a PKCS#10
// certificate request (RFC 2986) whose key stays where it is, on a token.
// The request's self-signature must verify: it proves the requester holds
// the private key, so nobody gets a certificate for someone else's key.
// Everything else in the request (subject, extensions) is ignored: role,
// name and attributes come from req, as for Issue. The key must be ECDSA
// P-256 or Ed25519, the keys npes verifies recipient signatures with.
// The returned Credential has no KeyPEM.
func (ca *CA) IssueCSR(req Request, csr *x509.CertificateRequest, now time.Time) (Credential, error) {
	if err := csr.CheckSignature(); err != nil {
		return Credential{}, fmt.Errorf("%w: the CSR's signature does not verify with its own key: %v", ErrBadRequest, err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return Credential{}, fmt.Errorf("%w: the CSR's key is ECDSA on %s; npes takes P-256", ErrBadRequest, k.Curve.Params().Name)
		}
	case ed25519.PublicKey:
	default:
		return Credential{}, fmt.Errorf("%w: the CSR's key is %T; npes takes ECDSA P-256 or Ed25519", ErrBadRequest, csr.PublicKey)
	}
	return ca.issueClient(req, csr.PublicKey, now)
}

func (ca *CA) issueClient(req Request, pub crypto.PublicKey, now time.Time) (Credential, error) {
	req = req.normalized()
	if err := req.validate(); err != nil {
		return Credential{}, err
	}
	days := req.Days
	if days == 0 {
		days, _ = req.Role.Lifetime()
	}
	return ca.issue(now, pub,
		[]certModifier{
			withSubject(req.Name),
			withURIs(req.attributes().uris()),
			withValidity(now, days),
			withUsage(x509.ExtKeyUsageClientAuth),
		},
		[]certValidator{
			exactUsage(x509.ExtKeyUsageClientAuth),
			hasURIs,
		})
}

// IssueServer issues a TLS server certificate (serverAuth usage only) for
// localhost, 127.0.0.1 and ::1 and the given names and addresses, valid for
// ServerDays. DNS names must be plain host names (A-labels for IDNs); wildcards
// are refused.
func (ca *CA) IssueServer(dnsNames []string, ips []net.IP, now time.Time) (Credential, error) {
	names := []string{"localhost"}
	for _, n := range dnsNames {
		n = strings.ToLower(strings.TrimSpace(n))
		if err := checkHostName(n); err != nil {
			return Credential{}, fmt.Errorf("%w: %s", ErrBadRequest, err)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	addrs := []net.IP{net.IPv4(127, 0, 0, 1).To4(), net.IPv6loopback}
	for _, ip := range ips {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return Credential{}, fmt.Errorf("%w: IP address %v is malformed", ErrBadRequest, ip)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if !slices.ContainsFunc(addrs, ip.Equal) {
			addrs = append(addrs, ip)
		}
	}
	return ca.issue(now, nil,
		[]certModifier{
			withSubject(names[0]),
			func(t *x509.Certificate) error { t.DNSNames, t.IPAddresses = names, addrs; return nil },
			withValidity(now, ServerDays),
			withUsage(x509.ExtKeyUsageServerAuth),
		},
		[]certValidator{exactUsage(x509.ExtKeyUsageServerAuth)})
}

// NeedsRenewal reports whether less than a third of cert's lifetime remains at
// now (or it has expired): the point at which a holder should renew, leaving
// time to retry before the certificate runs out.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Sub(now) < lifetime/3
}

// issue runs the certificate steps common to every profile around the
// profile's own: a fresh key and serial first, clamping to the CA's validity
// after the profile's modifiers, the end-entity checks after its validators.
//
// pub is the subject's public key from a CSR; nil makes a new key, which
// the Credential returns (KeyPEM), while a CSR's holder keeps theirs.
func (ca *CA) issue(now time.Time, pub crypto.PublicKey, modifiers []certModifier, validators []certValidator) (Credential, error) {
	if now.Before(ca.cert.NotBefore) || now.After(ca.cert.NotAfter) {
		return Credential{}, fmt.Errorf("%w: %s is outside %s to %s", ErrCAValidity,
			now.UTC().Format(time.RFC3339), ca.cert.NotBefore.UTC().Format(time.RFC3339), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	var key *ecdsa.PrivateKey
	if pub == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return Credential{}, fmt.Errorf("certs: generate key: %w", err)
		}
		pub = &key.PublicKey
	}
	serial, err := randomSerial()
	if err != nil {
		return Credential{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		BasicConstraintsValid: true, // and IsCA false: an end entity (RFC 5280 §4.2.1.9)
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	modifiers = append(slices.Clone(modifiers), ca.withinValidity)
	for _, m := range modifiers {
		if err := m(tmpl); err != nil {
			return Credential{}, err
		}
	}
	validators = append(slices.Clone(validators), endEntity)
	for _, v := range validators {
		if err := v(tmpl); err != nil {
			return Credential{}, err
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.signer)
	if err != nil {
		return Credential{}, fmt.Errorf("certs: sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Credential{}, fmt.Errorf("certs: parse issued certificate: %w", err)
	}
	// A signer in a token or KMS can fail in ways that produce a bad
	// signature; never hand out a certificate that will not verify.
	if err := cert.CheckSignatureFrom(ca.cert); err != nil {
		return Credential{}, fmt.Errorf("certs: issued certificate does not verify: %w", err)
	}
	out := Credential{CertPEM: pemCert(der), CAPEM: ca.CertPEM(), Cert: cert}
	if key != nil {
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return Credential{}, fmt.Errorf("certs: encode key: %w", err)
		}
		out.KeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	return out, nil
}

// normalized applies the request modifiers: surrounding spaces go, a personal
// number is upper-cased (its letters are Latin capitals).
func (r Request) normalized() Request {
	r.Name = strings.TrimSpace(r.Name)
	r.PersonalID = strings.ToUpper(strings.TrimSpace(r.PersonalID))
	r.UNP = strings.TrimSpace(r.UNP)
	if r.Regions != nil {
		regions := make([]string, len(r.Regions))
		for i, g := range r.Regions {
			regions[i] = strings.TrimSpace(g)
		}
		r.Regions = regions
	}
	return r
}

func (r Request) attributes() attributes {
	return attributes{role: r.Role, name: r.Name, personalID: r.PersonalID, unp: r.UNP, regions: r.Regions}
}

// validate applies the request validators in order: identity attributes, then lifetime.
func (r Request) validate() error {
	if err := r.attributes().validate(ErrBadRequest); err != nil {
		return err
	}
	_, maxDays := r.Role.Lifetime()
	switch {
	case r.Days < 0:
		return fmt.Errorf("%w: days %d must not be negative", ErrBadRequest, r.Days)
	case r.Days > maxDays:
		return fmt.Errorf("%w: days %d exceeds the maximum of %d for role %s", ErrBadRequest, r.Days, maxDays, r.Role)
	}
	return nil
}

func withSubject(cn string) certModifier {
	return func(t *x509.Certificate) error {
		t.Subject = pkix.Name{CommonName: cn}
		return nil
	}
}

func withURIs(raw []string) certModifier {
	return func(t *x509.Certificate) error {
		for _, s := range raw {
			u, err := url.Parse(s)
			if err != nil {
				return fmt.Errorf("%w: identity URI %q: %v", ErrBadRequest, s, err)
			}
			t.URIs = append(t.URIs, u)
		}
		return nil
	}
}

func withValidity(now time.Time, days int) certModifier {
	return func(t *x509.Certificate) error {
		t.NotBefore = now.Add(-backdate)
		t.NotAfter = now.AddDate(0, 0, days)
		return nil
	}
}

func withUsage(eku x509.ExtKeyUsage) certModifier {
	return func(t *x509.Certificate) error {
		t.ExtKeyUsage = []x509.ExtKeyUsage{eku}
		return nil
	}
}

// withinValidity clamps the template to the CA's validity period: a
// certificate cannot be trusted beyond its issuer's (RFC 5280 §6.1.3 checks
// every certificate in the path), so promising more would mislead its holder.
func (ca *CA) withinValidity(t *x509.Certificate) error {
	if t.NotBefore.Before(ca.cert.NotBefore) {
		t.NotBefore = ca.cert.NotBefore
	}
	if t.NotAfter.After(ca.cert.NotAfter) {
		t.NotAfter = ca.cert.NotAfter
	}
	return nil
}

// exactUsage checks the template allows exactly one purpose, eku: a client
// certificate cannot serve a TLS server, nor the reverse.
func exactUsage(eku x509.ExtKeyUsage) certValidator {
	return func(t *x509.Certificate) error {
		if len(t.ExtKeyUsage) != 1 || t.ExtKeyUsage[0] != eku || len(t.UnknownExtKeyUsage) != 0 {
			return fmt.Errorf("certs: profile error: extended key usage %v, want only %v", t.ExtKeyUsage, eku)
		}
		return nil
	}
}

func hasURIs(t *x509.Certificate) error {
	if len(t.URIs) == 0 {
		return fmt.Errorf("certs: profile error: client certificate without identity URIs")
	}
	return nil
}

func endEntity(t *x509.Certificate) error {
	switch {
	case t.IsCA || !t.BasicConstraintsValid:
		return fmt.Errorf("certs: profile error: not an end-entity certificate")
	case !t.NotAfter.After(t.NotBefore):
		return fmt.Errorf("certs: profile error: notAfter %s is not after notBefore %s", t.NotAfter, t.NotBefore)
	}
	return nil
}

// checkHostName checks a DNS name for a server certificate: RFC 1123 labels of
// letters, digits and hyphens, at most 63 octets each and 253 in all.
func checkHostName(name string) error {
	bad := func(why string) error { return fmt.Errorf("DNS name %q %s", name, why) }
	if name == "" {
		return bad("is empty")
	}
	if len(name) > 253 {
		return bad("is longer than 253 characters")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return bad("has an empty or overlong label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return bad("has a label starting or ending with '-'")
		}
		for i := range len(label) {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return bad("may hold only letters, digits, '-' and '.' (no wildcards; IDNs as xn-- labels)")
			}
		}
	}
	return nil
}
