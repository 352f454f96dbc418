package web

import (
	"crypto/x509"
	"net/http"

	"github.com/npes/npes/certs"
)

// presented is the client certificate of this request when crypto/tls
// verified it at the handshake (chain, clientAuth usage, revocation then);
// a presented but unverified certificate never gets this far.
func presented(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// holderRoles may use the portal: the holders of mailboxes.
func holderRole(role certs.Role) bool { return role == certs.RolePerson || role == certs.RoleOrg }

type signInPage struct {
	Certificate string // the presented certificate's holder, if any
	NotHolder   bool
	Ended       bool
	Error       string
	PasskeysOn  bool
}

// home is GET /: the inbox for a signed-in browser, the sign-in page (200)
// otherwise.
func (p *Portal) home(w http.ResponseWriter, r *http.Request) {
	s, err := p.session(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	if s != nil {
		http.Redirect(w, r, landing(s.Identity.Role), http.StatusSeeOther)
		return
	}
	p.signInPage(w, r, http.StatusOK, "")
}

func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request, status int, errKey string) {
	page := signInPage{Ended: r.URL.Query().Get("ended") == "1", Error: errKey, PasskeysOn: p.rp != nil}
	if cert := presented(r); cert != nil {
		if id, err := certs.IdentityFromCert(cert); err == nil {
			page.Certificate = id.Name
			page.NotHolder = !portalRole(id.Role)
		}
	}
	p.render(w, r, status, "signin", "Sign in", page)
}

// signInCertificate opens a session for the holder of the certificate this
// request presented, after checking it against the current revoked set (the
// handshake may be older than a revocation on a kept-alive connection).
func (p *Portal) signInCertificate(w http.ResponseWriter, r *http.Request) {
	cert := presented(r)
	if cert == nil {
		p.signInPage(w, r, http.StatusUnauthorized, "No certificate was presented.")
		return
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil {
		p.signInPage(w, r, http.StatusForbidden, "This portal is for holders of a mailbox (persons and organizations).")
		return
	}
	if !portalRole(id.Role) {
		p.signInPage(w, r, http.StatusForbidden, "This portal is for holders of a mailbox (persons and organizations).")
		return
	}
	if p.Revocations != nil {
		revoked, err := p.Revocations.IsRevoked(r.Context(), id.Serial)
		if err != nil {
			p.serverError(w, r, err)
			return
		}
		if revoked {
			w.Header().Set("Connection", "close")
			p.signInPage(w, r, http.StatusUnauthorized, "Your certificate has been revoked.")
			return
		}
	}
	if err := p.startSession(w, r, id, "certificate", negotiate(r, "")); err != nil {
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, landing(id.Role), http.StatusSeeOther)
}

// signOut ends the session on the server, not only in the browser.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	if s, err := p.session(r); err == nil && s != nil {
		if err := p.deleteSession(r.Context(), s.TokenHash); err != nil {
			p.serverError(w, r, err)
			return
		}
	}
	clearSessionCookie(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
