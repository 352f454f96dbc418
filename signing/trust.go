package signing

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"golang.org/x/mod/sumdb/note"

	"github.com/npes/npes/signing/tlog"
)

// Trust is what a verifier pins, obtained out of band: the operator's
// public keys (the JWKS of GET /v1/keys) and the identity CAs that issue
// recipients' credentials (the ca.pem of a credential directory). Keys
// inside a bundle never count. As a file (npes verify --trust):
//
//	{"keys": {"keys": [JWK, ...]}, "identity_cas": ["-----BEGIN CERTIFICATE-----\n...", ...],
//	 "webauthn": {"rp_id": "post.example", "origins": ["https://post.example"]}}
//
// webauthn is needed only for decisions signed with a passkey.
type Trust struct {
	Keys        JWKS           `json:"keys"`
	IdentityCAs []string       `json:"identity_cas"`
	WebAuthn    *WebAuthnTrust `json:"webauthn,omitempty"`
}

// ParseTrust reads a trust file strictly and checks it with Check.
func ParseTrust(data []byte) (*Trust, error) {
	var t Trust
	if err := unmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedTrust, err)
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return &t, nil
}

// NewTrust pins operator keys and identity CA certificates (PEM, one or
// more CERTIFICATE blocks each).
func NewTrust(keys JWKS, caPEMs ...[]byte) (*Trust, error) {
	t := &Trust{Keys: keys}
	for _, p := range caPEMs {
		t.IdentityCAs = append(t.IdentityCAs, string(p))
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

// Check fails closed unless the operator keys hold an Ed25519 key and an
// ML-DSA-65 key: without the ML-DSA-65 pin a v2 envelope would rest on
// Ed25519 alone, which is not what DESIGN §4 promises. Every identity CA
// must be a PEM certificate of a CA.
func (t *Trust) Check() error {
	if _, err := t.roots(); err != nil {
		return err
	}
	if t.WebAuthn != nil {
		return t.WebAuthn.check()
	}
	return nil
}

// Check checks a relying party on its own (a server's NPES_WEB_ORIGIN) as
// a trust file's "webauthn" member is checked.
func (w *WebAuthnTrust) Check() error { return w.check() }

// check requires an RP ID and origins that WebAuthn allows for it
// (WebAuthn L2 §5.1.3 step 8: the RP ID is the origin's host or a domain
// suffix of it), each an https origin serialized as browsers put it in
// the client data: scheme, host and an optional port, nothing else.
func (w *WebAuthnTrust) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: webauthn: %s", ErrMalformedTrust, fmt.Sprintf(format, args...))
	}
	if w.RPID == "" || len(w.Origins) == 0 {
		return bad("rp_id and origins are required")
	}
	for _, o := range w.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("origin %q is not an https origin (https://host[:port])", o)
		}
		if h := u.Hostname(); h != w.RPID && !strings.HasSuffix(h, "."+w.RPID) {
			return bad("origin %q is not of RP ID %q", o, w.RPID)
		}
	}
	return nil
}

// checkKeys is the key half of Check.
func (t *Trust) checkKeys() error {
	if t == nil {
		return ErrNoTrust
	}
	if len(t.Keys.Select(AlgEdDSA).Keys) == 0 {
		return fmt.Errorf("%w: the pinned operator keys hold no Ed25519 (EdDSA) key", ErrNoTrust)
	}
	if len(t.Keys.Select(AlgMLDSA65).Keys) == 0 {
		return fmt.Errorf("%w: the pinned operator keys hold no ML-DSA-65 key (post-quantum pin required)", ErrNoTrust)
	}
	return nil
}

// roots checks the trust and returns the identity CAs as a pool. It
// writes nothing, so one Trust serves concurrent verifications.
func (t *Trust) roots() (*x509.CertPool, error) {
	if err := t.checkKeys(); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for i, p := range t.IdentityCAs {
		rest := []byte(p)
		n := 0
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("%w: identity_cas[%d]: PEM block %q, want CERTIFICATE", ErrMalformedTrust, i, b.Type)
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: identity_cas[%d]: %w", ErrMalformedTrust, i, err)
			}
			if !c.IsCA {
				return nil, fmt.Errorf("%w: identity_cas[%d]: %q is not a CA certificate", ErrMalformedTrust, i, c.Subject)
			}
			pool.AddCert(c)
			n++
		}
		if n == 0 || strings.TrimSpace(string(rest)) != "" {
			return nil, fmt.Errorf("%w: identity_cas[%d]: not a list of PEM certificates", ErrMalformedTrust, i)
		}
	}
	return pool, nil
}

// hasCAs reports whether identity CAs are pinned.
func (t *Trust) hasCAs() bool { return len(t.IdentityCAs) > 0 }

// noteKeys returns the note verifier keys of the pinned Ed25519 and
// ML-DSA-65 operator keys under the key name name.
func (t *Trust) noteKeys(name string) (ed, ml []string, err error) {
	for _, k := range t.Keys.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			return nil, nil, err
		}
		switch p := pub.(type) {
		case ed25519.PublicKey:
			v, err := tlog.Ed25519VerifierKey(name, p)
			if err != nil {
				return nil, nil, err
			}
			ed = append(ed, v)
		case *mldsa65.PublicKey:
			v, err := tlog.MLDSA65VerifierKey(name, p)
			if err != nil {
				return nil, nil, err
			}
			ml = append(ml, v)
		}
	}
	return ed, ml, nil
}

// openNote opens a note signed by a pinned Ed25519 key and co-signed by a
// pinned ML-DSA-65 key, both under the name of the note's first line.
func (t *Trust) openNote(msg []byte) (*note.Note, error) {
	if err := t.checkKeys(); err != nil {
		return nil, err
	}
	name, _, ok := strings.Cut(string(msg), "\n")
	if !ok {
		return nil, fmt.Errorf("%w: no origin line", tlog.ErrMalformedCheckpoint)
	}
	ed, ml, err := t.noteKeys(name)
	if err != nil {
		return nil, err
	}
	return tlog.OpenCoSigned(msg, ed, ml)
}

// StatusOriginPrefix begins the origin line of every status note, so a
// status can never be taken for a checkpoint (whose origin is
// "npes/evidence/<kid>").
const StatusOriginPrefix = "npes/status/"

// OpenCheckpoint verifies a checkpoint against pinned trust: an Ed25519
// signature and an ML-DSA-65 cosignature by pinned operator keys, under the
// checkpoint's origin. A note with a status origin is refused.
func OpenCheckpoint(msg []byte, t *Trust) (tlog.Checkpoint, error) {
	if strings.HasPrefix(string(msg), StatusOriginPrefix) {
		return tlog.Checkpoint{}, fmt.Errorf("%w: a status note is not a checkpoint", ErrCheckpoint)
	}
	n, err := t.openNote(msg)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	cp, err := tlog.ParseCheckpoint(n.Text)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	return cp, nil
}
