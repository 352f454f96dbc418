package mailbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// Submission is a letter as the sender hands it in (HTTP or SMTP).
type Submission struct {
	RecipientName    string
	RecipientAddress string
	Registered       bool
	Subject          string
	Body             string
	// PrintIfUnsignedAfter, for registered letters: the acceptance period,
	// after which an unanswered letter is printed and posted instead.
	PrintIfUnsignedAfter time.Duration
	// AcceptancePeriod overrides the default time to accept or refuse.
	AcceptancePeriod time.Duration
	// IdempotencyKey makes a retry return the first letter.
	IdempotencyKey string
	// FromMailbox picks one of the sender's mailboxes; empty means the
	// oldest active one.
	FromMailbox string
}

// Submit validates, routes and durably stores a letter with its evidence
// (and print job). It returns only after the commit. replayed is true when
// the idempotency key matched an earlier submission.
func (s *Service) Submit(ctx context.Context, c Caller, sub Submission, d *Draft) (view LetterView, replayed bool, err error) {
	if c.Identity.Role != certs.RolePerson && c.Identity.Role != certs.RoleOrg {
		return LetterView{}, false, Errorf(ErrForbidden, "role_not_allowed", "only person and org certificates send letters")
	}
	if err := s.checkSubmission(&sub); err != nil {
		return LetterView{}, false, err
	}
	addr, err := addressing.Parse(sub.RecipientAddress)
	if err != nil {
		return LetterView{}, false, Errorf(ErrInvalid, "bad_address", "%s", err.Error())
	}
	addrJSON, err := json.Marshal(addr)
	if err != nil {
		return LetterView{}, false, err
	}
	reqHash := submissionHash(sub, d)

	// Idempotent retry: answered before any work.
	if sub.IdempotencyKey != "" {
		if v, ok, err := s.replay(ctx, c, sub, reqHash); err != nil || ok {
			return v, ok, err
		}
	}

	content := signing.Content{BodySHA256: signing.DigestHex([]byte(sub.Body))}
	for _, a := range d.attachments() {
		content.Attachments = append(content.Attachments, signing.Attachment{Name: a.Name, Size: a.Size, SHA256: a.SHA256})
	}
	contentJSON, err := json.Marshal(content)
	if err != nil {
		return LetterView{}, false, err
	}
	now := s.now()
	l := Letter{
		ID: d.letterID, RecipientName: sub.RecipientName, RecipientAddress: sub.RecipientAddress,
		RecipientJSON: addrJSON, RecipientKey: addr.MatchKey(), RecipientPostcode: addr.Postcode,
		Registered: sub.Registered, Subject: sub.Subject, PrintIfUnsigned: sub.PrintIfUnsignedAfter,
		ContentJSON: contentJSON, ContentDigest: signing.DigestHex(contentJSON), ContentKey: d.wrapped,
		Attachments: d.attachments(), CreatedAt: now,
	}
	if sub.Registered {
		period := s.cfg.Limits.DefaultAcceptance
		if sub.AcceptancePeriod > 0 {
			period = sub.AcceptancePeriod
		}
		if sub.PrintIfUnsignedAfter > 0 {
			period = sub.PrintIfUnsignedAfter
		}
		l.Deadline = now.Add(period)
	}

	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		sender, err := s.senderMailbox(ctx, tx, c, sub.FromMailbox)
		if err != nil {
			return err
		}
		l.SenderMailbox, l.SenderName, l.SenderAddress = sender.ID, sender.HolderName, sender.Address
		if sub.IdempotencyKey != "" {
			if err := tx.PutIdempotencyKey(ctx, sender.ID, sub.IdempotencyKey, reqHash, l.ID, now); err != nil {
				return err // ErrConflict: a concurrent retry won; handled below
			}
		}
		route, reason, recipient, err := s.route(ctx, tx, addr, sub.RecipientName)
		if err != nil {
			return err
		}
		l.Route, l.RouteReason, l.RecipientMailbox = route, reason, recipient
		l.State = StateDelivered
		switch {
		case route == RoutePrint:
			l.State, l.Deadline = StatePrintQueued, time.Time{}
		case sub.Registered:
			l.State = StateAwaitingAcceptance
		}
		if route == RoutePrint || sub.PrintIfUnsignedAfter > 0 {
			if err := s.checkPrintable(&l, addr, d); err != nil {
				return err
			}
		}
		if sub.Registered {
			serial, err := tx.NextCounter(ctx, "s10")
			if err != nil {
				return err
			}
			if l.Tracking, err = addressing.S10(uint32(serial)); err != nil {
				return err
			}
		}
		if err := tx.CreateLetter(ctx, l); err != nil {
			return err
		}
		if err := s.storeContent(ctx, tx, &l, sub.Body, d); err != nil {
			return err
		}
		if _, err := s.record(ctx, tx, &l, signing.Evidence{Event: signing.EventSubmissionAcceptance,
			Content: &content, Route: l.Route, Reason: l.RouteReason, Time: now}); err != nil {
			return err
		}
		switch {
		case route == RoutePrint:
			var atts []PrintAttachment
			if atts, err = d.printAttachments(); err == nil {
				err = s.relayToPrint(ctx, tx, &l, addr, sub.Body, atts, reason)
			}
		case sub.Registered:
			var rec EvidenceRecord
			rec, err = s.record(ctx, tx, &l, signing.Evidence{Event: signing.EventNotificationForAcceptance,
				Content: &content, Route: route, Time: now,
				Details: map[string]string{"deadline": l.Deadline.UTC().Format(time.RFC3339)}})
			l.NotificationID = rec.ID
		default:
			_, err = s.record(ctx, tx, &l, signing.Evidence{Event: signing.EventContentConsignment,
				Content: &content, Route: route, Time: now})
		}
		if err != nil {
			return err
		}
		if err := s.notify(ctx, tx, l.RecipientMailbox, NotifyLetterWaiting, l.ID); err != nil {
			return err
		}
		if err := s.notify(ctx, tx, l.SenderMailbox, NotifyReceiptReady, l.ID); err != nil {
			return err
		}
		return tx.UpdateLetter(ctx, l)
	})
	if errors.Is(err, ErrConflict) && sub.IdempotencyKey != "" {
		// Two retries raced; the other committed first. Return its letter.
		if v, ok, rerr := s.replay(ctx, c, sub, reqHash); rerr != nil || ok {
			return v, ok, rerr
		}
	}
	if err != nil {
		return LetterView{}, false, err
	}
	s.log.InfoContext(ctx, "letter accepted", "letter", l.ID, "route", l.Route, "reason", l.RouteReason, "registered", l.Registered)
	v, err := s.GetLetter(ctx, c, l.ID)
	return v, false, err
}

func (s *Service) checkSubmission(sub *Submission) error {
	lim := s.cfg.Limits
	if err := checkText("recipient_name", sub.RecipientName, lim.MaxNameRunes, true); err != nil {
		return err
	}
	if strings.TrimSpace(sub.RecipientAddress) == "" {
		return Errorf(ErrInvalid, "missing_address", "recipient address is required")
	}
	if len(sub.RecipientAddress) > 1000 {
		return Errorf(ErrInvalid, "bad_address", "recipient address is too long")
	}
	if err := checkText("subject", sub.Subject, lim.MaxSubjectRunes, false); err != nil {
		return err
	}
	if int64(len(sub.Body)) > lim.MaxBodyBytes {
		return Errorf(ErrTooLarge, "body_too_large", "the body exceeds %d bytes", lim.MaxBodyBytes)
	}
	if !utf8.ValidString(sub.Body) {
		return Errorf(ErrInvalid, "bad_body", "the body is not valid UTF-8")
	}
	if strings.ContainsRune(sub.Body, 0) {
		return Errorf(ErrInvalid, "bad_body", "the body contains a NUL character")
	}
	if sub.PrintIfUnsignedAfter != 0 || sub.AcceptancePeriod != 0 {
		if !sub.Registered {
			return Errorf(ErrInvalid, "not_registered", "acceptance periods apply to registered letters only")
		}
		for _, p := range []time.Duration{sub.PrintIfUnsignedAfter, sub.AcceptancePeriod} {
			if p != 0 && (p < time.Hour || p > lim.MaxAcceptance) {
				return Errorf(ErrInvalid, "bad_period", "an acceptance period must be between 1h and %s", lim.MaxAcceptance)
			}
		}
	}
	if len(sub.IdempotencyKey) > 200 {
		return Errorf(ErrInvalid, "bad_idempotency_key", "Idempotency-Key is longer than 200 characters")
	}
	return nil
}

// submissionHash identifies the request behind an idempotency key, so a key
// reused for a different letter is refused instead of silently answered
// with the first one.
func submissionHash(sub Submission, d *Draft) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %v %q %d %d\n", sub.RecipientName, sub.RecipientAddress, sub.Registered, sub.Subject,
		sub.PrintIfUnsignedAfter, sub.AcceptancePeriod)
	h.Write([]byte(sub.Body))
	for _, a := range d.attachments() {
		fmt.Fprintf(h, "\n%q %s", a.Name, a.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Service) replay(ctx context.Context, c Caller, sub Submission, reqHash string) (LetterView, bool, error) {
	var letterID string
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		sender, err := s.senderMailbox(ctx, tx, c, sub.FromMailbox)
		if err != nil {
			return err
		}
		h, id, err := tx.GetIdempotencyKey(ctx, sender.ID, sub.IdempotencyKey)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if h != reqHash {
			return Errorf(ErrConflict, "idempotency_key_reused", "this Idempotency-Key was used for a different letter")
		}
		letterID = id
		return nil
	})
	if err != nil || letterID == "" {
		return LetterView{}, false, err
	}
	v, err := s.GetLetter(ctx, c, letterID)
	return v, err == nil, err
}

// senderMailbox picks the caller's sending mailbox: it must be active (its
// address is proven; it is the return address on printed letters).
func (s *Service) senderMailbox(ctx context.Context, tx Tx, c Caller, want string) (Mailbox, error) {
	mine, err := tx.MailboxesOfIdentity(ctx, c.Identity.ID)
	if err != nil {
		return Mailbox{}, err
	}
	for _, m := range mine {
		if m.Status == StatusActive && (want == "" || m.ID == want) {
			return m, nil
		}
	}
	if want != "" {
		return Mailbox{}, Errorf(ErrNotFound, "mailbox_not_found", "no such active mailbox of yours")
	}
	return Mailbox{}, Errorf(ErrForbidden, "no_active_mailbox", "sending needs an active mailbox: register one and prove its address")
}

// route decides electronic or print (DESIGN §1, flow 3): exactly one active
// mailbox at the delivery point whose holder matches the written name →
// electronic; otherwise print with the reason.
func (s *Service) route(ctx context.Context, tx Tx, addr addressing.Address, name string) (route, reason, mailboxID string, err error) {
	candidates, err := tx.MailboxesByMatchKey(ctx, addr.MatchKey())
	if err != nil {
		return "", "", "", err
	}
	var active, pending []Mailbox
	for _, m := range candidates {
		if !holderMatches(m, name) {
			continue
		}
		if m.Status == StatusActive {
			active = append(active, m)
		} else {
			pending = append(pending, m)
		}
	}
	switch {
	case len(active) == 1:
		return RouteElectronic, "", active[0].ID, nil
	case len(active) > 1:
		return RoutePrint, ReasonAmbiguous, "", nil
	case len(pending) > 0:
		return RoutePrint, ReasonPendingAddress, "", nil
	}
	return RoutePrint, ReasonNoMailbox, "", nil
}

func holderMatches(m Mailbox, written string) bool {
	if m.Kind == KindOrg {
		return addressing.MatchOrgName(written, m.HolderName) || (m.UNP != "" && strings.Contains(written, m.UNP))
	}
	return addressing.MatchPersonName(written, m.HolderName)
}

// checkPrintable refuses at submission a letter that may have to be printed
// but cannot be: an attachment of another type, or one the renderer refuses
// (active content, undecodable image), or no postcode to find a print centre.
func (s *Service) checkPrintable(l *Letter, addr addressing.Address, d *Draft) error {
	if addr.Postcode == "" {
		return Errorf(ErrInvalid, "postcode_required", "this letter may be printed, and a printed letter needs the recipient's postcode")
	}
	for i, a := range l.Attachments {
		if !printableTypes[a.ContentType] {
			return Errorf(ErrInvalid, "unprintable_attachment", "attachment %q (%s) cannot be printed: only PDF, PNG, JPEG and plain text can", a.Name, a.ContentType)
		}
		if s.cfg.Renderer == nil {
			continue
		}
		data, err := d.plaintext(i)
		if err != nil {
			return err
		}
		if err := s.cfg.Renderer.CheckAttachment(a.Name, a.ContentType, data); err != nil {
			return Errorf(ErrInvalid, "unprintable_attachment", "attachment %q cannot be printed: %v", a.Name, err)
		}
	}
	return nil
}

// storeContent writes the body (part 0) and the staged attachments.
func (s *Service) storeContent(ctx context.Context, tx Tx, l *Letter, body string, d *Draft) error {
	b := []byte(body)
	for chunk := 0; ; chunk++ {
		n := min(len(b), ChunkSize)
		last := n == len(b)
		if err := tx.PutChunk(ctx, l.ID, 0, chunk, sealChunk(d.aead, l.ID, 0, chunk, last, b[:n])); err != nil {
			return err
		}
		b = b[n:]
		if last {
			break
		}
	}
	for i, p := range d.parts {
		part := i + 1
		if err := p.stagedChunks(func(chunk int, sealed []byte) error {
			return tx.PutChunk(ctx, l.ID, part, chunk, sealed)
		}); err != nil {
			return err
		}
	}
	return nil
}

// relayToPrint renders the letter, queues its print job and records
// RelayToNonERDS with the PDF's digest, in the caller's transaction.
func (s *Service) relayToPrint(ctx context.Context, tx Tx, l *Letter, addr addressing.Address, body string, atts []PrintAttachment, reason string) error {
	var doc Rendered
	now := s.now()
	if s.cfg.Renderer != nil {
		pl := PrintLetter{ID: l.ID, Tracking: l.Tracking, SenderLine: l.SenderName + ", " + l.SenderAddress,
			RecipientName: l.RecipientName, AddressLines: addr.Lines(), Subject: l.Subject, Body: body, Date: l.CreatedAt,
			Attachments: atts}
		var err error
		doc, err = s.cfg.Renderer.RenderLetter(ctx, pl)
		if err != nil {
			return Errorf(ErrInvalid, "unprintable", "the letter cannot be printed: %v", err)
		}
	}
	job := PrintJob{
		ID: uuid.NewString(), Kind: JobLetter, LetterID: l.ID, Tracking: l.Tracking, Region: regionOf(addr.Postcode),
		Postcode: addr.Postcode, RecipientName: l.RecipientName, State: JobQueued, AvailableAt: now,
		PDFSHA256: doc.SHA256, Pages: doc.Pages, Sheets: doc.Sheets, CreatedAt: now,
	}
	if doc.PDF != nil {
		blob, err := s.sealBlob(job.ID, doc.PDF)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, pdfBlobKey(job.ID), blob); err != nil {
			return err
		}
	}
	if err := tx.CreatePrintJob(ctx, job); err != nil {
		return err
	}
	l.Route, l.State = RoutePrint, StatePrintQueued
	if l.RouteReason == "" {
		l.RouteReason = reason
	}
	_, err := s.record(ctx, tx, l, signing.Evidence{Event: signing.EventRelayToNonERDS, Route: RoutePrint, Reason: reason,
		PDFSHA256: doc.SHA256, Time: now, Details: map[string]string{"print_job": job.ID, "region": job.Region}})
	return err
}
