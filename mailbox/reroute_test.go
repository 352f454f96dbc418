package mailbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

// interleaveStore runs a test's change of the data between a submission's
// routing (a View) and its commit (an InTx), deterministically: the hooks
// run on the caller's goroutine, outside any transaction of it, just before
// the transaction they precede.
type interleaveStore struct {
	mailbox.Store
	mu           sync.Mutex
	beforeView   func(mailbox.Store)
	beforeCommit func(mailbox.Store)
}

func (s *interleaveStore) hooks(view, commit func(mailbox.Store)) {
	s.mu.Lock()
	s.beforeView, s.beforeCommit = view, commit
	s.mu.Unlock()
}

func (s *interleaveStore) View(ctx context.Context, fn func(mailbox.Tx) error) error {
	s.mu.Lock()
	h := s.beforeView
	s.mu.Unlock()
	if h != nil {
		h(s.Store)
	}
	return s.Store.View(ctx, fn)
}

func (s *interleaveStore) InTx(ctx context.Context, fn func(mailbox.Tx) error) error {
	s.mu.Lock()
	h := s.beforeCommit
	s.mu.Unlock()
	if h != nil {
		h(s.Store)
	}
	return s.Store.InTx(ctx, fn)
}

// TestRecipientRecheckedAtCommit changes the recipient's mailbox after the
// letter was routed to it and before the letter commits. The commit must
// notice, and the letter is routed again (here: printed), so that it never
// lands in a mailbox whose holder no longer matches the routing rule; a
// mailbox that keeps changing makes the submission fail with
// recipient_changed, with nothing written.
func TestRecipientRecheckedAtCommit(t *testing.T) {
	const elsewhere = "246050, г. Гомель, ул. Билецкого, 10"
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				// change runs before every commit; restore, if set, before
				// every routing.
				change, restore func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, identity string) error
				route, reason   string // "" reason: electronic to the mailbox
				code            string // refusal code, if refused
			}{
				{name: "unchanged", route: mailbox.RouteElectronic},
				{
					name: "credential unbound", route: mailbox.RoutePrint, reason: mailbox.ReasonNoMailbox,
					change: func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, identity string) error {
						return unbind(t, tx, m, identity)
					},
				},
				{
					name: "deactivated", route: mailbox.RoutePrint, reason: mailbox.ReasonNoMailbox,
					change: func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, _ string) error {
						m.Status = mailbox.StatusPending
						return tx.UpdateMailbox(t.Context(), m)
					},
				},
				{
					name: "readdressed", route: mailbox.RoutePrint, reason: mailbox.ReasonNoMailbox,
					change: func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, _ string) error {
						a, err := addressing.Parse(elsewhere)
						if err != nil {
							return err
						}
						if m.AddressJSON, err = json.Marshal(a); err != nil {
							return err
						}
						m.Address, m.MatchKey, m.Postcode = elsewhere, a.MatchKey(), a.Postcode
						return tx.ReaddressMailbox(t.Context(), m)
					},
				},
				{
					name: "keeps changing", code: "recipient_changed",
					change: func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, identity string) error {
						return unbind(t, tx, m, identity)
					},
					restore: func(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, identity string) error {
						creds, err := tx.Credentials(t.Context(), m.ID)
						if err != nil || len(creds) == 0 {
							return errors.Join(err, errors.New("no credential to bind again"))
						}
						c := creds[0]
						c.UnboundAt, c.BoundAt = time.Time{}, m.CreatedAt
						return tx.BindCredential(t.Context(), c)
					},
				},
			} {
				t.Run(tc.name, func(t *testing.T) {
					testRecheck(t, eng.open, tc.change, tc.restore, tc.route, tc.reason, tc.code)
				})
			}
		})
	}
}

// unbind ends the identity's binding; a binding already ended stays so.
func unbind(t *testing.T, tx mailbox.Tx, m mailbox.Mailbox, identity string) error {
	err := tx.UnbindCredential(t.Context(), m.ID, identity, m.CreatedAt)
	if errors.Is(err, mailbox.ErrNotFound) {
		return nil
	}
	return err
}

func testRecheck(t *testing.T, open storetest.Factory, change, restore func(*testing.T, mailbox.Tx, mailbox.Mailbox, string) error, route, reason, code string) {
	ctx := t.Context()
	st := &interleaveStore{Store: open(t)}
	w := newTestWorld(t, st, nil)
	identity := w.person.Identity.ID
	var mb mailbox.Mailbox
	mustView := func(fn func(tx mailbox.Tx) error) {
		t.Helper()
		if err := st.Store.View(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	mustView(func(tx mailbox.Tx) error {
		ms, err := tx.MailboxesOfIdentity(ctx, identity)
		if err == nil && len(ms) != 1 {
			err = errors.New("want one mailbox of the citizen")
		}
		if err == nil {
			mb = ms[0]
		}
		return err
	})
	hook := func(f func(*testing.T, mailbox.Tx, mailbox.Mailbox, string) error) func(mailbox.Store) {
		if f == nil {
			return nil
		}
		return func(inner mailbox.Store) {
			err := inner.InTx(context.Background(), func(tx mailbox.Tx) error {
				m, err := tx.GetMailbox(ctx, mb.ID)
				if err != nil {
					return err
				}
				return f(t, tx, m, identity)
			})
			if err != nil {
				t.Errorf("interleaved change: %v", err)
			}
		}
	}
	var before []string
	mustView(func(tx mailbox.Tx) (err error) { before, err = tx.LetterIDs(ctx, "", 1000); return err })

	st.hooks(hook(restore), hook(change))
	d, err := w.svc.NewDraft()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// With an idempotency key: a submission rerouted at commit must not
	// leave its key naming a letter that was never written (the retry
	// below is a replay of the letter written, or, after a refusal, a new
	// submission).
	sub := mailbox.Submission{RecipientName: "Иванову И.И.",
		RecipientAddress: "220013, г. Минск, ул. Дорошевича, 8, кв. 5", Subject: "s", Body: "b", IdempotencyKey: "recheck-1"}
	v, _, err := w.svc.Submit(ctx, w.org, sub, d)
	st.hooks(nil, nil)
	retry := func() (mailbox.LetterView, bool) {
		t.Helper()
		d, err := w.svc.NewDraft()
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		v, replayed, err := w.svc.Submit(ctx, w.org, sub, d)
		if err != nil {
			t.Fatalf("the retry with the same idempotency key: %v", err)
		}
		return v, replayed
	}

	var after []string
	mustView(func(tx mailbox.Tx) (err error) { after, err = tx.LetterIDs(ctx, "", 1000); return err })
	if code != "" {
		if codeOf(err) != code || !errors.Is(err, mailbox.ErrConflict) {
			t.Fatalf("Submit = %v, want conflict %s", err, code)
		}
		if len(after) != len(before) {
			t.Fatalf("a refused submission wrote letters: %d before, %d after", len(before), len(after))
		}
		if _, replayed := retry(); replayed {
			t.Fatal("the retry of a refused submission was answered as a replay: its key was stored")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before)+1 {
		t.Fatalf("letters: %d before, %d after; want one more", len(before), len(after))
	}
	var l mailbox.Letter
	mustView(func(tx mailbox.Tx) (err error) { l, err = tx.GetLetter(ctx, v.ID, false); return err })
	wantMailbox := ""
	if route == mailbox.RouteElectronic {
		wantMailbox = mb.ID
	}
	if v.Route != route || v.RouteReason != reason || l.Route != route || l.RouteReason != reason || l.RecipientMailbox != wantMailbox {
		t.Fatalf("view %s/%q, stored %s/%q to %q; want %s/%q to %q",
			v.Route, v.RouteReason, l.Route, l.RouteReason, l.RecipientMailbox, route, reason, wantMailbox)
	}
	if again, replayed := retry(); !replayed || again.ID != v.ID {
		t.Fatalf("the retry = letter %s (replayed %v); want the letter written, %s", again.ID, replayed, v.ID)
	}
}
