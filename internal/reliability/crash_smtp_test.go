package reliability_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/signing"
)

// mailMessage is one SMTP submission: envelope, message and Message-ID.
type mailMessage struct {
	msgID string
	to    string
	data  []byte
	body  string
}

var acceptedRe = regexp.MustCompile(`Letter ([0-9a-f-]{36}) accepted`)

// makeMessages draws a trial's messages: registered and simple letters to
// the citizen's mailbox address, and letters to post@ for an address
// without a mailbox (print route).
func makeMessages(rng *rand.Rand, prefix, from, citizen string, n int) []mailMessage {
	out := make([]mailMessage, n)
	enc := func(s string) string { return "=?utf-8?B?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?=" }
	for i := range out {
		id := fmt.Sprintf("%s-%d-%08x@mta.example", prefix, i, rng.Uint32())
		body := "Письмо " + id + ". Текст письма."
		m := mailMessage{msgID: id, to: citizen, body: body}
		var h bytes.Buffer
		w := func(s string) { h.WriteString(s + "\r\n") }
		w("From: <" + from + ">")
		w("Message-ID: <" + id + ">")
		w("Date: " + time.Now().Format(time.RFC1123Z))
		w("Subject: " + enc("Уведомление "+id))
		switch r := rng.IntN(8); {
		case r == 0:
			m.to = "post@" + app.DefaultMailDomain
			w("X-Npes-Recipient-Name: " + enc("Сидорову С.С."))
			w("X-Npes-Recipient-Address: " + enc(printAddress))
			w("X-Npes-Registered: yes")
		case r <= 4:
			w("X-Npes-Registered: yes")
		}
		w("MIME-Version: 1.0")
		w("Content-Type: text/plain; charset=utf-8")
		w("Content-Transfer-Encoding: base64")
		w("")
		w(base64.StdEncoding.EncodeToString([]byte(body)))
		m.data = h.Bytes()
		out[i] = m
	}
	return out
}

// smtpSubmit runs one transaction and returns the letter id of the 250.
func smtpSubmit(c *smtp.Client, from string, m mailMessage) (string, error) {
	if err := c.Mail(from, nil); err != nil {
		return "", err
	}
	if err := c.Rcpt(m.to, nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write(m.data); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	id := acceptedRe.FindStringSubmatch(resp.StatusText)
	if id == nil {
		return "", fmt.Errorf("250 without a letter id: %q", resp.StatusText)
	}
	return id[1], nil
}

// TestCrashDurabilitySMTP is the crash scenario through the SMTP gateway
// (implicit TLS, client certificate): kill -9 during concurrent
// transactions, restart, and every 250 is a letter that exists with its
// evidence, a retry of every Message-ID returns its one letter, and the
// log audits. Scenario 1 of RELIABILITY.md.
func TestCrashDurabilitySMTP(t *testing.T) {
	t.Parallel()
	k := knobsFor(t)
	rng := k.rng(2)
	d := newDeployment(t, storetest.PostgresURL(t))
	n := d.start(t, nodeOpts{name: "smtp-0", smtp: true})
	org := d.party(t, orgReq)
	orgBox := org.registerActive(t, n.base, orgAddress)
	citizenBox := d.party(t, citizenReq).registerActive(t, n.base, citizenAddress)
	from, to := orgBox+"@"+app.DefaultMailDomain, citizenBox+"@"+app.DefaultMailDomain
	tlsCfg := d.tlsConfig(t, &org.cred)

	perTrial := k.n(30)
	conc := min(16, max(4, perTrial/6))
	var acked []ack
	ledger := map[string]string{} // Message-ID → letter
	var totalAcked, totalCut int
	for trial := range k.trials {
		msgs := makeMessages(rng, fmt.Sprintf("s%d", trial), from, to, perTrial)
		killAt := int64(rng.IntN(perTrial))
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		acks := map[string]string{}
		var mu sync.Mutex
		var killed atomic.Bool
		var completed atomic.Int64
		var once sync.Once
		kill := func() {
			once.Do(func() {
				time.Sleep(delay)
				killed.Store(true)
				_ = n.cmd.Process.Kill()
			})
		}
		if killAt == 0 {
			go kill()
		}
		cut := 0
		jobs := make(chan mailMessage)
		var wg sync.WaitGroup
		for range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var c *smtp.Client
				defer func() {
					if c != nil {
						_ = c.Close()
					}
				}()
				for m := range jobs {
					var id string
					var err error
					if c == nil {
						c, err = smtp.DialTLS(n.smtps, tlsCfg)
					}
					if err == nil {
						id, err = smtpSubmit(c, from, m)
					}
					mu.Lock()
					var se *smtp.SMTPError
					switch {
					case err == nil:
						acks[m.msgID] = id
					case killed.Load():
						cut++
						c = nil
					case errors.As(err, &se) && se.Temporary():
						_ = c.Reset() // a clean 4xx: not acknowledged
					default:
						t.Errorf("%s before the kill: %v", m.msgID, err)
						c = nil
					}
					mu.Unlock()
					if completed.Add(1) == killAt {
						go kill()
					}
				}
			}()
		}
		for _, m := range msgs {
			jobs <- m
		}
		close(jobs)
		wg.Wait()
		kill()
		<-n.done
		n = d.start(t, nodeOpts{name: fmt.Sprintf("smtp-%d", trial+1), smtp: true})

		// Every Message-ID again, on one connection: acknowledged ones get
		// their letter back, the others are delivered now, once.
		c, err := smtp.DialTLS(n.smtps, tlsCfg)
		if err != nil {
			t.Fatalf("trial %d: SMTP after restart: %v\n%s", trial, err, n.out.tail())
		}
		for _, m := range msgs {
			id, err := smtpSubmit(c, from, m)
			if err != nil {
				t.Fatalf("trial %d: resending %s: %v", trial, m.msgID, err)
			}
			if prev, ok := acks[m.msgID]; ok && prev != id {
				t.Errorf("trial %d: %s was acknowledged as %s, a retry gives %s: a duplicate", trial, m.msgID, prev, id)
			}
			ledger[m.msgID] = id
			if prev, ok := acks[m.msgID]; ok {
				acked = append(acked, ack{key: m.msgID, letterID: prev, bodySHA: signing.DigestHex([]byte(m.body))})
			}
		}
		_ = c.Quit()
		totalAcked += len(acks)
		totalCut += cut
		t.Logf("trial %d: %d acknowledged, %d cut by the kill", trial, len(acks), cut)

		letters, _ := invariants(t, d.dbURL)
		distinct := map[string]bool{}
		for _, id := range ledger {
			if distinct[id] {
				t.Errorf("trial %d: two Message-IDs map to letter %s", trial, id)
			}
			distinct[id] = true
			if !letters[id] {
				t.Errorf("trial %d: letter %s, answered to a retry, is not in the database", trial, id)
			}
		}
		if len(letters) != len(ledger) {
			t.Errorf("trial %d: %d letters in the database for %d Message-IDs", trial, len(letters), len(ledger))
		}
		if t.Failed() {
			t.Fatalf("trial %d failed; node output:\n%s", trial, n.out.tail())
		}
	}
	checkReceipts(t, d.dbURL, d.jwks(t), acked)
	t.Log(audit(t, d, nil))
	t.Logf("%d trials: %d messages acknowledged with 250 before a kill, %d cut by it", k.trials, totalAcked, totalCut)
	if totalAcked == 0 || totalCut == 0 {
		t.Errorf("the kills never hit a batch in progress (%d acknowledged, %d cut)", totalAcked, totalCut)
	}
}
