package mailbox

import (
	"bytes"
	"context"
	"time"
)

// A Ceremony is a WebAuthn ceremony of the web portal between its two
// requests (the options the browser gets, the credential it returns), or a
// passkey made in the browser that waits for its holder's endorsement. It
// is a server-side row, not process memory, so that any npes node on the
// database can finish what another began, and so that a challenge is used
// once: TakeCeremony deletes what it returns.
type Ceremony struct {
	// ID is random (16 bytes); the browser holds it (a cookie or a form
	// field) and names the ceremony with it.
	ID []byte
	// SessionHash is the token hash of the web session the ceremony belongs
	// to; empty for a sign-in, which has no session yet.
	SessionHash []byte
	// Kind tells the adapter's ceremonies apart ("register", "pending",
	// "signin", "decide").
	Kind string
	// Data is the adapter's state (JSON), opaque to the core.
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// CeremonyTx stores ceremonies.
type CeremonyTx interface {
	// CreateCeremony returns ErrConflict if the id exists.
	CreateCeremony(ctx context.Context, c Ceremony) error
	// TakeCeremony deletes and returns a ceremony that has not expired at
	// now; ErrNotFound when there is none.
	TakeCeremony(ctx context.Context, id []byte, now time.Time) (Ceremony, error)
	// CeremoniesOf lists a session's ceremonies of a kind that have not
	// expired at now, oldest first.
	CeremoniesOf(ctx context.Context, sessionHash []byte, kind string, now time.Time) ([]Ceremony, error)
	// DeleteExpiredCeremonies deletes the ceremonies expired at now.
	DeleteExpiredCeremonies(ctx context.Context, now time.Time) (int64, error)
}

// Ceremony limits: a ceremony is a few minutes of a person's attention, and
// a session holds a handful at once, so a client cannot fill the table.
const (
	MaxCeremonyData        = 16 << 10
	MaxCeremoniesOfSession = 5
	MaxCeremonyLifetime    = 15 * time.Minute
)

// StartCeremony stores a ceremony after deleting expired ones. A session
// holds at most MaxCeremoniesOfSession ceremonies of a kind at once
// (ErrConflict too_many_ceremonies).
func (s *Service) StartCeremony(ctx context.Context, c Ceremony) error {
	now := s.now()
	switch {
	case len(c.ID) < 16 || len(c.ID) > 64:
		return Errorf(ErrInvalid, "bad_ceremony", "a ceremony id has 16..64 bytes")
	case len(c.Data) > MaxCeremonyData:
		return Errorf(ErrInvalid, "bad_ceremony", "the ceremony's state is too large")
	case !c.ExpiresAt.After(now) || c.ExpiresAt.Sub(now) > MaxCeremonyLifetime:
		return Errorf(ErrInvalid, "bad_ceremony", "a ceremony lives at most %s", MaxCeremonyLifetime)
	}
	c.CreatedAt = now
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := tx.DeleteExpiredCeremonies(ctx, now); err != nil {
			return err
		}
		if len(c.SessionHash) > 0 {
			live, err := tx.CeremoniesOf(ctx, c.SessionHash, c.Kind, now)
			if err != nil {
				return err
			}
			if len(live) >= MaxCeremoniesOfSession {
				return Errorf(ErrConflict, "too_many_ceremonies", "finish or let expire the %d passkey steps in progress first", len(live))
			}
		}
		return tx.CreateCeremony(ctx, c)
	})
}

// TakeCeremony returns and deletes a live ceremony of a kind that belongs
// to the session (sessionHash empty: to no session). Anything else is
// ErrNotFound, so ids cannot be probed.
func (s *Service) TakeCeremony(ctx context.Context, id, sessionHash []byte, kind string) (Ceremony, error) {
	var c Ceremony
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		var err error
		c, err = tx.TakeCeremony(ctx, id, s.now())
		return err
	})
	if err == nil && (c.Kind != kind || !bytes.Equal(c.SessionHash, sessionHash)) {
		err = Errorf(ErrNotFound, "ceremony_not_found", "no such passkey step in progress")
	}
	if err != nil {
		return Ceremony{}, err
	}
	return c, nil
}

// Ceremonies lists the live ceremonies of a kind of a session.
func (s *Service) Ceremonies(ctx context.Context, sessionHash []byte, kind string) ([]Ceremony, error) {
	var out []Ceremony
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.CeremoniesOf(ctx, sessionHash, kind, s.now())
		return err
	})
	return out, err
}
