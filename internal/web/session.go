package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// sessionCookie names the session. The __Host- prefix makes the browser
// refuse it unless Secure, Path=/ and host-only (RFC 6265bis §4.1.3.2), so
// no sibling domain can plant or read it.
const sessionCookie = "__Host-npes"

// touchEvery limits last-seen writes to one per interval: the idle timeout
// is minutes, so a finer record would only add writes.
const touchEvery = 30 * time.Second

type ctxSession struct{}

// session returns the request's live session, or nil. A session past its
// idle or absolute limit, or resting on a revoked or expired certificate,
// is deleted and treated as absent.
func (p *Portal) session(r *http.Request) (*mailbox.WebSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	token, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(token) != 32 {
		return nil, nil
	}
	hash := sha256.Sum256(token)
	ctx := r.Context()
	var s mailbox.WebSession
	s, err = p.Service.WebSession(ctx, hash[:])
	if errors.Is(err, mailbox.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := p.now()
	// A session lives no longer than the certificate it rests on.
	end := now.Sub(s.LastSeen) > p.SessionIdle || now.Sub(s.CreatedAt) > p.SessionAbsolute ||
		!s.Identity.NotAfter.IsZero() && now.After(s.Identity.NotAfter)
	if !end && p.Revocations != nil {
		revoked, err := p.Revocations.IsRevoked(ctx, s.CertSerial)
		if err != nil {
			return nil, err
		}
		end = revoked
	}
	if end {
		return nil, p.deleteSession(ctx, hash[:])
	}
	lang := s.Lang
	if q := r.URL.Query().Get("lang"); validLang(q) {
		lang = q
	}
	if now.Sub(s.LastSeen) >= touchEvery || lang != s.Lang {
		err := p.Service.TouchWebSession(ctx, hash[:], now, lang)
		if errors.Is(err, mailbox.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		s.LastSeen, s.Lang = now, lang
	}
	return &s, nil
}

func (p *Portal) deleteSession(ctx context.Context, hash []byte) error {
	return p.Service.DeleteWebSession(ctx, hash)
}

// startSession stores a new session for id and sets its cookie.
func (p *Portal) startSession(w http.ResponseWriter, r *http.Request, id certs.Identity, method, lang string) error {
	token := make([]byte, 32)
	rand.Read(token)
	hash := sha256.Sum256(token)
	now := p.now()
	ctx := r.Context()
	err := p.Service.StartWebSession(ctx, mailbox.WebSession{TokenHash: hash[:], Identity: id, CertSerial: id.Serial,
		Method: method, Lang: lang, CreatedAt: now, LastSeen: now}, now.Add(-p.SessionIdle), now.Add(-p.SessionAbsolute))
	if err != nil {
		return err
	}
	// No Max-Age: the cookie ends with the browser; the server ends the
	// session earlier (idle, absolute, revocation, sign-out).
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString(token),
		Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return nil
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// requireSession sends a request without a live session to the sign-in
// page.
func (p *Portal) requireSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.session(r)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		if s == nil {
			to := "/"
			if _, err := r.Cookie(sessionCookie); err == nil {
				clearSessionCookie(w)
				to = "/?ended=1"
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		next(w, r.WithContext(withSession(r.Context(), s)))
	}
}

// requireSessionJSON answers a script's request without a live session
// with 401 and a message, not a redirect it cannot follow.
func (p *Portal) requireSessionJSON(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, err := p.session(r)
		if err != nil {
			p.jsonServiceError(w, r, err)
			return
		}
		if s == nil {
			p.jsonError(w, r, http.StatusUnauthorized, "Your session has ended. Please sign in again.")
			return
		}
		next(w, r.WithContext(withSession(r.Context(), s)))
	}
}

func withSession(ctx context.Context, s *mailbox.WebSession) context.Context {
	return context.WithValue(ctx, ctxSession{}, s)
}

func sessionFrom(r *http.Request) *mailbox.WebSession {
	s, _ := r.Context().Value(ctxSession{}).(*mailbox.WebSession)
	return s
}

// caller is the mailbox service's view of the session's holder. The
// certificate itself is attached when this request presented the one the
// session rests on.
func caller(r *http.Request) mailbox.Caller {
	s := sessionFrom(r)
	c := mailbox.Caller{Identity: s.Identity}
	if cert := presented(r); cert != nil && certs.FormatSerial(cert.SerialNumber) == s.CertSerial {
		c.Cert = cert
	}
	return c
}
