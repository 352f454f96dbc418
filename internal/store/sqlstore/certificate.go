package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/npes/npes/mailbox"
)

const certColumns = `serial, role, name, identity_id, not_before, not_after, cert_pem, revoked_at, reason`

func scanCert(r interface{ Scan(...any) error }) (mailbox.CertificateRecord, error) {
	var c mailbox.CertificateRecord
	var nb, na, ra int64
	err := r.Scan(&c.Serial, &c.Role, &c.Name, &c.IdentityID, &nb, &na, &c.CertPEM, &ra, &c.Reason)
	c.NotBefore, c.NotAfter, c.RevokedAt = FromMicros(nb), FromMicros(na), FromMicros(ra)
	return c, err
}

// AddCertificate implements mailbox.CertificateTx.
func (t *Tx) AddCertificate(ctx context.Context, c mailbox.CertificateRecord) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO certificates (`+certColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)`,
		c.Serial, c.Role, c.Name, c.IdentityID, Micros(c.NotBefore), Micros(c.NotAfter), c.CertPEM)
	if err != nil {
		return fmt.Errorf("certificate %s: %w", c.Serial, err)
	}
	return nil
}

// RevokeCertificate implements mailbox.CertificateTx.
func (t *Tx) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) (mailbox.CertificateRecord, error) {
	// The first revocation wins: its time and reason are what the CRL says.
	if _, err := t.Q.Exec(ctx, `UPDATE certificates SET revoked_at = $2, reason = $3
		WHERE serial = $1 AND revoked_at = 0`, serial, Micros(at), reason); err != nil {
		return mailbox.CertificateRecord{}, err
	}
	return t.GetCertificate(ctx, serial)
}

// GetCertificate implements mailbox.CertificateTx.
func (t *Tx) GetCertificate(ctx context.Context, serial string) (mailbox.CertificateRecord, error) {
	c, err := scanCert(t.Q.QueryRow(ctx, `SELECT `+certColumns+` FROM certificates WHERE serial = $1`, serial))
	if err != nil {
		return c, fmt.Errorf("certificate %s: %w", serial, err)
	}
	return c, nil
}

// ListCertificates implements mailbox.CertificateTx.
func (t *Tx) ListCertificates(ctx context.Context) ([]mailbox.CertificateRecord, error) {
	return t.listCerts(ctx, `SELECT `+certColumns+` FROM certificates ORDER BY not_before, serial`)
}

// RevokedCertificates implements mailbox.CertificateTx.
func (t *Tx) RevokedCertificates(ctx context.Context) ([]mailbox.CertificateRecord, error) {
	return t.listCerts(ctx, `SELECT `+certColumns+` FROM certificates WHERE revoked_at <> 0 ORDER BY revoked_at, serial`)
}

func (t *Tx) listCerts(ctx context.Context, q string) ([]mailbox.CertificateRecord, error) {
	rows, err := t.Q.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.CertificateRecord
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
