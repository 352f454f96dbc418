package mailbox_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

const recAddress = "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"

// activeMailbox registers and activates a mailbox for holder at
// recAddress, with an e-mail for notices.
func (e *regEnv) activeMailbox(holder mailbox.Caller) mailbox.Mailbox {
	e.t.Helper()
	ctx := context.Background()
	m, err := e.svc.RegisterMailbox(ctx, holder, mailbox.RegisterRequest{Address: recAddress, Email: "holder@example.by"})
	if err != nil {
		e.t.Fatal(err)
	}
	if m, err = e.svc.ActivateMailbox(ctx, holder, m.ID, e.lastCode(m.ID)); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// lostCredential makes an active mailbox whose only certificate is then
// revoked, and a new certificate of the same person with a recovery of it
// started.
func (e *regEnv) lostCredential(pn string) (mailbox.Mailbox, mailbox.Caller, mailbox.Recovery) {
	e.t.Helper()
	old := e.person("Иванов И. И.", pn)
	m := e.activeMailbox(old)
	e.revoke(old)
	renewed := e.person("Иванов И. И.", pn)
	r, err := e.svc.StartRecovery(context.Background(), renewed, recAddress)
	if err != nil {
		e.t.Fatal(err)
	}
	return m, renewed, r
}

func (e *regEnv) revoke(c mailbox.Caller) {
	e.mu.Lock()
	e.revoked[c.Identity.Serial] = true
	e.mu.Unlock()
}

// boundIDs lists the identities bound to a mailbox now.
func (e *regEnv) boundIDs(id string) []string {
	e.t.Helper()
	var out []string
	err := e.st.View(context.Background(), func(tx mailbox.Tx) error {
		cs, err := tx.Credentials(context.Background(), id)
		for _, c := range cs {
			if c.UnboundAt.IsZero() {
				out = append(out, c.IdentityID)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// noticeKinds lists the kinds of the notifications queued for a mailbox.
func (e *regEnv) noticeKinds(id string) []string {
	e.t.Helper()
	var out []string
	err := e.st.InTx(context.Background(), func(tx mailbox.Tx) error {
		ns, err := tx.DueNotifications(context.Background(), e.clk.Now().Add(time.Hour), 100)
		for _, n := range ns {
			if n.MailboxID == id {
				out = append(out, n.Kind)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestRecoveryEndToEnd: a person whose only certificate is revoked gets a
// new one, finds nothing (the new certificate is bound to no mailbox),
// starts a recovery, and completes it with the code from the letter. The
// new certificate is then the mailbox's only binding, the old one's
// sessions are ended, the e-mail is told twice, the log says
// MailboxRecovered, and the audit finds every row as the log says.
func TestRecoveryEndToEnd(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{})
			ctx := context.Background()
			old := e.person("Иванов Иван Иванович", "3140582A001PB3")
			m := e.activeMailbox(old)
			e.revoke(old)
			e.clk.Add(time.Hour)
			renewed := e.person("Иванов Иван Иванович", "3140582A001PB3")
			if ms, err := e.svc.MyMailboxes(ctx, renewed); err != nil || len(ms) != 0 {
				t.Fatalf("new certificate sees %v, %v before recovery", ms, err)
			}
			if _, err := e.register(renewed, recAddress); codeOf(err) != "mailbox_exists" {
				t.Fatalf("register again: %v, want mailbox_exists", err)
			}
			r, err := e.svc.StartRecovery(ctx, renewed, "220013 Минск ул Дорошевича 8 кв 5")
			if err != nil {
				t.Fatal(err)
			}
			if r.MailboxID != m.ID || r.Status != mailbox.RecoveryPending {
				t.Fatalf("recovery %+v, want pending for %s", r, m.ID)
			}
			if got := e.activationJobs(m.ID); got != 2 {
				t.Fatalf("%d activation letters, want 2 (registration, recovery)", got)
			}
			// The letter goes to the registered address.
			if got, want := e.letters[m.ID][1], e.letters[m.ID][0]; !slices.Equal(got, want) {
				t.Fatalf("recovery letter to %q, registration letter to %q", got, want)
			}
			mine, err := e.svc.MyRecoveries(ctx, renewed)
			if err != nil || len(mine) != 1 || mine[0].ID != r.ID {
				t.Fatalf("MyRecoveries = %v, %v", mine, err)
			}
			if _, err := e.svc.CompleteRecovery(ctx, renewed, r.ID, "00000-00000"); codeOf(err) != "wrong_code" {
				t.Fatalf("wrong code: %v", err)
			}
			got, err := e.svc.CompleteRecovery(ctx, renewed, r.ID, strings.ToLower(e.lastCode(m.ID)))
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != m.ID || got.Status != mailbox.StatusActive {
				t.Fatalf("recovered mailbox %+v", got)
			}
			if ms, err := e.svc.MyMailboxes(ctx, renewed); err != nil || len(ms) != 1 || ms[0].ID != m.ID {
				t.Fatalf("after recovery the new certificate sees %v, %v", ms, err)
			}
			if b := e.boundIDs(m.ID); !slices.Equal(b, []string{renewed.Identity.ID}) {
				t.Fatalf("bound %v, want only the new certificate", b)
			}
			if !slices.Equal(e.ended[m.ID], []string{old.Identity.ID}) {
				t.Fatalf("sessions ended for %v, want the old certificate's", e.ended[m.ID])
			}
			if ev := e.logEvents(m.ID); ev != "CredentialBound MailboxActivated MailboxRecovered" {
				t.Fatalf("log %q", ev)
			}
			if k := e.noticeKinds(m.ID); !slices.Equal(k, []string{mailbox.NotifyRecoveryStarted, mailbox.NotifyRecoveryCompleted}) {
				t.Fatalf("notices %v", k)
			}
			if mine, _ := e.svc.MyRecoveries(ctx, renewed); len(mine) != 0 {
				t.Fatalf("completed recovery still listed as pending: %v", mine)
			}
			// Completing again changes nothing and logs nothing.
			if _, err := e.svc.CompleteRecovery(ctx, renewed, r.ID, e.lastCode(m.ID)); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Audit(ctx, nil); err != nil {
				t.Fatalf("audit after recovery: %v", err)
			}
		})
	}
}

// TestRecoveryRefusals: recovery starts only when no bound credential
// works, only for the caller's own mailbox, and completes only for the
// certificate that started it, with the newest code.
func TestRecoveryRefusals(t *testing.T) {
	const pn = "3140582A001PB3"
	cases := []struct {
		name string
		run  func(t *testing.T, e *regEnv) error
		want string
	}{
		{"a bound credential still works", func(t *testing.T, e *regEnv) error {
			e.activeMailbox(e.person("Иванов И. И.", pn))
			_, err := e.svc.StartRecovery(context.Background(), e.person("Иванов И. И.", pn), recAddress)
			return err
		}, "credential_works"},
		{"expired credential: recovery starts", func(t *testing.T, e *regEnv) error {
			old := e.caller(certs.Request{Role: certs.RolePerson, Name: "Иванов И. И.", PersonalID: pn, Days: 30})
			e.activeMailbox(old)
			e.clk.Add(31 * 24 * time.Hour)
			_, err := e.svc.StartRecovery(context.Background(), e.person("Иванов И. И.", pn), recAddress)
			return err
		}, ""},
		{"another holder's mailbox at the address", func(t *testing.T, e *regEnv) error {
			other := e.person("Петров П. П.", "3140582A002PB3")
			e.activeMailbox(other)
			e.revoke(other)
			_, err := e.svc.StartRecovery(context.Background(), e.person("Иванов И. И.", pn), recAddress)
			return err
		}, "mailbox_not_found"},
		{"caller bound already", func(t *testing.T, e *regEnv) error {
			holder := e.person("Иванов И. И.", pn)
			e.activeMailbox(holder)
			_, err := e.svc.StartRecovery(context.Background(), holder, recAddress)
			return err
		}, "already_bound"},
		{"organization: another employee's certificate works", func(t *testing.T, e *regEnv) error {
			org := func(name string) mailbox.Caller {
				return e.caller(certs.Request{Role: certs.RoleOrg, Name: name, UNP: "190000001"})
			}
			first, second := org("ООО Ромашка"), org("ООО Ромашка")
			m := e.activeMailbox(first)
			if _, err := e.svc.BindCredential(context.Background(), first, m.ID, second.Cert, "бухгалтерия"); err != nil {
				t.Fatal(err)
			}
			e.revoke(first)
			_, err := e.svc.StartRecovery(context.Background(), org("ООО Ромашка"), recAddress)
			if err != nil && !strings.Contains(err.Error(), "бухгалтерия") {
				t.Errorf("the refusal does not name the working credential's label: %v", err)
			}
			return err
		}, "credential_works"},
		{"completed by another certificate of the holder", func(t *testing.T, e *regEnv) error {
			m, _, r := e.lostCredential(pn)
			_, err := e.svc.CompleteRecovery(context.Background(), e.person("Иванов И. И.", pn), r.ID, e.lastCode(m.ID))
			return err
		}, "recovery_not_found"},
		{"superseded by a newer recovery", func(t *testing.T, e *regEnv) error {
			m, renewed, first := e.lostCredential(pn)
			firstCode := e.lastCode(m.ID)
			if _, err := e.svc.StartRecovery(context.Background(), renewed, recAddress); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.CompleteRecovery(context.Background(), renewed, first.ID, firstCode)
			return err
		}, "recovery_superseded"},
		{"over the activation letters' cap", func(t *testing.T, e *regEnv) error {
			old := e.person("Иванов И. И.", pn)
			e.activeMailbox(old)
			e.revoke(old)
			renewed := e.person("Иванов И. И.", pn)
			for {
				if _, err := e.svc.StartRecovery(context.Background(), renewed, recAddress); err != nil {
					return err
				}
			}
		}, "too_many_pending"},
		{"new certificate revoked before completion", func(t *testing.T, e *regEnv) error {
			m, renewed, r := e.lostCredential(pn)
			e.revoke(renewed)
			_, err := e.svc.CompleteRecovery(context.Background(), renewed, r.ID, e.lastCode(m.ID))
			return err
		}, "certificate_revoked"},
		{"counter verification by a holder", func(t *testing.T, e *regEnv) error {
			_, renewed, r := e.lostCredential(pn)
			_, err := e.svc.VerifyRecovery(context.Background(), renewed, r.ID)
			return err
		}, "forbidden"},
		{"counter verification by an operator", func(t *testing.T, e *regEnv) error {
			m, renewed, r := e.lostCredential(pn)
			if _, err := e.svc.VerifyRecovery(context.Background(), e.operator, r.ID); err != nil {
				return err
			}
			if b := e.boundIDs(m.ID); !slices.Equal(b, []string{renewed.Identity.ID}) {
				t.Fatalf("bound %v after counter verification", b)
			}
			_, err := e.svc.Audit(context.Background(), nil)
			return err
		}, ""},
	}
	for _, eng := range engines {
		for _, tc := range cases {
			t.Run(eng.name+"/"+tc.name, func(t *testing.T) {
				e := newRegEnv(t, eng.open, mailbox.Limits{})
				err := tc.run(t, e)
				if codeOf(err) != tc.want || (tc.want == "" && err != nil) {
					t.Fatalf("got %v, want code %q", err, tc.want)
				}
			})
		}
	}
}

// TestRecoveryWrongCodesLock: after MaxActivationTries wrong codes the
// right one no longer completes the recovery; a counter still can.
func TestRecoveryWrongCodesLock(t *testing.T) {
	e := newRegEnv(t, storetest.NewSQLite, mailbox.Limits{})
	ctx := context.Background()
	m, renewed, r := e.lostCredential("3140582A001PB3")
	for range e.svc.Limits().MaxActivationTries {
		if _, err := e.svc.CompleteRecovery(ctx, renewed, r.ID, "00000-00000"); codeOf(err) != "wrong_code" {
			t.Fatalf("wrong code: %v", err)
		}
	}
	if _, err := e.svc.CompleteRecovery(ctx, renewed, r.ID, e.lastCode(m.ID)); codeOf(err) != "recovery_locked" {
		t.Fatalf("right code after the limit: %v, want recovery_locked", err)
	}
	if _, err := e.svc.VerifyRecovery(ctx, e.operator, r.ID); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryAttemptsAreCounted sends 40 wrong codes at once: exactly
// MaxActivationTries of them may be evaluated on every engine (the
// attempts are counted under the mailbox row's lock), the rest find the
// recovery locked.
func TestRecoveryAttemptsAreCounted(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{})
			_, renewed, r := e.lostCredential("3140582A001PB3")
			const n = 40
			codes := make([]string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					_, err := e.svc.CompleteRecovery(context.Background(), renewed, r.ID, "00000-00000")
					codes[i] = codeOf(err)
					if codes[i] == "" {
						codes[i] = fmt.Sprint("error: ", err)
					}
				})
			}
			close(start)
			wg.Wait()
			count := map[string]int{}
			for _, c := range codes {
				count[c]++
			}
			max := e.svc.Limits().MaxActivationTries
			if count["wrong_code"] != max || count["recovery_locked"] != n-max {
				t.Fatalf("outcomes %v, want %d wrong_code and %d recovery_locked", count, max, n-max)
			}
		})
	}
}
