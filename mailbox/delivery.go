package mailbox

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// Decisions a recipient signs.
const (
	DecisionAccept = signing.DecisionAccept
	DecisionRefuse = signing.DecisionRefuse
)

// Statement is what a recipient signs (compact JWS, ES256 or EdDSA, x5c) to
// accept or refuse a registered letter (signing.Statement): it names the
// letter, the notification evidence and the content digest, so a signature
// for one letter can never be replayed for another, and the recipient
// commits to exactly the content they will receive.
type Statement = signing.Statement

// NewStatement builds the statement for a letter as the API shows it.
func NewStatement(v LetterView, decision, reason string, now time.Time) Statement {
	return Statement{V: 1, Decision: decision, Letter: v.ID, Notification: v.Notification,
		ContentSHA256: v.ContentSHA256, Reason: reason, Time: now.UTC().Truncate(time.Second)}
}

// Accept records the recipient's signed acceptance and hands the content
// over (ConsignmentAcceptance + ContentHandover).
func (s *Service) Accept(ctx context.Context, c Caller, id, jws string) (LetterView, error) {
	return s.decide(ctx, c, id, recipientDecision{jws: jws}, DecisionAccept)
}

// Refuse records the recipient's signed refusal (ConsignmentRejection).
func (s *Service) Refuse(ctx context.Context, c Caller, id, jws string) (LetterView, error) {
	return s.decide(ctx, c, id, recipientDecision{jws: jws}, DecisionRefuse)
}

// recipientDecision is a signed decision: a compact JWS made with the
// recipient's certificate, or a passkey assertion.
type recipientDecision struct {
	jws      string
	webauthn *signing.WebAuthnAssertion
}

func (s *Service) decide(ctx context.Context, c Caller, id string, rd recipientDecision, decision string) (LetterView, error) {
	var v LetterView
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, true)
		if err != nil {
			return err
		}
		if folder != "inbox" {
			return Errorf(ErrForbidden, "not_recipient", "only the recipient accepts or refuses a letter")
		}
		if !l.Registered || l.State != StateAwaitingAcceptance {
			return Errorf(ErrConflict, "not_awaiting_acceptance", "the letter is %s, not awaiting acceptance", l.State)
		}
		if !s.now().Before(l.Deadline) {
			return Errorf(ErrConflict, "deadline_passed", "the acceptance deadline %s has passed", l.Deadline.Format(time.RFC3339))
		}
		now := s.now()
		var st Statement
		var details map[string]string
		if rd.webauthn != nil {
			parsed, passkey, err := s.verifyPasskeyStatement(ctx, tx, l, rd.webauthn)
			if err != nil {
				return err
			}
			if st, err = checkStatementFor(*parsed, l, now); err != nil {
				return err
			}
			details = map[string]string{"signer": passkey}
		} else {
			var signer certs.Identity
			if st, signer, err = s.verifyStatement(ctx, tx, l, rd.jws, now); err != nil {
				return err
			}
			details = map[string]string{"signer_serial": signer.Serial, "signer": signer.ID}
		}
		if st.Decision != decision {
			return Errorf(ErrInvalid, "bad_statement", "the signed statement says %q, not %q", st.Decision, decision)
		}
		var content signing.Content
		if err := json.Unmarshal(l.ContentJSON, &content); err != nil {
			return err
		}
		if st.Reason != "" {
			details["reason"] = st.Reason
		}
		decided := signing.Evidence{Event: signing.EventConsignmentRejection, RecipientSignature: rd.jws,
			RecipientWebAuthn: rd.webauthn, Time: now, Details: details}
		events := []signing.Evidence{decided}
		if decision == DecisionAccept {
			decided.Event, decided.Content = signing.EventConsignmentAcceptance, &content
			events = []signing.Evidence{decided, {Event: signing.EventContentHandover, Content: &content, Time: now}}
		}
		if err := s.notify(ctx, tx, l.SenderMailbox, NotifyReceiptReady, l.ID); err != nil {
			return err
		}
		if err := s.recordLetter(ctx, tx, &l, events...); err != nil {
			return err
		}
		v, err = s.view(ctx, tx, l, folder)
		return err
	})
	return v, err
}

// verifyStatement checks a recipient's compact JWS: the signature with the
// x5c leaf key, the chain to a trusted CA at the current time, revocation,
// that the signer is bound to the recipient mailbox, and that the strictly
// parsed statement names this letter, its notification and its content,
// with a time within signing.MaxStatementSkew of now, the time of the
// evidence that will record it: what an offline verifier requires too.
func (s *Service) verifyStatement(ctx context.Context, tx Tx, l Letter, jws string, now time.Time) (Statement, certs.Identity, error) {
	bad := func(format string, args ...any) error {
		return Errorf(ErrInvalid, "bad_signature", format, args...)
	}
	if len(jws) > 64<<10 {
		return Statement{}, certs.Identity{}, bad("the signature is too large")
	}
	cj, err := signing.ParseCompact(strings.TrimSpace(jws))
	if err != nil {
		return Statement{}, certs.Identity{}, bad("%v", err)
	}
	payload, leaf, err := cj.Verify()
	if err != nil {
		return Statement{}, certs.Identity{}, bad("%v", err)
	}
	inter := x509.NewCertPool()
	for _, ic := range cj.Chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.cfg.Trust, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return Statement{}, certs.Identity{}, bad("the signer's certificate is not trusted: %v", err)
	}
	id, err := certs.IdentityFromCert(leaf)
	if err != nil {
		return Statement{}, certs.Identity{}, bad("%v", err)
	}
	if s.cfg.Revocations != nil {
		revoked, err := s.cfg.Revocations.IsRevoked(ctx, id.Serial)
		if err != nil {
			return Statement{}, certs.Identity{}, err
		}
		if revoked {
			return Statement{}, certs.Identity{}, bad("the signer's certificate is revoked")
		}
	}
	creds, err := tx.Credentials(ctx, l.RecipientMailbox)
	if err != nil {
		return Statement{}, certs.Identity{}, err
	}
	bound := false
	for _, cr := range creds {
		if cr.IdentityID == id.ID && cr.UnboundAt.IsZero() {
			bound = true
		}
	}
	if !bound {
		return Statement{}, certs.Identity{}, Errorf(ErrForbidden, "signer_not_bound", "the signing certificate is not bound to the recipient's mailbox")
	}
	parsed, err := signing.ParseStatement(payload)
	if err != nil {
		return Statement{}, certs.Identity{}, bad("the signed statement is not valid: %v", err)
	}
	if parsed.Mailbox != "" && parsed.Mailbox != l.RecipientMailbox {
		return *parsed, id, bad("the statement names another mailbox")
	}
	st, err := checkStatementFor(*parsed, l, now)
	return st, id, err
}

// checkStatementFor checks that a verified statement is about letter l as
// it is now, within signing.MaxStatementSkew of now, the time of the
// evidence that will record it: what an offline verifier requires too.
func checkStatementFor(st Statement, l Letter, now time.Time) (Statement, error) {
	bad := func(format string, args ...any) error {
		return Errorf(ErrInvalid, "bad_signature", format, args...)
	}
	switch {
	case !st.WithinSkew(now):
		return st, Errorf(ErrInvalid, "statement_time", "the statement's time %s is more than %s from the server's time %s: sign a new statement",
			st.Time.UTC().Format(time.RFC3339), signing.MaxStatementSkew, now.UTC().Format(time.RFC3339))
	case st.Letter != l.ID:
		return st, bad("the statement is for another letter")
	case st.Notification != l.NotificationID:
		return st, bad("the statement names another notification")
	case st.ContentSHA256 != l.ContentDigest:
		return st, bad("the statement names other content")
	}
	if err := checkText("reason", st.Reason, 500, false); err != nil {
		return st, err
	}
	return st, nil
}

// ExpireDue records AcceptanceRejectionExpiry for every registered letter
// whose deadline has passed, and sends to print those whose sender asked for
// print-if-unsigned. Each letter is handled in its own transaction under a
// row lock with a state check, so it fires exactly once even with several
// processes sweeping at the same time, and survives restarts (the deadline
// is stored).
//
// Nothing is rendered inside a transaction: a print-if-unsigned letter is
// selected, rendered with no transaction open, and recorded in a new
// transaction that first re-checks it is still awaiting acceptance past
// its deadline (expireRendered). A render holds no row lock and no
// database connection however long it takes.
func (s *Service) ExpireDue(ctx context.Context) (int, error) {
	done := 0
	for {
		var n int
		var toRender *Letter
		err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
			n, toRender = 0, nil
			due, err := tx.DueLetters(ctx, s.now(), 1)
			if err != nil || len(due) == 0 {
				return err
			}
			n = 1
			if due[0].State == StateAwaitingAcceptance && due[0].PrintIfUnsigned > 0 {
				toRender = &due[0]
				return nil
			}
			return s.expire(ctx, tx, due[0], nil)
		})
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, nil
		}
		if toRender != nil {
			expired, err := s.expireRendered(ctx, *toRender)
			if err != nil {
				return done, err
			}
			if !expired {
				continue // answered or expired by another sweeper meanwhile
			}
		}
		done++
	}
}

// printRender is a print-if-unsigned letter's render, made before the
// transaction that records it: the document, or why it cannot be printed.
type printRender struct {
	doc Rendered
	err error // an *Error: unprintable
}

// expireRendered renders the due print-if-unsigned letter l outside any
// transaction, then expires it and queues its print in one transaction if
// it is still awaiting acceptance past its deadline. It reports false, and
// the render is discarded, if the letter changed meanwhile (accepted,
// refused, or expired by another sweeper).
func (s *Service) expireRendered(ctx context.Context, l Letter) (bool, error) {
	addr, err := loadAddress(l.RecipientJSON)
	if err != nil {
		return false, err
	}
	var body string
	var atts []PrintAttachment
	if err := s.cfg.Store.View(ctx, func(tx Tx) error {
		body, atts, err = s.loadPrintContent(ctx, tx, l)
		return err
	}); err != nil {
		return false, err
	}
	var pr printRender
	pr.doc, pr.err = s.render(ctx, l, addr, body, atts)
	if pr.err != nil {
		var de *Error
		if !errors.As(pr.err, &de) || renderBusy(pr.err) {
			return false, pr.err // not the letter's fault: the next sweep renders it again
		}
	}
	body, atts = "", nil // the content is not needed while recording
	expired := false
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		expired = false
		cur, err := tx.GetLetter(ctx, l.ID, true)
		if err != nil {
			return err
		}
		if cur.State != StateAwaitingAcceptance || s.now().Before(cur.Deadline) {
			return nil
		}
		expired = true
		return s.expire(ctx, tx, cur, &pr)
	})
	return expired && err == nil, err
}

// expire records the expiry of l; a print-if-unsigned letter comes with
// its render (pr), which is queued for print.
func (s *Service) expire(ctx context.Context, tx Tx, l Letter, pr *printRender) error {
	if l.State != StateAwaitingAcceptance {
		return nil
	}
	if l.PrintIfUnsigned > 0 && pr == nil {
		return errors.New("mailbox: a print-if-unsigned letter expires with its render")
	}
	now := s.now()
	events := []signing.Evidence{{Event: signing.EventAcceptanceRejectionExpiry, Time: now,
		Details: map[string]string{"deadline": l.Deadline.UTC().Format(time.RFC3339)}}}
	if l.PrintIfUnsigned > 0 {
		if pr.err != nil {
			// Unprintable now (it was checked at submission; a renderer
			// change could still refuse): keep the expiry, log loudly.
			s.log.ErrorContext(ctx, "print-if-unsigned failed", "letter", l.ID, "err", pr.err)
		} else {
			addr, err := loadAddress(l.RecipientJSON)
			if err != nil {
				return err
			}
			// The job and its PDF (rendered before this transaction) are
			// written first; the evidence is appended last.
			job := s.newLetterJob(l, addr, pr.doc)
			if err := s.writeJob(ctx, tx, *job, pr.doc.PDF); err != nil {
				return err
			}
			events = append(events, s.relayEvidence(*job, ReasonPrintIfUnsigned, now))
		}
	}
	if err := s.notify(ctx, tx, l.SenderMailbox, NotifyReceiptReady, l.ID); err != nil {
		return err
	}
	return s.recordLetter(ctx, tx, &l, events...)
}

// loadPrintContent decrypts a stored letter's body and attachments.
func (s *Service) loadPrintContent(ctx context.Context, tx Tx, l Letter) (string, []PrintAttachment, error) {
	a, err := s.cfg.Keys.LetterKey(l.ID, l.ContentKey)
	if err != nil {
		return "", nil, err
	}
	var body strings.Builder
	if err := readPart(ctx, tx, a, l.ID, 0, &body); err != nil {
		return "", nil, err
	}
	atts := make([]PrintAttachment, len(l.Attachments))
	for i, m := range l.Attachments {
		// An office document prints from the rendition made at
		// submission, the one its evidence digests.
		part, ct := i+1, m.ContentType
		if m.RenditionChunks > 0 {
			part, ct = renditionPart(i+1), "application/pdf"
		}
		var b strings.Builder
		if err := readPart(ctx, tx, a, l.ID, part, &b); err != nil {
			return "", nil, err
		}
		if m.RenditionChunks > 0 && signing.DigestHex([]byte(b.String())) != m.RenditionSHA256 {
			return "", nil, fmt.Errorf("letter %s: rendition of attachment %d: digest mismatch: %w", l.ID, i+1, ErrCorruptContent)
		}
		atts[i] = PrintAttachment{Name: m.Name, ContentType: ct, Data: []byte(b.String())}
	}
	return body.String(), atts, nil
}
