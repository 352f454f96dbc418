package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/npes/npes/mailbox"
)

const mailboxColumns = `id, kind, holder_name, personal_id, unp, holder_key, owner_identity, address_raw,
	address_json, match_key, postcode, email, status, activation_hash, attempts, created_at, activated_at,
	address_rules`

func scanMailbox(r interface{ Scan(...any) error }) (mailbox.Mailbox, error) {
	var m mailbox.Mailbox
	var created, activated int64
	err := r.Scan(&m.ID, &m.Kind, &m.HolderName, &m.PersonalID, &m.UNP, &m.HolderKey, &m.OwnerIdentity,
		&m.Address, &m.AddressJSON, &m.MatchKey, &m.Postcode, &m.Email, &m.Status, &m.ActivationHash,
		&m.Attempts, &created, &activated, &m.AddressRules)
	m.CreatedAt, m.ActivatedAt = FromMicros(created), FromMicros(activated)
	return m, err
}

// CreateMailbox implements mailbox.MailboxTx.
func (t *Tx) CreateMailbox(ctx context.Context, m mailbox.Mailbox) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO mailboxes (`+mailboxColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		m.ID, m.Kind, m.HolderName, m.PersonalID, m.UNP, m.HolderKey, m.OwnerIdentity, m.Address,
		m.AddressJSON, m.MatchKey, m.Postcode, m.Email, m.Status, m.ActivationHash, m.Attempts,
		Micros(m.CreatedAt), Micros(m.ActivatedAt), m.AddressRules)
	return err
}

// GetMailbox implements mailbox.MailboxTx.
func (t *Tx) GetMailbox(ctx context.Context, id string) (mailbox.Mailbox, error) {
	m, err := scanMailbox(t.Q.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id = $1`, id))
	if err != nil {
		return m, fmt.Errorf("mailbox %s: %w", id, err)
	}
	return m, nil
}

// GetMailboxes implements mailbox.MailboxTx: one SELECT for many
// mailboxes.
func (t *Tx) GetMailboxes(ctx context.Context, ids []string) ([]mailbox.Mailbox, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := t.queryIDs(ctx, mailboxColumns, "mailboxes", ids, false)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// LockMailbox implements mailbox.MailboxTx.
func (t *Tx) LockMailbox(ctx context.Context, id string) (mailbox.Mailbox, error) {
	m, err := scanMailbox(t.Q.QueryRow(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id = $1`+t.D.ForUpdate, id))
	if err != nil {
		return m, fmt.Errorf("mailbox %s: %w", id, err)
	}
	return m, nil
}

// UpdateMailbox implements mailbox.MailboxTx.
func (t *Tx) UpdateMailbox(ctx context.Context, m mailbox.Mailbox) error {
	n, err := t.Q.Exec(ctx, `UPDATE mailboxes SET status = $2, email = $3, activation_hash = $4,
		attempts = $5, activated_at = $6 WHERE id = $1`,
		m.ID, m.Status, m.Email, m.ActivationHash, m.Attempts, Micros(m.ActivatedAt))
	if err == nil && n == 0 {
		err = fmt.Errorf("mailbox %s: %w", m.ID, mailbox.ErrNotFound)
	}
	return err
}

// ReaddressMailbox implements mailbox.MailboxTx.
func (t *Tx) ReaddressMailbox(ctx context.Context, m mailbox.Mailbox) error {
	n, err := t.Q.Exec(ctx, `UPDATE mailboxes SET address_raw = $2, address_json = $3, match_key = $4,
		postcode = $5, status = $6, email = $7, activation_hash = $8, attempts = $9, activated_at = $10,
		address_rules = $11 WHERE id = $1`,
		m.ID, m.Address, m.AddressJSON, m.MatchKey, m.Postcode, m.Status, m.Email, m.ActivationHash,
		m.Attempts, Micros(m.ActivatedAt), m.AddressRules)
	if err == nil && n == 0 {
		err = fmt.Errorf("mailbox %s: %w", m.ID, mailbox.ErrNotFound)
	}
	return err
}

// MailboxesToRecheck implements mailbox.MailboxTx.
func (t *Tx) MailboxesToRecheck(ctx context.Context, rules, limit int) ([]mailbox.Mailbox, error) {
	return t.listMailboxes(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE address_rules < $1
		ORDER BY id LIMIT $2`, rules, limit)
}

// LockHolder implements mailbox.MailboxTx. The no-op update of an existing
// row takes its row lock on PostgreSQL; a concurrent first insert of the
// same key waits on the unique index. SQLite write transactions are
// exclusive already.
func (t *Tx) LockHolder(ctx context.Context, kind, holderKey string) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO mailbox_holders (kind, holder_key) VALUES ($1, $2)
		ON CONFLICT (kind, holder_key) DO UPDATE SET holder_key = excluded.holder_key`, kind, holderKey)
	return err
}

// PendingMailboxes implements mailbox.MailboxTx.
func (t *Tx) PendingMailboxes(ctx context.Context, kind, holderKey string) (int, error) {
	var n int
	err := t.Q.QueryRow(ctx, `SELECT count(*) FROM mailboxes WHERE kind = $1 AND holder_key = $2 AND status = $3`,
		kind, holderKey, mailbox.StatusPending).Scan(&n)
	return n, err
}

// ActivationLetters implements mailbox.MailboxTx.
func (t *Tx) ActivationLetters(ctx context.Context, mailboxID string) (int, error) {
	var n int
	err := t.Q.QueryRow(ctx, `SELECT count(*) FROM print_jobs WHERE kind = 'activation' AND mailbox_id = $1`,
		mailboxID).Scan(&n)
	return n, err
}

// HolderActivationLetters implements mailbox.MailboxTx.
func (t *Tx) HolderActivationLetters(ctx context.Context, kind, holderKey string, since time.Time) (int, error) {
	var n int
	err := t.Q.QueryRow(ctx, `SELECT count(*) FROM print_jobs j JOIN mailboxes m ON m.id = j.mailbox_id
		WHERE j.kind = 'activation' AND m.kind = $1 AND m.holder_key = $2 AND j.created_at > $3`,
		kind, holderKey, Micros(since)).Scan(&n)
	return n, err
}

// MailboxesByMatchKey implements mailbox.MailboxTx.
func (t *Tx) MailboxesByMatchKey(ctx context.Context, key string) ([]mailbox.Mailbox, error) {
	return t.listMailboxes(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE match_key = $1 ORDER BY created_at, id`, key)
}

// MailboxesOfIdentity implements mailbox.MailboxTx.
func (t *Tx) MailboxesOfIdentity(ctx context.Context, identityID string) ([]mailbox.Mailbox, error) {
	return t.listMailboxes(ctx, `SELECT `+prefixed("m.", mailboxColumns)+` FROM mailboxes m
		JOIN mailbox_credentials c ON c.mailbox_id = m.id
		WHERE c.identity_id = $1 AND c.unbound_at = 0 ORDER BY m.created_at, m.id`, identityID)
}

// Mailboxes implements mailbox.MailboxTx: a page in id order.
func (t *Tx) Mailboxes(ctx context.Context, afterID string, limit int) ([]mailbox.Mailbox, error) {
	return t.listMailboxes(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
}

func (t *Tx) listMailboxes(ctx context.Context, q string, args ...any) ([]mailbox.Mailbox, error) {
	rows, err := t.Q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// BindCredential implements mailbox.MailboxTx.
func (t *Tx) BindCredential(ctx context.Context, c mailbox.Credential) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO mailbox_credentials (mailbox_id, identity_id, serial, spki_sha256, bound_at, unbound_at, not_after, label)
		VALUES ($1, $2, $3, $4, $5, 0, $6, $7)
		ON CONFLICT (mailbox_id, identity_id) DO UPDATE SET bound_at = excluded.bound_at, unbound_at = 0,
			not_after = excluded.not_after, label = excluded.label`,
		c.MailboxID, c.IdentityID, c.Serial, c.SPKISHA256, Micros(c.BoundAt), Micros(c.NotAfter), c.Label)
	return err
}

// UnbindCredential implements mailbox.MailboxTx.
func (t *Tx) UnbindCredential(ctx context.Context, mailboxID, identityID string, at time.Time) error {
	n, err := t.Q.Exec(ctx, `UPDATE mailbox_credentials SET unbound_at = $3
		WHERE mailbox_id = $1 AND identity_id = $2 AND unbound_at = 0`, mailboxID, identityID, Micros(at))
	if err == nil && n == 0 {
		err = fmt.Errorf("credential %s of mailbox %s: %w", identityID, mailboxID, mailbox.ErrNotFound)
	}
	return err
}

// Credentials implements mailbox.MailboxTx.
func (t *Tx) Credentials(ctx context.Context, mailboxID string) ([]mailbox.Credential, error) {
	rows, err := t.Q.Query(ctx, `SELECT mailbox_id, identity_id, serial, spki_sha256, bound_at, unbound_at, not_after, label
		FROM mailbox_credentials WHERE mailbox_id = $1 ORDER BY bound_at, identity_id`, mailboxID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Credential
	for rows.Next() {
		var c mailbox.Credential
		var b, u, na int64
		if err := rows.Scan(&c.MailboxID, &c.IdentityID, &c.Serial, &c.SPKISHA256, &b, &u, &na, &c.Label); err != nil {
			return nil, err
		}
		c.BoundAt, c.UnboundAt, c.NotAfter = FromMicros(b), FromMicros(u), FromMicros(na)
		out = append(out, c)
	}
	return out, rows.Err()
}
