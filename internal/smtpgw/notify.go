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
	// Outbox is the core's claim and retry policy; the notifier only
	// sends.
	Outbox *mailbox.Outbox
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
	// SendTimeout bounds one relay session (default 1m).
	SendTimeout time.Duration
	Logger      *slog.Logger
	// Now dates the messages (default time.Now).
	Now func() time.Time
}

// Notifier sends the transactional outbox's notifications (mailbox.Notify*)
// through the relay: mailbox.Outbox claims them and records the outcomes
// (its retry policy); the notifier runs the SMTP session in between,
// outside any transaction. Delivery is at least once: a crash between the
// relay's 250 and the record sends the notice again after the lease, under
// the same Message-ID, so the recipient's system can drop it.
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
	if cfg.Outbox == nil || cfg.Relay == "" || cfg.Domain == "" {
		return nil, errors.New("smtpgw: notifier needs Outbox, Relay and Domain")
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
	def(&cfg.SendTimeout, time.Minute)
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
			if err != nil || res.Claimed < n.cfg.Outbox.Batch() {
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

type claimed = mailbox.ClaimedNotification

// RunOnce claims a batch of due notifications, sends them and records the
// outcome.
func (n *Notifier) RunOnce(ctx context.Context) (PassResult, error) {
	var res PassResult
	batch, err := n.cfg.Outbox.Claim(ctx)
	if err != nil || len(batch) == 0 {
		return res, err
	}
	res.Claimed = len(batch)
	sendCtx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
	errs := n.send(sendCtx, batch)
	cancel()
	results := make([]mailbox.SendResult, len(batch))
	for i, e := range errs {
		results[i] = mailbox.SendResult{Err: e, Permanent: isPermanent(e)}
	}
	// The outcome is recorded even when ctx ends meanwhile: the relay may
	// have taken the messages.
	outcomes, err := n.cfg.Outbox.Record(context.WithoutCancel(ctx), batch, results)
	if err != nil {
		return res, err
	}
	for i, c := range batch {
		switch outcomes[i] {
		case mailbox.OutcomeSent:
			res.Sent++
			n.log.Info("notification sent", "notification", c.ID, "kind", c.Kind, "letter", c.LetterID)
		case mailbox.OutcomeGaveUp:
			res.GaveUp++
			n.log.Warn("notification given up", "notification", c.ID, "kind", c.Kind, "attempts", c.Attempts, "err", errs[i])
		default:
			res.Retried++
			n.log.Info("notification will be retried", "notification", c.ID, "attempts", c.Attempts, "err", errs[i])
		}
	}
	return res, nil
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
	if b.Tracking != "" {
		subject += " " + b.Tracking
	}
	lines = append(lines, "", "Почтовый ящик / Mailbox: "+b.MailboxID)
	if b.LetterID != "" {
		lines = append(lines, "Письмо / Letter: "+b.LetterID)
	}
	if b.Tracking != "" {
		lines = append(lines, "Трек-номер / Tracking: "+b.Tracking)
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
