// Package httpapi is the HTTP adapter of npes: a chi router, the mTLS
// identity middleware, JSON in and out, and the one place where domain errors
// become HTTP statuses. Routes and shapes are documented in openapi.yaml at
// the repository root; a test keeps the two in agreement.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/mailbox"
)

// Deps are what the router needs from the application.
type Deps struct {
	Logger *slog.Logger
	// CAPEM is the internal CA certificate served at /v1/ca.pem.
	CAPEM []byte
	// CRL returns the current DER-encoded CRL of the internal CA.
	CRL func(ctx context.Context) ([]byte, error)
	// Health reports whether the store answers.
	Health func(ctx context.Context) error
	// Metrics serves Prometheus metrics (operator only).
	Metrics http.Handler
	// Now is the clock (tests inject one).
	Now func() time.Time
	// Service is the domain core.
	Service *mailbox.Service
	// MailDomain is the SMTP domain of mailbox addresses (id@domain).
	MailDomain string
	// Print is the print centres' queue.
	Print *hybrid.Queue
	// RateLimit bounds each client's request rate (zero value: no limit).
	RateLimit RateLimit
	// BodyTimeouts bound the time to send a request body (zero value: no
	// limit; the server uses DefaultBodyTimeouts).
	BodyTimeouts BodyTimeouts
	// Revocations is asked on every request that presents a certificate,
	// so a certificate revoked while its connection stays open is refused
	// on that connection's next request (401 certificate_revoked, and the
	// connection is closed). Nil leaves the check to the handshake alone.
	Revocations certs.RevocationChecker
	// ConnMaxLifetime closes a connection after the first response once it
	// is that old (zero: no limit; the server uses
	// DefaultConnMaxLifetime). It needs ConnContext on the http.Server.
	ConnMaxLifetime time.Duration
}

type server struct {
	Deps
	log *slog.Logger
}

// NewHandler builds the router.
func NewHandler(d Deps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &server{Deps: d, log: d.Logger}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, s.accessLog, s.recoverer, s.connLifetime, s.bodyDeadline, s.identify, s.rateLimit)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeErrorCode(w, http.StatusNotFound, "not_found", "no such route")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeErrorCode(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
	})

	// Public routes: reachable without a client certificate.
	r.Get("/v1/health", s.health)
	r.Get("/v1/ca.pem", s.caPEM)
	r.Get("/v1/crl", s.crl)
	r.Get("/v1/keys", s.keys)
	r.Get("/v1/log/checkpoint", s.checkpoint)
	r.Get("/v1/log/proof/inclusion", s.inclusionProof)
	r.Get("/v1/log/proof/consistency", s.consistencyProof)

	// Authenticated routes.
	r.Group(func(r chi.Router) {
		r.Use(requireIdentity)
		r.Get("/v1/whoami", s.whoami)
		r.With(requireRole(certs.RoleOperator)).Get("/metrics", s.metrics().ServeHTTP)

		r.Post("/v1/mailboxes", s.registerMailbox)
		r.Get("/v1/mailboxes", s.myMailboxes)
		r.Get("/v1/mailboxes/me", s.myMailboxes)
		r.Post("/v1/mailboxes/recoveries", s.startRecovery)
		r.Post("/v1/mailboxes/recoveries/{id}/complete", s.completeRecovery)
		r.Post("/v1/mailboxes/{id}/activate", s.activateMailbox)
		r.Post("/v1/mailboxes/{id}/activation-letter", s.resendActivationLetter)
		r.Get("/v1/mailboxes/{id}/credentials", s.listCredentials)
		r.Post("/v1/mailboxes/{id}/credentials", s.bindCredential)
		r.Delete("/v1/mailboxes/{id}/credentials/{identity}", s.unbindCredential)
		r.Post("/v1/admin/mailboxes/{id}/verify", s.verifyMailbox)
		r.Post("/v1/admin/recoveries/{id}/verify", s.verifyRecovery)

		r.Post("/v1/letters", s.submitLetter)
		r.Post("/v1/letter-batches", s.submitBatch)
		r.Get("/v1/letter-batches/{id}", s.getBatch)
		r.Get("/v1/letters", s.listLetters)
		r.Get("/v1/letters/{id}", s.getLetter)
		r.Get("/v1/letters/{id}/content", s.letterContent)
		r.Get("/v1/letters/{id}/attachments/{n}", s.letterAttachment)
		r.Post("/v1/letters/{id}/accept", s.decide(true))
		r.Post("/v1/letters/{id}/refuse", s.decide(false))
		r.Post("/v1/letters/{id}/recall", s.recallLetter)
		r.Get("/v1/letters/{id}/thread", s.letterThread)
		r.Get("/v1/letters/{id}/evidence", s.letterEvidence)
		r.Get("/v1/letters/{id}/bundle", s.letterBundle)
		r.Get("/v1/letters/{id}/receipt", s.letterReceipt)

		r.Post("/v1/print/leases", s.printLease)
		r.Get("/v1/print/jobs/{id}/pdf", s.printPDF)
		r.Get("/v1/print/jobs/{id}/evidence", s.printEvidence)
		r.Post("/v1/print/jobs/{id}/printed", s.printReport("printed"))
		r.Post("/v1/print/jobs/{id}/failed", s.printReport("failed"))
		r.Post("/v1/print/jobs/{id}/posted", s.printReport("posted"))
		r.Post("/v1/print/jobs/{id}/events", s.printEvent)
		r.Post("/v1/print/jobs/{id}/retry", s.printRetry)
		r.Post("/v1/print/reports", s.printReports)
		r.Get("/v1/print/manifest", s.printManifest)
	})
	return r
}

func (s *server) metrics() http.Handler {
	if s.Metrics != nil {
		return s.Metrics
	}
	return http.NotFoundHandler()
}

func (s *server) health(w http.ResponseWriter, r *http.Request) {
	status := map[string]any{"status": "ok", "time": s.Now().UTC().Format(time.RFC3339)}
	if s.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.Health(ctx); err != nil {
			s.log.WarnContext(r.Context(), "health check failed", "err", err)
			w.Header().Set("Retry-After", "5")
			writeErrorCode(w, http.StatusServiceUnavailable, "unavailable", "the database does not answer")
			return
		}
	}
	writeJSON(w, http.StatusOK, status)
}

func (s *server) caPEM(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(s.CAPEM)
}

func (s *server) crl(w http.ResponseWriter, r *http.Request) {
	if s.CRL == nil {
		writeErrorCode(w, http.StatusNotFound, "not_found", "no CRL is published")
		return
	}
	der, err := s.CRL(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// RFC 5280 §4.2.1.13 / RFC 2585 §4.2: the media type of a DER CRL.
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(der)
}

// whoamiResponse is what the server read from the verified certificate.
type whoamiResponse struct {
	Role       string    `json:"role"`
	Name       string    `json:"name"`
	PersonalID string    `json:"personal_id,omitempty"`
	UNP        string    `json:"unp,omitempty"`
	Regions    []string  `json:"regions,omitempty"`
	Serial     string    `json:"serial"`
	Issuer     string    `json:"issuer"`
	Identity   string    `json:"identity"`
	SPKISHA256 string    `json:"spki_sha256"`
	NotAfter   time.Time `json:"not_after"`
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	id := identityFrom(r.Context())
	writeJSON(w, http.StatusOK, whoamiResponse{
		Role: string(id.Role), Name: id.Name, PersonalID: id.PersonalID, UNP: id.UNP,
		Regions: id.Regions, Serial: id.Serial, Issuer: id.Issuer, Identity: id.ID,
		SPKISHA256: id.SPKISHA256, NotAfter: id.NotAfter.UTC(),
	})
}

type ctxKey struct{}

// identify reads the identity from a certificate that crypto/tls verified at
// the handshake (VerifiedChains non-empty: the chain, the clientAuth usage and
// revocation were checked there). A certificate that was presented but not
// verified never reaches this point: the handshake fails. Revocation is
// checked again here, on every request, because a kept-alive connection
// outlives the handshake: a revoked certificate must not keep reading post
// (or unbind its owner's credential) for as long as it keeps sending.
func (s *server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			id, err := certs.IdentityFromCert(r.TLS.VerifiedChains[0][0])
			if err != nil {
				writeErrorCode(w, http.StatusForbidden, "bad_certificate", err.Error())
				return
			}
			if !s.stillGood(w, r, &id) {
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &id))
		}
		next.ServeHTTP(w, r)
	})
}

// stillGood checks the certificate of a request against the current revoked
// set and answers the request itself when it may not go on: 401
// certificate_revoked, closing the connection (whatever the client sends on
// it next would be refused too), or 503 when the set cannot be had.
func (s *server) stillGood(w http.ResponseWriter, r *http.Request, id *certs.Identity) bool {
	if s.Revocations == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), certs.DefaultRevocationTimeout)
	defer cancel()
	revoked, err := s.Revocations.IsRevoked(ctx, id.Serial)
	switch {
	case err != nil:
		s.log.WarnContext(r.Context(), "revocation status unavailable", "serial", id.Serial, "err", err)
		w.Header().Set("Retry-After", "5")
		writeErrorCode(w, http.StatusServiceUnavailable, "unavailable", "the certificate's revocation status cannot be checked now")
		return false
	case revoked:
		s.log.WarnContext(r.Context(), "request with a revoked certificate refused; closing its connection",
			"serial", id.Serial, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
		w.Header().Set("Connection", "close")
		writeErrorCode(w, http.StatusUnauthorized, codeCertificateRevoked, "the client certificate has been revoked")
		return false
	}
	return true
}

// codeCertificateRevoked is the API error code of a request made with a
// revoked certificate (openapi.yaml); the SMTP gateway's reply and the CLI
// use the same words.
const codeCertificateRevoked = "certificate_revoked"

func identityFrom(ctx context.Context) *certs.Identity {
	id, _ := ctx.Value(ctxKey{}).(*certs.Identity)
	return id
}

func requireIdentity(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if identityFrom(r.Context()) == nil {
			writeErrorCode(w, http.StatusUnauthorized, "unauthenticated", "this route needs a client certificate")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requireRole(roles ...certs.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := identityFrom(r.Context())
			for _, role := range roles {
				if id.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeErrorCode(w, http.StatusForbidden, "forbidden", fmt.Sprintf("the %s role may not use this route", id.Role))
		})
	}
}

// recoverer turns a panic into a logged 500 with the generic error body.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeErrorCode(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog logs one line per request; it never logs bodies or query values
// (they may carry personal data).
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "duration", time.Since(start), "request_id", middleware.GetReqID(r.Context())}
		if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
			attrs = append(attrs, "client_serial", certs.FormatSerial(r.TLS.VerifiedChains[0][0].SerialNumber))
		}
		s.log.InfoContext(r.Context(), "http", attrs...)
	})
}
