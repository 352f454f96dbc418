package sqlstore

import (
	"context"
	"time"

	"github.com/npes/npes/mailbox"
)

const ceremonyColumns = `id, session_hash, kind, data, created_at, expires_at`

// CreateCeremony implements mailbox.CeremonyTx.
func (t *Tx) CreateCeremony(ctx context.Context, c mailbox.Ceremony) error {
	session := c.SessionHash
	if session == nil {
		session = []byte{}
	}
	_, err := t.Q.Exec(ctx, `INSERT INTO webauthn_ceremonies (`+ceremonyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		c.ID, session, c.Kind, c.Data, Micros(c.CreatedAt), Micros(c.ExpiresAt))
	return err
}

// TakeCeremony implements mailbox.CeremonyTx.
func (t *Tx) TakeCeremony(ctx context.Context, id []byte, now time.Time) (mailbox.Ceremony, error) {
	c, err := scanCeremony(t.Q.QueryRow(ctx, `DELETE FROM webauthn_ceremonies WHERE id = $1 AND expires_at > $2
		RETURNING `+ceremonyColumns, id, Micros(now)))
	return c, err
}

// CeremoniesOf implements mailbox.CeremonyTx.
func (t *Tx) CeremoniesOf(ctx context.Context, sessionHash []byte, kind string, now time.Time) ([]mailbox.Ceremony, error) {
	rows, err := t.Q.Query(ctx, `SELECT `+ceremonyColumns+` FROM webauthn_ceremonies
		WHERE session_hash = $1 AND kind = $2 AND expires_at > $3 ORDER BY created_at, id`, sessionHash, kind, Micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Ceremony
	for rows.Next() {
		c, err := scanCeremony(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteExpiredCeremonies implements mailbox.CeremonyTx.
func (t *Tx) DeleteExpiredCeremonies(ctx context.Context, now time.Time) (int64, error) {
	return t.Q.Exec(ctx, `DELETE FROM webauthn_ceremonies WHERE expires_at <= $1`, Micros(now))
}

func scanCeremony(row interface{ Scan(...any) error }) (mailbox.Ceremony, error) {
	var (
		c                mailbox.Ceremony
		created, expires int64
	)
	if err := row.Scan(&c.ID, &c.SessionHash, &c.Kind, &c.Data, &created, &expires); err != nil {
		return mailbox.Ceremony{}, err
	}
	if len(c.SessionHash) == 0 {
		c.SessionHash = nil
	}
	c.CreatedAt, c.ExpiresAt = FromMicros(created), FromMicros(expires)
	return c, nil
}
