package sqlstore

import (
	"context"
	"fmt"

	"github.com/npes/npes/mailbox"
)

const recoveryColumns = `id, mailbox_id, identity_id, cert_der, status, code_hash, attempts, created_at, completed_at`

func scanRecovery(r interface{ Scan(...any) error }) (mailbox.Recovery, error) {
	var v mailbox.Recovery
	var created, completed int64
	err := r.Scan(&v.ID, &v.MailboxID, &v.IdentityID, &v.CertDER, &v.Status, &v.CodeHash, &v.Attempts, &created, &completed)
	v.CreatedAt, v.CompletedAt = FromMicros(created), FromMicros(completed)
	return v, err
}

// CreateRecovery implements mailbox.RecoveryTx.
func (t *Tx) CreateRecovery(ctx context.Context, r mailbox.Recovery) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO mailbox_recoveries (`+recoveryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.MailboxID, r.IdentityID, r.CertDER, r.Status, r.CodeHash, r.Attempts,
		Micros(r.CreatedAt), Micros(r.CompletedAt))
	return err
}

// SupersedeRecoveries implements mailbox.RecoveryTx.
func (t *Tx) SupersedeRecoveries(ctx context.Context, mailboxID string) error {
	_, err := t.Q.Exec(ctx, `UPDATE mailbox_recoveries SET status = $2 WHERE mailbox_id = $1 AND status = $3`,
		mailboxID, mailbox.RecoverySuperseded, mailbox.RecoveryPending)
	return err
}

// GetRecovery implements mailbox.RecoveryTx.
func (t *Tx) GetRecovery(ctx context.Context, id string) (mailbox.Recovery, error) {
	r, err := scanRecovery(t.Q.QueryRow(ctx, `SELECT `+recoveryColumns+` FROM mailbox_recoveries WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("recovery %s: %w", id, err)
	}
	return r, nil
}

// UpdateRecovery implements mailbox.RecoveryTx.
func (t *Tx) UpdateRecovery(ctx context.Context, r mailbox.Recovery) error {
	n, err := t.Q.Exec(ctx, `UPDATE mailbox_recoveries SET status = $2, attempts = $3, completed_at = $4 WHERE id = $1`,
		r.ID, r.Status, r.Attempts, Micros(r.CompletedAt))
	if err == nil && n == 0 {
		err = fmt.Errorf("recovery %s: %w", r.ID, mailbox.ErrNotFound)
	}
	return err
}

// RecoveriesOfIdentity implements mailbox.RecoveryTx.
func (t *Tx) RecoveriesOfIdentity(ctx context.Context, identityID string, pendingOnly bool) ([]mailbox.Recovery, error) {
	q := `SELECT ` + recoveryColumns + ` FROM mailbox_recoveries WHERE identity_id = $1`
	args := []any{identityID}
	if pendingOnly {
		q += ` AND status = $2`
		args = append(args, mailbox.RecoveryPending)
	}
	rows, err := t.Q.Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Recovery
	for rows.Next() {
		r, err := scanRecovery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
