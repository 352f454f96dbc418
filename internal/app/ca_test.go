package app_test

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// storeEngines and engineURLs give a test each database engine, as a store
// or as the server's database URL (empty: SQLite in the data directory).
var (
	storeEngines = map[string]storetest.Factory{
		"sqlite":   storetest.NewSQLite,
		"postgres": storetest.NewPostgres,
	}
	engineURLs = map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return storetest.PostgresURL(t) },
	}
)

func newTestCA(t *testing.T, now time.Time) *certs.CA {
	t.Helper()
	certPEM, keyPEM, err := certs.CreateCA("npes test CA", now.AddDate(0, 0, -1))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func listCerts(t *testing.T, svc *app.CAService) []mailbox.CertificateRecord {
	t.Helper()
	all, err := svc.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestCAServiceRecordsBeforeWriting: a credential file never exists for a
// certificate the registry does not know, so every certificate that leaves
// `ca issue` can be revoked.
func TestCAServiceRecordsBeforeWriting(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for engine, newStore := range storeEngines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ca := newTestCA(t, now)
			clock := func() time.Time { return now }
			dir := t.TempDir()

			t.Run("issued credential is recorded and written", func(t *testing.T) {
				svc := app.NewCAService(ca, newStore(t), clock)
				out := filepath.Join(dir, "ivan")
				cred, err := svc.Issue(t.Context(), person, out)
				if err != nil {
					t.Fatal(err)
				}
				all := listCerts(t, svc)
				if len(all) != 1 || all[0].Serial != certs.FormatSerial(cred.Cert.SerialNumber) || all[0].Revoked() {
					t.Fatalf("registry after issue: %+v", all)
				}
				if fi, err := os.Stat(filepath.Join(out, certs.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Fatalf("key.pem: %v %v", fi, err)
				}
				if _, err := certs.LoadCredentialDir(out); err != nil {
					t.Fatalf("written credential does not load: %v", err)
				}
			})

			t.Run("failed record writes nothing", func(t *testing.T) {
				st := newStore(t)
				svc := app.NewCAService(ca, st, clock)
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "closed-store")
				_, err := svc.Issue(t.Context(), person, out)
				if err == nil || !strings.Contains(err.Error(), "nothing was written") {
					t.Fatalf("issue on a closed store: %v", err)
				}
				if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s exists after a failed record (%v): a certificate nobody can revoke", out, err)
				}
			})

			t.Run("failed write revokes the recorded certificate", func(t *testing.T) {
				svc := app.NewCAService(ca, newStore(t), clock)
				blocker := filepath.Join(dir, "a-file")
				if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				_, err := svc.Issue(t.Context(), person, filepath.Join(blocker, "cred"))
				if err == nil || !strings.Contains(err.Error(), "has been revoked") {
					t.Fatalf("issue into an unwritable directory: %v", err)
				}
				all := listCerts(t, svc)
				if len(all) != 1 || !all[0].Revoked() || all[0].Reason != int(certs.ReasonCessationOfOperation) || !all[0].RevokedAt.Equal(now.Truncate(time.Microsecond)) {
					t.Fatalf("registry after a failed write: %+v", all)
				}
			})

			t.Run("occupied directory is refused before signing", func(t *testing.T) {
				svc := app.NewCAService(ca, newStore(t), clock)
				out := filepath.Join(dir, "occupied")
				if err := os.MkdirAll(out, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(out, certs.KeyFile), []byte("someone's key"), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Issue(t.Context(), person, out); !errors.Is(err, fs.ErrExist) {
					t.Fatalf("issue over an existing key: %v, want fs.ErrExist", err)
				}
				if all := listCerts(t, svc); len(all) != 0 {
					t.Fatalf("a refused issue was recorded: %+v", all)
				}
			})
		})
	}
}

// TestCAServiceRevoke: revocation validates its input, is dated by the CA's
// clock, and keeps the first revocation.
func TestCAServiceRevoke(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for engine, newStore := range storeEngines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			svc := app.NewCAService(newTestCA(t, now), newStore(t), func() time.Time { return now })
			cred, err := svc.Issue(t.Context(), person, filepath.Join(t.TempDir(), "cred"))
			if err != nil {
				t.Fatal(err)
			}
			serial := certs.FormatSerial(cred.Cert.SerialNumber)
			for _, tc := range []struct {
				name   string
				serial string
				reason certs.Reason
				want   error
			}{
				{"unknown serial", "0BADC0DE", certs.ReasonKeyCompromise, mailbox.ErrNotFound},
				{"not a serial", "xyz", certs.ReasonKeyCompromise, certs.ErrBadSerial},
				{"certificateHold is not offered", serial, 6, certs.ErrBadReason},
				{"revoked", "serial=" + strings.ToLower(serial), certs.ReasonKeyCompromise, nil},
				{"second revocation keeps the first", serial, certs.ReasonSuperseded, nil},
			} {
				rec, err := svc.Revoke(t.Context(), tc.serial, tc.reason)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
				}
				if tc.want == nil && (rec.Serial != serial || rec.Reason != int(certs.ReasonKeyCompromise) || !rec.RevokedAt.Equal(now.Truncate(time.Microsecond))) {
					t.Fatalf("%s: %+v", tc.name, rec)
				}
			}
		})
	}
}

// TestCRLSurvivesBadRows: one bad registry row (a revocation dated in the
// future by a node with a fast clock, a reason npes does not issue, a
// serial that is not one) never makes /v1/crl fail for everyone.
func TestCRLSurvivesBadRows(t *testing.T) {
	t.Parallel()
	for name, url := range engineURLs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, url(t))
			future := b.issue(t, person, time.Now())
			hold := b.issue(t, person, time.Now())
			futureSerial := certs.FormatSerial(future.Cert.SerialNumber)
			holdSerial := certs.FormatSerial(hold.Cert.SerialNumber)
			mustTx := func(fn func(tx mailbox.Tx) error) {
				t.Helper()
				if err := b.srv.Store.InTx(t.Context(), fn); err != nil {
					t.Fatal(err)
				}
			}
			mustTx(func(tx mailbox.Tx) error {
				if _, err := tx.RevokeCertificate(t.Context(), futureSerial, int(certs.ReasonKeyCompromise), b.clock.Now().Add(48*time.Hour)); err != nil {
					return err
				}
				if _, err := tx.RevokeCertificate(t.Context(), holdSerial, 6, b.clock.Now()); err != nil {
					return err
				}
				if err := tx.AddCertificate(t.Context(), mailbox.CertificateRecord{Serial: "NOT-HEX", Role: "person", Name: "x", IdentityID: "x",
					NotBefore: b.clock.Now(), NotAfter: b.clock.Now().Add(time.Hour), CertPEM: []byte("x")}); err != nil {
					return err
				}
				_, err := tx.RevokeCertificate(t.Context(), "NOT-HEX", 1, b.clock.Now())
				return err
			})
			status, body, err := get(t, b.client(t, nil), b.base+"/v1/crl")
			if err != nil || status != 200 {
				t.Fatalf("crl: %d %s %v", status, body, err)
			}
			rl, err := x509.ParseRevocationList([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.CheckSignatureFrom(b.ca.Certificate()); err != nil {
				t.Fatal(err)
			}
			got := map[string]x509.RevocationListEntry{}
			for _, e := range rl.RevokedCertificateEntries {
				got[certs.FormatSerial(e.SerialNumber)] = e
			}
			if len(got) != 2 {
				t.Fatalf("CRL entries %v, want the two readable serials", got)
			}
			if e, ok := got[futureSerial]; !ok || e.RevocationTime.After(rl.ThisUpdate) || e.ReasonCode != int(certs.ReasonKeyCompromise) {
				t.Fatalf("future-dated revocation: %+v (present %v), thisUpdate %s", e, ok, rl.ThisUpdate)
			}
			if e, ok := got[holdSerial]; !ok || e.ReasonCode != int(certs.ReasonUnspecified) {
				t.Fatalf("revocation with reason 6: %+v (present %v)", e, ok)
			}
		})
	}
}
