package mailbox_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// engines are the stores the registration tests run on. PostgreSQL gets a
// pool wide enough for the concurrency tests to really run concurrently.
var engines = []struct {
	name string
	open storetest.Factory
}{
	{"sqlite", storetest.NewSQLite},
	{"postgres", func(t *testing.T) mailbox.Store {
		s, err := postgres.Open(t.Context(), storetest.PostgresURL(t), postgres.Options{MaxConns: 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// regEnv is a Service on a real store with an injected clock, a CA to make
// callers and the activation codes it sends.
type regEnv struct {
	t        *testing.T
	st       mailbox.Store
	svc      *mailbox.Service
	clk      *clock
	ca       *certs.CA
	operator mailbox.Caller

	mu      sync.Mutex
	codes   map[string][]string   // mailbox id → codes, oldest first
	letters map[string][][]string // mailbox id → envelope lines of its activation letters
	revoked map[string]bool       // serials the revocation checker reports revoked
	ended   map[string][]string   // mailbox id → identities whose sessions were ended
}

// EndSessions records the call (mailbox.SessionEnder).
func (e *regEnv) EndSessions(_ context.Context, mailboxID string, ids []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ended[mailboxID] = append(e.ended[mailboxID], ids...)
	return nil
}

// RenderActivation records the envelope lines; the PDF is a stand-in.
func (e *regEnv) RenderActivation(_ context.Context, a mailbox.PrintActivation) (mailbox.Rendered, error) {
	e.mu.Lock()
	e.letters[a.MailboxID] = append(e.letters[a.MailboxID], a.AddressLines)
	e.mu.Unlock()
	return mailbox.Rendered{PDF: []byte("%PDF-1.7 stand-in"), Pages: 1, Sheets: 1, SHA256: "00"}, nil
}

func (e *regEnv) RenderLetter(context.Context, mailbox.PrintLetter) (mailbox.Rendered, error) {
	return mailbox.Rendered{}, errors.New("not used")
}

func (e *regEnv) CheckAttachment(string, string, []byte) error { return nil }
func (e *regEnv) CheckAddress(string, []string) error          { return nil }

func newRegEnv(t *testing.T, open storetest.Factory, lim mailbox.Limits) *regEnv {
	t.Helper()
	st := open(t)
	edPEM, mlPEM, err := signing.GenerateOperatorKeys()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := signing.LoadSealer(edPEM, mlPEM)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := mailbox.NewKeyring(make([]byte, 32))
	e := &regEnv{t: t, st: st, clk: coretest.NewClock(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)), codes: map[string][]string{}, letters: map[string][][]string{},
		revoked: map[string]bool{}, ended: map[string][]string{}}
	caPEM, caKey, err := certs.CreateCA("registration CA", e.clk.Now().AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.ca, _ = certs.LoadCA(caPEM, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Certificate())
	e.svc, err = mailbox.NewService(mailbox.Config{Store: st, Sealer: sealer, Keys: keys, Trust: pool,
		Limits: lim, Now: e.clk.Now, TempDir: t.TempDir(), Renderer: e, Sessions: e,
		Revocations: certs.RevocationCheckerFunc(func(_ context.Context, serial string) (bool, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.revoked[serial], nil
		}),
		ActivationCodeSink: func(id, code string) {
			e.mu.Lock()
			e.codes[id] = append(e.codes[id], code)
			e.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.svc.Close)
	e.operator = e.caller(certs.Request{Role: certs.RoleOperator, Name: "op"})
	return e
}

func (e *regEnv) caller(req certs.Request) mailbox.Caller {
	e.t.Helper()
	cred, err := e.ca.Issue(req, e.clk.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		e.t.Fatal(err)
	}
	return mailbox.Caller{Identity: id, Cert: cred.Cert}
}

func (e *regEnv) person(name, pn string) mailbox.Caller {
	return e.caller(certs.Request{Role: certs.RolePerson, Name: name, PersonalID: pn})
}

// lastCode is the newest activation code sent for a mailbox.
func (e *regEnv) lastCode(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.codes[id]
	if len(cs) == 0 {
		e.t.Fatalf("no activation code for %s", id)
	}
	return cs[len(cs)-1]
}

func (e *regEnv) mailbox(id string) mailbox.Mailbox {
	e.t.Helper()
	var m mailbox.Mailbox
	err := e.st.View(context.Background(), func(tx mailbox.Tx) error {
		var err error
		m, err = tx.GetMailbox(context.Background(), id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func codeOf(err error) string {
	var de *mailbox.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// TestActivationAttemptsAreCounted sends 40 wrong codes at once: exactly
// MaxActivationTries of them may be evaluated, the rest must find the
// mailbox locked, on every engine. Without the row lock PostgreSQL lets
// concurrent transactions read the same count and evaluate many more.
func TestActivationAttemptsAreCounted(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{})
			ctx := context.Background()
			holder := e.person("Иванов Иван Иванович", "3140582A001PB3")
			m, err := e.svc.RegisterMailbox(ctx, holder, mailbox.RegisterRequest{Address: "220013, г. Минск, ул. Дорошевича, д. 8, кв. 5"})
			if err != nil {
				t.Fatal(err)
			}
			const n = 40
			max := e.svc.Limits().MaxActivationTries
			var wg sync.WaitGroup
			start := make(chan struct{})
			codes := make([]string, n)
			for i := range n {
				wg.Go(func() {
					<-start
					_, err := e.svc.ActivateMailbox(ctx, holder, m.ID, "00000-00000")
					codes[i] = codeOf(err)
					if codes[i] == "" {
						codes[i] = "error: " + err.Error()
					}
				})
			}
			close(start)
			wg.Wait()
			count := map[string]int{}
			for _, c := range codes {
				count[c]++
			}
			if count["wrong_code"] != max || count["activation_locked"] != n-max {
				t.Fatalf("40 concurrent wrong codes: %v, want %d wrong_code and %d activation_locked", count, max, n-max)
			}
			if got := e.mailbox(m.ID); got.Attempts != max || got.Status != mailbox.StatusPending {
				t.Fatalf("after the attempts: %d attempts, %s", got.Attempts, got.Status)
			}
			// The right code no longer helps: the mailbox is locked.
			if _, err := e.svc.ActivateMailbox(ctx, holder, m.ID, e.lastCode(m.ID)); codeOf(err) != "activation_locked" {
				t.Fatalf("right code after the limit: %v, want activation_locked", err)
			}
		})
	}
}

func (e *regEnv) register(c mailbox.Caller, address string) (mailbox.Mailbox, error) {
	return e.svc.RegisterMailbox(context.Background(), c, mailbox.RegisterRequest{Address: address})
}

// activationJobs counts the activation letters queued for a mailbox.
// logEvents lists a mailbox's log entries, space-separated.
func (e *regEnv) logEvents(id string) string {
	e.t.Helper()
	var events []string
	err := e.st.View(context.Background(), func(tx mailbox.Tx) error {
		recs, err := tx.MailboxEntriesOf(context.Background(), id)
		for _, r := range recs {
			events = append(events, r.Event)
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Join(events, " ")
}

func (e *regEnv) activationJobs(id string) int {
	e.t.Helper()
	var n int
	err := e.st.View(context.Background(), func(tx mailbox.Tx) error {
		var err error
		n, err = tx.ActivationLetters(context.Background(), id)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestRegisterProvesTheMatchKey: a mailbox address with anything the match
// key does not cover is refused, and the activation letter's envelope shows
// exactly the delivery point of the key — never the text as typed.
func TestRegisterProvesTheMatchKey(t *testing.T) {
	e := newRegEnv(t, storetest.NewSQLite, mailbox.Limits{MaxPendingMailboxes: 100, MaxActivationLettersPerDay: 100})
	holder := e.person("Иванов Иван Иванович", "3140582A001PB3")
	for _, c := range []struct{ address, code string }{
		// The issue's example: the letter went to the post office, the
		// key matched flat 9.
		{"220013, г. Минск, ул. Дорошевича, 8, кв. 9, до востребования", "inexact_address"},
		{"220013, г. Минск, ул. Дорошевича, 8, кв. 9, у Петровых", "inexact_address"},
		{"ООО «Ромашка», 220013, г. Минск, ул. Дорошевича, 8", "inexact_address"},
		{"220013, г. Минск, ул. Дорошевича, 8, кв. 9 (оставить в отделении)", "inexact_address"},
		{"246050, г. Минск, ул. Дорошевича, 8, кв. 9", "inexact_address"},
		{"220000, г. Минск, ул. Ленина, 5, а/я 15", "inexact_address"},
		{"220030, г. Минск", "inexact_address"},
		{"г. Минск, ул. Дорошевича, 8, кв. 9", "inexact_address"},
		{"г. Минск, ул. Дорошевича", "bad_address"},
	} {
		_, err := e.register(holder, c.address)
		if codeOf(err) != c.code || !errors.Is(err, mailbox.ErrInvalid) {
			t.Errorf("register %q: %v, want %s", c.address, err, c.code)
		}
	}
	for _, address := range []string{
		"Адрес: 220013, Минск, Дорошевича 8-5",
		"до востребования, 220030, г. Минск",
		"220000, г. Минск, а/я 15",
		"223056, Минский р-н, д. Колядичи, д. 147/2",
	} {
		m, err := e.register(holder, address)
		if err != nil {
			t.Fatalf("register %q: %v", address, err)
		}
		lines := e.letters[m.ID][0]
		printed, err := addressing.ParseStrict(strings.Join(lines, "\n"))
		if err != nil || printed.MatchKey() != m.MatchKey {
			t.Errorf("register %q: envelope %q names %s (%v), want the mailbox key %s", address, lines, printed.MatchKey(), err, m.MatchKey)
		}
		if strings.Contains(strings.Join(lines, "\n"), "Адрес") {
			t.Errorf("register %q: envelope %q shows text outside the key", address, lines)
		}
	}
}

// TestPendingCaps: pending mailboxes per holder, activation letters per
// mailbox and per holder and day are capped, answered by too_many_pending.
func TestPendingCaps(t *testing.T) {
	flats := func(n int) string {
		return fmt.Sprintf("220013, г. Минск, ул. Дорошевича, 8, кв. %d", n)
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{MaxPendingMailboxes: 3, MaxActivationLetters: 3, MaxActivationLettersPerDay: 5})
			ctx := context.Background()
			holder := e.person("Иванов Иван Иванович", "3140582A001PB3")
			tooMany := func(what string, err error) {
				t.Helper()
				if codeOf(err) != "too_many_pending" || !errors.Is(err, mailbox.ErrRateLimited) {
					t.Fatalf("%s: %v, want too_many_pending", what, err)
				}
			}
			var ids []string
			for i := 1; i <= 3; i++ {
				m, err := e.register(holder, flats(i))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, m.ID)
			}
			_, err := e.register(holder, flats(4))
			tooMany("a fourth pending mailbox", err)
			// Another holder is not affected.
			if _, err := e.register(e.person("Петров Пётр Петрович", "3140582A002PB4"), flats(4)); err != nil {
				t.Fatal(err)
			}

			// Proving an address frees a place.
			if _, err := e.svc.ActivateMailbox(ctx, holder, ids[0], e.lastCode(ids[0])); err != nil {
				t.Fatal(err)
			}
			if _, err := e.register(holder, flats(4)); err != nil {
				t.Fatal(err)
			}

			// Letters per mailbox: the first and two more. A new code
			// voids the old one.
			old := e.lastCode(ids[1])
			if _, err := e.svc.ResendActivationLetter(ctx, holder, ids[1]); err != nil {
				t.Fatal(err)
			}
			if e.activationJobs(ids[1]) != 2 || len(e.letters[ids[1]]) != 2 {
				t.Fatalf("resent letter not queued: %d jobs", e.activationJobs(ids[1]))
			}
			if _, err := e.svc.ActivateMailbox(ctx, holder, ids[1], old); codeOf(err) != "wrong_code" {
				t.Fatalf("the replaced code: %v, want wrong_code", err)
			}
			// Five letters today (four registrations, one resend): the
			// holder's daily cap.
			_, err = e.svc.ResendActivationLetter(ctx, holder, ids[1])
			tooMany("a sixth letter in a day", err)
			if _, err := e.svc.ActivateMailbox(ctx, holder, ids[1], e.lastCode(ids[1])); err != nil {
				t.Fatalf("the new code: %v", err)
			}
			_, err = e.register(holder, flats(5))
			tooMany("a registration over the daily cap", err)

			e.clk.Add(24 * time.Hour)
			if _, err := e.svc.ResendActivationLetter(ctx, holder, ids[2]); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.ResendActivationLetter(ctx, holder, ids[2]); err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.ResendActivationLetter(ctx, holder, ids[2])
			tooMany("a fourth letter for one mailbox", err)
			if _, err := e.svc.ResendActivationLetter(ctx, holder, ids[0]); codeOf(err) != "mailbox_active" {
				t.Fatalf("resend for an active mailbox: %v, want mailbox_active", err)
			}
			if got := e.activationJobs(ids[2]); got != 3 {
				t.Fatalf("%d activation letters for one mailbox, want 3", got)
			}
		})
	}
}

// TestPendingCapConcurrent: eight registrations of each of six holders at
// once leave exactly MaxPendingMailboxes pending mailboxes per holder;
// without the holder's lock PostgreSQL transactions each count the others'
// uncommitted mailboxes as absent. Six holders give the race six chances.
func TestPendingCapConcurrent(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{MaxPendingMailboxes: 3, MaxActivationLettersPerDay: 100})
			const holders, n = 6, 8
			errs := make([][]error, holders)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for h := range holders {
				holder := e.person(fmt.Sprintf("Иванов Иван Иванович %c", 'А'+h), fmt.Sprintf("3140582A%03dPB3", h+1))
				errs[h] = make([]error, n)
				for i := range n {
					wg.Go(func() {
						<-start
						_, errs[h][i] = e.register(holder, fmt.Sprintf("220013, г. Минск, ул. Дорошевича, 8, кв. %d", i+1))
					})
				}
			}
			close(start)
			wg.Wait()
			for h := range holders {
				ok, capped := 0, 0
				for _, err := range errs[h] {
					switch {
					case err == nil:
						ok++
					case codeOf(err) == "too_many_pending":
						capped++
					default:
						t.Errorf("register: %v", err)
					}
				}
				if ok != 3 || capped != n-3 {
					t.Errorf("holder %d: %d registered, %d capped; want 3 and %d", h, ok, capped, n-3)
				}
			}
		})
	}
}

// TestRecheckAddresses: mailboxes stored before the address rules (rules
// version 0) are checked once at start-up; those whose address has parts
// the key does not cover are set pending and proven again at the corrected
// address, or locked for the counter when no address can be proven.
func TestRecheckAddresses(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := newRegEnv(t, eng.open, mailbox.Limits{})
			ctx := context.Background()
			holder := e.person("Иванов Иван Иванович", "3140582A001PB3")
			// old stores a mailbox as an older server did: the raw text, a
			// key that ignored the unrecognised parts, rules version 0.
			old := func(id, raw, keyOf, status string) {
				t.Helper()
				a, err := addressing.Parse(keyOf)
				if err != nil {
					t.Fatal(err)
				}
				js, _ := json.Marshal(a)
				m := mailbox.Mailbox{ID: id, Kind: mailbox.KindPerson, HolderName: holder.Identity.Name,
					PersonalID: holder.Identity.PersonalID, HolderKey: "pn:" + holder.Identity.PersonalID,
					OwnerIdentity: holder.Identity.ID, Address: raw, AddressJSON: js, MatchKey: a.MatchKey(),
					Postcode: a.Postcode, Status: status, ActivationHash: []byte("old"), CreatedAt: e.clk.Now()}
				if status == mailbox.StatusActive {
					m.ActivatedAt = e.clk.Now()
				}
				err = e.st.InTx(ctx, func(tx mailbox.Tx) error {
					if err := tx.CreateMailbox(ctx, m); err != nil {
						return err
					}
					return tx.BindCredential(ctx, mailbox.Credential{MailboxID: id, IdentityID: holder.Identity.ID,
						Serial: holder.Identity.Serial, SPKISHA256: holder.Identity.SPKISHA256, BoundAt: e.clk.Now()})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			const flat9 = "220013, г. Минск, ул. Дорошевича, 8, кв. 9"
			old("restante", flat9+", до востребования", flat9, mailbox.StatusActive)
			old("remark", "220013, г. Минск, ул. Дорошевича, 8, кв. 10, у Петровых", "220013, г. Минск, ул. Дорошевича, 8, кв. 10", mailbox.StatusPending)
			old("conflict", "246050, г. Минск, ул. Дорошевича, 8, кв. 11", "246050, г. Минск, ул. Дорошевича, 8, кв. 11", mailbox.StatusActive)
			old("clean", "220013, г. Минск, ул. Дорошевича, 8, кв. 12", "220013, г. Минск, ул. Дорошевича, 8, кв. 12", mailbox.StatusActive)

			// As at start-up: the log gets entries for the existing state
			// first (the holder's certificate is in the CA registry).
			err := e.st.InTx(ctx, func(tx mailbox.Tx) error {
				c := holder.Cert
				return tx.AddCertificate(ctx, mailbox.CertificateRecord{Serial: holder.Identity.Serial, Role: string(holder.Identity.Role),
					Name: holder.Identity.Name, IdentityID: holder.Identity.ID, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
					CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})})
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.PrepareLog(ctx); err != nil {
				t.Fatal(err)
			}
			n, err := e.svc.RecheckAddresses(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != 3 {
				t.Fatalf("RecheckAddresses demoted %d, want 3", n)
			}
			// A demoted active mailbox's log says so (MailboxDeactivated),
			// so its row still follows the log.
			for id, want := range map[string]string{
				"restante": "CredentialBound MailboxActivated MailboxDeactivated",
				"conflict": "CredentialBound MailboxActivated MailboxDeactivated",
				"remark":   "CredentialBound",
				"clean":    "CredentialBound MailboxActivated",
			} {
				if got := e.logEvents(id); got != want {
					t.Fatalf("%s: log entries %q, want %q", id, got, want)
				}
			}
			// The poste restante mailbox no longer matches flat 9: it is
			// pending at the post office it really proved, with a letter
			// there.
			m := e.mailbox("restante")
			if m.Status != mailbox.StatusPending || m.MatchKey != "BY-HM|minsk||||restante@220013" || m.AddressRules != mailbox.AddressRules {
				t.Fatalf("poste restante mailbox: %s, key %s, rules %d", m.Status, m.MatchKey, m.AddressRules)
			}
			if got := strings.Join(e.letters["restante"][0], "|"); got != "до востребования|г. Минск|220013" || e.activationJobs("restante") != 1 {
				t.Fatalf("poste restante letter to %q, %d jobs", got, e.activationJobs("restante"))
			}
			// The remark is dropped: the new letter goes to flat 10 only.
			if got := strings.Join(e.letters["remark"][0], "|"); got != "ул. Дорошевича, д. 8, кв. 10|г. Минск|220013" {
				t.Fatalf("remark mailbox letter to %q", got)
			}
			if _, err := e.svc.ActivateMailbox(ctx, holder, "remark", e.lastCode("remark")); err != nil {
				t.Fatalf("activating at the corrected address: %v", err)
			}
			// No address to prove: pending and locked, no letter.
			if m := e.mailbox("conflict"); m.Status != mailbox.StatusPending || e.activationJobs("conflict") != 0 {
				t.Fatalf("conflicting mailbox: %s, %d jobs", m.Status, e.activationJobs("conflict"))
			}
			if _, err := e.svc.ActivateMailbox(ctx, holder, "conflict", "00000-00000"); codeOf(err) != "activation_locked" {
				t.Fatalf("conflicting mailbox activation: %v, want activation_locked", err)
			}
			if m := e.mailbox("clean"); m.Status != mailbox.StatusActive || m.AddressRules != mailbox.AddressRules || e.activationJobs("clean") != 0 {
				t.Fatalf("clean mailbox: %s, rules %d", m.Status, m.AddressRules)
			}
			if _, err := e.svc.Audit(ctx, nil); err != nil {
				t.Fatalf("audit after the recheck: %v", err)
			}
			// Once: a restart finds nothing, and sends no letter.
			if n, err := e.svc.RecheckAddresses(ctx); err != nil || n != 0 {
				t.Fatalf("second RecheckAddresses: %d, %v", n, err)
			}
			for _, id := range []string{"restante", "remark", "conflict", "clean"} {
				if want := map[string]int{"restante": 1, "remark": 1}[id]; e.activationJobs(id) != want {
					t.Fatalf("%s: %d activation letters after a restart, want %d", id, e.activationJobs(id), want)
				}
			}
		})
	}
}
