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
	// Language of the printed labels if the letter is printed:
	// LanguageBelarusian, LanguageRussian, or "" to detect it from the
	// text.
	Language string
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
	// RecipientMailbox, when set (SMTP to <mailbox-id>@domain), names the
	// recipient's mailbox directly: an active mailbox at the written
	// delivery point receives the letter even if another holder of the same
	// name lives there. RecipientName and RecipientAddress are then the
	// holder's, for routing and print only: what the sender sees of the
	// letter (views, evidence) names the recipient by this id alone.
	RecipientMailbox string
	// Channel is the front door the letter came through (ChannelAPI,
	// ChannelSMTP), for the operator's count of accepted letters.
	Channel string
	// InReplyTo names the letter this one answers: one the sending
	// mailbox sent or received.
	InReplyTo string
}

// Submit validates, routes and durably stores a letter with its evidence
// (and print job). It returns only after the commit. replayed is true when
// the idempotency key matched an earlier submission.
//
// Everything that needs no lock happens here, concurrently for concurrent
// submissions: validation, address parsing, routing (read-only), the S10
// serial, rendering for print; the committer then writes the letter, its
// sealed evidence and its print job with others in one transaction.
func (s *Service) Submit(ctx context.Context, c Caller, sub Submission, d *Draft) (view LetterView, replayed bool, err error) {
	a, err := s.submit(ctx, c, sub, d, true)
	if err != nil || a.it == nil {
		return a.view, a.replayed, err
	}
	// The reply is built from what was just committed: no read-back of
	// the letter; the receipt's proofs are read from the committed tree.
	it := a.it
	ch := it.chain
	v := s.viewOf(it.l, "sent", nil)
	v.Evidence = make([]EvidenceBrief, len(ch.events))
	v.Envelopes = make([]json.RawMessage, len(ch.events))
	for k, ev := range ch.events {
		v.Evidence[k] = EvidenceBrief{ID: ev.ID, Event: string(ev.Event), Time: ev.Time, LogIndex: ch.first + uint64(k)}
		v.Envelopes[k] = ch.leaves[k]
	}
	if v.Receipt, err = chainReceipt(ch, it.appended.Checkpoint); err != nil {
		return LetterView{}, false, err
	}
	return v, false, nil
}

// accepted is what submit returns: the committed submission, or, when an
// idempotency key named an earlier letter, that letter's view.
type accepted struct {
	it       *batchItem // committed; nil when replayed
	view     LetterView // when it is nil
	replayed bool
}

// letter reports the accepted letter's id, tracking number and route.
func (a accepted) letter() (id, tracking, route string) {
	if a.it == nil {
		return a.view.ID, a.view.Tracking, a.view.Route
	}
	return a.it.l.ID, a.it.l.Tracking, a.it.l.Route
}

// submit is Submit up to the commit. receipt asks the committer for the
// inclusion proofs of the letter's entries, computed under the evidence
// log's head lock, that a receipt needs: Submit's callers are answered with
// one; a batch line is not (its sender fetches receipts per letter, GET
// /v1/letters/{id}/receipt), so it spares that work under the lock. The
// letter, its sealed evidence and the co-signed checkpoint are committed
// the same either way.
func (s *Service) submit(ctx context.Context, c Caller, sub Submission, d *Draft, receipt bool) (a accepted, err error) {
	defer func() {
		if err != nil {
			s.obs.SubmissionRefused(RefusalReason(err))
		}
	}()
	if c.Identity.Role != certs.RolePerson && c.Identity.Role != certs.RoleOrg {
		return a, Errorf(ErrForbidden, "role_not_allowed", "only person and org certificates send letters")
	}
	if err := s.checkSubmission(&sub); err != nil {
		return a, err
	}
	addr, err := addressing.Parse(sub.RecipientAddress)
	if err != nil {
		return a, Errorf(ErrInvalid, "bad_address", "%s", err.Error())
	}
	addrJSON, err := json.Marshal(addr)
	if err != nil {
		return a, err
	}
	reqHash := submissionHash(sub, d)

	// Stored times have microsecond precision: the reply must equal a later read.
	now := s.now().Truncate(time.Microsecond)
	it := &batchItem{key: sub.IdempotencyKey, reqHash: reqHash, body: sub.Body, draft: d}
	l := &it.l
	*l = Letter{
		ID: d.letterID, RecipientName: sub.RecipientName, RecipientAddress: sub.RecipientAddress,
		RecipientJSON: addrJSON, RecipientKey: addr.MatchKey(), RecipientPostcode: addr.Postcode,
		Registered: sub.Registered, Subject: sub.Subject, Language: sub.Language, PrintIfUnsigned: sub.PrintIfUnsignedAfter,
		ContentKey: d.wrapped, Attachments: d.attachments(), CreatedAt: now,
		SentByID: c.Identity.ID, SentByName: c.Identity.Name,
	}

	// Routing is decided outside the commit (read-only, concurrently for
	// concurrent submissions); the committer re-checks the chosen mailbox
	// inside the commit transaction (recheckRecipient). If it changed in
	// between, the letter is routed again from the start: nothing of it
	// was written.
	var decision string
	printChecked := false
	for attempt := 1; ; attempt++ {
		var earlier string
		earlier, decision, err = s.prepare(ctx, c, sub, d, addr, it, now, &printChecked)
		if err != nil {
			return a, err
		}
		if earlier != "" {
			v, err := s.sentView(ctx, c, earlier)
			return accepted{view: v, replayed: err == nil}, err
		}
		it.chain.prove = receipt
		if err := s.enqueue(ctx, it); err != nil {
			return a, err
		}
		if !it.rerouted {
			break
		}
		s.log.InfoContext(ctx, "recipient mailbox changed between routing and commit; routing again",
			"letter", l.ID, "mailbox", l.RecipientMailbox, "attempt", attempt)
		if attempt == maxRoutings {
			return a, Errorf(ErrConflict, "recipient_changed",
				"the recipient's mailbox changed %d times while the letter was being accepted; retry", maxRoutings)
		}
	}
	if it.replayed {
		// A concurrent retry with the same key committed first.
		v, replayed, err := s.replay(ctx, c, sub, reqHash)
		return accepted{view: v, replayed: replayed}, err
	}
	s.obs.LetterAccepted(l.Route, channelLabel(sub.Channel))
	s.log.InfoContext(ctx, "letter accepted", "letter", l.ID, "route", l.Route, "reason", decision, "registered", l.Registered)
	if s.submitted != nil {
		s.submitted(it)
	}
	return accepted{it: it}, nil
}

// maxRoutings bounds how often one submission is routed again because its
// recipient's mailbox changed between routing and commit.
const maxRoutings = 3

// prepare routes a submission (in a read-only transaction shared with
// concurrent submissions: routed), checks that it
// can be printed if it may have to be, takes its serial, renders it if it
// is printed and builds its events: everything of it but the write. It
// returns the letter an idempotency key already names instead, if any.
// It may run again for the same submission (see maxRoutings): the serial
// and the print check are kept from the first run.
func (s *Service) prepare(ctx context.Context, c Caller, sub Submission, d *Draft, addr addressing.Address, it *batchItem, now time.Time, printChecked *bool) (earlier, decision string, err error) {
	l := &it.l
	var senderEmail, recipientEmail string
	err = s.routed(ctx, c, sub, addr, func(ctx context.Context, tx Tx) error {
		sender, err := s.senderMailbox(ctx, tx, c, sub.FromMailbox)
		if err != nil {
			return err
		}
		if sub.IdempotencyKey != "" {
			if earlier, err = s.earlierSubmission(ctx, tx, sender.ID, sub.IdempotencyKey, it.reqHash); err != nil || earlier != "" {
				return err
			}
		}
		l.SenderMailbox, l.SenderName, l.SenderAddress, senderEmail = sender.ID, sender.HolderName, sender.Address, sender.Email
		byMailbox := false
		if sub.InReplyTo != "" {
			if l.InReplyTo, l.ThreadID, err = s.replyTo(ctx, tx, sender.ID, sub.InReplyTo); err != nil {
				return err
			}
		}
		route, reason, recipient, err := s.route(ctx, tx, addr, sub.RecipientName)
		if err != nil {
			return err
		}
		if sub.RecipientMailbox != "" {
			m, err := tx.GetMailbox(ctx, sub.RecipientMailbox)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if err == nil {
				ok, err := deliverable(ctx, tx, m, addr, sub.RecipientName, true)
				if err != nil {
					return err
				}
				if ok {
					route, reason, recipient = RouteElectronic, "", m.ID
					byMailbox = true
				}
			}
		}
		// A pending mailbox is the holder's business until its address is
		// proven: the sender (view, receipt, evidence) is told no-mailbox,
		// as if there were none; the operator's log keeps the decision.
		decision = reason
		l.Route, l.RouteReason, l.RecipientMailbox = route, senderReason(reason), recipient
		l.RecipientByMailbox = sub.RecipientMailbox != ""
		it.byMailbox = byMailbox
		if recipient != "" {
			m, err := tx.GetMailbox(ctx, recipient)
			if err != nil {
				return err
			}
			recipientEmail = m.Email
		}
		return nil
	})
	if err != nil || earlier != "" {
		return earlier, "", err
	}
	it.sender = l.SenderMailbox
	if (l.Route == RoutePrint || sub.PrintIfUnsignedAfter > 0) && !*printChecked {
		*printChecked = true
		if err := s.checkPrintable(ctx, l, addr, d); err != nil {
			return "", "", err
		}
	}
	// The content's digests, renditions' included, once the renditions
	// exist.
	content := signing.Content{BodySHA256: signing.DigestHex([]byte(sub.Body))}
	for _, a := range l.Attachments {
		content.Attachments = append(content.Attachments, signing.Attachment{Name: a.Name, Size: a.Size, SHA256: a.SHA256,
			RenditionSHA256: a.RenditionSHA256})
	}
	contentJSON, err := json.Marshal(content)
	if err != nil {
		return "", "", err
	}
	l.ContentJSON, l.ContentDigest = contentJSON, signing.DigestHex(contentJSON)
	if sub.Registered && l.Tracking == "" {
		serial, err := s.nextSerial(ctx)
		if err != nil {
			return "", "", err
		}
		if l.Tracking, err = addressing.S10(uint32(serial)); err != nil {
			return "", "", err
		}
	}

	it.job, it.pdf, l.Deadline, l.NotificationID = nil, nil, time.Time{}, ""
	events := []signing.Evidence{{ID: uuid.NewString(), Event: signing.EventSubmissionAcceptance,
		Content: &content, Route: l.Route, Reason: l.RouteReason, Time: now}}
	if l.InReplyTo != "" {
		// Sealed, so a reply's proof says what it answered.
		events[0].Details = map[string]string{"in_reply_to": l.InReplyTo}
	}
	switch {
	case l.Route == RoutePrint:
		atts, err := d.printAttachments()
		if err != nil {
			return "", "", err
		}
		doc, err := s.render(ctx, *l, addr, sub.Body, atts)
		if err != nil {
			return "", "", err
		}
		it.job, it.pdf = s.newLetterJob(*l, addr, doc), doc.PDF
		events = append(events, s.relayEvidence(*it.job, l.RouteReason, now))
	case sub.Registered:
		period := s.cfg.Limits.DefaultAcceptance
		if sub.AcceptancePeriod > 0 {
			period = sub.AcceptancePeriod
		}
		if sub.PrintIfUnsignedAfter > 0 {
			period = sub.PrintIfUnsignedAfter
		}
		l.Deadline = now.Add(period)
		l.NotificationID = uuid.NewString()
		events = append(events, signing.Evidence{ID: l.NotificationID, Event: signing.EventNotificationForAcceptance,
			Content: &content, Route: l.Route, Time: now,
			Details: map[string]string{"deadline": l.Deadline.UTC().Format(time.RFC3339)}})
	default:
		events = append(events, signing.Evidence{ID: uuid.NewString(), Event: signing.EventContentConsignment,
			Content: &content, Route: l.Route, Time: now})
	}
	// The transition table decides the letter's state from its events.
	if it.chain, err = s.letterChain(l, now, events...); err != nil {
		return "", "", err
	}
	it.notes = s.notifications(now, l.ID, [2]string{l.RecipientMailbox, recipientEmail}, NotifyLetterWaiting,
		[2]string{l.SenderMailbox, senderEmail}, NotifyReceiptReady)

	return "", decision, nil
}

// notifications builds outbox rows for (mailbox, email, kind) triples that
// have an email.
func (s *Service) notifications(now time.Time, letterID string, a [2]string, akind string, b [2]string, bkind string) []Notification {
	var out []Notification
	for _, p := range []struct {
		to   [2]string
		kind string
	}{{a, akind}, {b, bkind}} {
		if p.to[0] != "" && p.to[1] != "" {
			out = append(out, Notification{ID: uuid.NewString(), Kind: p.kind, MailboxID: p.to[0], LetterID: letterID,
				To: p.to[1], CreatedAt: now, NextAt: now})
		}
	}
	return out
}

func (s *Service) checkSubmission(sub *Submission) error {
	lim := s.cfg.Limits
	if err := checkText("recipient_name", sub.RecipientName, lim.MaxNameRunes, true); err != nil {
		return err
	}
	if len(sub.RecipientAddress) > 1000 {
		return Errorf(ErrInvalid, "bad_address", "recipient address is too long")
	}
	// The address as written is stored, sealed and shown: one line, no
	// controls (the parser takes commas where people break lines).
	if err := checkText("address", sub.RecipientAddress, 1000, true); err != nil {
		return err
	}
	if err := checkText("subject", sub.Subject, lim.MaxSubjectRunes, false); err != nil {
		return err
	}
	if sub.Language != "" && sub.Language != LanguageBelarusian && sub.Language != LanguageRussian {
		return Errorf(ErrInvalid, "bad_language", "language must be be (Belarusian) or ru (Russian)")
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
				return Errorf(ErrInvalid, "bad_period", "an acceptance period must be between 1h and %s", FormatPeriod(lim.MaxAcceptance))
			}
		}
	}
	if sub.InReplyTo != "" && !looksLikeUUID(sub.InReplyTo) {
		return Errorf(ErrInvalid, "bad_in_reply_to", "in_reply_to must be a letter id (a lowercase UUID)")
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
	fmt.Fprintf(h, "%q %q %v %q %d %d %q\n", sub.RecipientName, sub.RecipientAddress, sub.Registered, sub.Subject,
		sub.PrintIfUnsignedAfter, sub.AcceptancePeriod, sub.Language)
	h.Write([]byte(sub.Body))
	for _, a := range d.attachments() {
		fmt.Fprintf(h, "\n%q %s", a.Name, a.SHA256)
	}
	if sub.InReplyTo != "" {
		// Only when set: the hashes of keys stored before replies existed
		// stay valid.
		fmt.Fprintf(h, "\nin-reply-to %s", sub.InReplyTo)
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
		letterID, err = s.earlierSubmission(ctx, tx, sender.ID, sub.IdempotencyKey, reqHash)
		return err
	})
	if err != nil || letterID == "" {
		return LetterView{}, false, err
	}
	v, err := s.sentView(ctx, c, letterID)
	return v, err == nil, err
}

// earlierSubmission returns the letter an idempotency key already names
// ("" if none); the same key for a different request is a conflict.
func (s *Service) earlierSubmission(ctx context.Context, tx Tx, sender, key, reqHash string) (string, error) {
	h, id, err := tx.GetIdempotencyKey(ctx, sender, key)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if h != reqHash {
		return "", Errorf(ErrConflict, "idempotency_key_reused", "this Idempotency-Key was used for a different letter")
	}
	return id, nil
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
		if m.Status != StatusActive {
			if holderMatches(m, name) && sameDeliveryPoint(m, addr) {
				pending = append(pending, m)
			}
			continue
		}
		ok, err := deliverable(ctx, tx, m, addr, name, false)
		if err != nil {
			return "", "", "", err
		}
		if ok {
			active = append(active, m)
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

// deliverable is the one rule for whether a letter to addr, written to
// name, may be delivered into mailbox m: the mailbox is active, at the
// letter's delivery point, its holder is the one the letter names (unless
// the sender named the mailbox itself, byMailbox), and someone holds a
// credential bound to it now — a mailbox whose every credential was
// unbound has no reader, and its post goes on paper. Routing applies it,
// and the commit applies it again (recheckRecipient).
func deliverable(ctx context.Context, tx Tx, m Mailbox, addr addressing.Address, name string, byMailbox bool) (bool, error) {
	if !matches(m, addr, name, byMailbox) {
		return false, nil
	}
	return bound(ctx, tx, m.ID)
}

// matches is deliverable without the credentials.
func matches(m Mailbox, addr addressing.Address, name string, byMailbox bool) bool {
	if m.Status != StatusActive || m.MatchKey != addr.MatchKey() {
		return false
	}
	return byMailbox || holderMatches(m, name) && sameDeliveryPoint(m, addr)
}

// bound reports whether a credential is bound to the mailbox now.
func bound(ctx context.Context, tx Tx, mailboxID string) (bool, error) {
	creds, err := tx.Credentials(ctx, mailboxID)
	if err != nil {
		return false, err
	}
	return anyBound(creds), nil
}

// recheckRecipient applies deliverable again, inside the commit
// transaction, to the mailbox an electronic letter was routed to outside
// it: between the two the mailbox may have been unbound, readdressed or
// recovered by another holder. seen holds what recipientsOf read (and
// locked) of every recipient of the group. A printed letter is not
// checked: a mailbox activated meanwhile loses nothing by a paper copy,
// and nobody else can read it.
func recheckRecipient(_ context.Context, _ Tx, it *batchItem, seen map[string]recipientFacts) (bool, error) {
	l := it.l
	if l.Route != RouteElectronic {
		return true, nil
	}
	f := seen[l.RecipientMailbox]
	if !f.found || !f.bound {
		return false, nil
	}
	var addr addressing.Address
	if err := json.Unmarshal(l.RecipientJSON, &addr); err != nil {
		return false, err
	}
	return matches(f.m, addr, l.RecipientName, it.byMailbox), nil
}

// recipientsOf reads and locks the recipient mailboxes of a group's
// electronic letters with their credentials: two statements for the
// group (a batch often carries many letters to one mailbox). The rows are
// read-locked (in id order) so that the answer holds until the letters
// commit: whoever changes a mailbox locks its row for update first
// (LockMailbox), and waits. Two committers share the read locks, so
// letters to one mailbox do not serialize their groups.
func recipientsOf(ctx context.Context, tx Tx, items []*batchItem) (map[string]recipientFacts, error) {
	seen := map[string]recipientFacts{}
	var ids []string
	for _, it := range items {
		if it.l.Route == RouteElectronic {
			ids = append(ids, it.l.RecipientMailbox)
		}
	}
	if len(ids) == 0 {
		return seen, nil
	}
	ms, err := tx.GetMailboxes(ctx, ids, true)
	if err != nil {
		return nil, err
	}
	found := make([]string, len(ms))
	for i, m := range ms {
		found[i] = m.ID
	}
	creds, err := tx.CredentialsOf(ctx, found)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		seen[m.ID] = recipientFacts{m: m, found: true, bound: anyBound(creds[m.ID])}
	}
	return seen, nil
}

// anyBound reports whether one of the bindings is current.
func anyBound(creds []Credential) bool {
	for _, c := range creds {
		if c.UnboundAt.IsZero() {
			return true
		}
	}
	return false
}

// recipientFacts is what the commit read of one recipient mailbox.
type recipientFacts struct {
	m            Mailbox
	found, bound bool
}

// sameDeliveryPoint compares what the match key leaves out: a letter
// whose postcode, district or selsoviet differs from the mailbox's names
// another delivery point (a namesake village, another post office).
func sameDeliveryPoint(m Mailbox, addr addressing.Address) bool {
	var ma addressing.Address
	if err := json.Unmarshal(m.AddressJSON, &ma); err != nil {
		return false
	}
	return addressing.SameLocality(ma, addr)
}

// senderReason is the route reason a sender may learn: whether someone has
// a mailbox at the address that is still pending is not theirs to know
// (their letter is printed either way).
func senderReason(reason string) string {
	if reason == ReasonPendingAddress {
		return ReasonNoMailbox
	}
	return reason
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
// Office documents are converted here, before the commit and outside any
// transaction, and their renditions pass the checks of an uploaded PDF.
func (s *Service) checkPrintable(ctx context.Context, l *Letter, addr addressing.Address, d *Draft) error {
	if addr.Postcode == "" {
		return Errorf(ErrInvalid, "postcode_required", "this letter may be printed, and a printed letter needs the recipient's postcode")
	}
	if s.cfg.Renderer != nil {
		if err := s.cfg.Renderer.CheckAddress(l.RecipientName, addr.Lines()); err != nil {
			return err
		}
	}
	for i, a := range l.Attachments {
		office, isOffice := officeByExtension(a.Name)
		if !printableTypes[a.ContentType] && !isOffice {
			return Errorf(ErrInvalid, "unprintable_attachment", "attachment %q (%s) cannot be printed: only %s can", a.Name, a.ContentType, printableFormats)
		}
		if s.cfg.Renderer == nil && !isOffice {
			continue
		}
		data, err := d.plaintext(i)
		if err != nil {
			return err
		}
		if isOffice {
			if _, _, err := recognizeOffice(a.Name, data); err != nil {
				return err
			}
			if s.cfg.Converter == nil {
				return Errorf(ErrInvalid, "conversion_unavailable",
					"attachment %q is a %s document, and this server cannot convert office documents for print (LibreOffice is not installed); send it as PDF", a.Name, office.Name)
			}
			pdf, err := s.cfg.Converter.ConvertToPDF(ctx, a.Name, office, data)
			if err != nil {
				var de *Error
				if errors.As(err, &de) || ctx.Err() != nil {
					return err
				}
				return Errorf(ErrInvalid, "conversion_failed", "attachment %q could not be converted to PDF for print", a.Name)
			}
			d.setRendition(i, pdf)
			l.Attachments[i] = d.parts[i].meta
			data = pdf
			if s.cfg.Renderer == nil {
				continue
			}
		}
		ct := a.ContentType
		if isOffice {
			ct = "application/pdf"
		}
		if err := s.cfg.Renderer.CheckAttachment(a.Name, ct, data); err != nil {
			if renderBusy(err) {
				return err
			}
			if isOffice {
				return Errorf(ErrInvalid, "unprintable_attachment", "attachment %q converted to PDF cannot be printed: %v", a.Name, err)
			}
			return Errorf(ErrInvalid, "unprintable_attachment", "attachment %q cannot be printed: %v", a.Name, err)
		}
	}
	return nil
}

// bodyChunks seals a body (part 0) into chunks.
func bodyChunks(letterID string, d *Draft, body string) []Chunk {
	return sealPart(letterID, d, 0, []byte(body))
}

// sealPart seals a part held in memory into chunks.
func sealPart(letterID string, d *Draft, part int, b []byte) []Chunk {
	var out []Chunk
	for chunk := 0; ; chunk++ {
		n := min(len(b), ChunkSize)
		last := n == len(b)
		out = append(out, Chunk{LetterID: letterID, Part: part, Index: chunk, Data: sealChunk(d.aead, letterID, part, chunk, last, b[:n])})
		b = b[n:]
		if last {
			return out
		}
	}
}

// storeAttachments moves the staged, sealed attachment chunks into the
// store, one chunk at a time (bounded memory), and the renditions of
// office documents beside them.
func storeAttachments(ctx context.Context, tx Tx, letterID string, d *Draft) error {
	for i, p := range d.parts {
		part := i + 1
		if err := p.stagedChunks(func(chunk int, sealed []byte) error {
			return tx.PutChunk(ctx, letterID, part, chunk, sealed)
		}); err != nil {
			return err
		}
		if len(p.renditionChunks) > 0 {
			if err := tx.PutChunks(ctx, p.renditionChunks); err != nil {
				return err
			}
		}
	}
	return nil
}

// render renders a letter for print.
func (s *Service) render(ctx context.Context, l Letter, addr addressing.Address, body string, atts []PrintAttachment) (Rendered, error) {
	if s.cfg.Renderer == nil {
		return Rendered{}, nil
	}
	doc, err := s.cfg.Renderer.RenderLetter(ctx, PrintLetter{ID: l.ID, Tracking: l.Tracking,
		SenderLine: l.SenderName + ", " + l.SenderAddress, RecipientName: l.RecipientName,
		AddressLines: addr.Lines(), Subject: l.Subject, Body: body, Date: l.CreatedAt, Attachments: atts,
		Language: l.Language})
	if err != nil {
		var coded *Error
		if renderBusy(err) || ctx.Err() != nil || errors.As(err, &coded) {
			return Rendered{}, err
		}
		return Rendered{}, Errorf(ErrInvalid, "unprintable", "the letter cannot be printed: %v", err)
	}
	return doc, nil
}

// renderBusy reports a renderer that could not take the work now (its pool
// is full): the letter is fine, the client retries later.
func renderBusy(err error) bool { return errors.Is(err, ErrUnavailable) }

func (s *Service) newLetterJob(l Letter, addr addressing.Address, doc Rendered) *PrintJob {
	now := s.now()
	return &PrintJob{
		ID: uuid.NewString(), Kind: JobLetter, LetterID: l.ID, Tracking: l.Tracking, Region: regionOf(addr.Postcode),
		Postcode: addr.Postcode, RecipientName: l.RecipientName, State: JobQueued, AvailableAt: now,
		PDFSHA256: doc.SHA256, Pages: doc.Pages, Sheets: doc.Sheets, CreatedAt: now,
	}
}

func (s *Service) relayEvidence(job PrintJob, reason string, now time.Time) signing.Evidence {
	return signing.Evidence{ID: uuid.NewString(), Event: signing.EventRelayToNonERDS, Route: RoutePrint, Reason: reason,
		PDFSHA256: job.PDFSHA256, Time: now,
		Details: map[string]string{"print_job": job.ID, "region": job.Region, "postcode": job.Postcode}}
}

// writeJob stores a print job and its rendered PDF (encrypted under its
// own key).
func (s *Service) writeJob(ctx context.Context, tx Tx, job PrintJob, pdf []byte) error {
	if pdf != nil {
		blob, err := s.sealBlob(job.ID, pdf)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, pdfBlobKey(job.ID), blob); err != nil {
			return err
		}
	}
	return tx.CreatePrintJob(ctx, job)
}

// MailboxByID returns the mailbox a letter addressed to it by id (SMTP
// RCPT TO <id>@domain) would be delivered to: one that exists and passes
// deliverable at its own address. Anything else is ErrNotFound, so that a
// sender learns nothing of a mailbox still pending or without a holder.
// Submit applies the same rule again when the letter is routed.
func (s *Service) MailboxByID(ctx context.Context, id string) (Mailbox, error) {
	var m Mailbox
	err := s.groupRead(ctx, &routeReq{recipient: id, fn: func(ctx context.Context, tx Tx) error {
		var err error
		if m, err = tx.GetMailbox(ctx, id); err != nil {
			return err
		}
		var addr addressing.Address
		if err := json.Unmarshal(m.AddressJSON, &addr); err != nil {
			return err
		}
		ok, err := deliverable(ctx, tx, m, addr, m.HolderName, true)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	}})
	if err != nil {
		return Mailbox{}, err
	}
	return m, nil
}
