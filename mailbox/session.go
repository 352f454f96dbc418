package mailbox

import (
	"context"
	"time"

	"github.com/npes/npes/certs"
)

// WebSession is a signed-in browser session of the web portal. It is a
// server-side row so that it can be ended at once (sign-out, revocation of
// the certificate it rests on, credential recovery) rather than trusted
// until a cookie expires.
type WebSession struct {
	// TokenHash is the SHA-256 of the cookie's random token; the token
	// itself is never stored.
	TokenHash []byte
	// Identity is the certificate identity the session acts as.
	Identity certs.Identity
	// CertSerial is the certificate the session rests on.
	CertSerial string
	// Method is how the session was signed in: "certificate" or "passkey".
	Method    string
	Lang      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// SessionTx stores web portal sessions.
type SessionTx interface {
	// CreateSession returns ErrConflict if the token hash exists.
	CreateSession(ctx context.Context, s WebSession) error
	// GetSession returns ErrNotFound for an unknown token hash.
	GetSession(ctx context.Context, tokenHash []byte) (WebSession, error)
	// TouchSession records activity (and the chosen language); ErrNotFound
	// when the session is gone.
	TouchSession(ctx context.Context, tokenHash []byte, lastSeen time.Time, lang string) error
	// DeleteSession ends one session (no error if it is already gone).
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteSessionsOf ends every session of an identity.
	DeleteSessionsOf(ctx context.Context, identityID string) (int64, error)
	// DeleteSessionsOfSerial ends every session resting on a certificate.
	DeleteSessionsOfSerial(ctx context.Context, serial string) (int64, error)
	// DeleteStaleSessions ends sessions idle since before idleBefore or
	// created before createdBefore.
	DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) (int64, error)
}

// Web sessions are stored by the core for the portal (an adapter): these
// are the only ways it reaches them, each one transaction.

// WebSession returns the session of a token hash (ErrNotFound when there is
// none).
func (s *Service) WebSession(ctx context.Context, tokenHash []byte) (WebSession, error) {
	var ws WebSession
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		ws, err = tx.GetSession(ctx, tokenHash)
		return err
	})
	return ws, err
}

// TouchWebSession records a session's activity and language.
func (s *Service) TouchWebSession(ctx context.Context, tokenHash []byte, lastSeen time.Time, lang string) error {
	return s.cfg.Store.InTx(ctx, func(tx Tx) error { return tx.TouchSession(ctx, tokenHash, lastSeen, lang) })
}

// DeleteWebSession ends one session.
func (s *Service) DeleteWebSession(ctx context.Context, tokenHash []byte) error {
	return s.cfg.Store.InTx(ctx, func(tx Tx) error { return tx.DeleteSession(ctx, tokenHash) })
}

// StartWebSession stores a new session, first removing sessions idle since
// before idleBefore or created before createdBefore, so the table holds
// little more than the live sessions.
func (s *Service) StartWebSession(ctx context.Context, ws WebSession, idleBefore, createdBefore time.Time) error {
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := tx.DeleteStaleSessions(ctx, idleBefore, createdBefore); err != nil {
			return err
		}
		return tx.CreateSession(ctx, ws)
	})
}

// EndWebSessionsOf ends every session of an identity.
func (s *Service) EndWebSessionsOf(ctx context.Context, identityID string) (int64, error) {
	var n int64
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.DeleteSessionsOf(ctx, identityID)
		return err
	})
	return n, err
}
