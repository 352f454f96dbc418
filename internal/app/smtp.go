package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/npes/npes/internal/smtpgw"
	"github.com/npes/npes/mailbox"
)

// smtpRuntime is the running SMTP side: the gateway's listeners and the
// notification relay worker.
type smtpRuntime struct {
	gw         *smtpgw.Server
	stopNotify context.CancelFunc
	notifyDone chan struct{}
	serving    sync.WaitGroup
}

// startSMTP starts the SMTP gateway (STARTTLS on cfg.SMTPAddr, implicit TLS
// on cfg.SMTPSAddr, either "off") on the listeners' mTLS configuration, and
// the notification worker when a relay is configured. It runs after
// startHTTP, which builds the service and the TLS configuration.
func (s *Server) startSMTP(ctx context.Context) error {
	rt := &s.smtp
	if s.cfg.SMTPAddr != "off" || s.cfg.SMTPSAddr != "off" {
		gw, err := smtpgw.New(smtpgw.Config{
			Service: s.Service, TLSConfig: s.tlsConfig,
			// The handshake checks revocation; MAIL checks again, for
			// connections opened before a revocation.
			Revocations: s.rev,
			Domain:      s.cfg.MailDomain, Logger: s.cfg.Logger, Now: s.cfg.Now,
			Replies: s.metrics.SMTPReply,
		})
		if err != nil {
			return err
		}
		rt.gw = gw
		var lns []net.Listener
		listen := func(addr string) (net.Listener, error) {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				for _, l := range lns {
					_ = l.Close()
				}
				return nil, fmt.Errorf("listening on %s: %w", addr, err)
			}
			lns = append(lns, ln)
			return s.alerts.Listener(ln), nil
		}
		var starttls, implicit net.Listener
		if s.cfg.SMTPAddr != "off" {
			if starttls, err = listen(s.cfg.SMTPAddr); err != nil {
				return err
			}
			s.SMTPAddr = starttls.Addr()
		}
		if s.cfg.SMTPSAddr != "off" {
			if implicit, err = listen(s.cfg.SMTPSAddr); err != nil {
				return err
			}
			s.SMTPSAddr = implicit.Addr()
		}
		serve := func(fn func(net.Listener) error, ln net.Listener) {
			if ln == nil {
				return
			}
			rt.serving.Add(1)
			go func() {
				defer rt.serving.Done()
				if err := fn(ln); err != nil {
					s.fail(fmt.Errorf("smtp listener %s: %w", ln.Addr(), err))
				}
			}()
		}
		serve(gw.Serve, starttls)
		serve(gw.ServeTLS, implicit)
		fmt.Fprintf(s.cfg.Out, "SMTP gateway for @%s: STARTTLS on %s, implicit TLS on %s\n",
			s.cfg.MailDomain, addrOrOff(s.SMTPAddr), addrOrOff(s.SMTPSAddr))
	}
	if s.cfg.SMTPRelay != "" {
		n, err := smtpgw.NewNotifier(smtpgw.NotifierConfig{
			Outbox: mailbox.NewOutbox(s.Store, mailbox.OutboxPolicy{Now: s.cfg.Now}),
			Relay:  s.cfg.SMTPRelay, Domain: s.cfg.MailDomain,
			Logger: s.cfg.Logger, Now: s.cfg.Now,
		})
		if err != nil {
			return errors.Join(err, s.stopSMTP(ctx))
		}
		nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		rt.stopNotify, rt.notifyDone = cancel, make(chan struct{})
		go func() {
			defer close(rt.notifyDone)
			n.Run(nctx)
		}()
	}
	return nil
}

func addrOrOff(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// stopSMTP stops the notification worker, then the gateway: idle
// connections close at once, a transaction in progress gets its reply
// first, and whatever is left when ctx ends is closed.
func (s *Server) stopSMTP(ctx context.Context) error {
	rt := &s.smtp
	if rt.stopNotify != nil {
		rt.stopNotify()
		<-rt.notifyDone
		rt.stopNotify = nil
	}
	if rt.gw == nil {
		return nil
	}
	err := rt.gw.Shutdown(ctx)
	rt.serving.Wait()
	rt.gw = nil
	return err
}
