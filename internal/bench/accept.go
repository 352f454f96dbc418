package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
)

// Accept measures registered letters with a BodyBytes body submitted over
// mTLS HTTP/1.1 keep-alive by Concurrency clients (one connection each),
// each request answered 201 only after the durable commit of the letter,
// its two evidence records (Ed25519 + ML-DSA-65) and their log appends.
// Every reply must show the electronic route and the awaiting_acceptance
// state, so the figure is never that of another path.
//
// Baseline: single-row INSERTs of the same size (BodyBytes of random
// bytes, like the encrypted body, plus a few columns), each its own
// durable transaction, by as many workers on as many connections, into a
// scratch table of the same database.
func Accept(ctx context.Context, o Options) (*Result, error) {
	o.defaults(2000, 32)
	if o.Server != "" {
		return acceptExternal(ctx, o)
	}
	h, cs, to, err := startWithSender(ctx, o)
	if err != nil {
		return nil, err
	}
	defer h.close()
	defer closeClients(cs)
	params := map[string]any{}
	h.describe(params)
	return runAccept(ctx, o, cs, to, h.dbURL, h.sqlite, params)
}

// startWithSender starts a server in-process with an active sender and
// o.Recipients active recipient mailboxes, and opens o.Concurrency
// connections as the sender. The caller closes both.
func startWithSender(ctx context.Context, o Options) (*harness, []*apiClient, []recipientName, error) {
	h, err := startServer(ctx, o, false)
	if err != nil {
		return nil, nil, nil, err
	}
	sender, err := h.party(ctx, h.senderRequest(), h.senderAddress())
	if err != nil {
		h.close()
		return nil, nil, nil, err
	}
	defer sender.client.close()
	recips, err := h.recipients(ctx, o.Recipients)
	if err != nil {
		h.close()
		return nil, nil, nil, err
	}
	to := make([]recipientName, len(recips))
	for i, r := range recips {
		to[i] = recipientName{r.name, r.address}
		r.client.close()
	}
	cs, err := clients(h.base, sender.cred, h.caPEM, o.Concurrency)
	if err != nil {
		h.close()
		return nil, nil, nil, err
	}
	return h, cs, to, nil
}

// acceptExternal runs against a server someone else started.
func acceptExternal(ctx context.Context, o Options) (*Result, error) {
	if o.CredentialDir == "" || o.RecipientName == "" || o.RecipientAddress == "" {
		return nil, usagef("with --server, give --id (an org or person credential with an active mailbox), --to-name and --to-address")
	}
	cred, err := certs.LoadCredentialDir(o.CredentialDir)
	if err != nil {
		return nil, err
	}
	cs, err := clients(o.Server, cred, cred.CAPEM, o.Concurrency)
	if err != nil {
		return nil, err
	}
	defer closeClients(cs)
	params := map[string]any{"server": o.Server}
	if o.DatabaseURL == "" && !o.NoBaseline {
		params["baseline"] = "none: give --database-url (a scratch database on the server's PostgreSQL) to measure it"
		o.NoBaseline = true
	}
	if o.DatabaseURL != "" && !o.NoBaseline {
		// The baseline's scratch table goes into that database: never the
		// server's own, which holds its letters.
		if _, err := checkScratch(ctx, o.DatabaseURL); err != nil {
			return nil, err
		}
	}
	return runAccept(ctx, o, cs, []recipientName{{o.RecipientName, o.RecipientAddress}}, o.DatabaseURL, "", params)
}

type recipientName struct{ name, address string }

func runAccept(ctx context.Context, o Options, cs []*apiClient, to []recipientName, dbURL, sqlitePath string, params map[string]any) (*Result, error) {
	filler := bodyFiller(o.BodyBytes)
	send := func(ctx context.Context, c *apiClient, buf *bytes.Buffer, i int64) error {
		k := i % int64(len(to))
		if k < 0 {
			k = -k // warm-up letters
		}
		r := to[k]
		ct, err := submission(buf, r, fmt.Sprintf("Уведомление № %d", i), letterBody(filler, o.BodyBytes, i))
		if err != nil {
			return err
		}
		reply, err := c.do(ctx, "POST", "/v1/letters", ct, map[string]string{"Idempotency-Key": uuid.NewString()}, bytes.NewReader(buf.Bytes()), http.StatusCreated)
		if err != nil {
			return err
		}
		if !bytes.Contains(reply, []byte(`"route":"electronic"`)) || !bytes.Contains(reply, []byte(`"state":"awaiting_acceptance"`)) {
			return checkf("letter %d was not routed electronically to an awaiting_acceptance state: %.300s", i, reply)
		}
		return nil
	}
	var base *Result
	if !o.NoBaseline {
		var err error
		if base, err = insertBaseline(ctx, o, dbURL, sqlitePath); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	// Warm-up, not measured: every connection's TLS handshake, the
	// server's first letters. The numbers of warm-up letters are negative.
	if err := parallel(len(cs), func(w int) error {
		return clientSide(ctx, func(ctx context.Context) error {
			var buf bytes.Buffer
			return send(ctx, cs[w], &buf, -1-int64(w))
		})
	}); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	load := loadAverage()
	res, err := measure(ctx, phase{
		name: "accept", workers: len(cs), count: o.Count, dur: o.Duration, rate: o.Rate,
		progress: o.Progress, profile: o.CPUProfile, trace: o.Trace, client: true,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			var buf bytes.Buffer
			for {
				i, ok := rec.claim(ctx)
				if !ok {
					return nil
				}
				t0 := time.Now()
				if err := send(ctx, cs[w], &buf, i); err != nil {
					return err
				}
				rec.observe(w, rec.since(i, t0))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	for k, v := range params {
		res.Params[k] = v
	}
	res.Params["item"] = "registered letter, electronic route"
	res.Params["latency"] = "POST /v1/letters until the whole 201 reply is read"
	res.Params["transport"] = "mTLS, HTTP/1.1 keep-alive, one connection per client"
	res.Params["body_bytes"] = o.BodyBytes
	res.Params["recipients"] = len(to)
	res.Params["loadavg_before"] = load
	res.Params["loadavg_after"] = loadAverage()
	res.Params["order"] = "baseline first"
	if o.Rate > 0 {
		res.Params["offered_rate"] = o.Rate
		res.Params["latency"] = "from the letter's due time (open loop) until the whole 201 reply is read"
	}
	res.setBaseline(base)
	return res, nil
}

// insertBaseline measures raw durable single-row INSERTs at the same
// concurrency into a scratch table of the same database.
func insertBaseline(ctx context.Context, o Options, dbURL, sqlitePath string) (*Result, error) {
	d, err := openDB(ctx, dbURL, sqlitePath, o.Concurrency)
	if err != nil {
		return nil, err
	}
	defer d.close()
	table := scratchName("insert")
	if _, err := d.exec(ctx, fmt.Sprintf(`CREATE TABLE %s (id TEXT PRIMARY KEY, sender TEXT NOT NULL,
		recipient TEXT NOT NULL, created_at BIGINT NOT NULL, body %s NOT NULL)`, table, d.bytesType())); err != nil {
		return nil, err
	}
	defer d.dropTable(ctx, table)
	insert := "INSERT INTO " + table + " (id, sender, recipient, created_at, body) VALUES ($1, $2, $3, $4, $5)"
	res, err := measure(ctx, phase{
		name: "accept baseline", workers: o.Concurrency, count: o.Count, dur: o.Duration, progress: o.Progress,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			// The body is random, as the encrypted content is: no
			// compression helps either side.
			rng := rand.NewChaCha8([32]byte{byte(w), 1})
			body := make([]byte, o.BodyBytes)
			for {
				i, ok := rec.claim(ctx)
				if !ok {
					return nil
				}
				_, _ = rng.Read(body)
				t0 := time.Now()
				if _, err := d.exec(ctx, insert, uuid.NewString(), "bench-sender", fmt.Sprintf("recipient-%d", i%16),
					time.Now().UnixMicro(), body); err != nil {
					return err
				}
				rec.observe(w, time.Since(t0))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	res.Params["item"] = "INSERT of one row with a random body, autocommit"
	res.Params["engine"] = d.engine
	res.Params["connections"] = o.Concurrency
	if d.engine == "sqlite" {
		res.Params["connections"] = "1 (SQLite has one writer; the store too)"
	}
	return res, nil
}

// submission writes a multipart/form-data submission (the "letter" JSON
// part) into buf and returns its content type.
func submission(buf *bytes.Buffer, to recipientName, subject, body string) (string, error) {
	buf.Reset()
	mw := multipart.NewWriter(buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="letter"`)
	h.Set("Content-Type", "application/json")
	w, err := mw.CreatePart(h)
	if err != nil {
		return "", err
	}
	letter := map[string]any{
		"recipient":  map[string]string{"name": to.name, "address": to.address},
		"registered": true, "subject": subject, "body": body,
	}
	if err := json.NewEncoder(w).Encode(letter); err != nil {
		return "", err
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	return mw.FormDataContentType(), nil
}

// bodyText is the paragraph letter bodies are made of: Russian and
// Belarusian, with і and ў, as a tax notice would be.
const bodyText = "Уважаемый абонент! Сообщаем, что по состоянию на 1 ноября 2026 г. за вами числится задолженность " +
	"за услуги электросвязи в размере 42 руб. 17 коп. Просим погасить её в течение десяти дней. " +
	"Інфармацыя пра аплату ўзята з рахунку. Паважаны абанент, дзякуем за своечасовую аплату.\n\n"

// bodyFiller is at least n bytes of body text.
func bodyFiller(n int) string {
	return strings.Repeat(bodyText, n/len(bodyText)+2)
}

// letterBody is a body of exactly n bytes (valid UTF-8) that starts with
// the letter's number, so no two bodies are equal.
func letterBody(filler string, n int, i int64) string {
	head := fmt.Sprintf("Письмо № %d.\n", i)
	if n <= len(head) {
		return strings.Repeat("x", n)
	}
	rest := filler[:n-len(head)]
	for !utf8.ValidString(rest) {
		rest = rest[:len(rest)-1]
	}
	return head + rest + strings.Repeat(" ", n-len(head)-len(rest))
}
