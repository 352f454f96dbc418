package mailbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

type logFixture struct {
	st    mailbox.Store
	svc   *mailbox.Service
	core  *coretest.Core
	clk   *clock
	trust *signing.Trust
}

// newLogFixture builds a Service on store with renderer r (nil: none), a
// test CA and a clock the test moves (from 2 November 2026).
func newLogFixture(t *testing.T, store mailbox.Store, r mailbox.Renderer, configure ...func(*mailbox.Config)) *logFixture {
	t.Helper()
	core := coretest.New(t, store, func(c *mailbox.Config) {
		c.Renderer = r
		for _, f := range configure {
			f(c)
		}
	})
	trust, err := signing.NewTrust(core.Svc.JWKS(), core.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	return &logFixture{st: store, svc: core.Svc, core: core, clk: core.Clock, trust: trust}
}

func (f *logFixture) issue(t *testing.T, req certs.Request) (mailbox.Caller, certs.Credential) {
	return f.core.Issue(t, req)
}

// logState reads the log head size and the stored checkpoints.
func (f *logFixture) logState(t *testing.T) (head uint64, checkpoints []uint64) {
	t.Helper()
	err := f.st.View(context.Background(), func(tx mailbox.Tx) error {
		h, err := tx.GetLogHead(context.Background())
		if err != nil {
			return err
		}
		head = h.Size
		return tx.Checkpoints(context.Background(), func(size uint64, _ []byte) error {
			checkpoints = append(checkpoints, size)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return head, checkpoints
}

// TestEveryAppendStoresItsCheckpoint: each operation that appends to the
// log (mailbox entries, a submission, a decision, a credential bound and
// unbound) stores, in its own transaction, the co-signed checkpoint of the
// new size; the public checkpoint read signs and stores nothing; and the
// log with its rows audits clean.
func TestEveryAppendStoresItsCheckpoint(t *testing.T) {
	ctx := context.Background()
	f := newLogFixture(t, storetest.NewSQLite(t), nil)
	if _, _, err := f.svc.Checkpoint(ctx); err == nil {
		t.Fatal("an empty log served a checkpoint")
	}
	operator, _ := f.issue(t, certs.Request{Role: certs.RoleOperator, Name: "op"})
	org, _ := f.issue(t, certs.Request{Role: certs.RoleOrg, Name: "ОАО «Тест»", UNP: "100289066"})
	person, _ := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	_, second := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	var personBox string
	prevHead := uint64(0)
	prevCount := 0
	step := func(what string, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		head, cps := f.logState(t)
		if head <= prevHead {
			t.Fatalf("%s appended nothing (head %d)", what, head)
		}
		if len(cps) != prevCount+1 || cps[len(cps)-1] != head {
			t.Fatalf("%s: checkpoints %v for head %d; want one more, of size %d", what, cps, head, head)
		}
		size, note, err := f.svc.Checkpoint(ctx)
		if err != nil || size != head {
			t.Fatalf("%s: Checkpoint() = %d, %v; want %d", what, size, err, head)
		}
		if _, err := signing.OpenCheckpoint(note, f.trust); err != nil {
			t.Fatalf("%s: the stored checkpoint is not co-signed by the pinned keys: %v", what, err)
		}
		if _, again := f.logState(t); len(again) != len(cps) {
			t.Fatalf("%s: reading the checkpoint stored one", what)
		}
		prevHead, prevCount = head, len(cps)
	}
	for _, p := range []struct {
		c    mailbox.Caller
		addr string
		box  *string
	}{{org, "220030, г. Минск, ул. Энгельса, 6", new(string)}, {person, "220013, г. Минск, ул. Дорошевича, 8, кв. 5", &personBox}} {
		step("register", func() error {
			m, err := f.svc.RegisterMailbox(ctx, p.c, mailbox.RegisterRequest{Address: p.addr})
			*p.box = m.ID
			return err
		})
		step("verify address", func() error { _, err := f.svc.VerifyAddress(ctx, operator, *p.box); return err })
	}
	var letter mailbox.LetterView
	step("submit", func() error {
		d, err := f.svc.NewDraft()
		if err != nil {
			return err
		}
		defer d.Close()
		letter, _, err = f.svc.Submit(ctx, org, mailbox.Submission{RecipientName: "Иванову И.И.",
			RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Subject: "s", Body: "b"}, d)
		return err
	})
	if letter.Receipt == nil || len(letter.Receipt.Evidence) != 2 {
		t.Fatalf("submission receipt: %+v", letter.Receipt)
	}
	step("read", func() error { _, err := f.svc.Content(ctx, person, letter.ID); return err })
	step("bind", func() error { _, err := f.svc.BindCredential(ctx, person, personBox, second.Cert, ""); return err })
	// Binding it again changes nothing and logs nothing.
	if _, err := f.svc.BindCredential(ctx, person, personBox, second.Cert, ""); err != nil {
		t.Fatal(err)
	}
	if head, _ := f.logState(t); head != prevHead {
		t.Fatalf("binding a bound credential again appended %d entries", head-prevHead)
	}
	secondID, _ := certs.IdentityFromCert(second.Cert)
	step("unbind", func() error { return f.svc.UnbindCredential(ctx, person, personBox, secondID.ID) })
	rep, err := f.svc.Audit(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mailboxes != 2 || rep.Letters != 1 || rep.Checkpoints != prevCount {
		t.Fatalf("audit report %+v", rep)
	}
}

// TestPrepareLog: mailboxes and bindings that exist without log entries
// (a database from before evidence v2) get CredentialBound,
// CredentialUnbound and MailboxActivated entries at startup, and a
// checkpoint; the audit, which fails before, passes after; running it
// again writes nothing; a binding whose key is unknown is reported and
// keeps failing the audit.
func TestPrepareLog(t *testing.T) {
	ctx := context.Background()
	f := newLogFixture(t, storetest.NewSQLite(t), nil)
	_, active := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	_, old := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	_, pending := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Петров Пётр Петрович", PersonalID: "3010190A002PB1"})
	ids := map[string]certs.Identity{}
	for _, c := range []certs.Credential{active, old, pending} {
		id, _ := certs.IdentityFromCert(c.Cert)
		ids[id.Serial] = id
	}
	register := func(tx mailbox.Tx, c certs.Credential) error {
		id := ids[certs.FormatSerial(c.Cert.SerialNumber)]
		return tx.AddCertificate(ctx, mailbox.CertificateRecord{Serial: id.Serial, Role: string(id.Role), Name: id.Name,
			IdentityID: id.ID, NotBefore: c.Cert.NotBefore, NotAfter: c.Cert.NotAfter, CertPEM: c.CertPEM})
	}
	t0 := f.clk.Now()
	err := f.st.InTx(ctx, func(tx mailbox.Tx) error {
		for _, c := range []certs.Credential{active, old, pending} {
			if err := register(tx, c); err != nil {
				return err
			}
		}
		a := mailbox.Mailbox{ID: "00000000-0000-4000-8000-00000000000a", Kind: mailbox.KindPerson, HolderName: "Иванов Иван Иванович",
			PersonalID: "3140582A001PB3", HolderKey: "pn:3140582A001PB3", OwnerIdentity: ids[certs.FormatSerial(active.Cert.SerialNumber)].ID,
			Address: "a", AddressJSON: []byte(`{}`), MatchKey: "key-a", Postcode: "220013", Status: mailbox.StatusActive,
			ActivationHash: []byte{1}, CreatedAt: t0, ActivatedAt: t0.Add(time.Hour)}
		p := a
		p.ID, p.HolderKey, p.PersonalID, p.MatchKey, p.Status, p.ActivatedAt = "00000000-0000-4000-8000-00000000000b", "pn:3010190A002PB1", "3010190A002PB1", "key-b", mailbox.StatusPending, time.Time{}
		for _, m := range []mailbox.Mailbox{a, p} {
			if err := tx.CreateMailbox(ctx, m); err != nil {
				return err
			}
		}
		bind := func(box string, c certs.Credential, at time.Time) error {
			id := ids[certs.FormatSerial(c.Cert.SerialNumber)]
			return tx.BindCredential(ctx, mailbox.Credential{MailboxID: box, IdentityID: id.ID, Serial: id.Serial, SPKISHA256: id.SPKISHA256, BoundAt: at})
		}
		if err := bind(a.ID, old, t0); err != nil {
			return err
		}
		if err := tx.UnbindCredential(ctx, a.ID, ids[certs.FormatSerial(old.Cert.SerialNumber)].ID, t0.Add(2*time.Hour)); err != nil {
			return err
		}
		if err := bind(a.ID, active, t0.Add(time.Minute)); err != nil {
			return err
		}
		return bind(p.ID, pending, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Audit(ctx, nil); err == nil {
		t.Fatal("bindings and an activation without log entries audit clean")
	}
	rep, err := f.svc.PrepareLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// a: bound old, bound active, activated, unbound old; b: bound pending.
	if rep.Mailboxes != 2 || rep.Entries != 5 || len(rep.Skipped) != 0 {
		t.Fatalf("PrepareLog = %+v", rep)
	}
	if _, err := f.svc.Audit(ctx, nil); err != nil {
		t.Fatalf("audit after PrepareLog: %v", err)
	}
	head, cps := f.logState(t)
	if head != 5 || len(cps) == 0 || cps[len(cps)-1] != 5 {
		t.Fatalf("after PrepareLog: head %d, checkpoints %v", head, cps)
	}
	var events []string
	err = f.st.View(ctx, func(tx mailbox.Tx) error {
		recs, err := tx.MailboxEntriesOf(ctx, "00000000-0000-4000-8000-00000000000a")
		for _, r := range recs {
			events = append(events, r.Event)
		}
		return err
	})
	if err != nil || len(events) != 4 || events[0] != "CredentialBound" || events[2] != "MailboxActivated" || events[3] != "CredentialUnbound" {
		t.Fatalf("entries of the active mailbox: %v, %v", events, err)
	}
	again, err := f.svc.PrepareLog(ctx)
	if err != nil || again.Entries != 0 || again.Checkpoint {
		t.Fatalf("PrepareLog again = %+v, %v; want nothing written", again, err)
	}
	if h, _ := f.logState(t); h != head {
		t.Fatalf("PrepareLog again appended: head %d → %d", head, h)
	}

	// A binding of a certificate the registry does not hold: its key is
	// unknown, so it is reported and the audit keeps failing on it.
	_, foreign := f.issue(t, certs.Request{Role: certs.RolePerson, Name: "Сидоров С.С.", PersonalID: "3020290A003PB2"})
	fid, _ := certs.IdentityFromCert(foreign.Cert)
	err = f.st.InTx(ctx, func(tx mailbox.Tx) error {
		m := mailbox.Mailbox{ID: "00000000-0000-4000-8000-00000000000c", Kind: mailbox.KindPerson, HolderName: "Сидоров С.С.",
			PersonalID: "3020290A003PB2", HolderKey: "pn:3020290A003PB2", OwnerIdentity: fid.ID, Address: "c", AddressJSON: []byte(`{}`),
			MatchKey: "key-c", Postcode: "220013", Status: mailbox.StatusPending, ActivationHash: []byte{1}, CreatedAt: t0}
		if err := tx.CreateMailbox(ctx, m); err != nil {
			return err
		}
		return tx.BindCredential(ctx, mailbox.Credential{MailboxID: m.ID, IdentityID: fid.ID, Serial: fid.Serial, SPKISHA256: fid.SPKISHA256, BoundAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = f.svc.PrepareLog(ctx)
	if err != nil || len(rep.Skipped) != 1 || rep.Entries != 0 {
		t.Fatalf("PrepareLog with an unknown key = %+v, %v", rep, err)
	}
	if _, err := f.svc.Audit(ctx, nil); err == nil {
		t.Fatal("a binding without a log entry audits clean")
	}
}
