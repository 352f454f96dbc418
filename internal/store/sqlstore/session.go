package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/npes/npes/mailbox"
)

const sessionColumns = `token_hash, identity_id, identity, cert_serial, method, lang, created_at, last_seen`

// CreateSession implements mailbox.SessionTx.
func (t *Tx) CreateSession(ctx context.Context, s mailbox.WebSession) error {
	id, err := json.Marshal(s.Identity)
	if err != nil {
		return fmt.Errorf("encoding the session identity: %w", err)
	}
	_, err = t.Q.Exec(ctx, `INSERT INTO web_sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		s.TokenHash, s.Identity.ID, id, s.CertSerial, s.Method, s.Lang, Micros(s.CreatedAt), Micros(s.LastSeen))
	return err
}

// GetSession implements mailbox.SessionTx.
func (t *Tx) GetSession(ctx context.Context, tokenHash []byte) (mailbox.WebSession, error) {
	var (
		s             mailbox.WebSession
		identityID    string
		id            []byte
		created, seen int64
	)
	err := t.Q.QueryRow(ctx, `SELECT `+sessionColumns+` FROM web_sessions WHERE token_hash = $1`, tokenHash).
		Scan(&s.TokenHash, &identityID, &id, &s.CertSerial, &s.Method, &s.Lang, &created, &seen)
	if err != nil {
		return mailbox.WebSession{}, err
	}
	if err := json.Unmarshal(id, &s.Identity); err != nil {
		return mailbox.WebSession{}, fmt.Errorf("decoding the session identity: %w", err)
	}
	s.CreatedAt, s.LastSeen = FromMicros(created), FromMicros(seen)
	return s, nil
}

// TouchSession implements mailbox.SessionTx.
func (t *Tx) TouchSession(ctx context.Context, tokenHash []byte, lastSeen time.Time, lang string) error {
	n, err := t.Q.Exec(ctx, `UPDATE web_sessions SET last_seen = $2, lang = $3 WHERE token_hash = $1`,
		tokenHash, Micros(lastSeen), lang)
	if err != nil {
		return err
	}
	if n == 0 {
		return mailbox.ErrNotFound
	}
	return nil
}

// DeleteSession implements mailbox.SessionTx.
func (t *Tx) DeleteSession(ctx context.Context, tokenHash []byte) error {
	_, err := t.Q.Exec(ctx, `DELETE FROM web_sessions WHERE token_hash = $1`, tokenHash)
	return err
}

// DeleteSessionsOf implements mailbox.SessionTx.
func (t *Tx) DeleteSessionsOf(ctx context.Context, identityID string) (int64, error) {
	return t.Q.Exec(ctx, `DELETE FROM web_sessions WHERE identity_id = $1`, identityID)
}

// DeleteSessionsOfSerial implements mailbox.SessionTx.
func (t *Tx) DeleteSessionsOfSerial(ctx context.Context, serial string) (int64, error) {
	return t.Q.Exec(ctx, `DELETE FROM web_sessions WHERE cert_serial = $1`, serial)
}

// DeleteStaleSessions implements mailbox.SessionTx.
func (t *Tx) DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error) {
	return t.Q.Exec(ctx, `DELETE FROM web_sessions WHERE last_seen < $1 OR created_at < $2`,
		Micros(idleBefore), Micros(createdBefore))
}
