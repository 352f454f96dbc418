package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

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
	// AddNotifications inserts several notifications in one round trip; it
	// may be held back to the transaction's next statement.
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

// OutboxPolicy is how the outbox is drained: how much is claimed at once,
// how long a claim hides a notification from other workers, and how failed
// sends are retried. Zero fields take the defaults named on each.
type OutboxPolicy struct {
	// Batch is the most notifications claimed at once (default 20).
	Batch int
	// Lease hides claimed notifications from other workers while they are
	// sent (default 5m).
	Lease time.Duration
	// MaxAttempts before giving up (default 10). A permanent refusal gives
	// up at once: retrying cannot help.
	MaxAttempts int
	// BaseBackoff doubles after each failed attempt up to MaxBackoff
	// (defaults 30s and 6h).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	Now         func() time.Time
}

// Outbox is the claim and retry policy of the transactional outbox, for
// the worker that sends its notifications (internal/smtpgw's Notifier,
// which owns only the SMTP session): a claim in a short transaction
// (attempt counted, lease set), the send outside any transaction, then the
// outcome recorded (sent; or the next attempt with exponential backoff and
// the last error; or given up with the reason kept). Delivery is at least
// once: a crash between the send and the record sends the notice again
// after the lease.
type Outbox struct {
	store Store
	p     OutboxPolicy
}

// NewOutbox applies the policy's defaults.
func NewOutbox(store Store, p OutboxPolicy) *Outbox {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&p.Lease, 5*time.Minute)
	def(&p.BaseBackoff, 30*time.Second)
	def(&p.MaxBackoff, 6*time.Hour)
	if p.Batch <= 0 {
		p.Batch = 20
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 10
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Outbox{store: store, p: p}
}

// Batch is the most notifications one Claim returns.
func (o *Outbox) Batch() int { return o.p.Batch }

// ClaimedNotification is a notification claimed for sending, with its
// letter's tracking number (empty if none).
type ClaimedNotification struct {
	Notification
	Tracking string
}

// SendResult is the sender's outcome of one claimed notification.
// Permanent marks a refusal that no retry can change (an SMTP 5xx reply,
// RFC 5321 §4.2.1).
type SendResult struct {
	Err       error
	Permanent bool
}

// Outcomes of a send as recorded.
const (
	OutcomeSent   = "sent"
	OutcomeRetry  = "retry"
	OutcomeGaveUp = "gave_up"
)

// neverAgain is the next attempt of a notification given up on: the outbox
// has no state column, and a time no clock reaches keeps the row (with its
// reason in LastError) out of every due query.
func neverAgain() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

// Claim takes up to Batch due notifications: each attempt is counted and
// the notification hidden for the lease.
func (o *Outbox) Claim(ctx context.Context) ([]ClaimedNotification, error) {
	now := o.p.Now().UTC()
	var batch []ClaimedNotification
	err := o.store.InTx(ctx, func(tx Tx) error {
		batch = batch[:0]
		due, err := tx.DueNotifications(ctx, now, o.p.Batch)
		if err != nil {
			return err
		}
		for _, x := range due {
			x.Attempts++
			x.NextAt = now.Add(o.p.Lease)
			if err := tx.UpdateNotification(ctx, x); err != nil {
				return err
			}
			c := ClaimedNotification{Notification: x}
			l, err := tx.GetLetter(ctx, x.LetterID, false)
			switch {
			case err == nil:
				c.Tracking = l.Tracking
			case !errors.Is(err, ErrNotFound):
				return err
			}
			batch = append(batch, c)
		}
		return nil
	})
	return batch, err
}

// Record writes the outcome of each claimed notification (results[i] is
// batch[i]'s) and returns what was recorded for each (Outcome*).
func (o *Outbox) Record(ctx context.Context, batch []ClaimedNotification, results []SendResult) ([]string, error) {
	if len(results) != len(batch) {
		return nil, fmt.Errorf("outbox: %d results for %d notifications", len(results), len(batch))
	}
	done := o.p.Now().UTC()
	outcomes := make([]string, len(batch))
	err := o.store.InTx(ctx, func(tx Tx) error {
		for i, c := range batch {
			x := c.Notification
			switch r := results[i]; {
			case r.Err == nil:
				x.SentAt, x.LastError = done, ""
				outcomes[i] = OutcomeSent
			case r.Permanent || x.Attempts >= o.p.MaxAttempts:
				x.NextAt = neverAgain()
				x.LastError = truncateRunes(fmt.Sprintf("gave up after %d attempts: %v", x.Attempts, r.Err), 1000)
				outcomes[i] = OutcomeGaveUp
			default:
				x.NextAt = done.Add(o.backoff(x.Attempts))
				x.LastError = truncateRunes(r.Err.Error(), 1000)
				outcomes[i] = OutcomeRetry
			}
			if err := tx.UpdateNotification(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return outcomes, nil
}

// backoff is the wait after the given number of failed attempts.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.p.BaseBackoff
	for i := 1; i < attempts && d < o.p.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.p.MaxBackoff)
}

// truncateRunes cuts s to at most n bytes on a UTF-8 boundary, marking the
// cut with an ellipsis.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
