package app

import (
	"context"
	"fmt"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid"
	"github.com/npes/npes/internal/web"
	"github.com/npes/npes/mailbox"
)

// newConsoles wires the print centre's and the operator's web consoles to
// the same services the API and the CLI use: the print queue, the CA's
// revocation (`npes ca revoke`), the Prometheus registry of /metrics, the
// health check and the audit of `npes audit`.
func (s *Server) newConsoles(ca *certs.CA, svc *mailbox.Service, queue *hybrid.Queue) *web.Consoles {
	caSvc := NewCAService(ca, s.Store, s.cfg.Now)
	bg, cancel := context.WithCancel(context.Background())
	s.consolesCancel = cancel
	s.consoles = &web.Consoles{
		Print: queue,
		Revoke: func(ctx context.Context, serial string, reason certs.Reason) (mailbox.CertificateRecord, error) {
			rec, err := caSvc.Revoke(ctx, serial, reason)
			if err != nil {
				return rec, err
			}
			// In effect at once: the next handshake and every request on
			// an open connection check the reloaded set, and the
			// certificate's portal sessions end.
			if err := s.rev.Refresh(ctx); err != nil {
				return rec, fmt.Errorf("certificate %s revoked, but the revocation set did not reload yet: %w", rec.Serial, err)
			}
			err = s.Store.InTx(ctx, func(tx mailbox.Tx) error {
				_, err := tx.DeleteSessionsOfSerial(ctx, rec.Serial)
				return err
			})
			return rec, err
		},
		Metrics:    s.metrics.reg,
		Health:     func(ctx context.Context) error { _, err := s.Store.SchemaVersion(ctx); return err },
		Audit:      func(ctx context.Context) (mailbox.AuditReport, error) { return svc.Audit(ctx, nil) },
		Background: bg,
	}
	return s.consoles
}

// stopConsoles cancels a running console audit and waits for it to store
// its outcome, before the store closes.
func (s *Server) stopConsoles() {
	if s.consolesCancel != nil {
		s.consolesCancel()
		s.consoles.Wait()
	}
}
