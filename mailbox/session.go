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
