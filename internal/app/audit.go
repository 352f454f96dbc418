package app

import (
	"context"
	"crypto/x509"

	"github.com/npes/npes/mailbox"
)

// Audit opens the data directory and the store and audits the evidence log
// (mailbox.Service.Audit) without starting any listener.
func Audit(ctx context.Context, cfg Config, external [][]byte) (mailbox.AuditReport, error) {
	if err := cfg.fill(); err != nil {
		return mailbox.AuditReport{}, err
	}
	d, err := Open(cfg)
	if err != nil {
		return mailbox.AuditReport{}, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return mailbox.AuditReport{}, err
	}
	defer st.Close()
	s := &Server{cfg: cfg, Data: d, Store: st}
	svc, err := s.newService(x509.NewCertPool(), nil)
	if err != nil {
		return mailbox.AuditReport{}, err
	}
	return svc.Audit(ctx, external)
}
