package mailbox_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

const citizenAddress = "220013, г. Минск, ул. Дорошевича, 8, кв. 5"

// submit sends a letter from the world's organization to the citizen.
func (w testWorld) submit(t *testing.T, sub mailbox.Submission, attach ...string) (mailbox.LetterView, bool, error) {
	t.Helper()
	d, err := w.svc.NewDraft()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for i, a := range attach {
		if err := d.AddAttachment(fmt.Sprintf("n%d.txt", i), "text/plain", strings.NewReader(a)); err != nil {
			t.Fatal(err)
		}
	}
	if sub.RecipientName == "" {
		sub.RecipientName, sub.RecipientAddress = "Иванову И.И.", citizenAddress
	}
	if sub.Subject == "" {
		sub.Subject, sub.Body = "s", "b"
	}
	return w.svc.Submit(t.Context(), w.org, sub, d)
}

// TestIdempotentSubmission: a retry with the key of a committed letter
// answers with that letter, and the same key for another letter is a
// conflict; either way nothing new is written.
func TestIdempotentSubmission(t *testing.T) {
	t.Parallel()
	w := newTestWorld(t, storetest.NewSQLite(t), nil)
	first, replayed, err := w.submit(t, mailbox.Submission{IdempotencyKey: "k1"})
	if err != nil || replayed {
		t.Fatalf("first: %v, replayed %v", err, replayed)
	}
	for _, tc := range []struct {
		name     string
		sub      mailbox.Submission
		replayed bool
		code     string
	}{
		{"same letter, same key", mailbox.Submission{IdempotencyKey: "k1"}, true, ""},
		{"another letter, same key", mailbox.Submission{IdempotencyKey: "k1", Subject: "other", Body: "other"}, false, "idempotency_key_reused"},
		{"another key", mailbox.Submission{IdempotencyKey: "k2"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, replayed, err := w.submit(t, tc.sub)
			if codeOf(err) != tc.code || replayed != tc.replayed {
				t.Fatalf("Submit = %v, replayed %v; want %q, %v", err, replayed, tc.code, tc.replayed)
			}
			if tc.code == "" && (v.ID == first.ID) != tc.replayed {
				t.Fatalf("letter %s, first %s", v.ID, first.ID)
			}
			if tc.code != "" && !errors.Is(err, mailbox.ErrConflict) {
				t.Fatalf("%v is not a conflict", err)
			}
		})
	}
	sent, _, err := w.svc.ListLetters(t.Context(), w.org, "sent", "", 100)
	if err != nil || len(sent) != 2 {
		t.Fatalf("sent folder: %d letters, %v; want 2", len(sent), err)
	}
}

// TestLetterAccess is who may see what of a letter: the parties see it,
// nobody else learns that it exists.
func TestLetterAccess(t *testing.T) {
	t.Parallel()
	w := newTestWorld(t, storetest.NewSQLite(t), nil)
	v, _, err := w.submit(t, mailbox.Submission{}, "attachment text")
	if err != nil {
		t.Fatal(err)
	}
	stranger := mailbox.Caller{Identity: certs.Identity{ID: "stranger", Role: certs.RolePerson, Name: "Петров Пётр"}}
	calls := map[string]func(c mailbox.Caller) error{
		"GetLetter": func(c mailbox.Caller) error { _, err := w.svc.GetLetter(t.Context(), c, v.ID); return err },
		"Evidence":  func(c mailbox.Caller) error { _, err := w.svc.Evidence(t.Context(), c, v.ID); return err },
		"Receipt":   func(c mailbox.Caller) error { _, err := w.svc.Receipt(t.Context(), c, v.ID); return err },
		"AttachmentInfo": func(c mailbox.Caller) error {
			_, err := w.svc.AttachmentInfo(t.Context(), c, v.ID, 1)
			return err
		},
		"Attachment": func(c mailbox.Caller) error {
			var b bytes.Buffer
			_, err := w.svc.Attachment(t.Context(), c, v.ID, 1, &b)
			if err == nil && b.String() != "attachment text" {
				return fmt.Errorf("attachment %q", b.String())
			}
			return err
		},
	}
	for _, tc := range []struct {
		who    string
		c      mailbox.Caller
		denied map[string]bool // calls refused as not found
	}{
		{"sender", w.org, map[string]bool{}},                      // the sender reads back what it sent
		{"recipient", w.person, map[string]bool{"Receipt": true}}, // the submission receipt is the sender's
		{"stranger", stranger, map[string]bool{"GetLetter": true, "Evidence": true, "Receipt": true, "AttachmentInfo": true, "Attachment": true}},
	} {
		for name, call := range calls {
			t.Run(tc.who+"/"+name, func(t *testing.T) {
				err := call(tc.c)
				if tc.denied[name] {
					if !errors.Is(err, mailbox.ErrNotFound) && !errors.Is(err, mailbox.ErrForbidden) {
						t.Fatalf("%s by %s = %v, want refused", name, tc.who, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s by %s: %v", name, tc.who, err)
				}
			})
		}
	}
}

// TestMailboxByID is the rule SMTP's RCPT asks: a mailbox that exists,
// is active and has a holder bound; anything else does not exist.
func TestMailboxByID(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	w := newTestWorld(t, st, nil)
	mine, err := w.svc.MyMailboxes(t.Context(), w.person)
	if err != nil || len(mine) != 1 {
		t.Fatalf("MyMailboxes = %d, %v", len(mine), err)
	}
	mb := mine[0]
	if creds, err := w.svc.Credentials(t.Context(), w.person, mb.ID); err != nil || len(creds) != 1 {
		t.Fatalf("Credentials = %+v, %v", creds, err)
	}
	if _, err := w.svc.Credentials(t.Context(), w.org, mb.ID); err == nil {
		t.Fatal("another holder read the citizen's credentials")
	}
	change := func(f func(tx mailbox.Tx, m mailbox.Mailbox) error) func(t *testing.T) {
		return func(t *testing.T) {
			err := st.InTx(t.Context(), func(tx mailbox.Tx) error {
				m, err := tx.GetMailbox(t.Context(), mb.ID)
				if err != nil {
					return err
				}
				return f(tx, m)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		id    string
		setup func(t *testing.T)
		found bool
	}{
		{name: "active", id: mb.ID, found: true},
		{name: "unknown", id: "00000000-0000-4000-8000-000000000000"},
		{name: "unbound", id: mb.ID, setup: change(func(tx mailbox.Tx, m mailbox.Mailbox) error {
			return tx.UnbindCredential(t.Context(), m.ID, w.person.Identity.ID, m.CreatedAt)
		})},
		{name: "pending", id: mb.ID, setup: change(func(tx mailbox.Tx, m mailbox.Mailbox) error {
			c, err := tx.Credentials(t.Context(), m.ID)
			if err != nil {
				return err
			}
			c[0].UnboundAt = time.Time{}
			m.Status = mailbox.StatusPending
			return errors.Join(tx.BindCredential(t.Context(), c[0]), tx.UpdateMailbox(t.Context(), m))
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			m, err := w.svc.MailboxByID(t.Context(), tc.id)
			if tc.found != (err == nil) || (err != nil && !errors.Is(err, mailbox.ErrNotFound)) {
				t.Fatalf("MailboxByID = %+v, %v; want found %v", m, err, tc.found)
			}
		})
	}
}

// TestOutboxPolicy is the outbox's claim and retry policy, step by step: a
// claim counts the attempt and hides the notification for the lease; a
// failure is retried after a doubling backoff; a permanent refusal or the
// last attempt gives up, keeping the reason; a send is final.
func TestOutboxPolicy(t *testing.T) {
	t.Parallel()
	type step struct {
		advance  time.Duration
		claimed  int
		result   mailbox.SendResult
		outcome  string
		hasError string // LastError contains
	}
	temp, perm := errors.New("451 try later"), errors.New("550 no such user")
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"sent at once", []step{{claimed: 1, outcome: mailbox.OutcomeSent}, {advance: time.Hour}}},
		{"retried with backoff, then sent", []step{
			{claimed: 1, result: mailbox.SendResult{Err: temp}, outcome: mailbox.OutcomeRetry},
			{advance: 59 * time.Second}, // backoff 1m not over
			{advance: time.Second, claimed: 1, result: mailbox.SendResult{Err: temp}, outcome: mailbox.OutcomeRetry},
			{advance: 119 * time.Second}, // doubled: 2m
			{advance: time.Second, claimed: 1, outcome: mailbox.OutcomeSent},
			{advance: time.Hour},
		}},
		{"permanent refusal gives up at once", []step{
			{claimed: 1, result: mailbox.SendResult{Err: perm, Permanent: true}, outcome: mailbox.OutcomeGaveUp},
			{advance: 1000 * time.Hour},
		}},
		{"gives up after the last attempt", []step{
			{claimed: 1, result: mailbox.SendResult{Err: temp}, outcome: mailbox.OutcomeRetry},
			{advance: time.Minute, claimed: 1, result: mailbox.SendResult{Err: temp}, outcome: mailbox.OutcomeRetry},
			{advance: 2 * time.Minute, claimed: 1, result: mailbox.SendResult{Err: temp}, outcome: mailbox.OutcomeGaveUp},
			{advance: 1000 * time.Hour},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.NewSQLite(t)
			clk := coretest.NewClock(coretest.Start)
			ob := mailbox.NewOutbox(st, mailbox.OutboxPolicy{MaxAttempts: 3, BaseBackoff: time.Minute, MaxBackoff: time.Hour,
				Lease: 10 * time.Second, Now: clk.Now})
			err := st.InTx(t.Context(), func(tx mailbox.Tx) error {
				return tx.AddNotification(t.Context(), mailbox.Notification{ID: "n1", Kind: mailbox.NotifyLetterWaiting,
					MailboxID: "m", LetterID: "l", To: "a@example.by", CreatedAt: clk.Now(), NextAt: clk.Now()})
			})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				clk.Add(s.advance)
				batch, err := ob.Claim(t.Context())
				if err != nil || len(batch) != s.claimed {
					t.Fatalf("step %d: claimed %d, %v; want %d", i, len(batch), err, s.claimed)
				}
				if s.claimed == 0 {
					continue
				}
				// A claimed notification is hidden while it is being sent.
				if again, err := ob.Claim(t.Context()); err != nil || len(again) != 0 {
					t.Fatalf("step %d: claimed twice: %d, %v", i, len(again), err)
				}
				out, err := ob.Record(t.Context(), batch, []mailbox.SendResult{s.result})
				if err != nil || out[0] != s.outcome {
					t.Fatalf("step %d: recorded %v, %v; want %s", i, out, err, s.outcome)
				}
			}
		})
	}
	t.Run("results must match the batch", func(t *testing.T) {
		ob := mailbox.NewOutbox(storetest.NewSQLite(t), mailbox.OutboxPolicy{})
		if _, err := ob.Record(t.Context(), []mailbox.ClaimedNotification{{}}, nil); err == nil {
			t.Fatal("Record accepted fewer results than notifications")
		}
	})
}
