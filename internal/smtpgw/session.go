package smtpgw

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// session is one client's SMTP session. go-smtp calls its methods from the
// connection's goroutine; Reset and Logout may also run from Close.
type session struct {
	srv  *Server
	conn *smtp.Conn
	tc   *trackedConn // nil only if the listener is not ours
	tls  bool
	id   *certs.Identity

	// mu guards closeAfter and released; the transaction's fields below
	// belong to the connection's goroutine.
	mu         sync.Mutex
	closeAfter bool // close the connection after the next reply
	released   bool

	// The transaction, from MAIL to the reply to DATA.
	sender     mailbox.Mailbox
	senderAddr string
	rcpt       *recipient
	deadline   time.Time
}

// recipient is the accepted RCPT: a mailbox (direct) or post@domain.
type recipient struct {
	address string // lower case
	mailbox *mailbox.Mailbox
}

var _ smtp.Session = (*session)(nil)

func (s *session) caller() mailbox.Caller { return mailbox.Caller{Identity: *s.id} }

// reply turns err into the *smtp.SMTPError go-smtp writes (it writes any
// other error's text verbatim), logging what the client does not see.
func (s *session) reply(stage string, err error) error {
	r, ref, internal := replyFor(err)
	s.srv.cfg.Replies(r.Code)
	attrs := []any{"stage", stage, "code", r.Code, "enhanced", fmt.Sprintf("%d.%d.%d", r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2])}
	if s.id != nil {
		attrs = append(attrs, "serial", s.id.Serial)
	}
	var de *mailbox.Error
	var rf *refusal
	switch {
	case internal:
		s.srv.log.Error("smtp: internal error", append(attrs, "ref", ref, "err", err)...)
	case errors.As(err, &de):
		// The domain code, not its message: messages may quote addresses.
		s.srv.log.Info("smtp: refused", append(attrs, "reason", de.Code)...)
	case errors.As(err, &rf):
		s.srv.log.Info("smtp: refused", append(attrs, "reason", rf.kind.Error())...)
	default:
		s.srv.log.Info("smtp: refused", attrs...)
	}
	return r
}

func (s *session) setCloseAfter() {
	s.mu.Lock()
	s.closeAfter = true
	s.mu.Unlock()
}

// Mail starts a transaction: TLS, a certificate still valid and not revoked,
// and an envelope sender that is an active mailbox of that certificate.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.endTx()
	if !s.tls {
		return s.reply("mail", refuse(ErrNoTLS, 530, enhAuthRequired, "Must issue a STARTTLS command first (RFC 3207)"))
	}
	if s.id == nil {
		return s.reply("mail", refuse(ErrNoCertificate, 530, enhAuthRequired, "A client certificate of an npes mailbox is required"))
	}
	if s.srv.isDraining() {
		return s.reply("mail", refuse(ErrBusy, 421, smtp.EnhancedCode{4, 3, 2}, "Service shutting down, try again later"))
	}
	if s.id.Role != certs.RolePerson && s.id.Role != certs.RoleOrg {
		return s.reply("mail", refuse(ErrSender, 550, enhNotAuthz, "Only person and org certificates send letters"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.lim.CommandTimeout)
	defer cancel()
	if err := s.checkCertificate(ctx); err != nil {
		return s.reply("mail", err)
	}
	local, domain, ok := splitAddress(from)
	if !ok || !strings.EqualFold(domain, s.srv.cfg.Domain) || !looksLikeUUID(local) {
		return s.reply("mail", refuse(ErrSender, 553, enhNotAuthz, "The envelope sender must be your mailbox address <mailbox-id>@%s", s.srv.cfg.Domain))
	}
	mine, err := s.srv.cfg.Service.MyMailboxes(ctx, s.caller())
	if err != nil {
		return s.reply("mail", err)
	}
	id := strings.ToLower(local)
	for _, m := range mine {
		if m.ID != id {
			continue
		}
		if m.Status != mailbox.StatusActive {
			return s.reply("mail", refuse(ErrSender, 553, enhNotAuthz, "Mailbox %s is not active: its address is not proven yet", m.ID))
		}
		s.sender, s.senderAddr = m, id+"@"+strings.ToLower(s.srv.cfg.Domain)
		s.deadline = time.Now().Add(s.srv.lim.TransactionTimeout)
		if s.tc != nil {
			s.tc.busy.Store(true)
		}
		s.srv.cfg.Replies(250)
		return nil
	}
	return s.reply("mail", refuse(ErrSender, 553, enhNotAuthz, "<%s> is not a mailbox of the presented certificate", truncate(from, 100)))
}

// checkCertificate repeats, for a connection that may be old, the checks of
// the handshake that can change over time: expiry and revocation.
func (s *session) checkCertificate(ctx context.Context) error {
	if s.srv.cfg.Now().After(s.id.NotAfter) {
		return refuse(ErrNoCertificate, 535, smtp.EnhancedCode{5, 7, 8}, "The client certificate has expired")
	}
	if rev := s.srv.cfg.Revocations; rev != nil {
		revoked, err := rev.IsRevoked(ctx, s.id.Serial)
		if err != nil {
			return refuse(ErrBusy, 451, enhTempSystem, "Cannot check the certificate's revocation now, try again later")
		}
		if revoked {
			// The API's error code for the same refusal, in the reply and
			// in the log line of the refusal, so both name it alike.
			return refuse(fmt.Errorf("%w: certificate_revoked", ErrNoCertificate), 535, smtp.EnhancedCode{5, 7, 8},
				"certificate_revoked: The client certificate is revoked")
		}
	}
	return nil
}

// Rcpt accepts one recipient: an active mailbox of this domain, or
// post@domain (the recipient is then named in the message's header).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.sender.ID == "" {
		return s.reply("rcpt", &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL first"})
	}
	if !time.Now().Before(s.deadline) {
		return s.reply("rcpt", refuse(ErrTimeout, 451, enhTempTimeout, "Transaction timeout, start again"))
	}
	local, domain, ok := splitAddress(to)
	if !ok || !strings.EqualFold(domain, s.srv.cfg.Domain) {
		return s.reply("rcpt", refuse(ErrRecipient, 550, enhNotAuthz, "Relaying denied: this gateway takes letters for @%s only", s.srv.cfg.Domain))
	}
	addr := strings.ToLower(local) + "@" + strings.ToLower(domain)
	if strings.EqualFold(local, "post") {
		s.rcpt = &recipient{address: addr}
		s.srv.cfg.Replies(250)
		return nil
	}
	if !looksLikeUUID(local) {
		return s.reply("rcpt", refuse(ErrRecipient, 550, enhBadDestMbox, "No such mailbox <%s>", truncate(addr, 100)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.lim.CommandTimeout)
	defer cancel()
	m, err := s.srv.cfg.Service.MailboxByID(ctx, strings.ToLower(local))
	// A mailbox that cannot receive (not active yet, no holder bound) is
	// answered exactly as one that does not exist: a sender learns nothing
	// of someone else's pending mailbox.
	switch {
	case err != nil && !errors.Is(err, mailbox.ErrNotFound):
		return s.reply("rcpt", err)
	case err != nil:
		return s.reply("rcpt", refuse(ErrRecipient, 550, enhBadDestMbox, "No such mailbox <%s>", addr))
	}
	s.rcpt = &recipient{address: addr, mailbox: &m}
	s.srv.cfg.Replies(250)
	return nil
}

// Data reads the message through the strict line reader into a draft,
// submits it and answers 250 only after the commit.
func (s *session) Data(r io.Reader) error {
	start := time.Now()
	if s.rcpt == nil {
		return s.reply("data", &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "RCPT first"})
	}
	nc := s.conn.Conn()
	dr := &deadlineReader{r: r, conn: nc, idle: s.srv.lim.CommandTimeout, deadline: s.deadline}
	// With BDAT (RFC 3030) go-smtp reads chunks on this connection while
	// Data reads a pipe: the timer enforces the transaction deadline there.
	timer := time.AfterFunc(time.Until(s.deadline), func() { _ = nc.SetReadDeadline(time.Now()) })
	defer timer.Stop()

	lr := newLineReader(dr, s.srv.lim.MaxLineLength, s.srv.lim.MaxHeaderBytes)
	draft, err := s.srv.cfg.Service.NewDraft()
	if err != nil {
		s.drain(dr)
		return s.reply("data", err)
	}
	defer draft.Close()
	lim := s.srv.cfg.Service.Limits()
	msg, perr := parseMessage(lr, parseLimits{
		MaxHeaderBytes: s.srv.lim.MaxHeaderBytes, MaxBodyBytes: lim.MaxBodyBytes,
		MaxDepth: s.srv.lim.MaxMIMEDepth, MaxParts: s.srv.lim.MaxMIMEParts,
	}, draft, lr.addBoundary)
	if perr == nil {
		// The epilogue too: a bare LF after the last boundary is as bad.
		_, perr = io.Copy(io.Discard, lr)
	}
	// The stream's own verdict (line endings, size, timeout) wins over what
	// the parser made of it.
	if lr.err != nil {
		perr = lr.err
	}
	if perr != nil {
		if isTimeout(perr) {
			// The client stalled: waiting for the rest would only wait
			// again. Answer and close.
			s.setCloseAfter()
		} else {
			s.drain(dr)
		}
		s.refused(perr)
		return s.reply("data", perr)
	}
	sub, err := s.submission(msg)
	if err != nil {
		s.refused(err)
		return s.reply("data", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.lim.CommitTimeout)
	defer cancel()
	v, replayed, err := s.srv.cfg.Service.Submit(ctx, s.caller(), sub, draft)
	if err != nil {
		return s.reply("data", err)
	}
	s.srv.log.Info("smtp: letter accepted", "letter", v.ID, "mailbox", s.sender.ID, "serial", s.id.Serial,
		"route", v.Route, "replayed", replayed, "octets", lr.n, "attachments", msg.Attachments,
		"ms", time.Since(start).Milliseconds())
	text := "Letter " + v.ID + " accepted"
	if v.Tracking != "" {
		text += ", tracking " + v.Tracking
	}
	text += ", route " + v.Route
	if replayed {
		text += " (retry of this Message-ID: no new letter)"
	}
	// go-smtp writes an *SMTPError's code as is: this is how a backend
	// words its own 250.
	s.srv.cfg.Replies(250)
	return &smtp.SMTPError{Code: 250, EnhancedCode: enhOK, Message: text}
}

// refused counts a message refused before it reached the core (which
// counts its own refusals).
func (s *session) refused(err error) {
	if errors.Is(err, smtp.ErrDataTooLarge) {
		err = &refusal{kind: ErrTooLarge}
	}
	s.srv.cfg.Service.SubmissionRefused(err)
}

// drain reads the rest of DATA after a refusal, so the reply comes after the
// end of the message and the next line is a command again. If that fails
// (a timeout, or too much data), the stream cannot be trusted to be in step:
// the connection closes after the reply, rather than reading message lines
// as commands.
func (s *session) drain(dr *deadlineReader) {
	if _, err := io.Copy(io.Discard, dr); err != nil {
		s.setCloseAfter()
	}
}

// submission checks the parsed message against the envelope and builds the
// core's request.
func (s *session) submission(msg *parsed) (mailbox.Submission, error) {
	// The PEC rule: the author is the authenticated mailbox, exactly.
	if len(msg.From) != 1 || !strings.EqualFold(msg.From[0], s.senderAddr) {
		return mailbox.Submission{}, refuse(ErrSender, 550, enhNotAuthz, "The From field must be exactly your mailbox address <%s>", s.senderAddr)
	}
	if msg.MessageID == "" {
		return mailbox.Submission{}, refuse(ErrMalformed, 550, enhMedia, "A Message-ID field is required: it lets a retry return the same letter")
	}
	sub := mailbox.Submission{
		Registered: msg.Registered, Subject: msg.Subject, Body: msg.Body, Language: msg.Language,
		PrintIfUnsignedAfter: msg.PrintIfUnsigned, AcceptancePeriod: msg.AcceptancePeriod,
		FromMailbox: s.sender.ID, IdempotencyKey: idempotencyKey(s.rcpt.address, msg.MessageID),
		Channel: mailbox.ChannelSMTP, InReplyTo: msg.InReplyTo,
	}
	if m := s.rcpt.mailbox; m != nil {
		if msg.RecipientHeaders {
			return mailbox.Submission{}, refuse(ErrRecipient, 550, enhBadDestAddr, "%s and %s are for post@%s; a letter to a mailbox address goes to that mailbox", hdrRecipientName, hdrRecipientAddress, s.srv.cfg.Domain)
		}
		// The core routes by delivery point and holder name; the mailbox's
		// own name and address route to it.
		sub.RecipientName, sub.RecipientAddress, sub.RecipientMailbox = m.HolderName, m.Address, m.ID
		return sub, nil
	}
	if msg.RecipientName == "" || msg.RecipientAddress == "" {
		return mailbox.Submission{}, refuse(ErrRecipient, 550, enhBadDestAddr, "A letter to post@%s needs %s and %s", s.srv.cfg.Domain, hdrRecipientName, hdrRecipientAddress)
	}
	sub.RecipientName, sub.RecipientAddress = msg.RecipientName, msg.RecipientAddress
	return sub, nil
}

// idempotencyKey scopes a Message-ID to the recipient: the core scopes keys
// to the sender, and a client that splits one message over transactions
// (after 452 to a second RCPT) sends the same Message-ID to each recipient.
// The prefix keeps SMTP keys apart from the HTTP API's Idempotency-Key.
func idempotencyKey(rcpt, messageID string) string {
	h := sha256.Sum256([]byte(rcpt + "\n" + messageID))
	return "smtp:" + hex.EncodeToString(h[:])
}

// Reset ends the transaction (RSET, a new EHLO, or after the reply to DATA).
func (s *session) Reset() {
	s.endTx()
	s.mu.Lock()
	closeNow := s.closeAfter
	s.mu.Unlock()
	if closeNow || s.srv.isDraining() {
		_ = s.conn.Conn().Close()
	}
}

func (s *session) endTx() {
	s.sender, s.senderAddr, s.rcpt, s.deadline = mailbox.Mailbox{}, "", nil, time.Time{}
	if s.tc != nil {
		s.tc.busy.Store(false)
	}
}

// Logout frees the session's slot. go-smtp calls it at Close and at STARTTLS.
func (s *session) Logout() error {
	if s.tc != nil {
		s.tc.busy.Store(false)
	}
	s.mu.Lock()
	released := s.released
	s.released = true
	s.mu.Unlock()
	if released {
		return nil
	}
	if s.id != nil {
		s.srv.releaseIdentity(s.id.ID)
	}
	return nil
}

// deadlineReader gives each read of DATA the command timeout, never past the
// transaction's deadline, so a stalled client is cut off and a slow but
// steady one is not (go-smtp sets its read deadline once per command line,
// which would bound the whole of DATA by one command timeout). go-smtp's
// DATA reader fills the buffer it is given, so in effect each 32 KiB (the
// parser's buffer) must arrive within the command timeout.
type deadlineReader struct {
	r        io.Reader
	conn     net.Conn
	idle     time.Duration
	deadline time.Time
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	now := time.Now()
	if !now.Before(d.deadline) {
		return 0, refuse(ErrTimeout, 451, enhTempTimeout, "Transaction timeout: the message did not arrive in time; nothing was accepted")
	}
	dl := now.Add(d.idle)
	if dl.After(d.deadline) {
		dl = d.deadline
	}
	_ = d.conn.SetReadDeadline(dl)
	n, err := d.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && isTimeout(err) {
		return n, refuse(ErrTimeout, 451, enhTempTimeout, "Timeout: the message did not arrive in time; nothing was accepted")
	}
	return n, err
}

// splitAddress splits local@domain at the last @.
func splitAddress(a string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(a, '@')
	if i <= 0 || i == len(a)-1 {
		return "", "", false
	}
	return a[:i], a[i+1:], true
}

// looksLikeUUID accepts the canonical 8-4-4-4-12 hex form of mailbox ids,
// in either case.
func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}
