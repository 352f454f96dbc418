package mailbox_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// txCountingStore counts the transactions open at any moment.
type txCountingStore struct {
	mailbox.Store
	open atomic.Int32
}

func (s *txCountingStore) InTx(ctx context.Context, fn func(mailbox.Tx) error) error {
	s.open.Add(1)
	defer s.open.Add(-1)
	return s.Store.InTx(ctx, fn)
}

func (s *txCountingStore) View(ctx context.Context, fn func(mailbox.Tx) error) error {
	s.open.Add(1)
	defer s.open.Add(-1)
	return s.Store.View(ctx, fn)
}

// probeRenderer renders a stand-in PDF and notes how many transactions
// were open while it rendered a letter. once, if set, runs during the
// next render; err, if set, is returned instead of a document.
type probeRenderer struct {
	store   *txCountingStore
	renders atomic.Int32
	inTx    atomic.Int32
	once    func()
	err     error
	// checkErr is returned by CheckAttachment, addressErr by CheckAddress.
	checkErr, addressErr error
	// language is the Language of the last letter rendered.
	language atomic.Value
}

func (r *probeRenderer) RenderLetter(ctx context.Context, l mailbox.PrintLetter) (mailbox.Rendered, error) {
	r.renders.Add(1)
	r.language.Store(l.Language)
	if r.store.open.Load() != 0 {
		r.inTx.Add(1)
	}
	if f := r.once; f != nil {
		r.once = nil
		f()
	}
	if r.err != nil {
		return mailbox.Rendered{}, r.err
	}
	return fakeDoc("letter " + l.ID), nil
}

func (r *probeRenderer) RenderActivation(ctx context.Context, a mailbox.PrintActivation) (mailbox.Rendered, error) {
	return fakeDoc("activation " + a.ID), nil
}

func (r *probeRenderer) CheckAttachment(name, contentType string, data []byte) error {
	return r.checkErr
}

func (r *probeRenderer) CheckAddress(string, []string) error { return r.addressErr }

// TestPrintIfUnsignedChecksAddressAndKeepsLanguage: a letter that may be
// printed later is refused at submission when its address does not fit the
// window, and its language reaches the renderer when it is printed.
func TestPrintIfUnsignedChecksAddressAndKeepsLanguage(t *testing.T) {
	store := &txCountingStore{Store: storetest.NewSQLite(t)}
	r := &probeRenderer{store: store, addressErr: mailbox.Errorf(mailbox.ErrInvalid, "address_too_long", "does not fit")}
	svc, clk, org := expiryService(t, store, r)
	submit := func(lang string) (mailbox.LetterView, error) {
		d, err := svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		v, _, err := svc.Submit(t.Context(), org, mailbox.Submission{RecipientName: "Иванову И.И.",
			RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Registered: true,
			Subject: "Повестка", Body: "Текст", PrintIfUnsignedAfter: 48 * time.Hour, Language: lang}, d)
		return v, err
	}
	var de *mailbox.Error
	if _, err := submit(""); !errors.As(err, &de) || de.Code != "address_too_long" {
		t.Fatalf("submit with an address that does not fit: %v, want address_too_long", err)
	}
	if _, err := submit("uk"); !errors.As(err, &de) || de.Code != "bad_language" {
		t.Fatalf("submit with language uk: %v, want bad_language", err)
	}
	r.addressErr = nil
	if _, err := submit(mailbox.LanguageBelarusian); err != nil {
		t.Fatal(err)
	}
	clk.Add(49 * time.Hour)
	if n, err := svc.ExpireDue(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if got := r.language.Load(); got != mailbox.LanguageBelarusian {
		t.Errorf("rendered with language %q, want be", got)
	}
}

func fakeDoc(s string) mailbox.Rendered {
	pdf := []byte("%PDF-1.4 " + s)
	sum := sha256.Sum256(pdf)
	return mailbox.Rendered{PDF: pdf, Pages: 1, Sheets: 1, SHA256: hex.EncodeToString(sum[:])}
}

// TestPrintIfUnsignedRendersOutsideTransactions: the deadline sweep renders
// a print-if-unsigned letter with no transaction open (a render holds no
// row lock and no connection), and records it only if the letter is still
// due when the render is done: a letter another sweeper handled meanwhile
// is printed once, an unprintable one is expired without print, and a
// busy renderer leaves the letter due for the next sweep.
func TestPrintIfUnsignedRendersOutsideTransactions(t *testing.T) {
	for _, engine := range []struct {
		name string
		open func(*testing.T) mailbox.Store
	}{{"sqlite", storetest.NewSQLite}, {"postgres", storetest.NewPostgres}} {
		t.Run(engine.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// setup prepares the renderer for the first sweep.
				setup func(r *probeRenderer, svc *mailbox.Service, swept *atomic.Int32)
				// sweepErr is the kind of error the first sweep returns.
				sweepErr error
				// events after the sweeps, and the state.
				events, state string
			}{
				{name: "still due", events: "AcceptanceRejectionExpiry RelayToNonERDS", state: mailbox.StatePrintQueued},
				{
					name: "another sweeper records it during the render",
					setup: func(r *probeRenderer, svc *mailbox.Service, swept *atomic.Int32) {
						r.once = func() {
							if r.store.open.Load() != 0 {
								return // rendering inside a transaction: a second sweep would wait for its lock
							}
							n, err := svc.ExpireDue(context.Background())
							if err != nil {
								t.Errorf("concurrent sweep: %v", err)
							}
							swept.Add(int32(n))
						}
					},
					events: "AcceptanceRejectionExpiry RelayToNonERDS", state: mailbox.StatePrintQueued,
				},
				{
					name: "unprintable",
					setup: func(r *probeRenderer, _ *mailbox.Service, _ *atomic.Int32) {
						r.err = errors.New("attachment is not printable: changed renderer")
					},
					events: "AcceptanceRejectionExpiry", state: mailbox.StateExpired,
				},
				{
					name: "renderer busy",
					setup: func(r *probeRenderer, _ *mailbox.Service, _ *atomic.Int32) {
						r.err = mailbox.Errorf(mailbox.ErrUnavailable, "render_busy", "all renderers are busy")
					},
					sweepErr: mailbox.ErrUnavailable,
					events:   "AcceptanceRejectionExpiry RelayToNonERDS", state: mailbox.StatePrintQueued,
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					store := &txCountingStore{Store: engine.open(t)}
					r := &probeRenderer{store: store}
					svc, clk, org := expiryService(t, store, r)
					ctx := t.Context()
					d, err := svc.NewDraft()
					if err != nil {
						t.Fatal(err)
					}
					v, _, err := svc.Submit(ctx, org, mailbox.Submission{RecipientName: "Иванову И.И.",
						RecipientAddress: "г. Минск, ул. Дорошевича 8-5, 220013", Registered: true,
						Subject: "Повестка", Body: "Текст", PrintIfUnsignedAfter: 48 * time.Hour}, d)
					d.Close()
					if err != nil {
						t.Fatal(err)
					}
					clk.Add(49 * time.Hour)
					var swept atomic.Int32
					if tc.setup != nil {
						tc.setup(r, svc, &swept)
					}
					n, err := svc.ExpireDue(ctx)
					if tc.sweepErr != nil {
						if !errors.Is(err, tc.sweepErr) {
							t.Fatalf("sweep: %d, %v; want %v", n, err, tc.sweepErr)
						}
						if cur, _ := svc.GetLetter(ctx, org, v.ID); cur.State != mailbox.StateAwaitingAcceptance {
							t.Fatalf("after a failed sweep the letter is %s, want it still due", cur.State)
						}
						r.err = nil
						n, err = svc.ExpireDue(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
					if got := int32(n) + swept.Load(); got != 1 {
						t.Errorf("sweeps expired %d letters, want 1", got)
					}
					if got := r.inTx.Load(); got != 0 {
						t.Errorf("%d of %d renders ran inside a transaction", got, r.renders.Load())
					}
					cur, err := svc.GetLetter(ctx, org, v.ID)
					if err != nil {
						t.Fatal(err)
					}
					var events []string
					for _, e := range cur.Evidence[2:] { // after SubmissionAcceptance, NotificationForAcceptance
						events = append(events, e.Event)
					}
					if got := strings.Join(events, " "); got != tc.events || cur.State != tc.state {
						t.Errorf("events %q, state %s; want %q, %s", got, cur.State, tc.events, tc.state)
					}
				})
			}
		})
	}
}

// testWorld is a Service with a clock the test moves (from 2 November
// 2026), an organization and a citizen with active mailboxes, and the
// citizen's credential to sign with.
type testWorld struct {
	svc         *mailbox.Service
	clk         *clock
	org, person mailbox.Caller
	personCred  certs.Credential
	trust       *signing.Trust // the service's keys and CA, to verify what it signs
}

// newTestWorld builds a testWorld on store with renderer r (nil: none);
// configure (if any) changes the service's configuration first.
func newTestWorld(t *testing.T, store mailbox.Store, r mailbox.Renderer, configure ...func(*mailbox.Config)) testWorld {
	t.Helper()
	ctx := t.Context()
	f := newLogFixture(t, store, r, configure...)
	w := testWorld{svc: f.svc, clk: f.clk, trust: f.trust}
	issue := func(req certs.Request) (mailbox.Caller, certs.Credential) { return f.issue(t, req) }
	operator, _ := issue(certs.Request{Role: certs.RoleOperator, Name: "op"})
	w.org, _ = issue(certs.Request{Role: certs.RoleOrg, Name: "ОАО «Тест»", UNP: "100289066"})
	w.person, w.personCred = issue(certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович", PersonalID: "3140582A001PB3"})
	for _, p := range []struct {
		c    mailbox.Caller
		addr string
	}{{w.org, "220030, г. Минск, ул. Энгельса, 6"}, {w.person, "220013, г. Минск, ул. Дорошевича, 8, кв. 5"}} {
		m, err := w.svc.RegisterMailbox(ctx, p.c, mailbox.RegisterRequest{Address: p.addr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.VerifyAddress(ctx, operator, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// expiryService is newTestWorld's service, clock and organization.
func expiryService(t *testing.T, store mailbox.Store, r mailbox.Renderer) (*mailbox.Service, *clock, mailbox.Caller) {
	w := newTestWorld(t, store, r)
	return w.svc, w.clk, w.org
}
