package mailbox

import (
	"context"
	"errors"
)

// MaxThread bounds the letters Thread returns.
const MaxThread = 500

// replyTo checks that the sending mailbox may answer letter id (it sent or
// received it) and returns the reply's InReplyTo and ThreadID. A letter the
// mailbox is no party of does not exist for it.
func (s *Service) replyTo(ctx context.Context, tx Tx, sender, id string) (string, string, error) {
	l, err := tx.GetLetter(ctx, id, false)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", "", err
	}
	if err != nil || (l.SenderMailbox != sender && l.RecipientMailbox != sender) {
		return "", "", Errorf(ErrNotFound, "in_reply_to_not_found", "in_reply_to names no letter the sending mailbox sent or received")
	}
	thread := l.ThreadID
	if thread == "" {
		thread = l.ID
	}
	return l.ID, thread, nil
}

// Thread returns the letters of id's thread the caller is a party of
// (sender or recipient), oldest first: the letter that started it and
// every reply to it or to a reply. Letters of the thread between other
// parties are left out, as if they did not exist.
func (s *Service) Thread(ctx context.Context, c Caller, id string) ([]LetterView, error) {
	var out []LetterView
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		l, _, err := s.access(ctx, tx, c, id, false)
		if err != nil {
			return err
		}
		thread := l.ThreadID
		if thread == "" {
			thread = l.ID
		}
		ls, err := tx.ThreadLetters(ctx, thread, MaxThread)
		if err != nil {
			return err
		}
		mine, err := tx.MailboxesOfIdentity(ctx, c.Identity.ID)
		if err != nil {
			return err
		}
		own := map[string]bool{}
		for _, m := range mine {
			own[m.ID] = true
		}
		var visible []Letter
		var kinds []string
		for _, t := range ls {
			if own[t.SenderMailbox] {
				visible, kinds = append(visible, t), append(kinds, "sent")
			} else if t.RecipientMailbox != "" && own[t.RecipientMailbox] {
				visible, kinds = append(visible, t), append(kinds, "inbox")
			}
		}
		out, err = s.views(ctx, tx, visible, kinds)
		return err
	})
	return out, err
}
