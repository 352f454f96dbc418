package mailbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// RegisterRequest is a new mailbox at a postal address.
type RegisterRequest struct {
	Address string
	Email   string
}

// RegisterMailbox creates a pending mailbox for the caller at an address and
// queues the activation letter that proves the address (DESIGN §1, flow 1).
func (s *Service) RegisterMailbox(ctx context.Context, c Caller, req RegisterRequest) (Mailbox, error) {
	kind, holderKey, err := holderOf(c)
	if err != nil {
		return Mailbox{}, err
	}
	if len(req.Address) > 1000 {
		return Mailbox{}, Errorf(ErrInvalid, "bad_address", "address is too long")
	}
	// The address as written and the holder's name from the certificate
	// become the mailbox's, shown to correspondents and sealed in evidence.
	if err := checkText("address", req.Address, 1000, true); err != nil {
		return Mailbox{}, err
	}
	if err := checkText("holder_name", c.Identity.Name, s.cfg.Limits.MaxNameRunes, false); err != nil {
		return Mailbox{}, err
	}
	addr, err := parseMailboxAddress(req.Address)
	if err != nil {
		return Mailbox{}, err
	}
	if req.Email != "" {
		if err := checkEmail(req.Email); err != nil {
			return Mailbox{}, err
		}
	}
	addrJSON, err := json.Marshal(addr)
	if err != nil {
		return Mailbox{}, err
	}
	now := s.now()
	m := Mailbox{
		ID: uuid.NewString(), Kind: kind, HolderName: c.Identity.Name,
		PersonalID: c.Identity.PersonalID, UNP: c.Identity.UNP, HolderKey: holderKey,
		OwnerIdentity: c.Identity.ID, Address: req.Address, AddressJSON: addrJSON,
		MatchKey: addr.MatchKey(), Postcode: addr.Postcode, Email: req.Email,
		Status: StatusPending, CreatedAt: now, AddressRules: AddressRules,
	}
	// Refuse over the caps before rendering: the check is repeated under
	// the holder's lock below, this one only spares the renderer.
	if err := s.cfg.Store.View(ctx, func(tx Tx) error { return s.checkActivationCaps(ctx, tx, m, true) }); err != nil {
		return Mailbox{}, err
	}
	letter, err := s.newActivationLetter(ctx, m, addr)
	if err != nil {
		return Mailbox{}, err
	}
	m.ActivationHash = letter.hash
	bound, err := credentialEntry(signing.EventCredentialBound, c.Identity, c.Cert, c.Identity.ID)
	if err != nil {
		return Mailbox{}, err
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockHolder(ctx, m.Kind, m.HolderKey); err != nil {
			return err
		}
		if err := s.checkActivationCaps(ctx, tx, m, true); err != nil {
			return err
		}
		if err := tx.CreateMailbox(ctx, m); err != nil {
			if errors.Is(err, ErrConflict) {
				return Errorf(ErrConflict, "mailbox_exists", "you already have a mailbox at this address")
			}
			return err
		}
		if err := tx.BindCredential(ctx, credentialOf(m.ID, c.Identity, c.Cert, now)); err != nil {
			return err
		}
		if err := s.queueActivationLetter(ctx, tx, letter); err != nil {
			return err
		}
		_, err := s.appendLog(ctx, tx, []*logChain{s.mailboxChain(m.ID, now, bound)})
		return err
	})
	if err != nil {
		return Mailbox{}, err
	}
	s.sendActivationCode(m.ID, letter.code)
	s.log.InfoContext(ctx, "mailbox registered", "mailbox", m.ID, "kind", m.Kind, "activation_job", letter.job.ID)
	return m, nil
}

// holderOf is the mailbox kind and holder key ("pn:<personal number>",
// "unp:<UNP>") of the caller's certificate.
func holderOf(c Caller) (kind, holderKey string, err error) {
	switch c.Identity.Role {
	case certs.RolePerson:
		kind, holderKey = KindPerson, "pn:"+c.Identity.PersonalID
	case certs.RoleOrg:
		kind, holderKey = KindOrg, "unp:"+c.Identity.UNP
	default:
		return "", "", Errorf(ErrForbidden, "role_not_allowed", "only person and org certificates hold mailboxes")
	}
	if strings.HasSuffix(holderKey, ":") {
		return "", "", Errorf(ErrForbidden, "missing_identity", "the certificate carries no personal number or UNP")
	}
	return kind, holderKey, nil
}

// mailboxHolder refuses roles that never hold a mailbox (print centres,
// operators) on the mailbox routes, so roles never cross.
func mailboxHolder(c Caller) error {
	if c.Identity.Role != certs.RolePerson && c.Identity.Role != certs.RoleOrg {
		return Errorf(ErrForbidden, "role_not_allowed", "the %s role holds no mailbox", c.Identity.Role)
	}
	return nil
}

func credentialOf(mailboxID string, id certs.Identity, cert *x509.Certificate, now time.Time) Credential {
	c := Credential{MailboxID: mailboxID, IdentityID: id.ID, Serial: id.Serial, SPKISHA256: id.SPKISHA256, BoundAt: now}
	if cert != nil {
		c.NotAfter = cert.NotAfter.UTC()
	}
	return c
}

func checkEmail(e string) error {
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return Errorf(ErrInvalid, "bad_email", "email must be a plain address like name@example.by")
	}
	return nil
}

// regionOf is the print-centre region of a postcode: its first three digits.
func regionOf(postcode string) string {
	if len(postcode) >= 3 {
		return postcode[:3]
	}
	return ""
}

// Activation codes: 10 characters of Crockford's base32 (no I, L, O, U),
// about 50 bits, printed as XXXXX-XXXXX. With at most MaxActivationTries
// guesses before the mailbox is locked, guessing succeeds with probability
// ~5·2^-50.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

func newActivationCode() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	out := make([]byte, 0, 11)
	for i, v := range b {
		if i == 5 {
			out = append(out, '-')
		}
		out = append(out, codeAlphabet[int(v)%32])
	}
	return string(out), nil
}

// normalizeCode accepts what people type: lower case, spaces or no dash,
// and the look-alikes Crockford's alphabet maps (O→0, I/L→1).
func normalizeCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case ' ', '-':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func activationHash(mailboxID, code string) []byte {
	h := sha256.Sum256([]byte("npes activation\x00" + mailboxID + "\x00" + normalizeCode(code)))
	return h[:]
}

// ActivateMailbox proves the address with the code from the activation
// letter. Only a credential bound to the mailbox may try; after
// MaxActivationTries wrong codes the mailbox is locked for counter
// verification.
func (s *Service) ActivateMailbox(ctx context.Context, c Caller, mailboxID, code string) (Mailbox, error) {
	var m Mailbox
	var wrong bool
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		// Count the attempt under the row lock: without it, concurrent
		// wrong codes all read the same count and each evaluates a guess
		// (PostgreSQL's READ COMMITTED does not serialize them).
		m, err = tx.LockMailbox(ctx, mailboxID)
		if err != nil {
			return err
		}
		if m.Status == StatusActive {
			return nil
		}
		if m.Attempts >= s.cfg.Limits.MaxActivationTries {
			return Errorf(ErrForbidden, "activation_locked", "too many wrong codes: verify the address at a post office counter")
		}
		if subtle.ConstantTimeCompare(activationHash(m.ID, code), m.ActivationHash) != 1 {
			m.Attempts++
			wrong = true
			return tx.UpdateMailbox(ctx, m)
		}
		return s.activate(ctx, tx, &m, "activation-code", c.Identity.ID)
	})
	if err != nil {
		return Mailbox{}, err
	}
	if wrong {
		return Mailbox{}, Errorf(ErrInvalid, "wrong_code", "the activation code is wrong (%d of %d attempts used)", m.Attempts, s.cfg.Limits.MaxActivationTries)
	}
	return m, nil
}

// VerifyAddress is the operator's counter verification: the holder showed
// an identity document and proof of address at a post office.
func (s *Service) VerifyAddress(ctx context.Context, c Caller, mailboxID string) (Mailbox, error) {
	if c.Identity.Role != certs.RoleOperator {
		return Mailbox{}, Errorf(ErrForbidden, "forbidden", "only an operator verifies addresses")
	}
	var m Mailbox
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		m, err = tx.GetMailbox(ctx, mailboxID)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrNotFound, "mailbox_not_found", "no such mailbox")
		}
		if err != nil {
			return err
		}
		if m.Status == StatusActive {
			return nil
		}
		return s.activate(ctx, tx, &m, "counter", "operator:"+c.Identity.Serial)
	})
	if err == nil {
		s.log.InfoContext(ctx, "address verified at counter", "mailbox", m.ID, "operator", c.Identity.Serial)
	}
	return m, err
}

// activate records that a mailbox's address is proven (MailboxActivated,
// naming how and by whom) and writes the row the entry justifies.
func (s *Service) activate(ctx context.Context, tx Tx, m *Mailbox, how, by string) error {
	now := s.now()
	m.Status, m.ActivatedAt = StatusActive, now
	if err := tx.UpdateMailbox(ctx, *m); err != nil {
		return err
	}
	_, err := s.appendLog(ctx, tx, []*logChain{s.mailboxChain(m.ID, now, signing.MailboxEntry{
		Event: signing.EventMailboxActivated, How: how, AuthorizedBy: by, Holder: m.HolderKey, MatchKey: m.MatchKey})})
	return err
}

// credentialEntry is the log entry that binds or unbinds a certificate:
// its identity (issuer and serial, and the identity id that access checks
// use) and its public key, which an offline verifier compares with the key
// of a recipient's signature.
func credentialEntry(event signing.Event, id certs.Identity, cert *x509.Certificate, by string) (signing.MailboxEntry, error) {
	if cert == nil {
		return signing.MailboxEntry{}, Errorf(ErrInvalid, "no_certificate", "binding a credential needs its certificate")
	}
	jwk, err := signing.NewJWK(cert.PublicKey)
	if err != nil {
		return signing.MailboxEntry{}, Errorf(ErrInvalid, "bad_certificate", "the certificate's key cannot be bound: %v", err)
	}
	return signing.MailboxEntry{Event: event, AuthorizedBy: by, JWK: &jwk,
		Identity: &signing.CredentialIdentity{ID: id.ID, Issuer: id.Issuer, Serial: id.Serial}}, nil
}

// MyMailboxes lists the mailboxes the caller's certificate is bound to.
func (s *Service) MyMailboxes(ctx context.Context, c Caller) ([]Mailbox, error) {
	if err := mailboxHolder(c); err != nil {
		return nil, err
	}
	var out []Mailbox
	err := s.groupRead(ctx, &routeReq{identity: c.Identity.ID, fn: func(ctx context.Context, tx Tx) error {
		var err error
		out, err = tx.MailboxesOfIdentity(ctx, c.Identity.ID)
		return err
	}})
	return out, err
}

// ownMailbox returns a mailbox the caller is bound to; any other is "not
// found", so ids cannot be probed.
func (s *Service) ownMailbox(ctx context.Context, tx Tx, c Caller, id string) (Mailbox, error) {
	mine, err := tx.MailboxesOfIdentity(ctx, c.Identity.ID)
	if err != nil {
		return Mailbox{}, err
	}
	for _, m := range mine {
		if m.ID == id {
			return m, nil
		}
	}
	return Mailbox{}, Errorf(ErrNotFound, "mailbox_not_found", "no such mailbox")
}

// BindCredential binds another certificate (a renewed one, a signature
// token) to one of the caller's mailboxes. The certificate must chain to a
// trusted CA and belong to the same holder.
//
// An organization binds one certificate per employee, each with a label
// that names it in listings and errors; a person's label may stay empty.
func (s *Service) BindCredential(ctx context.Context, c Caller, mailboxID string, cert *x509.Certificate, label string) (Credential, error) {
	if err := checkText("label", label, 100, false); err != nil {
		return Credential{}, err
	}
	if err := checkClientCertificate(cert); err != nil {
		return Credential{}, err
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.cfg.Trust, CurrentTime: s.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return Credential{}, Errorf(ErrInvalid, "bad_certificate", "the certificate does not chain to a trusted CA for client authentication: %v", err)
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil {
		return Credential{}, Errorf(ErrInvalid, "bad_certificate", "%v", err)
	}
	// A bound credential signs acceptances for the mailbox: a revoked one
	// must not become one (the same check the handshake and each
	// acceptance make).
	if s.cfg.Revocations != nil {
		revoked, err := s.cfg.Revocations.IsRevoked(ctx, id.Serial)
		if err != nil {
			return Credential{}, fmt.Errorf("checking the revocation of serial %s: %w", id.Serial, err)
		}
		if revoked {
			return Credential{}, Errorf(ErrInvalid, "certificate_revoked", "the certificate (serial %s) is revoked", id.Serial)
		}
	}
	if id.Role != c.Identity.Role || id.PersonalID != c.Identity.PersonalID || id.UNP != c.Identity.UNP {
		return Credential{}, Errorf(ErrForbidden, "other_holder", "the certificate belongs to another holder")
	}
	now := s.now()
	cred := credentialOf(mailboxID, id, cert, now)
	cred.Label = label
	entry, err := credentialEntry(signing.EventCredentialBound, id, cert, c.Identity.ID)
	if err != nil {
		return Credential{}, err
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		creds, err := tx.Credentials(ctx, mailboxID)
		if err != nil {
			return err
		}
		for _, cr := range creds {
			if cr.IdentityID == id.ID && cr.UnboundAt.IsZero() {
				cred = cr // bound already: nothing changes, nothing is logged
				return nil
			}
		}
		if err := tx.BindCredential(ctx, cred); err != nil {
			return err
		}
		_, err = s.appendLog(ctx, tx, []*logChain{s.mailboxChain(mailboxID, now, entry)})
		return err
	})
	return cred, err
}

// checkClientCertificate refuses certificates that are not end-entity
// client certificates. x509.Verify treats a leaf without extendedKeyUsage
// (or with anyExtendedKeyUsage) as good for every usage (RFC 5280
// §4.2.1.12); npes wants clientAuth stated, as at the TLS handshake
// (certs.ServerTLSConfig), since a bound credential logs in and signs.
func checkClientCertificate(cert *x509.Certificate) error {
	switch {
	case cert.IsCA:
		return Errorf(ErrInvalid, "not_end_entity", "the certificate is a CA certificate, not a holder's")
	case slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth):
		return nil
	case len(cert.ExtKeyUsage) == 0 && len(cert.UnknownExtKeyUsage) == 0:
		return Errorf(ErrInvalid, "no_extended_key_usage", "the certificate states no extended key usage; it must state clientAuth")
	case slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
		return Errorf(ErrInvalid, "server_certificate", "the certificate is for TLS servers (serverAuth), not for client authentication")
	}
	return Errorf(ErrInvalid, "wrong_key_usage", "the certificate's extended key usage does not include clientAuth")
}

// UnbindCredential ends a binding. A holder cannot unbind the credential
// they are using (they would lock themselves out).
func (s *Service) UnbindCredential(ctx context.Context, c Caller, mailboxID, identityID string) error {
	if identityID == c.Identity.ID {
		return Errorf(ErrConflict, "own_credential", "use another bound credential to unbind this one")
	}
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		now := s.now()
		err := tx.UnbindCredential(ctx, mailboxID, identityID, now)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrNotFound, "credential_not_found", "no such bound credential")
		}
		if err != nil {
			return err
		}
		entry, err := s.boundEntry(ctx, tx, mailboxID, identityID)
		if err != nil {
			return err
		}
		entry.Event, entry.AuthorizedBy = signing.EventCredentialUnbound, c.Identity.ID
		_, err = s.appendLog(ctx, tx, []*logChain{s.mailboxChain(mailboxID, now, entry)})
		return err
	})
}

// boundEntry returns the CredentialBound (or MailboxRecovered) entry of a
// binding in force: the identity and key its CredentialUnbound names.
func (s *Service) boundEntry(ctx context.Context, tx Tx, mailboxID, identityID string) (signing.MailboxEntry, error) {
	e, err := s.bindingEntry(ctx, tx, mailboxID, identityID)
	if err != nil {
		return signing.MailboxEntry{}, err
	}
	return signing.MailboxEntry{Identity: e.Identity, JWK: e.JWK}, nil
}

// bindingEntry returns the latest CredentialBound entry of an identity, as
// logged.
func (s *Service) bindingEntry(ctx context.Context, tx Tx, mailboxID, identityID string) (*signing.MailboxEntry, error) {
	recs, err := tx.MailboxEntriesOf(ctx, mailboxID)
	if err != nil {
		return nil, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if ev := signing.Event(recs[i].Event); ev != signing.EventCredentialBound && ev != signing.EventMailboxRecovered {
			continue
		}
		e, err := s.parseMailboxEntry(recs[i].Envelope)
		if err != nil {
			return nil, err
		}
		if e.Identity != nil && e.Identity.ID == identityID {
			return e, nil
		}
	}
	return nil, fmt.Errorf("mailbox %s: the binding of %s has no CredentialBound entry in the log", mailboxID, identityID)
}

// parseMailboxEntry verifies and reads a stored mailbox entry.
func (s *Service) parseMailboxEntry(leaf []byte) (*signing.MailboxEntry, error) {
	payload, err := signing.VerifyEnvelope(leaf, s.JWKS())
	if err != nil {
		return nil, err
	}
	return signing.ParseMailboxEntry(payload)
}

// Credentials lists the bindings of one of the caller's mailboxes.
func (s *Service) Credentials(ctx context.Context, c Caller, mailboxID string) ([]Credential, error) {
	var out []Credential
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		var err error
		out, err = tx.Credentials(ctx, mailboxID)
		return err
	})
	return out, err
}
