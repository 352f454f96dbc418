package certs

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"time"
)

// DefaultRevocationTimeout bounds one revocation check during a handshake.
const DefaultRevocationTimeout = 2 * time.Second

// tls12Suites are the TLS 1.2 cipher suites npes allows: ECDHE for forward
// secrecy and AEAD only (AES-GCM, ChaCha20-Poly1305), as RFC 9325 §4.2
// recommends. TLS 1.3 suites are not configurable in crypto/tls and are all AEAD.
// A fresh slice each time: configs must not share (and so cannot corrupt) one.
func tls12Suites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// Option adjusts a server tls.Config built by ServerTLSConfig.
type Option func(*serverSettings)

type serverSettings struct {
	cfg               *tls.Config
	revocationTimeout time.Duration
	onRefusal         func(error)
}

// RequireClientCert makes a client certificate mandatory (for a listener that
// has no public routes, such as an admin API).
func RequireClientCert() Option {
	return func(s *serverSettings) { s.cfg.ClientAuth = tls.RequireAndVerifyClientCert }
}

// WithMinVersion raises the minimum TLS version (tls.VersionTLS13 for a
// listener whose clients all speak it). Versions below TLS 1.2 are ignored:
// the minimum never drops below TLS 1.2 (RFC 8996 deprecates 1.0 and 1.1).
func WithMinVersion(v uint16) Option {
	return func(s *serverSettings) {
		if v > s.cfg.MinVersion {
			s.cfg.MinVersion = v
		}
	}
}

// WithClock makes certificate verification use now instead of the wall clock.
func WithClock(now func() time.Time) Option {
	return func(s *serverSettings) { s.cfg.Time = now }
}

// WithRevocationTimeout sets the deadline of the context passed to the
// revocation checker (default DefaultRevocationTimeout); a checker that
// returns the context's error refuses the handshake.
func WithRevocationTimeout(d time.Duration) Option {
	return func(s *serverSettings) {
		if d > 0 {
			s.revocationTimeout = d
		}
	}
}

// WithRefusalHook calls fn with the reason each time a presented client
// certificate is refused in VerifyConnection (to count or log refusals; the
// client sees only a TLS alert). fn runs on the handshake path: keep it fast.
func WithRefusalHook(fn func(err error)) Option {
	return func(s *serverSettings) { s.onRefusal = fn }
}

// ServerTLSConfig builds the server side of npes' mutual TLS (DESIGN.md §3):
//
//   - TLS 1.2 minimum, TLS 1.3 preferred, AEAD suites only for TLS 1.2, and
//     crypto/tls's default key exchanges (X25519MLKEM768 first, so channels
//     are post-quantum with Go clients): CurvePreferences is left unset;
//   - a client certificate is verified if given (tls.VerifyClientCertIfGiven)
//     against clientCAs, so requests without one still reach public routes;
//     a nil clientCAs trusts no client (never the system roots);
//   - VerifyConnection then refuses a presented certificate that lacks the
//     clientAuth extended key usage itself, carries no valid npes identity,
//     or is revoked according to rev. A nil rev, a checker error or a timeout
//     refuses every client certificate (fail closed).
//
// The checker is consulted on every handshake, resumed ones included, so a
// revocation takes effect on the next connection without a restart.
func ServerTLSConfig(serverCert tls.Certificate, clientCAs *x509.CertPool, rev RevocationChecker, opts ...Option) *tls.Config {
	if clientCAs == nil {
		// With a nil pool crypto/tls would verify client certificates against
		// the system roots.
		clientCAs = x509.NewCertPool()
	}
	s := &serverSettings{
		cfg: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			CipherSuites: tls12Suites(),
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    clientCAs,
		},
		revocationTimeout: DefaultRevocationTimeout,
	}
	for _, o := range opts {
		o(s)
	}
	v := &connVerifier{rev: rev, timeout: s.revocationTimeout, onRefusal: s.onRefusal}
	s.cfg.VerifyConnection = v.verify
	return s.cfg
}

// connVerifier holds what VerifyConnection needs; it keeps no per-connection state.
type connVerifier struct {
	rev       RevocationChecker
	timeout   time.Duration
	onRefusal func(error)
}

// verify runs after crypto/tls has verified the chain (with the clientAuth
// usage) and, in TLS 1.3, before it has checked the client's CertificateVerify
// signature: it may refuse, but must not record the connection as proven.
func (v *connVerifier) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // no certificate: public routes only; RequireClientCert makes crypto/tls refuse this
	}
	err := v.check(cs)
	if err != nil && v.onRefusal != nil {
		v.onRefusal(err)
	}
	return err
}

func (v *connVerifier) check(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return fmt.Errorf("%w: the presented certificate was not verified", ErrNoClientCert)
	}
	leaf := cs.VerifiedChains[0][0]
	// crypto/tls verified the chain for clientAuth, but x509 treats a leaf
	// without extendedKeyUsage, or with anyExtendedKeyUsage, as good for
	// everything (RFC 5280 §4.2.1.12); npes wants the usage stated.
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return fmt.Errorf("%w: serial %s", ErrWrongUsage, FormatSerial(leaf.SerialNumber))
	}
	id, err := IdentityFromCert(leaf)
	if err != nil {
		return fmt.Errorf("serial %s: %w", FormatSerial(leaf.SerialNumber), err)
	}
	if v.rev == nil {
		return fmt.Errorf("%w: no revocation checker configured", ErrRevocationUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.timeout)
	defer cancel()
	revoked, err := v.rev.IsRevoked(ctx, id.Serial)
	switch {
	case err != nil:
		return fmt.Errorf("%w: serial %s: %v", ErrRevocationUnavailable, id.Serial, err)
	case revoked:
		return fmt.Errorf("%w: serial %s", ErrRevoked, id.Serial)
	}
	return nil
}

// ClientTLSConfig builds a client tls.Config from a credential: the
// certificate (with any intermediates after it) and key, and the CA(s) that
// the server's certificate must chain to. Same version and suite floor as
// the server.
func ClientTLSConfig(certPEM, keyPEM, caPEM []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate and key: %v", ErrBadCredential, err)
	}
	return clientTLSConfig(pair, caPEM)
}

// ClientTLSConfigKey is ClientTLSConfig for a key that is a crypto.Signer
// only (a key on a token signs the handshake in place; crypto/tls needs
// nothing else of it).
func ClientTLSConfigKey(certPEM []byte, key crypto.Signer, caPEM []byte) (*tls.Config, error) {
	var pair tls.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			pair.Certificate = append(pair.Certificate, b.Bytes)
		}
	}
	if len(pair.Certificate) == 0 {
		return nil, fmt.Errorf("%w: certificate: no CERTIFICATE PEM block", ErrBadCredential)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrBadCredential, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return nil, fmt.Errorf("%w: the key does not belong to the certificate", ErrBadCredential)
	}
	pair.PrivateKey, pair.Leaf = key, leaf
	return clientTLSConfig(pair, caPEM)
}

func clientTLSConfig(pair tls.Certificate, caPEM []byte) (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: CA: no certificate in PEM", ErrBadCredential)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites(),
		Certificates: []tls.Certificate{pair},
		RootCAs:      roots,
	}, nil
}

// AlertCertificateRevoked is the TLS alert certificate_revoked (RFC 8446
// §6.2), which npes servers send when they refuse a revoked client
// certificate at the handshake.
const AlertCertificateRevoked tls.AlertError = 44

// RemoteAlert returns the TLS alert that the peer sent, if err reports one.
// crypto/tls reports a received alert as a *net.OpError with Op "remote
// error" around its unexported alert type, a uint8 (tls.AlertError is used
// only with QUIC), so the value is read by its kind.
func RemoteAlert(err error) (tls.AlertError, bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	var ae tls.AlertError
	if errors.As(op.Err, &ae) {
		return ae, true
	}
	if v := reflect.ValueOf(op.Err); v.Kind() == reflect.Uint8 {
		return tls.AlertError(v.Uint()), true
	}
	return 0, false
}

// TLSCertificate returns the credential as a tls.Certificate (for a server's
// own certificate).
func (c Credential) TLSCertificate() (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %v", ErrBadCredential, err)
	}
	return pair, nil
}

// ClientTLSConfig is ClientTLSConfig on the credential.
func (c Credential) ClientTLSConfig() (*tls.Config, error) {
	return ClientTLSConfig(c.CertPEM, c.KeyPEM, c.CAPEM)
}
