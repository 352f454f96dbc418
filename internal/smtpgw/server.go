// Package smtpgw is npes's SMTP gateway (DESIGN §7): organizations' mail
// systems submit letters over SMTP with the guarantees of the HTTP API.
//
// It is an adapter around go-smtp's Backend/Session seam. Every message goes
// through the same mailbox.Service.Submit as an HTTP submission (one
// delivery contract, nothing persisted before the commit), and domain errors
// become SMTP replies here only (replyFor). The rules:
//
//   - TLS always: STARTTLS (RFC 3207) or implicit TLS (RFC 8314); no
//     transaction on a plaintext connection, no AUTH. The client
//     certificate, verified at the handshake by certs.ServerTLSConfig
//     (revocation included), is the identity; MAIL without one is 530 5.7.0.
//   - The PEC rule: the envelope sender and the From field must be an active
//     mailbox of that identity, <mailbox-id>@<domain>.
//   - One letter per transaction: RCPT TO a mailbox address, or
//     post@<domain> with X-Npes-Recipient-Name and X-Npes-Recipient-Address.
//     A second RCPT gets 452 4.5.3 (RFC 5321 §4.5.3.1.10), so a client sends
//     further recipients in further transactions, each answered on its own.
//   - 250 only after the durable commit, with the letter id and tracking in
//     the reply; the Message-ID (per sender and recipient) is the
//     idempotency key, so a retry after a lost 250 returns the same letter.
//   - Strict CRLF (SMTP smuggling), size, line, header, MIME depth and part
//     limits, per-command and per-transaction deadlines, connection caps in
//     total and per certificate.
//
// Notifier, in the same package, sends the outbox's notifications through
// a relay.
package smtpgw

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// Limits bound what clients may make the gateway do. A zero field takes its
// default from DefaultLimits.
type Limits struct {
	// MaxMessageBytes is advertised as SIZE (RFC 1870), checked against
	// MAIL's SIZE parameter and enforced while DATA streams in.
	MaxMessageBytes int64
	// MaxLineLength counts the CRLF (RFC 5321 §4.5.3.1.6: 1000).
	MaxLineLength int
	// MaxHeaderBytes bounds one header block, of the message or of a part.
	MaxHeaderBytes int64
	// MaxMIMEDepth bounds multipart nesting; MaxMIMEParts the MIME entities.
	MaxMIMEDepth int
	MaxMIMEParts int
	// CommandTimeout is the time a client has to send a command line, and
	// the longest pause within DATA (RFC 5321 §4.5.3.2 suggests 5 minutes).
	CommandTimeout time.Duration
	// TransactionTimeout runs from MAIL to the end of DATA.
	TransactionTimeout time.Duration
	// CommitTimeout bounds the submission to the core after DATA.
	CommitTimeout time.Duration
	// GreetingTimeout bounds the time from accepting a connection to an
	// EHLO over TLS with a client certificate: the implicit-TLS handshake
	// (before the greeting), the first EHLO, STARTTLS and the EHLO after it.
	// A client that is not authenticated by then is cut off, whatever it
	// sends meanwhile (NOOPs do not extend it).
	GreetingTimeout time.Duration
	// IdleTimeout bounds the wait for the next command of an authenticated
	// client outside a transaction. Inside one (MAIL to the reply to DATA)
	// CommandTimeout applies, as RFC 5321 §4.5.3.2 asks.
	IdleTimeout time.Duration
	// MaxConnections caps connections in total; MaxConnectionsPerIdentity
	// caps the sessions of one client certificate; MaxConnectionsPerIP caps
	// the connections of one source address (an IPv6 source counts by its
	// /64, which one host usually holds whole). The per-IP cap is checked
	// at accept, before the TLS handshake, so one source cannot fill the
	// total and lock everyone else out. Its default equals the per-identity
	// cap: one organization's MTA behind one address may use all of its
	// sessions.
	MaxConnections            int
	MaxConnectionsPerIdentity int
	MaxConnectionsPerIP       int
}

// DefaultLimits derives the gateway's limits from the core's: a message must
// be able to carry the largest letter the core accepts, in base64 (4/3, and
// a CRLF every 76 characters, RFC 2045 §6.8) with a quoted-printable body
// (at most 3 octets per byte) and room for headers and MIME framing.
func DefaultLimits(core mailbox.Limits) Limits {
	return Limits{
		MaxMessageBytes:           core.MaxAttachmentBytes/3*4*78/76 + 3*core.MaxBodyBytes + 1<<20,
		MaxLineLength:             1000,
		MaxHeaderBytes:            128 << 10,
		MaxMIMEDepth:              8,
		MaxMIMEParts:              100,
		CommandTimeout:            5 * time.Minute,
		TransactionTimeout:        15 * time.Minute,
		CommitTimeout:             2 * time.Minute,
		GreetingTimeout:           15 * time.Second,
		IdleTimeout:               time.Minute,
		MaxConnections:            512,
		MaxConnectionsPerIdentity: 32,
		MaxConnectionsPerIP:       32,
	}
}

func (l *Limits) fill(def Limits) {
	set64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	set64(&l.MaxMessageBytes, def.MaxMessageBytes)
	set(&l.MaxLineLength, def.MaxLineLength)
	set64(&l.MaxHeaderBytes, def.MaxHeaderBytes)
	set(&l.MaxMIMEDepth, def.MaxMIMEDepth)
	set(&l.MaxMIMEParts, def.MaxMIMEParts)
	setD(&l.CommandTimeout, def.CommandTimeout)
	setD(&l.TransactionTimeout, def.TransactionTimeout)
	setD(&l.CommitTimeout, def.CommitTimeout)
	setD(&l.GreetingTimeout, def.GreetingTimeout)
	setD(&l.IdleTimeout, def.IdleTimeout)
	set(&l.MaxConnections, def.MaxConnections)
	set(&l.MaxConnectionsPerIdentity, def.MaxConnectionsPerIdentity)
	set(&l.MaxConnectionsPerIP, def.MaxConnectionsPerIP)
}

// Config wires a Server.
type Config struct {
	// Service is the domain core; every letter goes through Submit.
	Service *mailbox.Service
	// TLSConfig is the mTLS server configuration (certs.ServerTLSConfig):
	// client certificates are verified, revocation included, at the
	// handshake. It is shared, never modified.
	TLSConfig *tls.Config
	// Revocations, when set, is asked again at each MAIL, so a certificate
	// revoked while its connection stays open sends nothing more.
	Revocations certs.RevocationChecker
	// Domain is the mail domain of mailbox addresses (NPES_MAIL_DOMAIN).
	Domain string
	// Hostname is the name in the greeting; empty means Domain.
	Hostname string
	Limits   Limits
	Logger   *slog.Logger
	// Now is the clock of certificate validity; nil means time.Now.
	// Network deadlines always use the wall clock.
	Now func() time.Time
	// Replies, when set, is told the code of every reply the gateway
	// decides: each refusal, the 250s to MAIL, RCPT and DATA, the 421 of a
	// connection cap. (go-smtp's own replies, such as the greeting, EHLO
	// and syntax errors, are not seen.)
	Replies func(code int)
}

// Server is the gateway: one go-smtp server that serves STARTTLS and
// implicit-TLS listeners.
type Server struct {
	cfg  Config
	lim  Limits
	log  *slog.Logger
	smtp *smtp.Server

	mu          sync.Mutex
	conns       map[*trackedConn]struct{}
	perIdentity map[string]int
	perIP       map[netip.Prefix]int
	draining    bool
}

// New checks the configuration and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.TLSConfig == nil {
		return nil, errors.New("smtpgw: Service and TLSConfig are required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("smtpgw: Domain is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Replies == nil {
		cfg.Replies = func(int) {}
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Domain
	}
	lim := cfg.Limits
	lim.fill(DefaultLimits(cfg.Service.Limits()))
	s := &Server{
		cfg: cfg, lim: lim, log: cfg.Logger.With("component", "smtp"),
		conns: map[*trackedConn]struct{}{}, perIdentity: map[string]int{}, perIP: map[netip.Prefix]int{},
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = cfg.Hostname
	srv.TLSConfig = cfg.TLSConfig
	srv.MaxMessageBytes = lim.MaxMessageBytes
	srv.MaxRecipients = 1
	srv.ReadTimeout = lim.CommandTimeout
	srv.WriteTimeout = lim.CommandTimeout
	srv.ErrorLog = errorLog{s.log}
	s.smtp = srv
	return s, nil
}

// Limits reports the effective limits.
func (s *Server) Limits() Limits { return s.lim }

// Serve accepts plaintext connections that must upgrade with STARTTLS
// before any transaction. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.smtp.Serve(&capListener{Listener: ln, srv: s, plaintext: true})
}

// ServeTLS accepts implicit-TLS connections (RFC 8314 §3.3, "submissions").
// It returns nil after Shutdown.
func (s *Server) ServeTLS(ln net.Listener) error {
	return s.smtp.Serve(tls.NewListener(&capListener{Listener: ln, srv: s}, s.cfg.TLSConfig))
}

// Shutdown stops accepting connections, closes idle ones, lets transactions
// in progress finish (each connection closes after its reply) and, when ctx
// ends first, closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	var idle []*trackedConn
	for c := range s.conns {
		if !c.busy.Load() {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		_ = c.Close()
	}
	err := s.smtp.Shutdown(ctx)
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	if ctx.Err() != nil {
		s.mu.Lock()
		all := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			all = append(all, c)
		}
		s.mu.Unlock()
		for _, c := range all {
			_ = c.Close()
		}
	}
	return err
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// admit counts a new connection against MaxConnections and
// MaxConnectionsPerIP, and starts its greeting deadline.
func (s *Server) admit(c net.Conn) (*trackedConn, error) {
	src := sourceOf(c.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.draining:
		return nil, errRefusedDraining
	case len(s.conns) >= s.lim.MaxConnections:
		return nil, errRefusedTotal
	case src.IsValid() && s.perIP[src] >= s.lim.MaxConnectionsPerIP:
		return nil, errRefusedPerIP
	}
	t := &trackedConn{Conn: c, srv: s, src: src, greetBy: time.Now().Add(s.lim.GreetingTimeout)}
	// The implicit-TLS handshake happens before go-smtp sets any deadline
	// of its own: bound it, and everything until authentication, here.
	_ = c.SetDeadline(t.greetBy)
	s.conns[t] = struct{}{}
	if src.IsValid() {
		s.perIP[src]++
	}
	return t, nil
}

var (
	errRefusedDraining = errors.New("shutting down")
	errRefusedTotal    = errors.New("connection cap reached")
	errRefusedPerIP    = errors.New("connection cap of the source address reached")
)

func (s *Server) release(t *trackedConn) {
	s.mu.Lock()
	delete(s.conns, t)
	if t.src.IsValid() {
		if s.perIP[t.src]--; s.perIP[t.src] <= 0 {
			delete(s.perIP, t.src)
		}
	}
	s.mu.Unlock()
}

// sourceOf is the unit a per-IP cap counts: the address of an IPv4 (or
// IPv4-mapped) source, the /64 of an IPv6 one (RFC 4291 §2.5.4: the
// interface identifier is 64 bits, and a host is commonly given the whole
// prefix). An address that is not IP (a test pipe) is not counted.
func sourceOf(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// acquireIdentity counts a session against MaxConnectionsPerIdentity.
func (s *Server) acquireIdentity(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIdentity[id] >= s.lim.MaxConnectionsPerIdentity {
		return false
	}
	s.perIdentity[id]++
	return true
}

func (s *Server) releaseIdentity(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIdentity[id]--; s.perIdentity[id] <= 0 {
		delete(s.perIdentity, id)
	}
}

// capListener refuses connections beyond MaxConnections at once, or beyond
// MaxConnectionsPerIP from one source, so a flood cannot queue unbounded
// work nor one source hold every slot; a refused plaintext client is told
// 421 (RFC 5321 §3.8), a TLS one just sees the connection close (answering
// would cost it a handshake).
type capListener struct {
	net.Listener
	srv       *Server
	plaintext bool
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		t, err := l.srv.admit(c)
		if err == nil {
			return t, nil
		}
		l.srv.log.Info("smtp: connection refused", "remote", c.RemoteAddr().String(), "reason", err.Error())
		go func() {
			if l.plaintext {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = io.WriteString(c, "421 4.4.5 Too many connections, try again later\r\n")
			}
			_ = c.Close()
		}()
	}
}

// trackedConn is a counted connection; busy is set while a transaction is
// in progress, so Shutdown spares it until its reply.
//
// It also shortens go-smtp's deadlines (go-smtp sets ReadTimeout, the
// command timeout, before every command line): until the client is
// authenticated no deadline reaches past greetBy, and between transactions
// no read deadline reaches past IdleTimeout. An idle or unauthenticated
// client thus holds its slot for seconds, not for the command timeout.
type trackedConn struct {
	net.Conn
	srv     *Server
	src     netip.Prefix
	greetBy time.Time
	once    sync.Once
	busy    atomic.Bool
	authed  atomic.Bool
}

func (t *trackedConn) Close() error {
	err := t.Conn.Close()
	t.once.Do(func() { t.srv.release(t) })
	return err
}

// clamp shortens a deadline go-smtp asks for; the zero time (none) counts
// as the latest.
func (t *trackedConn) clamp(d time.Time, read bool) time.Time {
	limit := time.Time{}
	switch {
	case !t.authed.Load():
		limit = t.greetBy
	case read && !t.busy.Load():
		limit = time.Now().Add(t.srv.lim.IdleTimeout)
	}
	if !limit.IsZero() && (d.IsZero() || d.After(limit)) {
		return limit
	}
	return d
}

func (t *trackedConn) SetReadDeadline(d time.Time) error {
	return t.Conn.SetReadDeadline(t.clamp(d, true))
}

func (t *trackedConn) SetWriteDeadline(d time.Time) error {
	return t.Conn.SetWriteDeadline(t.clamp(d, false))
}

func (t *trackedConn) SetDeadline(d time.Time) error {
	return errors.Join(t.SetReadDeadline(d), t.SetWriteDeadline(d))
}

// tracked finds the counted connection under a go-smtp connection (which is
// a *tls.Conn after a handshake).
func tracked(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*trackedConn)
	return t
}

type backend struct{ s *Server }

// NewSession runs at EHLO/HELO, and again at the first EHLO after STARTTLS
// (when the TLS state, and so the client certificate, is known).
func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := b.s
	sess := &session{srv: s, conn: c, tc: tracked(c.Conn())}
	if state, ok := c.TLSConnectionState(); ok {
		sess.tls = true
		// crypto/tls verified the chain and certs.ServerTLSConfig's
		// VerifyConnection checked usage, identity and revocation: a
		// certificate that reaches this point is good.
		if id, err := certs.IdentityFromConnectionState(state); err == nil {
			sess.id = &id
		}
	}
	if sess.id != nil {
		if !s.acquireIdentity(sess.id.ID) {
			s.log.Info("smtp: connection cap of an identity reached", "serial", sess.id.Serial)
			s.cfg.Replies(421)
			c.Reject() // 421 4.4.5 and close
			return nil, &smtp.SMTPError{Code: 421, EnhancedCode: enhTempBusy, Message: "Too many connections"}
		}
		if sess.tc != nil {
			// From here on the idle and command timeouts apply instead of
			// the greeting deadline.
			sess.tc.authed.Store(true)
		}
	}
	// A connection without a certificate may say EHLO and STARTTLS, nothing
	// else, and only until its greeting deadline (trackedConn): it never
	// gets an open-ended slot kept alive with NOOPs.
	return sess, nil
}

// errorLog adapts go-smtp's logger (connection-level failures, such as a
// refused TLS handshake) to slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) { e.log.Info(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.log.Info(fmt.Sprint(v...)) }
