package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
)

// SMTP measures registered letters of BodyBytes submitted to the SMTP
// gateway of a self-started server over implicit TLS (RFC 8314) with a
// client certificate, by Concurrency connections (20 by default) that
// each send one message per transaction with go-smtp's client, RCPT TO a
// recipient's mailbox address. A 250 comes only after the durable commit
// and must name the electronic route.
//
// Baseline: the same client loop, the same TLS configuration and
// certificates and the same messages against a bare go-smtp server that
// writes each message to its own file and fsyncs it before its 250 (no
// directory fsync, as queue-file MTAs do), on the same file system as the
// data directory.
func SMTP(ctx context.Context, o Options) (*Result, error) {
	o.defaults(2000, 20)
	h, err := startServer(ctx, o, true)
	if err != nil {
		return nil, err
	}
	defer h.close()
	if h.srv.SMTPSAddr == nil {
		return nil, usagef("the server has no SMTP listener")
	}
	sender, err := h.party(ctx, h.senderRequest(), h.senderAddress())
	if err != nil {
		return nil, err
	}
	sender.client.close()
	recips, err := h.recipients(ctx, o.Recipients)
	if err != nil {
		return nil, err
	}
	domain := app.DefaultMailDomain // the self-started server's
	from := sender.mailbox + "@" + domain
	to := make([]string, len(recips))
	for i, r := range recips {
		to[i] = r.mailbox + "@" + domain
		r.client.close()
	}
	clientTLS, err := certs.ClientTLSConfig(sender.cred.CertPEM, sender.cred.KeyPEM, h.caPEM)
	if err != nil {
		return nil, err
	}
	filler := bodyFiller(o.BodyBytes)
	message := func(i int64, rcpt string) []byte {
		return smtpMessage(from, rcpt, fmt.Sprintf("Уведомление № %d", i), letterBody(filler, o.BodyBytes, i))
	}

	var base *Result
	if !o.NoBaseline {
		serverCert, err := h.srv.Data.ServerCertificate()
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AddCert(h.ca.Certificate())
		bs, err := startFsyncServer(h.dir, certs.ServerTLSConfig(serverCert, pool, &certs.RevocationSet{}))
		if err != nil {
			return nil, err
		}
		base, err = smtpPhase(ctx, o, "smtp baseline (go-smtp, fsync per message)", bs.addr, clientTLS, from, to, message, "", false)
		bs.close()
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		base.Params["item"] = "message written to its own file and fsynced before 250"
		base.Params["files"] = bs.count()
	}
	load := loadAverage()
	res, err := smtpPhase(ctx, o, "smtp", h.srv.SMTPSAddr.String(), clientTLS, from, to, message, "route electronic", true)
	if err != nil {
		return nil, err
	}
	h.describe(res.Params)
	res.Params["item"] = "registered letter submitted over SMTP, electronic route"
	res.Params["latency"] = "MAIL FROM until the 250 after DATA"
	res.Params["transport"] = "implicit TLS (RFC 8314) with a client certificate, one connection per client"
	res.Params["body_bytes"] = o.BodyBytes
	res.Params["recipients"] = len(to)
	res.Params["loadavg_before"] = load
	res.Params["order"] = "baseline first"
	if o.Rate > 0 {
		res.Params["offered_rate"] = o.Rate
		res.Params["latency"] = "from the message's due time (open loop) until the 250 after DATA"
	}
	res.setBaseline(base)
	return res, nil
}

// smtpPhase runs o.Concurrency connections that each send messages, one
// per transaction, until the phase ends. When want is not empty, every
// 250 must contain it.
func smtpPhase(ctx context.Context, o Options, name, addr string, tlsCfg *tls.Config, from string, to []string,
	message func(int64, string) []byte, want string, scenario bool) (*Result, error) {
	conns := make([]*smtp.Client, o.Concurrency)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	send := func(c *smtp.Client, i int64) error {
		k := i % int64(len(to))
		if k < 0 {
			k = -k
		}
		if err := c.Mail(from, &smtp.MailOptions{Body: smtp.Body8BitMIME}); err != nil {
			return fmt.Errorf("MAIL: %w", err)
		}
		if err := c.Rcpt(to[k], nil); err != nil {
			return fmt.Errorf("RCPT: %w", err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		if _, err := w.Write(message(i, to[k])); err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		resp, err := w.CloseWithResponse()
		if err != nil {
			return fmt.Errorf("end of DATA: %w", err)
		}
		if want != "" && !strings.Contains(resp.StatusText, want) {
			return checkf("message %d: the reply %q does not say %q", i, resp.StatusText, want)
		}
		return nil
	}
	// Connect every client and send one message each, unmeasured.
	if err := parallel(len(conns), func(w int) error {
		c, err := smtp.DialTLS(addr, tlsCfg)
		if err != nil {
			return err
		}
		conns[w] = c
		if err := c.Hello("bench.localhost"); err != nil {
			return err
		}
		return send(c, -1-int64(w))
	}); err != nil {
		return nil, fmt.Errorf("%s: warm-up: %w", name, err)
	}
	p := phase{name: name, workers: len(conns), count: o.Count, dur: o.Duration, progress: o.Progress, client: true,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			for {
				i, ok := rec.claim(ctx)
				if !ok {
					return nil
				}
				t0 := time.Now()
				if err := send(conns[w], i); err != nil {
					return err
				}
				rec.observe(w, rec.since(i, t0))
			}
		}}
	if scenario {
		p.profile, p.trace, p.rate = o.CPUProfile, o.Trace, o.Rate
	}
	res, err := measure(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, c := range conns {
		_ = c.Quit()
	}
	return res, nil
}

// smtpMessage is a registered letter as an organization's mail system
// would send it: UTF-8 text in 8bit (RFC 6152), CRLF lines of at most 998
// octets (RFC 5321 §4.5.3.1.6), a unique Message-ID (the gateway's
// idempotency key).
func smtpMessage(from, to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@bench.npes.localhost>\r\n", from, to,
		mime.QEncoding.Encode("utf-8", subject), uuid.NewString())
	fmt.Fprintf(&b, "Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("Content-Transfer-Encoding: 8bit\r\nX-Npes-Registered: yes\r\n\r\n")
	for _, line := range strings.Split(body, "\n") {
		for len(line) > 900 {
			cut := 900
			for !utf8.RuneStart(line[cut]) {
				cut--
			}
			b.WriteString(line[:cut])
			b.WriteString("\r\n")
			line = line[cut:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// fsyncServer is the baseline SMTP server: go-smtp with a backend that
// stores each message in its own file, fsynced before the reply.
type fsyncServer struct {
	srv  *smtp.Server
	ln   net.Listener
	dir  string
	addr string
}

func startFsyncServer(parent string, tlsCfg *tls.Config) (*fsyncServer, error) {
	dir, err := os.MkdirTemp(parent, "smtp-baseline-")
	if err != nil {
		return nil, err
	}
	s := smtp.NewServer(fsyncBackend{dir: dir})
	s.Domain = "bench.localhost"
	s.TLSConfig = tlsCfg
	s.MaxMessageBytes = 64 << 20
	s.MaxRecipients = 1
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	if err != nil {
		return nil, err
	}
	fs := &fsyncServer{srv: s, ln: ln, dir: dir, addr: ln.Addr().String()}
	go func() { _ = s.Serve(ln) }()
	return fs, nil
}

func (f *fsyncServer) close() {
	_ = f.srv.Close()
}

func (f *fsyncServer) count() int {
	entries, _ := os.ReadDir(f.dir)
	return len(entries)
}

type fsyncBackend struct{ dir string }

func (b fsyncBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &fsyncSession{dir: b.dir}, nil
}

type fsyncSession struct {
	dir      string
	from, to string
}

func (s *fsyncSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *fsyncSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = to; return nil }
func (s *fsyncSession) Reset()                                      { s.from, s.to = "", "" }
func (s *fsyncSession) Logout() error                               { return nil }

// Data stores the message and syncs it: the 250 promises it is on disk.
func (s *fsyncSession) Data(r io.Reader) error {
	if s.from == "" || s.to == "" {
		return errors.New("no envelope")
	}
	f, err := os.CreateTemp(s.dir, "msg-")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "Return-Path: <%s>\r\nDelivered-To: <%s>\r\n", s.from, s.to)
	if err == nil {
		_, err = io.Copy(f, r)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
