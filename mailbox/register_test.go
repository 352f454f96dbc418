package mailbox_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/certs"
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

	mu    sync.Mutex
	codes map[string][]string // mailbox id → codes, oldest first
}

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
	e := &regEnv{t: t, st: st, clk: &clock{t: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)}, codes: map[string][]string{}}
	caPEM, caKey, err := certs.CreateCA("registration CA", e.clk.now().AddDate(0, -1, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.ca, _ = certs.LoadCA(caPEM, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Certificate())
	e.svc, err = mailbox.NewService(mailbox.Config{Store: st, Sealer: sealer, Keys: keys, Trust: pool,
		Limits: lim, Now: e.clk.now, TempDir: t.TempDir(),
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
	cred, err := e.ca.Issue(req, e.clk.now())
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := certs.IdentityFromCert(cred.Cert)
	if err != nil {
		e.t.Fatal(err)
	}
	return mailbox.Caller{Identity: id}
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
