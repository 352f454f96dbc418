package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/mailbox"
)

// Consoles are what the print centre's and the operator's consoles need
// besides the mailbox service. Without them (nil) the consoles answer 404.
type Consoles struct {
	// Print is the same print queue the API uses (retry, physical events,
	// manifest).
	Print *hybrid.Queue
	// Revoke revokes a certificate by serial as `npes ca revoke` does and
	// makes the revocation take effect on open connections and sessions
	// before it returns.
	Revoke func(ctx context.Context, serial string, reason certs.Reason) (mailbox.CertificateRecord, error)
	// Metrics is the server's Prometheus registry, read in-process.
	Metrics prometheus.Gatherer
	// Health reports whether the server can serve (the store answers).
	Health func(ctx context.Context) error
	// Audit audits the evidence log (mailbox.Service.Audit).
	Audit func(ctx context.Context) (mailbox.AuditReport, error)
	// Background is the server's lifetime: audits started from the
	// console run under it, not under the request that started them.
	Background context.Context

	audits auditRunner
}

// auditRunner keeps one audit at a time in this process; the store keeps
// one at a time across processes (mailbox.Service.StartAuditRun).
type auditRunner struct {
	mu      sync.Mutex
	running bool
	done    chan struct{} // closed when the current run has finished (tests)
}

func init() {
	pages = append(pages, "print", "operator", "operator_counter", "operator_credentials", "operator_audits")
	funcs["roleIs"] = func(s *mailbox.WebSession, role string) bool { return s != nil && string(s.Identity.Role) == role }
	funcs["holder"] = func(s *mailbox.WebSession) bool { return s != nil && holderRole(s.Identity.Role) }
	funcs["join"] = func(v []string) string { return strings.Join(v, ", ") }
	funcs["chartOf"] = func(l *locale, c chartView) chartArg { return chartArg{L: l, C: c} }
	funcs["duration"] = func(l *locale, d time.Duration) string { return l.duration(d) }
}

// chartArg is what the "chart" template draws.
type chartArg struct {
	L *locale
	C chartView
}

// portalRole: the roles that have a console in the portal (each its own).
func portalRole(role certs.Role) bool {
	return holderRole(role) || role == certs.RolePrintCenter || role == certs.RoleOperator
}

// landing is where a role's session starts.
func landing(role certs.Role) string {
	switch role {
	case certs.RolePrintCenter:
		return "/print"
	case certs.RoleOperator:
		return "/operator"
	}
	return "/inbox"
}

// forRoles serves next to sessions of the roles only: for anyone else the
// page does not exist (404), as a letter of another mailbox does not.
func (p *Portal) forRoles(next http.HandlerFunc, roles ...certs.Role) http.HandlerFunc {
	return p.requireSession(func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r)
		for _, role := range roles {
			if s.Identity.Role == role {
				next(w, r)
				return
			}
		}
		p.notFound(w, r)
	})
}

// holders serves the mailbox holders' pages (inbox, letters, write,
// mailbox).
func (p *Portal) holders(next http.HandlerFunc) http.HandlerFunc {
	return p.forRoles(next, certs.RolePerson, certs.RoleOrg)
}

// holdersJSON is holders for the passkey script's JSON steps (after
// requireSessionJSON): another role gets a JSON 404.
func (p *Portal) holdersJSON(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !holderRole(sessionFrom(r).Identity.Role) {
			p.jsonError(w, r, http.StatusNotFound, "Page not found.")
			return
		}
		next(w, r)
	}
}

// printCentre serves the print centre's console.
func (p *Portal) printCentre(next http.HandlerFunc) http.HandlerFunc {
	return p.forRoles(func(w http.ResponseWriter, r *http.Request) {
		if p.Consoles == nil {
			p.notFound(w, r)
			return
		}
		next(w, r)
	}, certs.RolePrintCenter)
}

// operator serves the operator's console: to sessions signed in with the
// operator's certificate only, never a passkey (a session of another
// method is sent back to sign in, 403).
func (p *Portal) operator(next http.HandlerFunc) http.HandlerFunc {
	return p.forRoles(func(w http.ResponseWriter, r *http.Request) {
		if p.Consoles == nil {
			p.notFound(w, r)
			return
		}
		if sessionFrom(r).Method != "certificate" {
			p.signInPage(w, r, http.StatusForbidden, "The operator's console accepts certificate sign-in only.")
			return
		}
		next(w, r)
	}, certs.RoleOperator)
}

// flash reads a whitelisted outcome message from the query (?done= or
// ?err=), set by the redirect after a state change.
func flash(r *http.Request, keys map[string]string) (done, failed string) {
	return keys[r.URL.Query().Get("done")], keys[r.URL.Query().Get("err")]
}
