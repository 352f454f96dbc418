// Package web is the citizen web portal: server-rendered pages (html/template)
// over the same mailbox service as the JSON API, served by `npes serve` at
// / on the HTTPS listener. One file per page or action.
//
// Authentication: a server-side session (mailbox.WebSession) named by the
// cookie __Host-npes, opened by signing in with the TLS client certificate
// the browser presents. Cookies authenticate portal pages only: the JSON
// API and /metrics never look at them (DESIGN §3, §12).
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// Default session lifetimes (OWASP Session Management: idle timeouts of
// 15–30 minutes for sensitive applications, an absolute bound of hours).
const (
	DefaultSessionIdle     = 15 * time.Minute
	DefaultSessionAbsolute = 12 * time.Hour
)

// Deps are what the portal needs from the application.
type Deps struct {
	Service *mailbox.Service
	// Revocations ends a session whose certificate was revoked and refuses
	// a revoked certificate at sign-in.
	Revocations certs.RevocationChecker
	Now         func() time.Time
	Logger      *slog.Logger
	// SessionIdle and SessionAbsolute bound a session's life (zero: the
	// defaults).
	SessionIdle     time.Duration
	SessionAbsolute time.Duration
	// CAPEM is the identity CA that verifiers pin with the operator keys
	// (the public verify page).
	CAPEM []byte
	// WebAuthn is the relying party passkeys are made for (NPES_WEB_ORIGIN);
	// nil hides passkeys.
	WebAuthn *signing.WebAuthnTrust
	// Consoles serve the print centre's and the operator's consoles
	// (console_roles.go); nil: those pages are 404.
	Consoles *Consoles
}

// Portal is the portal's http.Handler.
type Portal struct {
	Deps
	mux  *http.ServeMux
	tmpl map[string]*template.Template
	// verifyLimiter rations the public verify page per client address.
	verifyLimiter limiter
	// rp and wa run passkey ceremonies (nil without NPES_WEB_ORIGIN).
	rp *signing.WebAuthnTrust
	wa *webauthn.WebAuthn
	// signInLimiter rations passkey sign-in challenges per client address.
	signInLimiter limiter
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New builds the portal.
func New(d Deps) (*Portal, error) {
	if d.Service == nil {
		return nil, errors.New("web: no service")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.SessionIdle <= 0 {
		d.SessionIdle = DefaultSessionIdle
	}
	if d.SessionAbsolute <= 0 {
		d.SessionAbsolute = DefaultSessionAbsolute
	}
	p := &Portal{Deps: d, mux: http.NewServeMux(), signInLimiter: limiter{every: signInRate, burst: signInBurst}}
	if d.WebAuthn != nil {
		wa, err := newRelyingParty(d.WebAuthn)
		if err != nil {
			return nil, fmt.Errorf("web: WebAuthn relying party: %w", err)
		}
		p.rp, p.wa = d.WebAuthn, wa
	}
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	// State changes (POST) are refused when the browser says they come
	// from another origin (Sec-Fetch-Site, Origin): the client certificate
	// and the SameSite=Strict cookie alone would not stop a cross-site
	// form post that the browser authenticates with the certificate.
	cop := http.NewCrossOriginProtection()
	post := func(pattern string, h http.HandlerFunc) { p.mux.Handle("POST "+pattern, cop.Handler(h)) }

	p.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	p.mux.HandleFunc("GET /{$}", p.home)
	post("/signin/certificate", p.signInCertificate)
	post("/signout", p.signOut)
	// Each role sees its own console only: another role's pages are 404.
	p.mux.HandleFunc("GET /inbox", p.holders(p.inbox("inbox")))
	p.mux.HandleFunc("GET /sent", p.holders(p.inbox("sent")))
	p.mux.HandleFunc("GET /letters/{id}", p.holders(p.letter))
	p.mux.HandleFunc("GET /letters/{id}/bundle", p.holders(p.bundle))
	p.mux.HandleFunc("GET /letters/{id}/attachments/{n}", p.holders(p.attachment))
	p.mux.HandleFunc("GET /letters/{id}/receipt.pdf", p.holders(p.receiptPDF))
	post("/letters/{id}/recall", p.holders(p.recall))
	p.mux.HandleFunc("GET /write", p.holders(p.writeForm))
	post("/write", p.holders(p.writeSend))
	p.mux.HandleFunc("GET /mailbox", p.holders(p.mailboxes))
	post("/mailbox/{id}/activate", p.holders(p.activate))
	post("/mailbox/{id}/email", p.holders(p.setEmail))
	post("/mailbox/{id}/unbind", p.holders(p.unbind))
	post("/recovery", p.holders(p.startRecovery))
	post("/recovery/{id}/complete", p.holders(p.completeRecovery))
	// Passkeys (holders only): the JSON steps are a script's (passkey.js);
	// the rest are forms.
	post("/signin/passkey/options", p.passkeysOn(p.signInPasskeyOptions))
	post("/signin/passkey", p.passkeysOn(p.signInPasskey))
	post("/mailbox/{id}/passkeys/options", p.passkeysOn(p.requireSessionJSON(p.holdersJSON(p.certificateSession(p.registerOptions)))))
	post("/mailbox/{id}/passkeys", p.passkeysOn(p.requireSessionJSON(p.holdersJSON(p.certificateSession(p.register)))))
	p.mux.HandleFunc("GET /mailbox/{id}/pending-passkeys/{pid}", p.holders(p.pendingRequest))
	post("/mailbox/{id}/pending-passkeys/{pid}", p.holders(p.endorse))
	post("/mailbox/{id}/passkeys/{cred}/label", p.holders(p.labelPasskey))
	post("/mailbox/{id}/passkeys/{cred}/remove", p.holders(p.removePasskey))
	post("/letters/{id}/passkey/options", p.passkeysOn(p.requireSessionJSON(p.holdersJSON(p.decideOptions))))
	post("/letters/{id}/passkey", p.passkeysOn(p.requireSessionJSON(p.holdersJSON(p.decide))))
	// The print centre's console (print_console.go).
	p.mux.HandleFunc("GET /print", p.printCentre(p.printHome))
	p.mux.HandleFunc("GET /print/manifest.csv", p.printCentre(p.printManifestCSV))
	p.mux.HandleFunc("GET /print/manifest.pdf", p.printCentre(p.printManifestPDF))
	post("/print/jobs/{id}/retry", p.printCentre(p.printRetry))
	post("/print/jobs/{id}/events", p.printCentre(p.printEvent))
	// The operator's console (operator_*.go).
	p.mux.HandleFunc("GET /operator", p.operator(p.operatorHome))
	p.mux.HandleFunc("GET /operator/counter", p.operator(p.operatorCounter))
	post("/operator/mailboxes/{id}/verify", p.operator(p.operatorVerifyMailbox))
	post("/operator/recoveries/{id}/verify", p.operator(p.operatorVerifyRecovery))
	p.mux.HandleFunc("GET /operator/credentials", p.operator(p.operatorCredentials))
	post("/operator/certificates/{serial}/revoke", p.operator(p.operatorRevoke))
	p.mux.HandleFunc("GET /operator/audits", p.operator(p.operatorAudits))
	post("/operator/audits", p.operator(p.operatorStartAudit))
	p.mux.HandleFunc("GET /verify", p.verifyForm)
	// The verify page is public and changes no state, but a cross-site
	// post could still spend the visitor's ration: protected like the rest.
	post("/verify", p.verifyUpload)
	// The organization console (org sessions only; 404 for anyone else).
	if err := p.orgRoutes(post); err != nil {
		return nil, err
	}
	p.mux.HandleFunc("/", p.notFound)
	return p, nil
}

// ServeHTTP adds the security headers every portal response carries.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No inline script or style: the only script is /static/*.js (CSP 3).
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Strict-Transport-Security", "max-age=31536000")
	p.mux.ServeHTTP(w, r)
}

// Mount serves api for /v1/… and /metrics and the portal for everything
// else, so that no portal route, cookie or session reaches the API.
func Mount(api, portal http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPIPath(r.URL.Path) {
			api.ServeHTTP(w, r)
			return
		}
		portal.ServeHTTP(w, r)
	})
}

func isAPIPath(p string) bool {
	return p == "/v1" || p == "/metrics" || len(p) >= 4 && p[:4] == "/v1/"
}

func staticHandler(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

func (p *Portal) now() time.Time { return p.Now().UTC() }

// EndSessions ends every portal session of an identity: credential
// recovery calls it, so a lost or stolen device's session stops at once.
func (p *Portal) EndSessions(ctx context.Context, identityID string) (int64, error) {
	return p.Service.EndWebSessionsOf(ctx, identityID)
}
