package mailbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// Recovery statuses.
const (
	RecoveryPending    = "pending"
	RecoveryCompleted  = "completed"
	RecoverySuperseded = "superseded" // a newer recovery of the mailbox replaced it
)

// Notification kinds of a recovery, to the mailbox's e-mail: the holder
// learns that someone asked for their mailbox before any code arrives.
const (
	NotifyRecoveryStarted   = "recovery_started"
	NotifyRecoveryCompleted = "recovery_completed"
)

// Recovery is a holder's request to take back a mailbox whose every bound
// credential stopped working, with a new certificate of the same personal
// number or UNP. A code printed on a letter to the mailbox's registered
// address completes it (or an operator at a counter).
type Recovery struct {
	ID         string
	MailboxID  string
	IdentityID string // the new certificate's identity
	CertDER    []byte // the new certificate, bound on completion
	Status     string
	CodeHash   []byte
	Attempts   int
	CreatedAt  time.Time
	// CompletedAt is zero until completion.
	CompletedAt time.Time
}

// SessionEnder ends every session that the given credentials of a
// mailbox opened (the portal's web sessions). Recovery completion calls it
// after commit with the identities it unbound; the unbinding itself is
// already durable, so a failure is logged and the holder's sessions die
// at their next check of the binding.
type SessionEnder interface {
	EndSessions(ctx context.Context, mailboxID string, identityIDs []string) error
}

func recoveryHash(recoveryID, code string) []byte {
	h := sha256.Sum256([]byte("npes recovery\x00" + recoveryID + "\x00" + normalizeCode(code)))
	return h[:]
}

// StartRecovery starts the recovery of the caller's mailbox at address.
// The caller's certificate must name the mailbox's holder, and no
// credential bound to the mailbox may still work: while one does, it binds
// the new certificate instead (BindCredential), so one employee of an
// organization cannot take its mailbox from the others. A new code goes
// by paper to the registered address, under the activation letters'
// caps; a pending recovery of the mailbox is superseded.
func (s *Service) StartRecovery(ctx context.Context, c Caller, address string) (Recovery, error) {
	kind, holderKey, err := holderOf(c)
	if err != nil {
		return Recovery{}, err
	}
	if c.Cert == nil {
		return Recovery{}, Errorf(ErrInvalid, "no_certificate", "recovery binds the certificate you connect with; none was presented")
	}
	if err := checkText("address", address, 1000, true); err != nil {
		return Recovery{}, err
	}
	addr, err := parseMailboxAddress(address)
	if err != nil {
		return Recovery{}, err
	}
	var m Mailbox
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		ms, err := tx.MailboxesByMatchKey(ctx, addr.MatchKey())
		if err != nil {
			return err
		}
		for _, o := range ms {
			// Another holder's mailbox at the same address is "not
			// found": recovery never reaches it, nor says it exists.
			if o.Kind == kind && o.HolderKey == holderKey {
				m = o
			}
		}
		if m.ID == "" {
			return Errorf(ErrNotFound, "mailbox_not_found", "you have no mailbox at this address")
		}
		if err := s.checkRecoverable(ctx, tx, c, m); err != nil {
			return err
		}
		return s.checkActivationCaps(ctx, tx, m, false)
	})
	if err != nil {
		return Recovery{}, err
	}
	letter, err := s.letterToRegisteredAddress(ctx, m)
	if err != nil {
		return Recovery{}, err
	}
	now := s.now()
	r := Recovery{ID: uuid.NewString(), MailboxID: m.ID, IdentityID: c.Identity.ID, CertDER: c.Cert.Raw,
		Status: RecoveryPending, CreatedAt: now}
	r.CodeHash = recoveryHash(r.ID, letter.code)
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if err := tx.LockHolder(ctx, m.Kind, m.HolderKey); err != nil {
			return err
		}
		cur, err := tx.LockMailbox(ctx, m.ID)
		if err != nil {
			return err
		}
		if cur.MatchKey != m.MatchKey {
			return Errorf(ErrConflict, "address_changed", "the mailbox's address changed meanwhile: try again")
		}
		if err := s.checkRecoverable(ctx, tx, c, cur); err != nil {
			return err
		}
		if err := s.checkActivationCaps(ctx, tx, cur, false); err != nil {
			return err
		}
		if err := tx.SupersedeRecoveries(ctx, m.ID); err != nil {
			return err
		}
		if err := tx.CreateRecovery(ctx, r); err != nil {
			return err
		}
		if err := s.queueActivationLetter(ctx, tx, letter); err != nil {
			return err
		}
		return s.notify(ctx, tx, m.ID, NotifyRecoveryStarted, "")
	})
	if err != nil {
		return Recovery{}, err
	}
	s.sendActivationCode(m.ID, letter.code)
	s.log.InfoContext(ctx, "mailbox recovery started", "mailbox", m.ID, "recovery", r.ID, "activation_job", letter.job.ID)
	return r, nil
}

// checkRecoverable refuses a recovery while the caller is bound to the
// mailbox already or any bound credential still works.
func (s *Service) checkRecoverable(ctx context.Context, tx Tx, c Caller, m Mailbox) error {
	creds, err := tx.Credentials(ctx, m.ID)
	if err != nil {
		return err
	}
	for _, cr := range creds {
		if !cr.UnboundAt.IsZero() {
			continue
		}
		if cr.IdentityID == c.Identity.ID {
			return Errorf(ErrConflict, "already_bound", "your certificate is bound to this mailbox: there is nothing to recover")
		}
		works, err := s.credentialWorks(ctx, cr)
		if err != nil {
			return err
		}
		if works {
			what := "a credential bound to this mailbox"
			if cr.Label != "" {
				what = fmt.Sprintf("the credential %q bound to this mailbox", cr.Label)
			}
			return Errorf(ErrConflict, "credential_works",
				"%s still works (serial %s): bind your new certificate with it (npes mailbox bind), or revoke it first if it is lost", what, cr.Serial)
		}
	}
	return nil
}

// credentialWorks reports whether a certificate binding in force still
// authenticates: not expired and not revoked. A binding recorded before
// expiry dates were kept counts as unexpired. A passkey (no serial) does
// not count: it is a login of a holder whose certificate was bound, it
// cannot be revoked at a CA, and a lost phone must not keep a holder from
// recovering; completion unbinds it, the e-mail and the paper letter tell
// the holder.
func (s *Service) credentialWorks(ctx context.Context, cr Credential) (bool, error) {
	if cr.Serial == "" {
		return false, nil
	}
	if !cr.NotAfter.IsZero() && !s.now().Before(cr.NotAfter) {
		return false, nil
	}
	if s.cfg.Revocations == nil {
		return true, nil
	}
	revoked, err := s.cfg.Revocations.IsRevoked(ctx, cr.Serial)
	if err != nil {
		return false, fmt.Errorf("checking the revocation of serial %s: %w", cr.Serial, err)
	}
	return !revoked, nil
}

// CompleteRecovery completes the caller's recovery with the code from its
// letter. Only the certificate that started it may complete it; after
// MaxActivationTries wrong codes it can only be completed at a counter.
func (s *Service) CompleteRecovery(ctx context.Context, c Caller, recoveryID, code string) (Mailbox, error) {
	if err := mailboxHolder(c); err != nil {
		return Mailbox{}, err
	}
	var m Mailbox
	var r Recovery
	var wrong bool
	var ended []string
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		if m, r, err = s.lockRecovery(ctx, tx, recoveryID); err != nil {
			return err
		}
		if r.IdentityID != c.Identity.ID {
			return Errorf(ErrNotFound, "recovery_not_found", "no such recovery")
		}
		if r.Status == RecoveryCompleted {
			return nil
		}
		if err := checkPending(r); err != nil {
			return err
		}
		if r.Attempts >= s.cfg.Limits.MaxActivationTries {
			return Errorf(ErrForbidden, "recovery_locked", "too many wrong codes: complete the recovery at a post office counter")
		}
		if subtle.ConstantTimeCompare(recoveryHash(r.ID, code), r.CodeHash) != 1 {
			r.Attempts++
			wrong = true
			return tx.UpdateRecovery(ctx, r)
		}
		ended, err = s.recoverMailbox(ctx, tx, &m, &r, "recovery-code", c.Identity.ID)
		return err
	})
	if err != nil {
		return Mailbox{}, err
	}
	if wrong {
		return Mailbox{}, Errorf(ErrInvalid, "wrong_code", "the recovery code is wrong (%d of %d attempts used)", r.Attempts, s.cfg.Limits.MaxActivationTries)
	}
	s.endSessions(ctx, m.ID, ended)
	return m, nil
}

// VerifyRecovery is the operator's counter completion of a recovery: the
// holder showed an identity document and proof of address.
func (s *Service) VerifyRecovery(ctx context.Context, c Caller, recoveryID string) (Mailbox, error) {
	if c.Identity.Role != certs.RoleOperator {
		return Mailbox{}, Errorf(ErrForbidden, "forbidden", "only an operator verifies addresses")
	}
	var m Mailbox
	var ended []string
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var r Recovery
		var err error
		if m, r, err = s.lockRecovery(ctx, tx, recoveryID); err != nil {
			return err
		}
		if err := checkPending(r); err != nil {
			return err
		}
		ended, err = s.recoverMailbox(ctx, tx, &m, &r, "counter", "operator:"+c.Identity.Serial)
		return err
	})
	if err != nil {
		return Mailbox{}, err
	}
	s.log.InfoContext(ctx, "recovery verified at counter", "mailbox", m.ID, "recovery", recoveryID, "operator", c.Identity.Serial)
	s.endSessions(ctx, m.ID, ended)
	return m, nil
}

// lockRecovery locks the recovery's mailbox and reads the recovery under
// that lock, so attempts and completion are serialized.
func (s *Service) lockRecovery(ctx context.Context, tx Tx, id string) (Mailbox, Recovery, error) {
	notFound := Errorf(ErrNotFound, "recovery_not_found", "no such recovery")
	if _, err := uuid.Parse(id); err != nil {
		return Mailbox{}, Recovery{}, notFound
	}
	r, err := tx.GetRecovery(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Mailbox{}, Recovery{}, notFound
	}
	if err != nil {
		return Mailbox{}, Recovery{}, err
	}
	m, err := tx.LockMailbox(ctx, r.MailboxID)
	if err != nil {
		return Mailbox{}, Recovery{}, err
	}
	r, err = tx.GetRecovery(ctx, id)
	return m, r, err
}

func checkPending(r Recovery) error {
	switch r.Status {
	case RecoveryPending:
		return nil
	case RecoverySuperseded:
		return Errorf(ErrConflict, "recovery_superseded", "a newer recovery of this mailbox replaced this one: use the code from its letter")
	}
	return Errorf(ErrConflict, "recovery_completed", "the recovery is completed")
}

// recoverMailbox binds the recovery's certificate in place of every bound
// credential, records MailboxRecovered, and queues the e-mail notice. It
// returns the identities it unbound.
func (s *Service) recoverMailbox(ctx context.Context, tx Tx, m *Mailbox, r *Recovery, how, by string) ([]string, error) {
	cert, err := x509.ParseCertificate(r.CertDER)
	if err != nil {
		return nil, fmt.Errorf("recovery %s: stored certificate: %w", r.ID, err)
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil {
		return nil, fmt.Errorf("recovery %s: %w", r.ID, err)
	}
	// The certificate was the caller's when the recovery started, and the
	// caller's holder the mailbox's; checked again so that no stored row
	// can make a recovery reach another holder's mailbox.
	if _, holder, err := holderOf(Caller{Identity: id}); err != nil || holder != m.HolderKey {
		return nil, fmt.Errorf("recovery %s: its certificate (serial %s) does not name the holder of mailbox %s", r.ID, id.Serial, m.ID)
	}
	now := s.now()
	if !now.Before(cert.NotAfter) {
		return nil, Errorf(ErrConflict, "certificate_expired", "the certificate that started this recovery has expired: start a new one")
	}
	if s.cfg.Revocations != nil {
		revoked, err := s.cfg.Revocations.IsRevoked(ctx, id.Serial)
		if err != nil {
			return nil, fmt.Errorf("checking the revocation of serial %s: %w", id.Serial, err)
		}
		if revoked {
			return nil, Errorf(ErrConflict, "certificate_revoked", "the certificate that started this recovery (serial %s) is revoked", id.Serial)
		}
	}
	entry, err := credentialEntry(signing.EventMailboxRecovered, id, cert, by)
	if err != nil {
		return nil, err
	}
	entry.How, entry.Holder = how, m.HolderKey
	creds, err := tx.Credentials(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	var ended []string
	for _, cr := range creds {
		if !cr.UnboundAt.IsZero() {
			continue
		}
		if err := tx.UnbindCredential(ctx, m.ID, cr.IdentityID, now); err != nil {
			return nil, err
		}
		ended = append(ended, cr.IdentityID)
	}
	if err := tx.BindCredential(ctx, credentialOf(m.ID, id, cert, now)); err != nil {
		return nil, err
	}
	r.Status, r.CompletedAt = RecoveryCompleted, now
	if err := tx.UpdateRecovery(ctx, *r); err != nil {
		return nil, err
	}
	if err := s.notify(ctx, tx, m.ID, NotifyRecoveryCompleted, ""); err != nil {
		return nil, err
	}
	if _, err := s.appendLog(ctx, tx, []*logChain{s.mailboxChain(m.ID, now, entry)}); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "mailbox recovered", "mailbox", m.ID, "recovery", r.ID, "how", how, "unbound", len(ended))
	return ended, nil
}

func (s *Service) endSessions(ctx context.Context, mailboxID string, ids []string) {
	if s.cfg.Sessions == nil || len(ids) == 0 {
		return
	}
	if err := s.cfg.Sessions.EndSessions(ctx, mailboxID, ids); err != nil {
		s.log.WarnContext(ctx, "ending the sessions of unbound credentials failed", "mailbox", mailboxID, "err", err)
	}
}

// MyRecoveries lists the caller's pending recoveries.
func (s *Service) MyRecoveries(ctx context.Context, c Caller) ([]Recovery, error) {
	if err := mailboxHolder(c); err != nil {
		return nil, err
	}
	var out []Recovery
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.RecoveriesOfIdentity(ctx, c.Identity.ID, true)
		return err
	})
	return out, err
}
