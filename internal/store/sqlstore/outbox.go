package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/npes/npes/mailbox"
)

const notificationColumns = `id, kind, mailbox_id, letter_id, to_addr, created_at, attempts, next_at, sent_at, last_error`

// AddNotification implements mailbox.OutboxTx.
func (t *Tx) AddNotification(ctx context.Context, n mailbox.Notification) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO notifications (`+notificationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		n.ID, n.Kind, n.MailboxID, n.LetterID, n.To, Micros(n.CreatedAt), n.Attempts, Micros(n.NextAt), Micros(n.SentAt), n.LastError)
	return err
}

// AddNotifications implements mailbox.OutboxTx with multi-row INSERTs.
func (t *Tx) AddNotifications(ctx context.Context, ns []mailbox.Notification) error {
	args := make([]any, 0, 10*len(ns))
	for _, n := range ns {
		args = append(args, n.ID, n.Kind, n.MailboxID, n.LetterID, n.To, Micros(n.CreatedAt), n.Attempts, Micros(n.NextAt), Micros(n.SentAt), n.LastError)
	}
	return t.insertRowsLater(ctx, "notifications", notificationColumns, 10, args)
}

// DueNotifications implements mailbox.OutboxTx: unsent notifications due
// now, locked (SKIP LOCKED on PostgreSQL) so two workers never send one
// twice at the same time.
func (t *Tx) DueNotifications(ctx context.Context, now time.Time, limit int) ([]mailbox.Notification, error) {
	rows, err := t.Q.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE sent_at = 0 AND next_at <= $1 ORDER BY next_at LIMIT $2`+t.D.SkipLocked, Micros(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Notification
	for rows.Next() {
		var n mailbox.Notification
		var created, next, sent int64
		if err := rows.Scan(&n.ID, &n.Kind, &n.MailboxID, &n.LetterID, &n.To, &created, &n.Attempts, &next, &sent, &n.LastError); err != nil {
			return nil, err
		}
		n.CreatedAt, n.NextAt, n.SentAt = FromMicros(created), FromMicros(next), FromMicros(sent)
		out = append(out, n)
	}
	return out, rows.Err()
}

// UpdateNotification implements mailbox.OutboxTx.
func (t *Tx) UpdateNotification(ctx context.Context, n mailbox.Notification) error {
	c, err := t.Q.Exec(ctx, `UPDATE notifications SET attempts = $2, next_at = $3, sent_at = $4, last_error = $5 WHERE id = $1`,
		n.ID, n.Attempts, Micros(n.NextAt), Micros(n.SentAt), n.LastError)
	if err == nil && c == 0 {
		err = fmt.Errorf("notification %s: %w", n.ID, mailbox.ErrNotFound)
	}
	return err
}
