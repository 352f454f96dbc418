package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/hybrid/convert"
	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/internal/tlsalert"
	"github.com/npes/npes/internal/web"
	"github.com/npes/npes/mailbox"
)

// revocationTTL bounds how stale the handshake's view of revocations may be.
const revocationTTL = time.Second

// Server is a running npes server.
type Server struct {
	cfg      Config
	Data     DataDir
	Store    mailbox.Store
	Service  *mailbox.Service
	HTTPAddr net.Addr
	// SMTPAddr and SMTPSAddr are the SMTP gateway's bound STARTTLS and
	// implicit-TLS addresses (nil when off).
	SMTPAddr  net.Addr
	SMTPSAddr net.Addr

	smtp smtpRuntime
	// metrics is this server's own Prometheus registry (GET /metrics).
	metrics *metrics
	// converter converts office documents for print (nil without
	// LibreOffice).
	converter *convert.Converter
	// rev is the revoked set that the handshakes, every authenticated
	// request, SMTP's MAIL and acceptance signatures consult.
	rev *revocations
	// alerts wraps every listener so that a revoked certificate hears
	// the TLS alert certificate_revoked.
	alerts *tlsalert.Rewriter

	// portal is the citizen web portal at / on the HTTPS listener.
	portal *web.Portal

	httpSrv *http.Server
	// tlsConfig is the listeners' mTLS configuration (shared by SMTP).
	tlsConfig *tls.Config
	listener  net.Listener
	done      chan struct{}
	bgCancel  context.CancelFunc
	// consoles are the print centre's and operator's consoles; their
	// background audits end with consolesCancel (consoles.go).
	consoles       *web.Consoles
	consolesCancel context.CancelFunc
	bgDone         chan struct{}
	once           sync.Once
	// shutdownOnce makes Shutdown idempotent; shutdownErr is its result.
	shutdownOnce sync.Once
	shutdownErr  error
	err          error
}

// Start initializes the data directory if needed, opens the store and starts
// the listeners. It returns once they accept connections.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := cfg.checkServe(); err != nil {
		return nil, err
	}
	d, created, err := Initialize(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		fmt.Fprintf(cfg.Out, "initialized data directory %s\n", d.Root)
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rev, err := startRevocations(ctx, st, revocationTTL, cfg.Now, cfg.Logger)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, Data: d, Store: st, rev: rev, done: make(chan struct{})}
	if err := s.startHTTP(ctx); err != nil {
		rev.stop()
		st.Close()
		return nil, err
	}
	if err := s.startSMTP(ctx); err != nil {
		_ = s.httpSrv.Close()
		rev.stop()
		st.Close()
		return nil, err
	}
	s.startBackground(ctx)
	fmt.Fprintf(cfg.Out, "npes %s store, API on https://%s\n", st.Engine(), s.HTTPAddr)
	fmt.Fprintf(cfg.Out, "operator credential: %s\n", d.OperatorCredentialDir())
	return s, nil
}

func (s *Server) startHTTP(ctx context.Context) error {
	ca, err := s.Data.LoadCA()
	if err != nil {
		return err
	}
	caPEM, err := s.Data.CAPEM()
	if err != nil {
		return err
	}
	serverCert, err := s.Data.ServerCertificate()
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Certificate())
	// Certificates are judged by the server's clock, the same clock that
	// dates evidence and deadlines, so the two never disagree. A revoked
	// certificate is refused with the alert certificate_revoked, which
	// crypto/tls alone cannot send: every listener is wrapped by s.alerts
	// and uses its config.
	s.alerts = tlsalert.New(func(err error) bool { return errors.Is(err, certs.ErrRevoked) })
	tlsCfg := s.alerts.Config(certs.ServerTLSConfig(serverCert, pool, s.rev, certs.WithClock(s.cfg.Now), certs.WithRefusalHook(s.logRefusal)))
	s.tlsConfig = tlsCfg
	s.metrics = newMetrics(newStateCollector(s.Store, s.cfg.Now, s.RevocationSetAge))
	svc, err := s.newService(pool, s.rev)
	if err != nil {
		return err
	}
	s.Service = svc
	// Logs written before evidence v2: mailbox entries for existing
	// bindings and activations, and a checkpoint of the log's size.
	if rep, err := svc.PrepareLog(ctx); err != nil {
		return fmt.Errorf("preparing the evidence log: %w", err)
	} else if rep.Entries > 0 || rep.Checkpoint {
		s.cfg.Logger.Info("evidence log prepared", "mailboxes", rep.Mailboxes, "entries", rep.Entries, "checkpoint", rep.Checkpoint)
	}
	// Before any request: a mailbox whose address fails today's rules must
	// not receive mail on a proof that proved something else.
	if n, err := svc.RecheckAddresses(ctx); err != nil {
		return fmt.Errorf("rechecking mailbox addresses: %w", err)
	} else if n > 0 {
		s.cfg.Logger.Warn("mailboxes set pending: their addresses fail the address rules", "count", n, "rules", mailbox.AddressRules)
	}
	// Letter batches a crash or a stop left unfinished go on from their
	// stored requests (no letter twice: each line has its idempotency key).
	if n, err := svc.ResumeBatches(ctx); err != nil {
		return fmt.Errorf("resuming letter batches: %w", err)
	} else if n > 0 {
		s.cfg.Logger.Info("letter batches resumed", "count", n)
	}

	// One print queue for the API and the print centre's console.
	queue := hybrid.NewQueue(svc, hybrid.WithLogger(s.cfg.Logger), hybrid.WithObserver(s.metrics))
	api := httpapi.NewHandler(httpapi.Deps{
		Logger:     s.cfg.Logger,
		CAPEM:      caPEM,
		CRL:        (&crlPublisher{ca: ca, store: s.Store, now: s.cfg.Now, log: s.cfg.Logger}).CRL,
		Health:     func(ctx context.Context) error { _, err := s.Store.SchemaVersion(ctx); return err },
		Metrics:    s.metrics.handler(s.cfg.Logger),
		Now:        s.cfg.Now,
		Service:    svc,
		Print:      queue,
		MailDomain: s.cfg.MailDomain,
		RateLimit:  s.cfg.RateLimit,
		// The handshake checked revocation once; every request checks
		// again, so a kept-alive connection ends with its certificate.
		Revocations:     s.rev,
		ConnMaxLifetime: s.cfg.ConnMaxLifetime,
		// A body must arrive in time too: ReadHeaderTimeout below covers
		// only the headers.
		BodyTimeouts: s.cfg.BodyTimeouts,
	})
	// The citizen portal shares the listener: /v1/… and /metrics stay the
	// API's, where cookies authenticate nothing.
	portal, err := web.New(web.Deps{Service: svc, Revocations: s.rev, Now: s.cfg.Now, Logger: s.cfg.Logger, CAPEM: caPEM,
		SessionIdle: s.cfg.WebSessionIdle, SessionAbsolute: s.cfg.WebSessionMax, WebAuthn: svc.WebAuthn(),
		Consoles: s.newConsoles(ca, svc, queue)})
	if err != nil {
		return err
	}
	s.portal = portal
	handler := web.Mount(api, portal)
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.HTTPAddr, err)
	}
	s.listener = ln
	s.HTTPAddr = ln.Addr()
	s.httpSrv = &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Handshake refusals are routine (revoked, foreign, expired
		// certificates): log them at debug level through slog.
		ErrorLog:    slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext: httpapi.ConnContext(s.cfg.Now),
	}
	go func() {
		err := s.httpSrv.Serve(tls.NewListener(s.alerts.Listener(ln), tlsCfg))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(err)
		}
	}()
	return nil
}

func (s *Server) fail(err error) {
	s.once.Do(func() { s.err = err; close(s.done) })
}

// Done is closed when a listener fails.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is the listener failure that closed Done.
func (s *Server) Err() error { return s.err }

// Shutdown stops accepting connections, lets in-flight requests finish
// within the configured timeout, and closes the store.
//
// It is safe to call more than once and from several goroutines: every call
// waits for the one shutdown and returns its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := errors.Join(s.httpSrv.Shutdown(ctx), s.stopSMTP(ctx))
	s.stopBackground()
	s.stopConsoles()
	s.rev.stop()
	if s.Service != nil {
		s.Service.Close()
	}
	if s.converter != nil {
		err = errors.Join(err, s.converter.Close())
	}
	s.once.Do(func() { close(s.done) })
	return errors.Join(err, s.Store.Close())
}

// logRefusal logs a client certificate refused at a handshake, on the API
// or the SMTP listeners: the client hears only a TLS alert, and a revoked
// credential still in use is something an operator must see.
func (s *Server) logRefusal(err error) {
	if errors.Is(err, certs.ErrRevoked) {
		s.cfg.Logger.Warn("TLS handshake refused: the client certificate is revoked", "err", err)
		return
	}
	s.cfg.Logger.Info("TLS handshake refused: client certificate", "err", err)
}

// RefreshRevocations reloads the revoked set from the store now and waits
// for the reload (within ctx): when it returns nil, a revocation committed
// before the call is refused at every later handshake and request. The
// server reloads by itself every half second; this is for tests and tools
// that must not depend on that timing.
func (s *Server) RefreshRevocations(ctx context.Context) error { return s.rev.Refresh(ctx) }

// EndWebSessions ends every web portal session of an identity (credential
// recovery: a lost device's session must stop with it).
func (s *Server) EndWebSessions(ctx context.Context, identityID string) (int64, error) {
	return s.portal.EndSessions(ctx, identityID)
}

// RevocationSetAge is how old the revoked set in use is, by the server's
// clock (for a gauge such as npes_revocation_set_age_seconds).
func (s *Server) RevocationSetAge() time.Duration { return s.rev.Age() }

// CredentialPath is a helper for printing where a credential lives.
func CredentialPath(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}

func (s *Server) newService(trust *x509.CertPool, rev certs.RevocationChecker) (*mailbox.Service, error) {
	sealer, err := s.Data.Sealer()
	if err != nil {
		return nil, err
	}
	mk, err := s.Data.MasterKey(s.cfg)
	if err != nil {
		return nil, err
	}
	keys, err := mailbox.NewKeyring(mk)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.Data.Root, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	renderer := s.cfg.Renderer
	if renderer == nil {
		r, err := hybrid.NewRenderer()
		if err != nil {
			return nil, fmt.Errorf("loading the PDF renderer: %w", err)
		}
		renderer = r
	}
	cfg := mailbox.Config{
		Store: s.Store, Sealer: sealer, Keys: keys, Trust: trust, Revocations: rev,
		Renderer: renderer, Limits: s.cfg.Limits, Now: s.cfg.Now, Logger: s.cfg.Logger, TempDir: tmp,
		Observer: s.metrics, Sessions: webSessionEnder{s.Store},
	}
	// checkServe has refused a bad origin already.
	if cfg.WebAuthn, err = ParseWebOrigin(s.cfg.WebOrigin); err != nil {
		return nil, err
	}
	if s.cfg.Soffice != "off" {
		conv, err := convert.New(convert.Options{Soffice: s.cfg.Soffice, Workers: s.cfg.ConvertWorkers,
			Timeout: s.cfg.ConvertTimeout, MemoryBytes: s.cfg.ConvertMemory, TempDir: tmp, Logger: s.cfg.Logger})
		if err != nil {
			s.cfg.Logger.Warn("office documents cannot be printed: LibreOffice conversion is unavailable", "err", err)
		} else {
			s.converter, cfg.Converter = conv, conv
		}
	}
	if s.cfg.DevActivationCodes {
		log := s.cfg.Logger
		cfg.ActivationCodeSink = func(mailboxID, code string) {
			log.Warn("development mode: activation code", "mailbox", mailboxID, "code", code)
		}
	}
	if s.cfg.ActivationCodeSink != nil {
		cfg.ActivationCodeSink = s.cfg.ActivationCodeSink
	}
	return mailbox.NewService(cfg)
}

// startBackground runs the periodic work: the acceptance-deadline sweep.
func (s *Server) startBackground(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCancel, s.bgDone = cancel, make(chan struct{})
	go func() {
		defer close(s.bgDone)
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		for {
			if n, err := s.Service.ExpireDue(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("deadline sweep failed", "err", err)
			} else if n > 0 {
				s.cfg.Logger.Info("deadline sweep", "expired", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (s *Server) stopBackground() {
	if s.bgCancel != nil {
		s.bgCancel()
		<-s.bgDone
	}
}

// webSessionEnder ends the portal's sessions of the credentials a mailbox
// recovery unbound (mailbox.SessionEnder).
type webSessionEnder struct{ st mailbox.Store }

func (e webSessionEnder) EndSessions(ctx context.Context, _ string, identityIDs []string) error {
	return e.st.InTx(ctx, func(tx mailbox.Tx) error {
		for _, id := range identityIDs {
			if _, err := tx.DeleteSessionsOf(ctx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
