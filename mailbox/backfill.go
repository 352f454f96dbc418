package mailbox

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/signing"
)

// How and AuthorizedBy of the entries PrepareLog writes for state that
// existed before mailboxes were in the log.
const authorizedByMigration = "migration"

// PrepareLogReport says what PrepareLog wrote.
type PrepareLogReport struct {
	Mailboxes  int  // mailboxes whose entries were written
	Entries    int  // entries written
	Checkpoint bool // a checkpoint of the existing log was stored
	// Skipped lists bindings whose public key is unknown (a certificate
	// the CA registry does not hold): they cannot be logged, and audit
	// fails on them until they are bound again.
	Skipped []string
}

// PrepareLog brings a log written before evidence v2 to its contracts, at
// startup, idempotently and safely with several processes starting at
// once (each page runs under the log head lock and skips mailboxes that
// have entries):
//   - log entries for the activations and credential bindings that exist
//     without one (CredentialBound, CredentialUnbound, MailboxActivated,
//     authorized_by "migration", at their recorded times);
//   - a checkpoint of the log's size, so GET /v1/log/checkpoint, which
//     only reads, has one to serve and every leaf is under a co-signed
//     checkpoint.
func (s *Service) PrepareLog(ctx context.Context) (PrepareLogReport, error) {
	var rep PrepareLogReport
	for after := ""; ; {
		var page []Mailbox
		err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
			if _, err := tx.LockLogHead(ctx); err != nil {
				return err
			}
			var err error
			if page, err = tx.Mailboxes(ctx, after, 200); err != nil {
				return err
			}
			var chains []*logChain
			for _, m := range page {
				entries, skipped, err := s.existingEntries(ctx, tx, m)
				if err != nil {
					return err
				}
				rep.Skipped = append(rep.Skipped, skipped...)
				if len(entries) > 0 {
					chains = append(chains, s.mailboxChain(m.ID, s.now(), entries...))
					rep.Mailboxes++
					rep.Entries += len(entries)
				}
			}
			_, err = s.appendLog(ctx, tx, chains)
			return err
		})
		if err != nil {
			return rep, err
		}
		if len(page) < 200 {
			break
		}
		after = page[len(page)-1].ID
	}
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		head, err := tx.LockLogHead(ctx)
		if err != nil || head.Size == 0 {
			return err
		}
		size, _, err := tx.LatestCheckpoint(ctx)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err == nil && size == head.Size {
			return nil
		}
		note, err := s.cfg.Sealer.SignCheckpoint(s.origin, head.Size, head.Root)
		if err != nil {
			return err
		}
		rep.Checkpoint = true
		return tx.PutCheckpoint(ctx, head.Size, note, s.now())
	})
	for _, sk := range rep.Skipped {
		s.log.ErrorContext(ctx, "credential binding not in the evidence log: its key is unknown; bind the certificate again", "binding", sk)
	}
	return rep, err
}

// existingEntries returns the entries a mailbox without any should have
// for its rows as they are.
func (s *Service) existingEntries(ctx context.Context, tx Tx, m Mailbox) ([]signing.MailboxEntry, []string, error) {
	have, err := tx.MailboxEntriesOf(ctx, m.ID)
	if err != nil || len(have) > 0 {
		return nil, nil, err
	}
	creds, err := tx.Credentials(ctx, m.ID)
	if err != nil {
		return nil, nil, err
	}
	var out []signing.MailboxEntry
	var skipped []string
	for _, c := range creds {
		cert, err := registeredCert(ctx, tx, c)
		if err != nil {
			return nil, nil, err
		}
		if cert == nil {
			skipped = append(skipped, m.ID+"/"+c.IdentityID)
			continue
		}
		id, err := certs.IdentityFromCert(cert)
		if err != nil {
			return nil, nil, err
		}
		e, err := credentialEntry(signing.EventCredentialBound, id, cert, authorizedByMigration)
		if err != nil {
			return nil, nil, err
		}
		e.Time = c.BoundAt
		out = append(out, e)
		if !c.UnboundAt.IsZero() {
			e.Event, e.Time = signing.EventCredentialUnbound, c.UnboundAt
			out = append(out, e)
		}
	}
	if m.Status == StatusActive {
		out = append(out, signing.MailboxEntry{Event: signing.EventMailboxActivated, Time: m.ActivatedAt,
			How: authorizedByMigration, AuthorizedBy: authorizedByMigration, Holder: m.HolderKey, MatchKey: m.MatchKey})
	}
	// In the order they happened; a binding precedes its unbinding.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, skipped, nil
}

// registeredCert finds a bound credential's certificate in the CA
// registry; nil when the registry does not hold it.
func registeredCert(ctx context.Context, tx Tx, c Credential) (*x509.Certificate, error) {
	rec, err := tx.GetCertificate(ctx, c.Serial)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(rec.CertPEM)
	if b == nil {
		return nil, fmt.Errorf("certificate %s in the registry is not PEM", c.Serial)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate %s in the registry: %w", c.Serial, err)
	}
	id, err := certs.IdentityFromCert(cert)
	if err != nil || id.ID != c.IdentityID {
		return nil, nil // same serial, another issuer: not this credential
	}
	return cert, nil
}
