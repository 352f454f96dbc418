package smtpgw_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/npes/npes/internal/coretest"
	"github.com/npes/npes/internal/smtpgw"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
)

// relay is a tiny in-test SMTP server standing in for the operator's relay.
type relay struct {
	addr string
	mu   sync.Mutex
	msgs []relayed
	// rcptErr, when set, refuses RCPT TO.
	rcptErr *smtp.SMTPError
}

type relayed struct {
	from string
	to   []string
	data []byte
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	r := &relay{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.test"
	srv.ErrorLog = nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *relay) setRcptErr(e *smtp.SMTPError) { r.mu.Lock(); r.rcptErr = e; r.mu.Unlock() }

func (r *relay) received() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayed(nil), r.msgs...)
}

type relaySession struct {
	r    *relay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.r.rcptErr != nil {
		return s.r.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, relayed{from: s.from, to: s.to, data: b})
	s.r.mu.Unlock()
	return nil
}

type nopLog struct{}

func (nopLog) Printf(string, ...any) {}
func (nopLog) Println(...any)        {}

type notifyBundle struct {
	store mailbox.Store
	relay *relay
	clock *coretest.Clock
	n     *smtpgw.Notifier
}

func setupNotifier(t *testing.T, maxAttempts int) *notifyBundle {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "npes.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b := &notifyBundle{store: st, relay: startRelay(t), clock: coretest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))}
	b.n, err = smtpgw.NewNotifier(smtpgw.NotifierConfig{
		Outbox: mailbox.NewOutbox(st, mailbox.OutboxPolicy{MaxAttempts: maxAttempts,
			BaseBackoff: time.Minute, MaxBackoff: 10 * time.Minute, Now: b.clock.Now}),
		Relay: b.relay.addr, Domain: "npes.test", Now: b.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *notifyBundle) add(t *testing.T, id, kind, to string) {
	t.Helper()
	now := b.clock.Now()
	err := b.store.InTx(t.Context(), func(tx mailbox.Tx) error {
		return tx.AddNotification(t.Context(), mailbox.Notification{ID: id, Kind: kind, MailboxID: "mbox-" + id,
			LetterID: "letter-" + id, To: to, CreatedAt: now, NextAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pending lists every unsent notification, due or not.
func (b *notifyBundle) pending(t *testing.T) map[string]mailbox.Notification {
	t.Helper()
	out := map[string]mailbox.Notification{}
	err := b.store.InTx(t.Context(), func(tx mailbox.Tx) error {
		ns, err := tx.DueNotifications(t.Context(), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 100)
		for _, n := range ns {
			out[n.ID] = n
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *notifyBundle) pass(t *testing.T) smtpgw.PassResult {
	t.Helper()
	res, err := b.n.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestNotifierSends(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 5)
	b.add(t, "n1", mailbox.NotifyLetterWaiting, "citizen@example.by")
	b.add(t, "n2", mailbox.NotifyReceiptReady, "org@example.by")
	if res := b.pass(t); res != (smtpgw.PassResult{Claimed: 2, Sent: 2}) {
		t.Fatalf("pass: %+v", res)
	}
	msgs := b.relay.received()
	if len(msgs) != 2 {
		t.Fatalf("relay got %d messages", len(msgs))
	}
	for _, m := range msgs {
		if m.from != "noreply@npes.test" || len(m.to) != 1 {
			t.Fatalf("envelope %s → %v", m.from, m.to)
		}
		mr, err := mail.CreateReader(strings.NewReader(string(m.data)))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := mr.Header.Subject()
		id, _ := mr.Header.MessageID()
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		text := string(body)
		switch m.to[0] {
		case "citizen@example.by":
			if id != "n1@npes.test" || !strings.Contains(subject, "письмо") || !strings.Contains(text, "GET /v1/letters/letter-n1") {
				t.Fatalf("letter_waiting: %s %q\n%s", id, subject, text)
			}
		case "org@example.by":
			if id != "n2@npes.test" || !strings.Contains(subject, "receipt") || !strings.Contains(text, "GET /v1/letters/letter-n2/evidence") {
				t.Fatalf("receipt_ready: %s %q\n%s", id, subject, text)
			}
		default:
			t.Fatalf("to %v", m.to)
		}
		if mr.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Fatal("no Auto-Submitted header (RFC 3834)")
		}
	}
	if p := b.pending(t); len(p) != 0 {
		t.Fatalf("still pending after sending: %v", p)
	}
	if res := b.pass(t); res.Claimed != 0 {
		t.Fatalf("sent notifications claimed again: %+v", res)
	}
}

func TestNotifierRetriesWithBackoffThenGivesUp(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 3)
	b.add(t, "n1", mailbox.NotifyLetterWaiting, "citizen@example.by")
	b.relay.setRcptErr(&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"})

	start := b.clock.Now()
	if res := b.pass(t); res != (smtpgw.PassResult{Claimed: 1, Retried: 1}) {
		t.Fatalf("first pass: %+v", res)
	}
	n := b.pending(t)["n1"]
	if n.Attempts != 1 || !strings.Contains(n.LastError, "451") || !n.NextAt.Equal(start.Add(time.Minute)) {
		t.Fatalf("after one failure: %+v", n)
	}
	if res := b.pass(t); res.Claimed != 0 {
		t.Fatalf("claimed before its backoff: %+v", res)
	}
	b.clock.Add(time.Minute)
	b.pass(t)
	n = b.pending(t)["n1"]
	if n.Attempts != 2 || !n.NextAt.Equal(start.Add(3*time.Minute)) {
		t.Fatalf("backoff does not double: %+v (start %s)", n, start)
	}
	b.clock.Add(2 * time.Minute)
	if res := b.pass(t); res != (smtpgw.PassResult{Claimed: 1, GaveUp: 1}) {
		t.Fatalf("third pass: %+v", res)
	}
	n = b.pending(t)["n1"]
	if n.Attempts != 3 || !strings.HasPrefix(n.LastError, "gave up after 3 attempts") || !strings.Contains(n.LastError, "try later") {
		t.Fatalf("given up: %+v", n)
	}
	b.clock.Add(24 * time.Hour)
	if res := b.pass(t); res.Claimed != 0 {
		t.Fatalf("a given-up notification was claimed again: %+v", res)
	}
	if len(b.relay.received()) != 0 {
		t.Fatal("the relay accepted a message it refused")
	}
}

func TestNotifierRecoversAfterTemporaryFailure(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 5)
	b.add(t, "n1", mailbox.NotifyReceiptReady, "org@example.by")
	b.relay.setRcptErr(&smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "mailbox busy"})
	b.pass(t)
	b.relay.setRcptErr(nil)
	b.clock.Add(time.Minute)
	if res := b.pass(t); res.Sent != 1 {
		t.Fatalf("retry: %+v", res)
	}
	if len(b.relay.received()) != 1 || len(b.pending(t)) != 0 {
		t.Fatal("not sent exactly once")
	}
}

func TestNotifierGivesUpOnPermanentRefusal(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 5)
	b.add(t, "n1", mailbox.NotifyLetterWaiting, "nobody@example.by")
	b.add(t, "n2", mailbox.NotifyLetterWaiting, "other@example.by")
	b.relay.setRcptErr(&smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"})
	if res := b.pass(t); res != (smtpgw.PassResult{Claimed: 2, GaveUp: 2}) {
		t.Fatalf("pass: %+v", res)
	}
	for id, n := range b.pending(t) {
		if n.Attempts != 1 || !strings.Contains(n.LastError, "no such user") {
			t.Fatalf("%s: %+v", id, n)
		}
	}
}

func TestNotifierRelayDown(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 5)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	_ = ln.Close()
	n, err := smtpgw.NewNotifier(smtpgw.NotifierConfig{Outbox: mailbox.NewOutbox(b.store, mailbox.OutboxPolicy{Now: b.clock.Now}), Relay: down, Domain: "npes.test", Now: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.add(t, "n1", mailbox.NotifyLetterWaiting, "citizen@example.by")
	res, err := n.RunOnce(context.Background())
	if err != nil || res != (smtpgw.PassResult{Claimed: 1, Retried: 1}) {
		t.Fatalf("pass: %+v %v", res, err)
	}
	if p := b.pending(t)["n1"]; p.Attempts != 1 || !strings.Contains(p.LastError, down) {
		t.Fatalf("%+v", p)
	}
}

func TestNotifierConfig(t *testing.T) {
	t.Parallel()
	for _, cfg := range []smtpgw.NotifierConfig{
		{Relay: "relay:25", Domain: "d"},
		{Outbox: mailbox.NewOutbox(nopStore{}, mailbox.OutboxPolicy{}), Domain: "d"},
		{Outbox: mailbox.NewOutbox(nopStore{}, mailbox.OutboxPolicy{}), Relay: "no-port", Domain: "d"},
	} {
		if _, err := smtpgw.NewNotifier(cfg); err == nil {
			t.Fatalf("%+v accepted", cfg)
		}
	}
}

type nopStore struct{ mailbox.Store }

// TestNotifierRecoveryNotices: the notices of a mailbox recovery name the
// mailbox and no letter (there is none), in both languages.
func TestNotifierRecoveryNotices(t *testing.T) {
	t.Parallel()
	b := setupNotifier(t, 5)
	now := b.clock.Now()
	err := b.store.InTx(t.Context(), func(tx mailbox.Tx) error {
		for i, kind := range []string{mailbox.NotifyRecoveryStarted, mailbox.NotifyRecoveryCompleted} {
			if err := tx.AddNotification(t.Context(), mailbox.Notification{ID: kind, Kind: kind, MailboxID: "mbox-1",
				To: fmt.Sprintf("holder%d@example.by", i), CreatedAt: now, NextAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := b.pass(t); res != (smtpgw.PassResult{Claimed: 2, Sent: 2}) {
		t.Fatalf("pass: %+v", res)
	}
	want := map[string][]string{
		"holder0@example.by": {"requested", "запрошено", "If this was not you"},
		"holder1@example.by": {"was recovered", "восстановлен", "no longer work"},
	}
	for _, m := range b.relay.received() {
		mr, err := mail.CreateReader(strings.NewReader(string(m.data)))
		if err != nil {
			t.Fatal(err)
		}
		subject, _ := mr.Header.Subject()
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p.Body)
		text := subject + "\n" + string(body)
		for _, w := range want[m.to[0]] {
			if !strings.Contains(text, w) {
				t.Errorf("notice to %s lacks %q:\n%s", m.to[0], w, text)
			}
		}
		if !strings.Contains(text, "mbox-1") || strings.Contains(text, "Letter:") {
			t.Errorf("notice to %s should name the mailbox and no letter:\n%s", m.to[0], text)
		}
	}
}
