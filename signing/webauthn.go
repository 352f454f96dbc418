package signing

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrWebAuthn: a passkey assertion does not prove the statement it carries.
var ErrWebAuthn = errors.New("passkey signature invalid")

// maxWebAuthnField bounds each decoded member of an assertion: real
// authenticator data and client data are a few hundred bytes.
const maxWebAuthnField = 16 << 10

// WebAuthn authenticator data flags (WebAuthn Level 2 §6.1).
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
)

// A WebAuthnAssertion is a recipient's decision signed with a passkey
// (evidence recipient_webauthn): the exact statement bytes whose SHA-256 was
// the WebAuthn challenge, and what navigator.credentials.get returned for
// it. Every member is base64url without padding.
type WebAuthnAssertion struct {
	Statement         string `json:"statement"`
	CredentialID      string `json:"credential_id"`
	AuthenticatorData string `json:"authenticator_data"`
	ClientDataJSON    string `json:"client_data_json"`
	Signature         string `json:"signature"`
}

// WebAuthnTrust pins the relying party a verifier accepts passkey
// signatures from (trust file member "webauthn"): the RP ID whose SHA-256
// the authenticator data must carry and the exact origins the client data
// may name. Both are the operator's NPES_WEB_ORIGIN.
type WebAuthnTrust struct {
	RPID    string   `json:"rp_id"`
	Origins []string `json:"origins"`
}

// WebAuthnChallenge is the challenge a passkey signs for a statement:
// SHA-256 of its exact bytes, so the assertion commits to the statement.
func WebAuthnChallenge(statement []byte) []byte {
	sum := sha256.Sum256(statement)
	return sum[:]
}

// clientData is the part of CollectedClientData (WebAuthn L2 §5.8.1)
// that is checked; other members are allowed (§5.8.1.2).
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin *bool  `json:"crossOrigin"`
	TopOrigin   string `json:"topOrigin"`
}

// VerifyWebAuthn checks a passkey assertion offline, as a relying party
// does (WebAuthn L2 §7.2 steps 11-21, without the signature counter, which
// proves nothing to a third party): the client data is of type
// webauthn.get, its challenge is WebAuthnChallenge of the statement, its
// origin one of rp.Origins and not cross-origin; the authenticator data
// carries SHA-256 of rp.RPID and the UP and UV flags; the signature over
// authenticatorData || SHA-256(clientDataJSON) verifies with key, which
// must be ES256 (P-256) or EdDSA (Ed25519). It returns the strictly parsed
// statement, which must name the credential and the RP ID.
func VerifyWebAuthn(a *WebAuthnAssertion, key JWK, rp WebAuthnTrust) (*Statement, []byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrWebAuthn, fmt.Sprintf(format, args...))
	}
	if a == nil {
		return nil, nil, bad("no assertion")
	}
	if rp.RPID == "" || len(rp.Origins) == 0 {
		return nil, nil, fmt.Errorf("%w: no pinned WebAuthn relying party (trust file \"webauthn\": {rp_id, origins})", ErrNoTrust)
	}
	fields := map[string]string{"statement": a.Statement, "credential_id": a.CredentialID,
		"authenticator_data": a.AuthenticatorData, "client_data_json": a.ClientDataJSON, "signature": a.Signature}
	raw := map[string][]byte{}
	for _, name := range []string{"statement", "credential_id", "authenticator_data", "client_data_json", "signature"} {
		v := fields[name]
		if v == "" || len(v) > maxWebAuthnField*4/3+4 {
			return nil, nil, bad("%s is missing or too large", name)
		}
		b, err := decodeB64URL(v)
		if err != nil {
			return nil, nil, bad("%s is not base64url without padding", name)
		}
		raw[name] = b
	}
	var cd clientData
	if err := json.Unmarshal(raw["client_data_json"], &cd); err != nil {
		return nil, nil, bad("client_data_json is not JSON: %v", err)
	}
	statement := raw["statement"]
	switch {
	case cd.Type != "webauthn.get":
		return nil, nil, bad("client data type %q, want webauthn.get", cd.Type)
	case cd.Challenge != base64.RawURLEncoding.EncodeToString(WebAuthnChallenge(statement)):
		return nil, nil, bad("the challenge is not SHA-256 of the statement")
	case !slices.Contains(rp.Origins, cd.Origin):
		return nil, nil, bad("origin %q is not a pinned origin", cd.Origin)
	case cd.CrossOrigin != nil && *cd.CrossOrigin:
		return nil, nil, bad("the assertion was made in a cross-origin frame")
	case cd.TopOrigin != "":
		return nil, nil, bad("the assertion names a top origin (cross-origin frame)")
	}
	ad := raw["authenticator_data"]
	rpHash := sha256.Sum256([]byte(rp.RPID))
	switch {
	case len(ad) < 37:
		return nil, nil, bad("authenticator data of %d bytes", len(ad))
	case !bytes.Equal(ad[:32], rpHash[:]):
		return nil, nil, bad("the authenticator data is for another RP ID than %q", rp.RPID)
	case ad[32]&flagUP == 0:
		return nil, nil, bad("user presence (UP) flag not set")
	case ad[32]&flagUV == 0:
		return nil, nil, bad("user verification (UV) flag not set")
	}
	cdHash := sha256.Sum256(raw["client_data_json"])
	signed := append(append([]byte(nil), ad...), cdHash[:]...)
	pub, err := key.PublicKey()
	if err != nil {
		return nil, nil, bad("passkey key: %v", err)
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		digest := sha256.Sum256(signed)
		if !ecdsa.VerifyASN1(p, digest[:], raw["signature"]) {
			return nil, nil, bad("the ES256 signature does not verify")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(p, signed, raw["signature"]) {
			return nil, nil, bad("the EdDSA signature does not verify")
		}
	default:
		return nil, nil, bad("passkey key type %s: only ES256 and EdDSA", key.Kty)
	}
	st, err := ParseStatement(statement)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case st.CredentialID != a.CredentialID:
		return nil, nil, bad("the statement names credential %q, the assertion %q", st.CredentialID, a.CredentialID)
	case st.RPID != rp.RPID:
		return nil, nil, bad("the statement names RP ID %q, not %q", st.RPID, rp.RPID)
	case st.Mailbox == "":
		return nil, nil, bad("the statement names no mailbox")
	}
	return st, raw["credential_id"], nil
}

// PasskeyEndorsementVersion is the version of PasskeyEndorsement.
const PasskeyEndorsementVersion = 1

// A PasskeyEndorsement is what a mailbox holder signs with their
// certificate (compact JWS, x5c) to bind a passkey: the CredentialBound
// entry carries it, so the passkey's key chains to the identity CA through
// a certificate bound to the mailbox, not through the operator's word.
type PasskeyEndorsement struct {
	V       int    `json:"v"`
	Mailbox string `json:"mailbox"`
	// Passkey is the credential id, base64url without padding.
	Passkey string `json:"passkey"`
	// JWKThumbprint is the RFC 7638 thumbprint of the passkey's key.
	JWKThumbprint string    `json:"jwk_thumbprint"`
	RPID          string    `json:"rp_id"`
	Time          time.Time `json:"time"`
}

// VerifyEndorsement checks the endorsement JWS of a CredentialBound entry
// for a passkey: the signature with the x5c leaf, the chain to roots at the
// endorsement's time (client authentication), and that it names the
// entry's mailbox, passkey and key. It returns the endorsing certificate
// and the endorsement; the caller checks that certificate is bound to the
// mailbox.
func VerifyEndorsement(m *MailboxEntry, roots *x509.CertPool) (*x509.Certificate, *PasskeyEndorsement, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: passkey endorsement: %s", ErrRecipientSignature, fmt.Sprintf(format, args...))
	}
	if m.Endorsement == "" || m.Identity == nil || m.Identity.Passkey == "" || m.JWK == nil {
		return nil, nil, bad("the entry binds no endorsed passkey")
	}
	cj, err := ParseCompact(m.Endorsement)
	if err != nil {
		return nil, nil, bad("%v", err)
	}
	payload, leaf, err := cj.Verify()
	if err != nil {
		return nil, nil, bad("%v", err)
	}
	var p PasskeyEndorsement
	if err := unmarshalStrict(payload, &p); err != nil {
		return nil, nil, bad("%v", err)
	}
	switch {
	case p.V != PasskeyEndorsementVersion:
		return nil, nil, bad("version %d", p.V)
	case p.Mailbox != m.Mailbox:
		return nil, nil, bad("endorses a passkey for mailbox %q, the entry is of %q", p.Mailbox, m.Mailbox)
	case p.Passkey != m.Identity.Passkey:
		return nil, nil, bad("endorses another passkey")
	case p.JWKThumbprint != m.JWK.Thumbprint():
		return nil, nil, bad("endorses another key")
	case p.Time.IsZero():
		return nil, nil, bad("missing time")
	}
	inter := x509.NewCertPool()
	for _, c := range cj.Chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: p.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, nil, bad("the certificate does not chain to a pinned identity CA at %s: %v", p.Time.Format(time.RFC3339), err)
	}
	return leaf, &p, nil
}

// PasskeyEndorsementRequestType names the file the web portal offers for
// a passkey made in the browser, which `npes mailbox endorse-passkey
// --request FILE` signs.
const PasskeyEndorsementRequestType = "npes-passkey-endorsement-request"

// A PasskeyEndorsementRequest is what the holder is asked to endorse: a
// passkey the browser made for a mailbox of the relying party RPID. It is
// not signed; the endorsement is (PasskeyEndorsement).
type PasskeyEndorsementRequest struct {
	Type         string `json:"type"`
	V            int    `json:"v"`
	Mailbox      string `json:"mailbox"`
	CredentialID string `json:"credential_id"`
	JWK          JWK    `json:"jwk"`
	RPID         string `json:"rp_id"`
}

// ParsePasskeyEndorsementRequest reads a request file strictly.
func ParsePasskeyEndorsementRequest(data []byte) (*PasskeyEndorsementRequest, error) {
	var r PasskeyEndorsementRequest
	if err := unmarshalStrict(data, &r); err != nil {
		return nil, fmt.Errorf("passkey endorsement request: %w", err)
	}
	switch {
	case r.Type != PasskeyEndorsementRequestType || r.V != PasskeyEndorsementVersion:
		return nil, fmt.Errorf("passkey endorsement request: type %q version %d, want %q version %d", r.Type, r.V, PasskeyEndorsementRequestType, PasskeyEndorsementVersion)
	case r.Mailbox == "" || r.RPID == "":
		return nil, errors.New("passkey endorsement request: mailbox and rp_id are required")
	}
	if id, err := decodeB64URL(r.CredentialID); err != nil || len(id) == 0 {
		return nil, errors.New("passkey endorsement request: credential_id is not base64url without padding")
	}
	if _, err := r.JWK.PublicKey(); err != nil {
		return nil, fmt.Errorf("passkey endorsement request: jwk: %w", err)
	}
	return &r, nil
}

// Endorsement is the endorsement of the requested passkey at t.
func (r *PasskeyEndorsementRequest) Endorsement(t time.Time) PasskeyEndorsement {
	return PasskeyEndorsement{V: PasskeyEndorsementVersion, Mailbox: r.Mailbox, Passkey: r.CredentialID,
		JWKThumbprint: r.JWK.Thumbprint(), RPID: r.RPID, Time: t.UTC().Truncate(time.Second)}
}
