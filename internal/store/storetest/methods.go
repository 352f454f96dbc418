package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/npes/npes/mailbox"
)

// methods holds one focused subtest per method of mailbox.Tx, named after
// the method (River's riverdrivertest has one per driver method). The
// domain scenarios above exercise the methods together; these pin each
// method's own contract, on every engine. TestEveryTxMethodHasASubtest
// fails when a method of mailbox.Tx has no entry here.
var methods = map[string]func(*testing.T, mailbox.Store){}

func method(name string, fn func(*testing.T, mailbox.Store)) {
	if _, dup := methods[name]; dup {
		panic("storetest: two subtests for " + name)
	}
	methods[name] = fn
}

// groups holds subtests that pin several methods together, where one
// method's contract cannot be observed without the others (a batch written
// by one method and read back by another); covered maps each such method
// to its group's subtest.
var (
	groups  = map[string]func(*testing.T, Factory){}
	covered = map[string]string{}
)

// methodGroup registers one subtest, named group, for the listed methods.
func methodGroup(group string, fn func(*testing.T, Factory), names ...string) {
	if _, dup := groups[group]; dup {
		panic("storetest: two groups named " + group)
	}
	groups[group] = fn
	for _, n := range names {
		if _, dup := methods[n]; dup {
			panic("storetest: two subtests for " + n)
		}
		if _, dup := covered[n]; dup {
			panic("storetest: two groups for " + n)
		}
		covered[n] = group
	}
}

// MethodNames lists the methods the suite has a subtest for, sorted.
func MethodNames() []string {
	names := make([]string, 0, len(methods)+len(covered))
	for n := range methods {
		names = append(names, n)
	}
	for n := range covered {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// exerciseMethods runs the per-method subtests and the groups under "Tx".
func exerciseMethods(t *testing.T, newStore Factory) {
	for name, fn := range methods {
		t.Run(name, func(t *testing.T) { t.Parallel(); fn(t, newStore(t)) })
	}
	for name, fn := range groups {
		t.Run(name, func(t *testing.T) { t.Parallel(); fn(t, newStore) })
	}
}

func init() {
	methodGroup("Recoveries", testRecoveries, "CreateRecovery", "GetRecovery", "UpdateRecovery", "RecoveriesOfIdentity", "SupersedeRecoveries")
	methodGroup("Batches", testBatches, "CreateBatch", "GetBatch", "BatchByKey", "BatchResults", "PutBatchResults", "SetBatchState")
	methodGroup("LettersSetBased", testLettersSetBased, "GetLetters", "UpdateLetters", "AddNotifications")
	methodGroup("PrintJobsSetBased", testPrintJobsSetBased, "GetPrintJobs", "UpdatePrintJobs")
	methodGroup("Threads", testThreads, "ThreadLetters")
	methodGroup("Ceremonies", testCeremonies, "CreateCeremony", "TakeCeremony", "CeremoniesOf", "DeleteExpiredCeremonies")
	methodGroup("Sessions", testSessions, "CreateSession", "GetSession", "TouchSession", "DeleteSession",
		"DeleteSessionsOf", "DeleteSessionsOfSerial", "DeleteStaleSessions")
}

// view runs fn read-only and fails the test on error.
func view(t *testing.T, s mailbox.Store, fn func(mailbox.Tx) error) {
	t.Helper()
	if err := s.View(ctx(t), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantErr runs fn in a transaction and wants err of kind want.
func wantErr(t *testing.T, s mailbox.Store, want error, fn func(mailbox.Tx) error) {
	t.Helper()
	if err := s.InTx(ctx(t), fn); !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func mailboxID(m mailbox.Mailbox) string { return m.ID }
func jobID(j mailbox.PrintJob) string    { return j.ID }

// seedMailboxes stores mb-a (active, bound to id-a) and mb-b (pending), two
// holders at key-1.
func seedMailboxes(t *testing.T, s mailbox.Store) (a, b mailbox.Mailbox) {
	t.Helper()
	a, b = newMailbox("mb-a", "3140582A001PB3", "key-1"), newMailbox("mb-b", "3140582A002PB4", "key-1")
	a.Status, a.ActivatedAt = mailbox.StatusActive, t0
	mustTx(t, s, func(tx mailbox.Tx) error {
		if err := tx.CreateMailbox(ctx(t), a); err != nil {
			return err
		}
		if err := tx.CreateMailbox(ctx(t), b); err != nil {
			return err
		}
		return tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: "mb-a", IdentityID: "id-a", Serial: "01", SPKISHA256: "spki", BoundAt: t0})
	})
	return a, b
}

// letterID is the i-th letter id (ids are UUIDs in the schema's order).
func letterID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func init() {
	// StateTx
	method("GetState", func(t *testing.T, s mailbox.Store) {
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetState(ctx(t), "k"); return err })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "k", []byte("v")) })
		view(t, s, func(tx mailbox.Tx) error {
			if v, err := tx.GetState(ctx(t), "k"); err != nil || string(v) != "v" {
				return fmt.Errorf("GetState = %q, %v", v, err)
			}
			return nil
		})
	})
	method("PutState", func(t *testing.T, s mailbox.Store) {
		for _, v := range []string{"one", "two"} {
			mustTx(t, s, func(tx mailbox.Tx) error { return tx.PutState(ctx(t), "k", []byte(v)) })
		}
		view(t, s, func(tx mailbox.Tx) error {
			if v, err := tx.GetState(ctx(t), "k"); err != nil || string(v) != "two" {
				return fmt.Errorf("overwritten value = %q, %v", v, err)
			}
			return nil
		})
	})
	method("NextCounter", func(t *testing.T, s mailbox.Store) {
		for want := int64(1); want <= 3; want++ {
			mustTx(t, s, func(tx mailbox.Tx) error {
				if v, err := tx.NextCounter(ctx(t), "c"); err != nil || v != want {
					return fmt.Errorf("NextCounter = %d, %v; want %d", v, err, want)
				}
				return nil
			})
		}
	})
	method("ReserveCounter", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			if v, err := tx.ReserveCounter(ctx(t), "c", 10); err != nil || v != 10 {
				return fmt.Errorf("first reservation = %d, %v", v, err)
			}
			if v, err := tx.ReserveCounter(ctx(t), "c", 5); err != nil || v != 15 {
				return fmt.Errorf("second reservation = %d, %v", v, err)
			}
			return nil
		})
	})

	// CertificateTx
	cert := func(serial string) mailbox.CertificateRecord {
		return mailbox.CertificateRecord{Serial: serial, Role: "person", Name: "Иван", IdentityID: "id-" + serial,
			NotBefore: t0, NotAfter: t0.Add(time.Hour), CertPEM: []byte("pem-" + serial)}
	}
	method("AddCertificate", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), cert("0A")) })
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), cert("0A")) })
	})
	method("GetCertificate", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), cert("0A")) })
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetCertificate(ctx(t), "0B"); return err })
		view(t, s, func(tx mailbox.Tx) error {
			c, err := tx.GetCertificate(ctx(t), "0A")
			if err != nil || c.IdentityID != "id-0A" || string(c.CertPEM) != "pem-0A" || !c.NotAfter.Equal(t0.Add(time.Hour)) || c.Revoked() {
				return fmt.Errorf("GetCertificate = %+v, %v", c, err)
			}
			return nil
		})
	})
	method("RevokeCertificate", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.AddCertificate(ctx(t), cert("0A")) })
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.RevokeCertificate(ctx(t), "0B", 1, t0); return err })
		mustTx(t, s, func(tx mailbox.Tx) error {
			if _, err := tx.RevokeCertificate(ctx(t), "0A", 1, t0); err != nil {
				return err
			}
			c, err := tx.RevokeCertificate(ctx(t), "0A", 4, t0.Add(time.Hour))
			if err != nil || c.Reason != 1 || !c.RevokedAt.Equal(t0) {
				return fmt.Errorf("second revocation changed the first: %+v, %v", c, err)
			}
			return nil
		})
	})
	method("ListCertificates", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.AddCertificate(ctx(t), cert("0B")), tx.AddCertificate(ctx(t), cert("0A")))
		})
		view(t, s, func(tx mailbox.Tx) error {
			all, err := tx.ListCertificates(ctx(t))
			if got := ids(all, func(c mailbox.CertificateRecord) string { return c.Serial }); err != nil || len(got) != 2 {
				return fmt.Errorf("ListCertificates = %v, %v", got, err)
			}
			return nil
		})
	})
	method("RevokedCertificates", func(t *testing.T, s mailbox.Store) {
		mustTx(t, s, func(tx mailbox.Tx) error {
			for _, sn := range []string{"0A", "0B", "0C"} {
				if err := tx.AddCertificate(ctx(t), cert(sn)); err != nil {
					return err
				}
			}
			_, err1 := tx.RevokeCertificate(ctx(t), "0C", 1, t0)
			_, err2 := tx.RevokeCertificate(ctx(t), "0A", 1, t0.Add(time.Minute))
			return errors.Join(err1, err2)
		})
		view(t, s, func(tx mailbox.Tx) error {
			rev, err := tx.RevokedCertificates(ctx(t))
			if got := ids(rev, func(c mailbox.CertificateRecord) string { return c.Serial }); err != nil || !slices.Equal(got, []string{"0C", "0A"}) {
				return fmt.Errorf("RevokedCertificates = %v, %v; want oldest first", got, err)
			}
			return nil
		})
	})

	// MailboxTx
	method("CreateMailbox", func(t *testing.T, s mailbox.Store) {
		seedMailboxes(t, s)
		dup := newMailbox("mb-c", "3140582A001PB3", "key-1")
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.CreateMailbox(ctx(t), dup) })
		other := newMailbox("mb-c", "3140582A001PB3", "key-2") // the same holder elsewhere
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.CreateMailbox(ctx(t), other) })
	})
	method("GetMailbox", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.GetMailbox(ctx(t), "nope"); return err })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.GetMailbox(ctx(t), a.ID)
			if err != nil || got.HolderKey != a.HolderKey || got.Status != mailbox.StatusActive || !bytes.Equal(got.ActivationHash, a.ActivationHash) || !got.ActivatedAt.Equal(t0) {
				return fmt.Errorf("GetMailbox = %+v, %v", got, err)
			}
			return nil
		})
	})
	method("GetMailboxes", func(t *testing.T, s mailbox.Store) {
		a, b := seedMailboxes(t, s)
		view(t, s, func(tx mailbox.Tx) error {
			// Missing ids are left out; the rest come in id order, each
			// read whole, a repeated id once.
			got, err := tx.GetMailboxes(ctx(t), []string{b.ID, "nope", a.ID, b.ID}, false)
			if err != nil || !slices.Equal(ids(got, mailboxID), []string{a.ID, b.ID}) {
				return fmt.Errorf("GetMailboxes = %v, %v", ids(got, mailboxID), err)
			}
			if got[0].Status != mailbox.StatusActive || got[0].HolderKey != a.HolderKey || !got[0].ActivatedAt.Equal(t0) || got[1].Status != b.Status {
				return fmt.Errorf("GetMailboxes = %+v", got)
			}
			if none, err := tx.GetMailboxes(ctx(t), nil, false); err != nil || len(none) != 0 {
				return fmt.Errorf("GetMailboxes(nil) = %v, %v", none, err)
			}
			return nil
		})
	})
	method("LockMailbox", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { _, err := tx.LockMailbox(ctx(t), "nope"); return err })
		mustTx(t, s, func(tx mailbox.Tx) error {
			got, err := tx.LockMailbox(ctx(t), a.ID)
			if err != nil || got.ID != a.ID || got.Status != mailbox.StatusActive {
				return fmt.Errorf("LockMailbox = %+v, %v", got, err)
			}
			return nil
		})
	})
	method("UpdateMailbox", func(t *testing.T, s mailbox.Store) {
		_, b := seedMailboxes(t, s)
		b.Status, b.Email, b.Attempts, b.ActivatedAt, b.ActivationHash = mailbox.StatusActive, "b@example.by", 3, t0.Add(time.Hour), []byte{4}
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UpdateMailbox(ctx(t), b) })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.GetMailbox(ctx(t), b.ID)
			if err != nil || got.Status != mailbox.StatusActive || got.Email != b.Email || got.Attempts != 3 || !got.ActivatedAt.Equal(b.ActivatedAt) || !bytes.Equal(got.ActivationHash, []byte{4}) {
				return fmt.Errorf("after UpdateMailbox: %+v, %v", got, err)
			}
			return nil
		})
	})
	method("ReaddressMailbox", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.CreateMailbox(ctx(t), newMailbox("mb-a2", "3140582A001PB3", "key-3"))
		})
		a.MatchKey, a.Address, a.Postcode, a.AddressRules = "key-2", "г. Гомель", "246050", 7
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.ReaddressMailbox(ctx(t), a) })
		view(t, s, func(tx mailbox.Tx) error {
			got, err := tx.GetMailbox(ctx(t), a.ID)
			if err != nil || got.MatchKey != "key-2" || got.Address != "г. Гомель" || got.Postcode != "246050" || got.AddressRules != 7 {
				return fmt.Errorf("after ReaddressMailbox: %+v, %v", got, err)
			}
			return nil
		})
		a.MatchKey = "key-3" // where the holder has mb-a2
		wantErr(t, s, mailbox.ErrConflict, func(tx mailbox.Tx) error { return tx.ReaddressMailbox(ctx(t), a) })
	})
	method("MailboxesToRecheck", func(t *testing.T, s mailbox.Store) {
		a, b := seedMailboxes(t, s)
		a.AddressRules = 2
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.ReaddressMailbox(ctx(t), a) })
		view(t, s, func(tx mailbox.Tx) error {
			old, err := tx.MailboxesToRecheck(ctx(t), 2, 10)
			if got := ids(old, mailboxID); err != nil || !slices.Equal(got, []string{b.ID}) {
				return fmt.Errorf("MailboxesToRecheck(2) = %v, %v", got, err)
			}
			return nil
		})
	})
	method("LockHolder", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			// Twice in one transaction, and for a holder without a mailbox.
			return errors.Join(tx.LockHolder(ctx(t), a.Kind, a.HolderKey), tx.LockHolder(ctx(t), a.Kind, a.HolderKey),
				tx.LockHolder(ctx(t), mailbox.KindOrg, "unp:1"))
		})
	})
	method("PendingMailboxes", func(t *testing.T, s mailbox.Store) {
		a, b := seedMailboxes(t, s)
		view(t, s, func(tx mailbox.Tx) error {
			na, err1 := tx.PendingMailboxes(ctx(t), a.Kind, a.HolderKey)
			nb, err2 := tx.PendingMailboxes(ctx(t), b.Kind, b.HolderKey)
			if err := errors.Join(err1, err2); err != nil || na != 0 || nb != 1 {
				return fmt.Errorf("PendingMailboxes = %d, %d, %v; want 0, 1", na, nb, err)
			}
			return nil
		})
	})
	activation := func(id, mb string, at time.Time) mailbox.PrintJob {
		j := newJob(id, "220", at)
		j.Kind, j.LetterID, j.MailboxID = mailbox.JobActivation, "", mb
		return j
	}
	method("ActivationLetters", func(t *testing.T, s mailbox.Store) {
		_, b := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.CreatePrintJob(ctx(t), activation("j1", b.ID, t0)), tx.CreatePrintJob(ctx(t), activation("j2", b.ID, t0)))
		})
		view(t, s, func(tx mailbox.Tx) error {
			n, err := tx.ActivationLetters(ctx(t), b.ID)
			if err != nil || n != 2 {
				return fmt.Errorf("ActivationLetters = %d, %v", n, err)
			}
			return nil
		})
	})
	method("HolderActivationLetters", func(t *testing.T, s mailbox.Store) {
		_, b := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.CreatePrintJob(ctx(t), activation("j1", b.ID, t0)), tx.CreatePrintJob(ctx(t), activation("j2", b.ID, t0.Add(time.Hour))))
		})
		view(t, s, func(tx mailbox.Tx) error {
			n, err := tx.HolderActivationLetters(ctx(t), b.Kind, b.HolderKey, t0.Add(time.Minute))
			if err != nil || n != 1 {
				return fmt.Errorf("HolderActivationLetters since t0+1m = %d, %v; want 1", n, err)
			}
			return nil
		})
	})
	method("MailboxesByMatchKey", func(t *testing.T, s mailbox.Store) {
		seedMailboxes(t, s)
		view(t, s, func(tx mailbox.Tx) error {
			at, err := tx.MailboxesByMatchKey(ctx(t), "key-1")
			none, err2 := tx.MailboxesByMatchKey(ctx(t), "key-9")
			if got := ids(at, mailboxID); errors.Join(err, err2) != nil || len(got) != 2 || len(none) != 0 {
				return fmt.Errorf("MailboxesByMatchKey = %v, %d, %v", got, len(none), errors.Join(err, err2))
			}
			return nil
		})
	})
	method("BindCredential", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		// Re-binding an unbound identity binds it again, in the same row.
		again := mailbox.Credential{MailboxID: a.ID, IdentityID: "id-a", Serial: "01", SPKISHA256: "spki", BoundAt: t0.Add(time.Hour)}
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.UnbindCredential(ctx(t), a.ID, "id-a", t0.Add(time.Minute)), tx.BindCredential(ctx(t), again))
		})
		view(t, s, func(tx mailbox.Tx) error {
			cs, err := tx.Credentials(ctx(t), a.ID)
			if err != nil || len(cs) != 1 || !cs[0].BoundAt.Equal(again.BoundAt) || !cs[0].UnboundAt.IsZero() {
				return fmt.Errorf("after re-binding: %+v, %v", cs, err)
			}
			return nil
		})
	})
	method("UnbindCredential", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { return tx.UnbindCredential(ctx(t), a.ID, "id-x", t0) })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UnbindCredential(ctx(t), a.ID, "id-a", t0.Add(time.Hour)) })
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { return tx.UnbindCredential(ctx(t), a.ID, "id-a", t0) })
		view(t, s, func(tx mailbox.Tx) error {
			mine, err := tx.MailboxesOfIdentity(ctx(t), "id-a")
			if err != nil || len(mine) != 0 {
				return fmt.Errorf("an unbound identity still has %v, %v", ids(mine, mailboxID), err)
			}
			return nil
		})
	})
	method("SetCredentialLabel", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { return tx.SetCredentialLabel(ctx(t), a.ID, "id-x", "phone") })
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.SetCredentialLabel(ctx(t), a.ID, "id-a", "телефон") })
		view(t, s, func(tx mailbox.Tx) error {
			cs, err := tx.Credentials(ctx(t), a.ID)
			if err != nil || len(cs) != 1 || cs[0].Label != "телефон" {
				return fmt.Errorf("after SetCredentialLabel: %+v, %v", cs, err)
			}
			return nil
		})
		// An ended binding keeps its last label.
		mustTx(t, s, func(tx mailbox.Tx) error { return tx.UnbindCredential(ctx(t), a.ID, "id-a", t0.Add(time.Hour)) })
		wantErr(t, s, mailbox.ErrNotFound, func(tx mailbox.Tx) error { return tx.SetCredentialLabel(ctx(t), a.ID, "id-a", "x") })
	})
	method("MailboxesOfIdentity", func(t *testing.T, s mailbox.Store) {
		_, b := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: b.ID, IdentityID: "id-a", Serial: "01", SPKISHA256: "spki", BoundAt: t0})
		})
		view(t, s, func(tx mailbox.Tx) error {
			mine, err := tx.MailboxesOfIdentity(ctx(t), "id-a")
			if got := ids(mine, mailboxID); err != nil || !slices.Equal(got, []string{"mb-a", "mb-b"}) {
				return fmt.Errorf("MailboxesOfIdentity = %v, %v", got, err)
			}
			return nil
		})
	})
	method("Credentials", func(t *testing.T, s mailbox.Store) {
		a, _ := seedMailboxes(t, s)
		mustTx(t, s, func(tx mailbox.Tx) error {
			return errors.Join(tx.BindCredential(ctx(t), mailbox.Credential{MailboxID: a.ID, IdentityID: "id-b", Serial: "03", SPKISHA256: "s3", BoundAt: t0}),
				tx.UnbindCredential(ctx(t), a.ID, "id-a", t0.Add(time.Minute)))
		})
		view(t, s, func(tx mailbox.Tx) error {
			cs, err := tx.Credentials(ctx(t), a.ID)
			if err != nil || len(cs) != 2 {
				return fmt.Errorf("Credentials = %+v, %v; want the current and the ended", cs, err)
			}
			for _, c := range cs {
				if (c.IdentityID == "id-a") == c.UnboundAt.IsZero() {
					return fmt.Errorf("binding %+v", c)
				}
			}
			return nil
		})
	})
	method("Mailboxes", func(t *testing.T, s mailbox.Store) {
		seedMailboxes(t, s)
		view(t, s, func(tx mailbox.Tx) error {
			p1, err1 := tx.Mailboxes(ctx(t), "", 1)
			p2, err2 := tx.Mailboxes(ctx(t), "mb-a", 10)
			if err := errors.Join(err1, err2); err != nil || !slices.Equal(ids(p1, mailboxID), []string{"mb-a"}) || !slices.Equal(ids(p2, mailboxID), []string{"mb-b"}) {
				return fmt.Errorf("pages %v %v, %v", ids(p1, mailboxID), ids(p2, mailboxID), err)
			}
			return nil
		})
	})
}
