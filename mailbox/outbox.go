package mailbox

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Notification kinds. A notification never carries a letter's content: it
// says that something is waiting, and where.
const (
	NotifyLetterWaiting = "letter_waiting" // to the recipient
	NotifyReceiptReady  = "receipt_ready"  // to the sender
)

// Notification is one outbound email in the transactional outbox.
type Notification struct {
	ID        string
	Kind      string
	MailboxID string
	LetterID  string
	To        string
	CreatedAt time.Time
	Attempts  int
	NextAt    time.Time
	SentAt    time.Time
	LastError string
}

// OutboxTx stores outbound notifications.
type OutboxTx interface {
	AddNotification(ctx context.Context, n Notification) error
	// AddNotifications inserts several notifications in one round trip.
	AddNotifications(ctx context.Context, ns []Notification) error
	// DueNotifications lists unsent notifications due at now, locked.
	DueNotifications(ctx context.Context, now time.Time, limit int) ([]Notification, error)
	UpdateNotification(ctx context.Context, n Notification) error
}

// notify queues a notification to a mailbox's email, if it has one, in the
// caller's transaction.
func (s *Service) notify(ctx context.Context, tx Tx, mailboxID, kind, letterID string) error {
	if mailboxID == "" {
		return nil
	}
	m, err := tx.GetMailbox(ctx, mailboxID)
	if err != nil {
		return err
	}
	if m.Email == "" {
		return nil
	}
	now := s.now()
	return tx.AddNotification(ctx, Notification{ID: uuid.NewString(), Kind: kind, MailboxID: mailboxID,
		LetterID: letterID, To: m.Email, CreatedAt: now, NextAt: now})
}
