package mailbox

import (
	"context"
	"strings"
)

// SetEmail changes (or, with "", removes) the address a mailbox's
// notifications go to, validated as at registration. Notifications queued
// before the change keep the address they were queued for.
func (s *Service) SetEmail(ctx context.Context, c Caller, mailboxID, email string) (Mailbox, error) {
	if err := mailboxHolder(c); err != nil {
		return Mailbox{}, err
	}
	email = strings.TrimSpace(email)
	if email != "" {
		if err := checkEmail(email); err != nil {
			return Mailbox{}, err
		}
	}
	var m Mailbox
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := s.ownMailbox(ctx, tx, c, mailboxID); err != nil {
			return err
		}
		var err error
		if m, err = tx.LockMailbox(ctx, mailboxID); err != nil {
			return err
		}
		if m.Email == email {
			return nil
		}
		m.Email = email
		return tx.UpdateMailbox(ctx, m)
	})
	return m, err
}
