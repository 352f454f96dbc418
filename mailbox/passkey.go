package mailbox

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// maxCredentialID is WebAuthn's bound on a credential id (L2 §4,
// "Credential ID": at most 1023 bytes).
const maxCredentialID = 1023

// PasskeyIdentity is the identity id of a passkey binding (credential rows,
// log entries): "passkey:" and the credential id in base64url.
func PasskeyIdentity(credentialID []byte) string {
	return "passkey:" + base64.RawURLEncoding.EncodeToString(credentialID)
}

// PasskeyBinding is a passkey to bind to a mailbox: its credential id and
// public key (from the attestation's COSE key), and the holder's
// Endorsement, a compact JWS (x5c) of a signing.PasskeyEndorsement by a
// certificate bound to the mailbox. The endorsement makes the passkey the
// certificate holder's act, provable offline; the operator's word that the
// holder was signed in is not enough.
type PasskeyBinding struct {
	CredentialID []byte
	PublicKey    signing.JWK
	Endorsement  string
	// Label names the passkey in listings ("phone", "laptop"); it is the
	// portal's, not the log's.
	Label string
}

// BindPasskey binds a passkey to one of the caller's mailboxes, logging a
// CredentialBound entry that carries the endorsement. Binding a passkey
// that is bound already changes nothing.
func (s *Service) BindPasskey(ctx context.Context, c Caller, mailboxID string, p PasskeyBinding) error {
	rp := s.cfg.WebAuthn
	if rp == nil {
		return Errorf(ErrConflict, "passkeys_disabled", "this server has no WebAuthn relying party configured")
	}
	switch {
	case len(p.CredentialID) == 0 || len(p.CredentialID) > maxCredentialID:
		return Errorf(ErrInvalid, "bad_credential_id", "a credential id has 1..%d bytes", maxCredentialID)
	case !(p.PublicKey.Kty == signing.KtyEC && p.PublicKey.Crv == signing.CrvP256) &&
		!(p.PublicKey.Kty == signing.KtyOKP && p.PublicKey.Crv == signing.CrvEd25519):
		return Errorf(ErrInvalid, "unsupported_passkey_algorithm", "only ES256 (P-256) and EdDSA (Ed25519) passkeys are accepted")
	case len(p.Endorsement) > 64<<10:
		return Errorf(ErrInvalid, "bad_endorsement", "the endorsement is too large")
	}
	if err := checkText("label", p.Label, maxPasskeyLabel, false); err != nil {
		return err
	}
	jwk := p.PublicKey
	if _, err := jwk.PublicKey(); err != nil {
		return Errorf(ErrInvalid, "bad_passkey_key", "%v", err)
	}
	id := PasskeyIdentity(p.CredentialID)
	entry := signing.MailboxEntry{Event: signing.EventCredentialBound, AuthorizedBy: c.Identity.ID, JWK: &jwk,
		Identity:    &signing.CredentialIdentity{ID: id, Passkey: base64.RawURLEncoding.EncodeToString(p.CredentialID)},
		Mailbox:     mailboxID,
		Endorsement: p.Endorsement}
	endorser, endorsed, err := signing.VerifyEndorsement(&entry, s.cfg.Trust)
	if err != nil {
		return Errorf(ErrInvalid, "bad_endorsement", "%v", err)
	}
	now := s.now()
	if endorsed.RPID != rp.RPID {
		return Errorf(ErrInvalid, "bad_endorsement", "the endorsement is for RP ID %q, this server's is %q", endorsed.RPID, rp.RPID)
	}
	if d := endorsed.Time.Sub(now); d < -signing.MaxStatementSkew || d > signing.MaxStatementSkew {
		return Errorf(ErrInvalid, "endorsement_time", "the endorsement's time %s is more than %s from the server's time %s",
			endorsed.Time.UTC().Format(time.RFC3339), signing.MaxStatementSkew, now.Format(time.RFC3339))
	}
	endorserID, err := certs.IdentityFromCert(endorser)
	if err != nil {
		return Errorf(ErrInvalid, "bad_endorsement", "%v", err)
	}
	if s.cfg.Revocations != nil {
		revoked, err := s.cfg.Revocations.IsRevoked(ctx, endorserID.Serial)
		if err != nil {
			return err
		}
		if revoked {
			return Errorf(ErrInvalid, "certificate_revoked", "the endorsing certificate (serial %s) is revoked", endorserID.Serial)
		}
	}
	spki, err := spkiOfJWK(&jwk)
	if err != nil {
		return Errorf(ErrInvalid, "bad_passkey_key", "%v", err)
	}
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		creds, err := tx.Credentials(ctx, mailboxID)
		if err != nil {
			return err
		}
		endorserBound := false
		for _, cr := range creds {
			if !cr.UnboundAt.IsZero() {
				continue
			}
			if cr.IdentityID == id {
				return nil // bound already: nothing changes, nothing is logged
			}
			if cr.IdentityID == endorserID.ID && cr.SPKISHA256 == endorserID.SPKISHA256 {
				endorserBound = true
			}
		}
		if !endorserBound {
			return Errorf(ErrForbidden, "endorser_not_bound", "the endorsing certificate is not bound to the mailbox")
		}
		if err := tx.BindCredential(ctx, Credential{MailboxID: mailboxID, IdentityID: id, SPKISHA256: spki, BoundAt: now, Label: p.Label}); err != nil {
			return err
		}
		_, err = s.appendLog(ctx, tx, []*logChain{s.mailboxChain(mailboxID, now, entry)})
		return err
	})
}

// maxPasskeyLabel bounds a passkey's label (runes).
const maxPasskeyLabel = 100

// WebAuthn is the relying party passkeys are made for (nil: passkeys are
// disabled).
func (s *Service) WebAuthn() *signing.WebAuthnTrust { return s.cfg.WebAuthn }

// LabelPasskey renames a passkey bound to one of the caller's mailboxes.
func (s *Service) LabelPasskey(ctx context.Context, c Caller, mailboxID string, credentialID []byte, label string) error {
	if err := checkText("label", label, maxPasskeyLabel, false); err != nil {
		return err
	}
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		err := tx.SetCredentialLabel(ctx, mailboxID, PasskeyIdentity(credentialID), label)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrNotFound, "credential_not_found", "no such bound passkey")
		}
		return err
	})
}

// A PasskeyHolder is whom a bound passkey stands for: the mailbox it is
// bound to, its public key, and the certificate that endorsed it, which
// must still be bound to that mailbox. A passkey signs in as that
// certificate's holder and no further than that certificate reaches.
type PasskeyHolder struct {
	Mailbox  string
	Key      signing.JWK
	Endorser certs.Identity
}

// PasskeyHolder finds the holder of a bound passkey for a sign-in.
// Anything but a passkey in force, endorsed by a certificate still bound to
// its mailbox, is ErrNotFound (passkey_not_found). Revocation of the
// endorsing certificate is the caller's to check (the portal's session
// rests on that certificate's serial).
func (s *Service) PasskeyHolder(ctx context.Context, credentialID []byte) (PasskeyHolder, error) {
	notFound := Errorf(ErrNotFound, "passkey_not_found", "no passkey with this credential id is bound to a mailbox")
	if s.cfg.WebAuthn == nil {
		return PasskeyHolder{}, Errorf(ErrConflict, "passkeys_disabled", "this server has no WebAuthn relying party configured")
	}
	if len(credentialID) == 0 || len(credentialID) > maxCredentialID {
		return PasskeyHolder{}, notFound
	}
	id := PasskeyIdentity(credentialID)
	var h PasskeyHolder
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		boxes, err := tx.MailboxesOfIdentity(ctx, id)
		if err != nil {
			return err
		}
		if len(boxes) != 1 {
			return notFound
		}
		entry, err := s.bindingEntry(ctx, tx, boxes[0].ID, id)
		if err != nil {
			return err
		}
		endorser, _, err := signing.VerifyEndorsement(entry, s.cfg.Trust)
		if err != nil {
			return err
		}
		eid, err := certs.IdentityFromCert(endorser)
		if err != nil {
			return err
		}
		creds, err := tx.Credentials(ctx, boxes[0].ID)
		if err != nil {
			return err
		}
		for _, cr := range creds {
			if cr.UnboundAt.IsZero() && cr.IdentityID == eid.ID && cr.SPKISHA256 == eid.SPKISHA256 {
				h = PasskeyHolder{Mailbox: boxes[0].ID, Key: *entry.JWK, Endorser: eid}
				return nil
			}
		}
		return notFound
	})
	return h, err
}

// UnbindPasskey removes a passkey from one of the caller's mailboxes,
// logging CredentialUnbound.
func (s *Service) UnbindPasskey(ctx context.Context, c Caller, mailboxID string, credentialID []byte) error {
	return s.UnbindCredential(ctx, c, mailboxID, PasskeyIdentity(credentialID))
}

// AcceptWithPasskey records the recipient's acceptance signed with a bound
// passkey (ConsignmentAcceptance with recipient_webauthn + ContentHandover).
func (s *Service) AcceptWithPasskey(ctx context.Context, c Caller, id string, a signing.WebAuthnAssertion) (LetterView, error) {
	return s.decide(ctx, c, id, recipientDecision{webauthn: &a}, DecisionAccept)
}

// RefuseWithPasskey records the recipient's refusal signed with a bound
// passkey.
func (s *Service) RefuseWithPasskey(ctx context.Context, c Caller, id string, a signing.WebAuthnAssertion) (LetterView, error) {
	return s.decide(ctx, c, id, recipientDecision{webauthn: &a}, DecisionRefuse)
}

// verifyPasskeyStatement checks a passkey decision as an offline verifier
// will (signing.VerifyWebAuthn with the configured relying party) with the
// key of the passkey's CredentialBound entry in force, and returns the
// statement and the passkey's identity id.
func (s *Service) verifyPasskeyStatement(ctx context.Context, tx Tx, l Letter, a *signing.WebAuthnAssertion) (*Statement, string, error) {
	if s.cfg.WebAuthn == nil {
		return nil, "", Errorf(ErrConflict, "passkeys_disabled", "this server has no WebAuthn relying party configured")
	}
	credID, err := base64.RawURLEncoding.Strict().DecodeString(a.CredentialID)
	if err != nil || len(credID) == 0 || len(credID) > maxCredentialID {
		return nil, "", Errorf(ErrInvalid, "bad_signature", "credential_id is not a base64url credential id")
	}
	id := PasskeyIdentity(credID)
	creds, err := tx.Credentials(ctx, l.RecipientMailbox)
	if err != nil {
		return nil, "", err
	}
	bound := false
	for _, cr := range creds {
		if cr.IdentityID == id && cr.UnboundAt.IsZero() {
			bound = true
		}
	}
	if !bound {
		return nil, "", Errorf(ErrForbidden, "signer_not_bound", "the passkey is not bound to the recipient's mailbox")
	}
	entry, err := s.bindingEntry(ctx, tx, l.RecipientMailbox, id)
	if err != nil {
		return nil, "", err
	}
	// A passkey stands for the certificate that endorsed it: once that
	// certificate is revoked, the passkey signs nothing more.
	endorser, _, err := signing.VerifyEndorsement(entry, s.cfg.Trust)
	if err != nil {
		return nil, "", err
	}
	if s.cfg.Revocations != nil {
		serial := certs.FormatSerial(endorser.SerialNumber)
		revoked, err := s.cfg.Revocations.IsRevoked(ctx, serial)
		if err != nil {
			return nil, "", err
		}
		if revoked {
			return nil, "", Errorf(ErrInvalid, "bad_signature", "the certificate that endorsed the passkey (serial %s) is revoked", serial)
		}
	}
	st, _, err := signing.VerifyWebAuthn(a, *entry.JWK, *s.cfg.WebAuthn)
	if err != nil {
		return nil, "", Errorf(ErrInvalid, "bad_signature", "%v", err)
	}
	if st.Mailbox != l.RecipientMailbox {
		return nil, "", Errorf(ErrInvalid, "bad_signature", "the statement names another mailbox")
	}
	return st, id, nil
}
