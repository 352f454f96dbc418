package certs

import "errors"

// Sentinel errors. Every error this package returns wraps one of them (or an
// fs error for a missing file), so callers branch with errors.Is and render the
// one-line message to users unchanged.
var (
	// ErrBadRequest: a certificate request breaks a rule of its role profile.
	ErrBadRequest = errors.New("certs: bad certificate request")

	// ErrBadIdentity: a verified certificate does not carry a well-formed npes
	// identity (role and attributes in URI SANs, see the package doc).
	ErrBadIdentity = errors.New("certs: certificate carries no valid npes identity")

	// ErrNoClientCert: the connection presented no verified client certificate.
	ErrNoClientCert = errors.New("certs: no verified client certificate")

	// ErrBadSerial: a certificate serial number is not in the openssl form.
	ErrBadSerial = errors.New("certs: bad serial number")

	// ErrBadReason: a revocation reason is not one of RFC 5280 §5.3.1 that npes offers.
	ErrBadReason = errors.New("certs: bad revocation reason")

	// ErrBadCA: the CA certificate or key is missing, corrupt or unusable.
	ErrBadCA = errors.New("certs: bad CA")

	// ErrCAValidity: the CA is not valid at the time of issuance.
	ErrCAValidity = errors.New("certs: CA certificate not valid at this time")

	// ErrBadCredential: a credential (cert.pem, key.pem, ca.pem) is corrupt or inconsistent.
	ErrBadCredential = errors.New("certs: bad credential")

	// ErrBadCRL: a certificate revocation list is malformed, badly signed or from another issuer.
	ErrBadCRL = errors.New("certs: bad CRL")

	// ErrStaleCRL: a CRL's nextUpdate has passed (RFC 5280 §5.1.2.5); its
	// revocation data can no longer be trusted to be complete.
	ErrStaleCRL = errors.New("certs: CRL is past its nextUpdate")

	// ErrRevoked: the client certificate is revoked.
	ErrRevoked = errors.New("certs: certificate revoked")

	// ErrRevocationUnavailable: the revocation checker failed; the handshake is
	// refused (fail closed) rather than letting a possibly revoked certificate in.
	ErrRevocationUnavailable = errors.New("certs: revocation status unavailable")

	// ErrWrongUsage: the client certificate lacks the clientAuth extended key usage.
	ErrWrongUsage = errors.New("certs: certificate not valid for client authentication")
)
