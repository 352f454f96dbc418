package mailbox

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/signing"
)

// LetterView is what a party of a letter may see of it.
type LetterView struct {
	ID             string          `json:"id"`
	Tracking       string          `json:"tracking,omitempty"`
	Route          string          `json:"route"`
	RouteReason    string          `json:"route_reason,omitempty"`
	State          string          `json:"state"`
	Registered     bool            `json:"registered"`
	Folder         string          `json:"folder"` // "sent" or "inbox" from the caller's side
	Sender         PartyView       `json:"sender"`
	Recipient      PartyView       `json:"recipient"`
	Subject        string          `json:"subject"`
	CreatedAt      time.Time       `json:"created_at"`
	Deadline       *time.Time      `json:"deadline,omitempty"`
	ContentSHA256  string          `json:"content_sha256"`
	Notification   string          `json:"notification_evidence,omitempty"`
	Attachments    int             `json:"attachments"`
	ContentVisible bool            `json:"content_available"`
	Evidence       []EvidenceBrief `json:"evidence"`
	// InReplyTo is the letter this one answers.
	InReplyTo string `json:"in_reply_to,omitempty"`
	// SentBy is the certificate name of the employee (identity) who sent
	// the letter, in the sender's view only; "" when not recorded.
	SentBy string `json:"sent_by,omitempty"`
	// Envelopes, when Submit fills it, holds the signed evidence of the
	// submission; not part of the JSON view.
	Envelopes []json.RawMessage `json:"-"`
	// Receipt is the sender's receipt, in the reply to a submission (and
	// to its idempotent retry).
	Receipt *signing.Receipt `json:"receipt,omitempty"`
}

// PartyView names a sender or recipient.
type PartyView struct {
	Mailbox string `json:"mailbox,omitempty"`
	Name    string `json:"name"`
	Address string `json:"address"`
}

// EvidenceBrief lists one evidence of a letter.
type EvidenceBrief struct {
	ID       string    `json:"id"`
	Event    string    `json:"event"`
	Time     time.Time `json:"time"`
	LogIndex uint64    `json:"log_index"`
}

// Content is a letter's content as handed to a party.
type Content struct {
	Body        string           `json:"body"`
	Attachments []AttachmentMeta `json:"attachments"`
}

// access resolves the caller's relation to a letter. Anything but sender or
// recipient is ErrNotFound: a letter that is not yours does not exist for
// you, whatever your role.
func (s *Service) access(ctx context.Context, tx Tx, c Caller, id string, lock bool) (Letter, string, error) {
	notFound := Errorf(ErrNotFound, "letter_not_found", "no such letter")
	if !looksLikeUUID(id) {
		return Letter{}, "", notFound
	}
	l, err := tx.GetLetter(ctx, id, lock)
	if errors.Is(err, ErrNotFound) {
		return Letter{}, "", notFound
	}
	if err != nil {
		return Letter{}, "", err
	}
	mine, err := tx.MailboxesOfIdentity(ctx, c.Identity.ID)
	if err != nil {
		return Letter{}, "", err
	}
	for _, m := range mine {
		switch m.ID {
		case l.SenderMailbox:
			return l, "sent", nil
		case l.RecipientMailbox:
			return l, "inbox", nil
		}
	}
	return Letter{}, "", notFound
}

func looksLikeUUID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, r := range id {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

func (s *Service) view(ctx context.Context, tx Tx, l Letter, folder string) (LetterView, error) {
	evs, err := tx.EvidenceSummaries(ctx, []string{l.ID})
	if err != nil {
		return LetterView{}, err
	}
	return s.viewOf(l, folder, evs), nil
}

// viewOf builds the view of a letter with its evidence records.
func (s *Service) viewOf(l Letter, folder string, evs []EvidenceRecord) LetterView {
	v := LetterView{
		ID: l.ID, Tracking: l.Tracking, Route: l.Route, RouteReason: l.RouteReason, State: l.State,
		Registered: l.Registered, Folder: folder,
		Sender:    PartyView{Mailbox: l.SenderMailbox, Name: l.SenderName, Address: l.SenderAddress},
		Recipient: PartyView{Mailbox: l.RecipientMailbox, Name: l.RecipientName, Address: l.RecipientAddress},
		Subject:   l.Subject, CreatedAt: l.CreatedAt, ContentSHA256: l.ContentDigest,
		Notification: l.NotificationID, Attachments: len(l.Attachments),
		ContentVisible: contentVisible(l, folder), InReplyTo: l.InReplyTo,
	}
	if folder == "sent" {
		// What a sender learns of the recipient is what they supplied: a
		// letter addressed to a mailbox id shows only that id, never the
		// holder's name or registered address; and a route reason says
		// nothing of pending mailboxes (letters stored before senderReason
		// applied at submission included).
		v.RouteReason = senderReason(v.RouteReason)
		v.SentBy = l.SentByName
		if l.RecipientByMailbox {
			v.Recipient.Name, v.Recipient.Address = "", ""
		}
	}
	if !l.Deadline.IsZero() {
		d := l.Deadline
		v.Deadline = &d
	}
	v.Evidence = make([]EvidenceBrief, len(evs))
	for i, e := range evs {
		v.Evidence[i] = EvidenceBrief{ID: e.ID, Event: e.Event, Time: e.CreatedAt, LogIndex: e.LogIndex}
	}
	return v
}

// contentVisible: the sender always sees what they sent; the recipient of a
// registered letter only after accepting it (consent mode, DESIGN §1), and
// of a recalled letter never.
func contentVisible(l Letter, folder string) bool {
	if folder == "sent" {
		return true
	}
	if l.State == StateRecalled {
		return false
	}
	if !l.Registered {
		return true
	}
	return l.State == StateAccepted
}

// contentAllowed refuses the content to a party that may not see it.
func contentAllowed(l Letter, folder string) error {
	switch {
	case contentVisible(l, folder):
		return nil
	case l.State == StateRecalled:
		return Errorf(ErrConflict, "letter_recalled", "the sender recalled the letter")
	}
	return Errorf(ErrForbidden, "acceptance_required", "accept the registered letter to read its content")
}

// GetLetter returns a letter of the caller's.
func (s *Service) GetLetter(ctx context.Context, c Caller, id string) (LetterView, error) {
	var v LetterView
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		v, err = s.view(ctx, tx, l, folder)
		return err
	})
	return v, err
}

// ListLetters returns a page of the caller's inbox or sent folder, newest
// first, and the cursor of the next page ("" at the end).
func (s *Service) ListLetters(ctx context.Context, c Caller, folder, cursor string, limit int) ([]LetterView, string, error) {
	return s.SearchLetters(ctx, c, folder, LetterFilter{}, cursor, limit)
}

// SearchLetters is ListLetters over the letters that pass f, searched in
// the whole folder (not one page); the cursor pages through the matches.
func (s *Service) SearchLetters(ctx context.Context, c Caller, folder string, f LetterFilter, cursor string, limit int) ([]LetterView, string, error) {
	if err := mailboxHolder(c); err != nil {
		return nil, "", err
	}
	if folder == "" {
		folder = "inbox"
	}
	if folder != "inbox" && folder != "sent" {
		return nil, "", Errorf(ErrInvalid, "bad_folder", "folder must be inbox or sent")
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := LetterQuery{Folder: folder, Limit: limit + 1, Since: f.Since, Until: f.Until}
	if search := []rune(NormalizeSearch(f.Search)); len(search) > MaxSearchLen {
		q.Search = string(search[:MaxSearchLen])
	} else {
		q.Search = string(search)
	}
	switch f.Registered {
	case "":
	case "yes":
		q.Registered = 1
	case "no":
		q.Registered = -1
	default:
		return nil, "", Errorf(ErrInvalid, "bad_filter", "registered must be yes or no")
	}
	if f.State != "" {
		if !knownState(f.State) {
			return nil, "", Errorf(ErrInvalid, "bad_filter", "unknown state %q", f.State)
		}
		q.States = []string{f.State}
	}
	if f.Unread {
		if folder != "inbox" {
			return nil, "", Errorf(ErrInvalid, "bad_filter", "only inbox letters are unread")
		}
		// The states in which the recipient has not had the content.
		unread := []string{StateDelivered, StateAwaitingAcceptance}
		if f.State != "" && !slices.Contains(unread, f.State) {
			return nil, "", nil
		}
		if f.State == "" {
			q.States = unread
		}
	}
	if cursor != "" {
		t, id, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		q.BeforeTime, q.BeforeID = t, id
	}
	var out []LetterView
	next := ""
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		mine, err := tx.MailboxesOfIdentity(ctx, c.Identity.ID)
		if err != nil {
			return err
		}
		for _, m := range mine {
			q.Mailboxes = append(q.Mailboxes, m.ID)
		}
		ls, err := tx.ListLetters(ctx, q)
		if err != nil {
			return err
		}
		if len(ls) > limit {
			ls = ls[:limit]
			last := ls[len(ls)-1]
			next = encodeCursor(last.CreatedAt, last.ID)
		}
		folders := make([]string, len(ls))
		for i := range ls {
			folders[i] = folder
		}
		out, err = s.views(ctx, tx, ls, folders)
		return err
	})
	return out, next, err
}

// views builds the views of several letters, each seen from its folder,
// with one query for all their evidence, not one per letter.
func (s *Service) views(ctx context.Context, tx Tx, ls []Letter, folders []string) ([]LetterView, error) {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID
	}
	evs, err := tx.EvidenceSummaries(ctx, ids)
	if err != nil {
		return nil, err
	}
	byLetter := map[string][]EvidenceRecord{}
	for _, e := range evs {
		byLetter[e.LetterID] = append(byLetter[e.LetterID], e)
	}
	out := make([]LetterView, 0, len(ls))
	for i, l := range ls {
		out = append(out, s.viewOf(l, folders[i], byLetter[l.ID]))
	}
	return out, nil
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "|" + id))
}

func decodeCursor(c string) (time.Time, string, error) {
	bad := Errorf(ErrInvalid, "bad_cursor", "the cursor is not one this server returned")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(b), "|")
	us, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || !looksLikeUUID(id) {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// Content returns the body and attachment list. A recipient's first read of
// a simple letter records ContentAccessTracking.
func (s *Service) Content(ctx context.Context, c Caller, id string) (Content, error) {
	var out Content
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, true)
		if err != nil {
			return err
		}
		if err := contentAllowed(l, folder); err != nil {
			return err
		}
		a, err := s.cfg.Keys.LetterKey(l.ID, l.ContentKey)
		if err != nil {
			return err
		}
		var body strings.Builder
		if err := readPart(ctx, tx, a, l.ID, 0, &body); err != nil {
			return err
		}
		if err := verifyDigest(l, body.String()); err != nil {
			return err
		}
		out = Content{Body: body.String(), Attachments: l.Attachments}
		if out.Attachments == nil {
			out.Attachments = []AttachmentMeta{}
		}
		return s.firstRead(ctx, tx, &l, folder)
	})
	return out, err
}

// firstRead records the recipient's first access to a letter's content:
// for a simple letter ContentAccessTracking, the handover after which it
// can no longer be recalled.
func (s *Service) firstRead(ctx context.Context, tx Tx, l *Letter, folder string) error {
	if folder != "inbox" || !l.ReadAt.IsZero() {
		return nil
	}
	l.ReadAt = s.now()
	if !l.Registered && l.State == StateDelivered {
		return s.recordLetter(ctx, tx, l, signing.Evidence{Event: signing.EventContentAccessTracking})
	}
	return tx.UpdateLetter(ctx, *l)
}

// markRead runs firstRead in its own transaction before an attachment is
// streamed: an attachment is content handed over as much as the body, and
// the stream itself runs in a read-only transaction.
func (s *Service) markRead(ctx context.Context, c Caller, id string) error {
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, true)
		if err != nil {
			return err
		}
		if err := contentAllowed(l, folder); err != nil {
			return err
		}
		return s.firstRead(ctx, tx, &l, folder)
	})
}

func verifyDigest(l Letter, body string) error {
	var c signing.Content
	if err := json.Unmarshal(l.ContentJSON, &c); err != nil {
		return err
	}
	if signing.DigestHex([]byte(body)) != c.BodySHA256 {
		return fmt.Errorf("letter %s: body digest mismatch: %w", l.ID, ErrCorruptContent)
	}
	return nil
}

// readPart decrypts a stored part into w, checking that it ends with the
// chunk flagged last (no truncation).
func readPart(ctx context.Context, tx Tx, a cipher.AEAD, letterID string, part int, w io.Writer) error {
	expect, sawLast := 0, false
	err := tx.Chunks(ctx, letterID, part, func(chunk int, data []byte) error {
		if chunk != expect || sawLast {
			return fmt.Errorf("letter %s part %d: chunk %d out of order: %w", letterID, part, chunk, ErrCorruptContent)
		}
		expect++
		plain, last, err := openChunk(a, letterID, part, chunk, data)
		if err != nil {
			return err
		}
		sawLast = last
		_, err = w.Write(plain)
		return err
	})
	if err == nil && !sawLast {
		err = fmt.Errorf("letter %s part %d: truncated: %w", letterID, part, ErrCorruptContent)
	}
	return err
}

// Attachment streams attachment n (1-based) into w, verifying its digest as
// it goes. Bytes reach w before the final digest check: a caller that has
// already sent them must abort its response if an error comes back (the
// chunks are authenticated by AES-GCM, so a mismatch means a damaged store).
func (s *Service) Attachment(ctx context.Context, c Caller, id string, n int, w io.Writer) (AttachmentMeta, error) {
	return s.attachment(ctx, c, id, n, w)
}

// AttachmentInfo returns an attachment's metadata after the same checks as
// Attachment, so an adapter can send headers first.
func (s *Service) AttachmentInfo(ctx context.Context, c Caller, id string, n int) (AttachmentMeta, error) {
	return s.attachment(ctx, c, id, n, nil)
}

func (s *Service) attachment(ctx context.Context, c Caller, id string, n int, w io.Writer) (AttachmentMeta, error) {
	var meta AttachmentMeta
	if w != nil {
		if err := s.markRead(ctx, c, id); err != nil {
			return meta, err
		}
	}
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, folder, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		if err := contentAllowed(l, folder); err != nil {
			return err
		}
		if n < 1 || n > len(l.Attachments) {
			return Errorf(ErrNotFound, "attachment_not_found", "the letter has %d attachments", len(l.Attachments))
		}
		meta = l.Attachments[n-1]
		if w == nil {
			return nil
		}
		a, err := s.cfg.Keys.LetterKey(l.ID, l.ContentKey)
		if err != nil {
			return err
		}
		h := sha256.New()
		if err := readPart(ctx, tx, a, l.ID, n, io.MultiWriter(w, h)); err != nil {
			return err
		}
		if hex.EncodeToString(h.Sum(nil)) != meta.SHA256 {
			return fmt.Errorf("letter %s attachment %d: digest mismatch: %w", l.ID, n, ErrCorruptContent)
		}
		return nil
	})
	return meta, err
}

// Evidence returns the letter's evidence envelopes in order.
func (s *Service) Evidence(ctx context.Context, c Caller, id string) ([]json.RawMessage, error) {
	var out []json.RawMessage
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, _, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		evs, err := tx.EvidenceOf(ctx, l.ID)
		if err != nil {
			return err
		}
		for _, e := range evs {
			out = append(out, json.RawMessage(e.Envelope))
		}
		return nil
	})
	return out, err
}

// LoadAddress decodes a stored normalized address.
func loadAddress(b []byte) (addressing.Address, error) {
	var a addressing.Address
	err := json.Unmarshal(b, &a)
	return a, err
}
