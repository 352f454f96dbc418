package smtpgw

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/npes/npes/mailbox"
)

// NotifierConfig configures the relay worker. Zero durations and counts take
// the defaults named on each field.
type NotifierConfig struct {
	Store mailbox.Store
	// Relay is the host:port of the SMTP relay (NPES_SMTP_RELAY).
	Relay string
	// Domain is the mail domain: Message-IDs, the default From and HELO.
	Domain string
	// From is the envelope and header sender; default noreply@Domain.
	From string
	// TLS, when set, makes STARTTLS to the relay mandatory. Without it the
	// relay must be on a trusted network (it is a smarthost such as a local
	// Postfix); the messages carry no letter content either way.
	TLS *tls.Config
	// PollInterval between looks at the outbox (default 2s).
	PollInterval time.Duration
	// Batch is the most notifications claimed at once (default 20).
	Batch int
	// MaxAttempts before giving up (default 10). A permanent (5xx) refusal
	// by the relay gives up at once: retrying cannot help.
	MaxAttempts int
	// BaseBackoff doubles after each failed attempt up to MaxBackoff
	// (defaults 30s and 6h).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Lease hides claimed notifications from other workers while they are
	// sent (default 5m); SendTimeout bounds one relay session (default 1m).
	Lease       time.Duration
	SendTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
}

// Notifier sends the transactional outbox's notifications (mailbox.Notify*)
// through the relay: a claim in a short transaction (attempt counted, lease
// set), the SMTP session outside any transaction, then the outcome recorded
// (sent, or the next attempt with exponential backoff and the last error,
// or given up with the reason kept). Delivery is at least once: a crash
// between the relay's 250 and the record sends the notice again after the
// lease, under the same Message-ID, so the recipient's system can drop it.
//
// A notice never carries the letter's content, not even its subject: it
// says that a letter or a receipt is waiting, its id and tracking number,
// and where in the API to fetch it.
type Notifier struct {
	cfg NotifierConfig
	log *slog.Logger
}

// NewNotifier checks the configuration.
func NewNotifier(cfg NotifierConfig) (*Notifier, error) {
	if cfg.Store == nil || cfg.Relay == "" || cfg.Domain == "" {
		return nil, errors.New("smtpgw: notifier needs Store, Relay and Domain")
	}
	if _, _, err := net.SplitHostPort(cfg.Relay); err != nil {
		return nil, fmt.Errorf("smtpgw: relay %q is not host:port: %w", cfg.Relay, err)
	}
	if cfg.From == "" {
		cfg.From = "noreply@" + cfg.Domain
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.PollInterval, 2*time.Second)
	def(&cfg.BaseBackoff, 30*time.Second)
	def(&cfg.MaxBackoff, 6*time.Hour)
	def(&cfg.Lease, 5*time.Minute)
	def(&cfg.SendTimeout, time.Minute)
	if cfg.Batch <= 0 {
		cfg.Batch = 20
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Notifier{cfg: cfg, log: cfg.Logger.With("component", "notifier")}, nil
}

// Run sends due notifications until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		for {
			// Keep going while full batches come back.
			res, err := n.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				n.log.Error("outbox pass failed", "err", err)
			}
			if err != nil || res.Claimed < n.cfg.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PassResult counts one pass over the outbox.
type PassResult struct {
	Claimed, Sent, Retried, GaveUp int
}

// neverAgain is the next attempt of a notification given up on: the outbox
// has no state column, and a time no clock reaches keeps the row (with its
// reason in LastError) out of every due query.
func neverAgain() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

type claimed struct {
	mailbox.Notification
	tracking string
}

// RunOnce claims a batch of due notifications, sends them and records the
// outcome.
func (n *Notifier) RunOnce(ctx context.Context) (PassResult, error) {
	var res PassResult
	now := n.cfg.Now().UTC()
	var batch []claimed
	err := n.cfg.Store.InTx(ctx, func(tx mailbox.Tx) error {
		batch = batch[:0]
		due, err := tx.DueNotifications(ctx, now, n.cfg.Batch)
		if err != nil {
			return err
		}
		for _, x := range due {
			x.Attempts++
			x.NextAt = now.Add(n.cfg.Lease)
			if err := tx.UpdateNotification(ctx, x); err != nil {
				return err
			}
			c := claimed{Notification: x}
			l, err := tx.GetLetter(ctx, x.LetterID, false)
			switch {
			case err == nil:
				c.tracking = l.Tracking
			case !errors.Is(err, mailbox.ErrNotFound):
				return err
			}
			batch = append(batch, c)
		}
		return nil
	})
	if err != nil || len(batch) == 0 {
		return res, err
	}
	res.Claimed = len(batch)
	sendCtx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
	errs := n.send(sendCtx, batch)
	cancel()

	done := n.cfg.Now().UTC()
	// The outcome is recorded even when ctx ends meanwhile: the relay may
	// have taken the messages.
	rctx := context.WithoutCancel(ctx)
	err = n.cfg.Store.InTx(rctx, func(tx mailbox.Tx) error {
		for i, c := range batch {
			x := c.Notification
			switch e := errs[i]; {
			case e == nil:
				x.SentAt, x.LastError = done, ""
			case isPermanent(e) || x.Attempts >= n.cfg.MaxAttempts:
				x.NextAt = neverAgain()
				x.LastError = truncate(fmt.Sprintf("gave up after %d attempts: %v", x.Attempts, e), 1000)
			default:
				x.NextAt = done.Add(n.backoff(x.Attempts))
				x.LastError = truncate(e.Error(), 1000)
			}
			if err := tx.UpdateNotification(rctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for i, c := range batch {
		switch e := errs[i]; {
		case e == nil:
			res.Sent++
			n.log.Info("notification sent", "notification", c.ID, "kind", c.Kind, "letter", c.LetterID)
		case isPermanent(e) || c.Attempts >= n.cfg.MaxAttempts:
			res.GaveUp++
			n.log.Warn("notification given up", "notification", c.ID, "kind", c.Kind, "attempts", c.Attempts, "err", e)
		default:
			res.Retried++
			n.log.Info("notification will be retried", "notification", c.ID, "attempts", c.Attempts, "err", e)
		}
	}
	return res, nil
}

// backoff is the wait after the given number of failed attempts.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.cfg.BaseBackoff
	for i := 1; i < attempts && d < n.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.cfg.MaxBackoff)
}

// isPermanent: the relay refused with a 5xx reply (RFC 5321 §4.2.1).
func isPermanent(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code >= 500 && se.Code < 600
}

// send delivers a batch over one relay session and returns each outcome.
func (n *Notifier) send(ctx context.Context, batch []claimed) []error {
	errs := make([]error, len(batch))
	fail := func(from int, err error) []error {
		for i := from; i < len(errs); i++ {
			errs[i] = err
		}
		return errs
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.cfg.Relay)
	if err != nil {
		return fail(0, fmt.Errorf("relay %s: %w", n.cfg.Relay, err))
	}
	// go-smtp's client sets its own deadline per command; closing the
	// connection when ctx ends bounds the whole session.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var c *smtp.Client
	if n.cfg.TLS != nil {
		c, err = smtp.NewClientStartTLS(conn, n.cfg.TLS)
	} else {
		c = smtp.NewClient(conn)
		err = c.Hello(n.cfg.Domain)
	}
	if err != nil {
		_ = conn.Close()
		return fail(0, fmt.Errorf("relay %s: %w", n.cfg.Relay, err))
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = n.cfg.SendTimeout, n.cfg.SendTimeout
	for i, b := range batch {
		if err := n.sendOne(c, b); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				// The session broke: the rest of the batch did not go.
				return fail(i, err)
			}
			errs[i] = err
			if rerr := c.Reset(); rerr != nil {
				return fail(i+1, rerr)
			}
		}
	}
	_ = c.Quit()
	return errs
}

func (n *Notifier) sendOne(c *smtp.Client, b claimed) error {
	msg, err := n.compose(b)
	if err != nil {
		return err
	}
	if err := c.Mail(n.cfg.From, nil); err != nil {
		return err
	}
	if err := c.Rcpt(b.To, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return w.Close()
}

// compose writes the notice: Russian then English, the ids and the API
// path, nothing of the letter itself. Auto-Submitted (RFC 3834 §5) keeps
// auto-responders from answering it.
func (n *Notifier) compose(b claimed) ([]byte, error) {
	var subject, path string
	var lines []string
	switch b.Kind {
	case mailbox.NotifyLetterWaiting:
		subject = "npes: для вас письмо / a letter is waiting for you"
		path = "/v1/letters/" + b.LetterID
		lines = []string{
			"В ваш почтовый ящик npes поступило письмо.",
			"A letter has arrived in your npes mailbox.",
		}
	case mailbox.NotifyReceiptReady:
		subject = "npes: квитанция готова / a receipt is ready"
		path = "/v1/letters/" + b.LetterID + "/evidence"
		lines = []string{
			"По вашему письму есть новое подтверждение (квитанция).",
			"There is new evidence (a receipt) for your letter.",
		}
	case mailbox.NotifyRecoveryStarted:
		// Told before the paper code arrives, so a holder whose key still
		// works can stop a recovery they did not ask for (revoke the new
		// certificate).
		subject = "npes: запрошено восстановление ящика / recovery of your mailbox requested"
		path = "/v1/mailboxes/me"
		lines = []string{
			"Кто-то с новым сертификатом на ваше имя запросил восстановление доступа к почтовому ящику npes.",
			"Код придёт бумажным письмом на адрес ящика. Если это были не вы, обратитесь в почтовое отделение.",
			"Someone with a new certificate in your name asked to recover your npes mailbox.",
			"The code travels by paper letter to the mailbox's address. If this was not you, contact a post office.",
		}
	case mailbox.NotifyRecoveryCompleted:
		subject = "npes: доступ к ящику восстановлен / your mailbox was recovered"
		path = "/v1/mailboxes/me"
		lines = []string{
			"Доступ к почтовому ящику npes восстановлен: прежние ключи и сертификаты больше не действуют.",
			"Your npes mailbox was recovered: its earlier keys and certificates no longer work.",
		}
	default:
		return nil, fmt.Errorf("notification %s: unknown kind %q", b.ID, b.Kind)
	}
	if b.tracking != "" {
		subject += " " + b.tracking
	}
	lines = append(lines, "", "Почтовый ящик / Mailbox: "+b.MailboxID)
	if b.LetterID != "" {
		lines = append(lines, "Письмо / Letter: "+b.LetterID)
	}
	if b.tracking != "" {
		lines = append(lines, "Трек-номер / Tracking: "+b.tracking)
	}
	lines = append(lines,
		"API: GET "+path,
		"",
		"Содержание письма в уведомлениях не передаётся.",
		"Notifications never carry the content of a letter.",
		"")

	var h mail.Header
	h.SetDate(n.cfg.Now())
	h.SetAddressList("From", []*mail.Address{{Name: "npes", Address: n.cfg.From}})
	h.SetAddressList("To", []*mail.Address{{Address: b.To}})
	h.SetSubject(subject)
	h.SetMessageID(b.ID + "@" + n.cfg.Domain)
	h.Set("Auto-Submitted", "auto-generated")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write([]byte(strings.Join(lines, "\r\n"))); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
