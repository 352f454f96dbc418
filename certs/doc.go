// Package certs is npes' internal certificate authority and the mutual-TLS
// layer around it (DESIGN.md §3): it issues client and server certificates,
// reads a holder's role and attributes back from a verified certificate,
// signs CRLs, and builds tls.Configs that check revocation at the handshake.
//
// # Keys
//
// A CA is a root certificate and a crypto.Signer. Configuration names where
// the key is; NewCA takes any signer crypto/x509 can sign with (a PKCS#11
// token or KMS in production), LoadCA reads a PEM key for development and
// tests. Issued keys are ECDSA P-256 written as
// unencrypted PKCS#8, which curl, openssl and browsers all accept.
//
// # Certificate profiles
//
// Root (CreateCA): self-signed, ECDSA P-256, valid 10 years, basicConstraints
// CA with pathLenConstraint 0 (it signs end entities only), keyUsage
// keyCertSign and cRLSign, subjectKeyIdentifier by RFC 7093 §2 method 1.
//
// Client (CA.Issue): keyUsage digitalSignature, extendedKeyUsage clientAuth
// and nothing else, basicConstraints CA:FALSE, a random 128-bit serial, the
// holder's name as subject commonName, and the identity in URI SANs (below).
// notBefore is backdated 5 minutes for clock skew; no certificate outlives
// its CA. Lifetimes are short because revocation only reaches servers that
// check it, and a short life bounds the damage of a lost key everywhere else:
//
//	role         default   maximum (Request.Days)
//	person       90 days   397 days
//	org          90 days   397 days
//	printcenter  90 days   397 days
//	operator     30 days    90 days   (operators can revoke and verify: shortest)
//
// Server (CA.IssueServer): extendedKeyUsage serverAuth only, SANs localhost,
// 127.0.0.1, ::1 and the configured names, 90 days; NeedsRenewal tells when a
// third of the lifetime is left.
//
// # Identity in URI SANs
//
// The role and attributes are URI subjectAltNames (RFC 5280 §4.2.1.6) in an
// informal "npes" URN namespace (RFC 8141 syntax), one URI per attribute:
//
//	urn:npes:role:person             role: person, org, printcenter, operator
//	urn:npes:personal-id:3140582A001PB3
//	urn:npes:unp:190123456
//	urn:npes:regions:220,222         sorted, comma-separated
//
// What each role carries (required, optional, refused):
//
//	person       personal-id required; unp, regions refused
//	org          unp required; personal-id, regions refused
//	printcenter  regions required (≥ 1); unp optional; personal-id refused
//	operator     personal-id optional; unp, regions refused
//
// A personal number is 14 characters: 7 digits, a Latin capital letter, 3
// digits, 2 letters, 1 digit (3140582A001PB3). Its check digit is not
// verified, so test and demo numbers stay usable. A UNP is 9 digits; a region
// is a 3-digit postcode prefix, listed once. A name is 1 to 200 characters of
// valid UTF-8 without control, format (bidi overrides, zero-width) or line
// separator characters. Names over 64 characters exceed ub-common-name (RFC
// 5280 Appendix A); Go, openssl and browsers accept them, strict tools may not.
//
// The same rules run when the CA issues (Request, errors wrap ErrBadRequest)
// and when the server reads (IdentityFromCert, errors wrap ErrBadIdentity),
// so the server accepts exactly what the CA would issue. Reading is strict:
// an unknown or repeated urn:npes: attribute refuses the certificate, since it
// may restrict the holder in a way this version does not understand. A
// certificate from another trusted CA (the national PKI) must follow the same
// scheme to be accepted.
//
// # Identity key
//
// Identity.ID is the issuer and the serial number: 32 hex digits of SHA-256
// over the issuer's encoded name, ":", and the serial as openssl prints it.
// RFC 5280 §4.1.2.2 makes that pair unique per certificate, and it is what
// the CA's registry and CRL already key on. The SPKI hash (also in Identity)
// was not chosen as the key: it names a key, not a certificate, so two
// certificates for one key (re-issued with other attributes, or by another
// trusted CA) would share it while carrying different roles; authorization
// must follow the certificate that was verified. The commonName is never an
// identity: anyone with any trusted certificate can choose one. A holder who
// renews gets a new ID; binding a mailbox across renewals is the core's job
// (by personal number or UNP).
//
// # Revocation
//
// crypto/tls checks no revocation, neither CRL nor OCSP. ServerTLSConfig
// therefore checks it in tls.Config.VerifyConnection, which crypto/tls calls
// on every handshake, resumed sessions included, after it has verified the
// chain: a revoked certificate is refused at the handshake, and a revocation
// takes effect on the next connection without a restart. The check also
// refuses a leaf without an explicit clientAuth usage and one without a valid
// npes identity.
//
// The RevocationChecker runs on the handshake path of every client, so it
// must answer from memory: the server keeps the store's revoked set in a
// RevocationSet (or loads a CRL with ParseCRL) and refreshes it in the
// background. A checker error refuses the handshake (fail closed). In TLS 1.3
// VerifyConnection runs before the client has proven possession of its key,
// so the checker must have no side effects.
//
// Serial numbers travel as openssl prints them (`openssl x509 -noout
// -serial`): FormatSerial and ParseSerial convert. Serials are looked up
// without their issuer, which is exact while one CA issues client
// certificates; with several, the checker must hold every issuer's set.
// CA.CRL signs RFC 5280 CRLs with reason codes (§5.3.1, ParseReason).
package certs
