package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/internal/httpapi"
	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
)

// benchMarker is the server_state key that marks a database as npes
// bench's own. The bench works only on a database that holds nothing it did
// not create: an empty one, which it marks before its server starts, or
// one it marked before.
const benchMarker = "npes-bench/database"

// harness is a self-started npes server in this process, on a temporary
// data directory, and the parties the scenarios need.
type harness struct {
	srv      *app.Server
	dir      string
	logFile  *os.File
	ca       *certs.CA
	caPEM    []byte
	base     string
	engine   string
	dbURL    string
	sqlite   string // SQLite database file ("" on PostgreSQL)
	run      int64  // this run's number on the database (see senderRequest)
	operator *apiClient
}

// startServer starts a server as `npes serve` would, with the API (and,
// when smtp is set, the implicit-TLS SMTP listener) on loopback ports. The
// server logs at info level into a file in its data directory: what a
// production server pays for its logs is part of what is measured.
func startServer(ctx context.Context, o Options, smtp bool) (h *harness, err error) {
	dir, err := os.MkdirTemp(o.TempDir, "npes-bench-")
	if err != nil {
		return nil, err
	}
	h = &harness{dir: dir, dbURL: o.DatabaseURL}
	defer func() {
		if err != nil {
			h.close()
			h = nil
		}
	}()
	if h.logFile, err = os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return h, err
	}
	cfg := app.Config{
		DataDir: filepath.Join(dir, "data"), DatabaseURL: o.DatabaseURL, HTTPAddr: "127.0.0.1:0",
		SMTPAddr: "off", SMTPSAddr: "off", ShutdownTimeout: 10 * time.Second,
		// The load comes from one sender identity, as a bulk sender's
		// would; the per-identity rate limit would measure itself.
		RateLimit: httpapi.RateLimit{PerSecond: -1},
		Logger:    slog.New(slog.NewTextHandler(h.logFile, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if smtp {
		cfg.SMTPSAddr = "127.0.0.1:0"
	}
	if o.DatabaseURL == "" {
		// A new file in the bench's own temporary directory.
		h.sqlite = filepath.Join(cfg.DataDir, "npes.db")
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return h, err
		}
	}
	// Claimed before the server starts: starting writes (migrations, the
	// CA's certificates), and it must write only into a bench database.
	if err := claimDatabase(ctx, o.DatabaseURL, h.sqlite); err != nil {
		return h, err
	}
	if h.srv, err = app.Start(ctx, cfg); err != nil {
		return h, err
	}
	h.engine = h.srv.Store.Engine()
	if err := h.numberRun(ctx); err != nil {
		return h, err
	}
	if h.ca, err = h.srv.Data.LoadCA(); err != nil {
		return h, err
	}
	if h.caPEM, err = h.srv.Data.CAPEM(); err != nil {
		return h, err
	}
	h.base = "https://" + h.srv.HTTPAddr.String()
	op, err := certs.LoadCredentialDir(h.srv.Data.OperatorCredentialDir())
	if err != nil {
		return h, err
	}
	h.operator, err = newAPIClient(h.base, op, h.caPEM)
	return h, err
}

// claimDatabase refuses a database that holds data npes bench did not
// create, and marks an empty one as the bench's: it migrates it (as the
// server would) and writes the marker, in a transaction that checks the
// evidence log is still empty.
func claimDatabase(ctx context.Context, databaseURL, sqlitePath string) error {
	if databaseURL != "" {
		marked, err := checkScratch(ctx, databaseURL)
		if err != nil || marked {
			return err
		}
	}
	var st mailbox.Store
	var err error
	if databaseURL != "" {
		st, err = postgres.Open(ctx, databaseURL, postgres.Options{})
	} else {
		st, err = sqlite.Open(ctx, sqlitePath, sqlite.Options{})
	}
	if err != nil {
		return err
	}
	defer st.Close()
	return st.InTx(ctx, func(tx mailbox.Tx) error {
		_, err := tx.GetState(ctx, benchMarker)
		if !errors.Is(err, mailbox.ErrNotFound) {
			return err // marked meanwhile by another bench run, or an error
		}
		head, err := tx.GetLogHead(ctx)
		if err != nil {
			return err
		}
		if head.Size > 0 {
			return usagef("the database holds an evidence log of %d entries that npes bench did not write: "+
				"the bench writes letters and evidence, so give it a scratch database", head.Size)
		}
		return tx.PutState(ctx, benchMarker, []byte(time.Now().UTC().Format(time.RFC3339)))
	})
}

// checkScratch inspects a PostgreSQL database (its current schema) without
// writing to it: marked is true when npes bench marked it; otherwise it
// must hold no data, and a usage error names the tables that do. Empty
// tables (a schema migrated and never used) and the bench's scratch tables
// do not count; nor does the identity row npes's migrations write.
func checkScratch(ctx context.Context, databaseURL string) (marked bool, err error) {
	d, err := openDB(ctx, databaseURL, "", 1)
	if err != nil {
		return false, err
	}
	defer d.close()
	var tables []string
	err = d.query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`, nil,
		func(scan func(...any) error) error {
			var name string
			if err := scan(&name); err != nil {
				return err
			}
			tables = append(tables, name)
			return nil
		})
	if err != nil {
		return false, fmt.Errorf("bench: inspecting the database: %w", err)
	}
	if slices.Contains(tables, "server_state") {
		n, err := d.scalar(ctx, "SELECT count(*) FROM server_state WHERE key = $1", benchMarker)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
	}
	var holding []string
	for _, t := range tables {
		q := `SELECT count(*) FROM (SELECT 1 FROM ` + pgx.Identifier{t}.Sanitize() + ` LIMIT 1) x`
		switch {
		case t == "goose_db_version" || strings.HasPrefix(t, "npes_bench_"):
			continue
		case t == "server_state":
			// Migration 00005 writes the database's identity.
			q = `SELECT count(*) FROM server_state WHERE key <> 'database_id'`
		}
		n, err := d.scalar(ctx, q)
		if err != nil {
			return false, fmt.Errorf("bench: inspecting table %s: %w", t, err)
		}
		if n > 0 {
			holding = append(holding, t)
		}
	}
	if len(holding) > 0 {
		return false, usagef("the database holds data that npes bench did not create (rows in %s): "+
			"the bench writes letters, evidence and print jobs, so give it a scratch database (an empty one, or one it used before)",
			strings.Join(holding, ", "))
	}
	return false, nil
}

// numberRun numbers this run on the database (see senderRequest).
func (h *harness) numberRun(ctx context.Context) error {
	return h.srv.Store.InTx(ctx, func(tx mailbox.Tx) error {
		if _, err := tx.GetState(ctx, benchMarker); err != nil {
			return fmt.Errorf("bench: the database lost its bench marker: %w", err)
		}
		var err error
		h.run, err = tx.NextCounter(ctx, benchMarker+"/run")
		return err
	})
}

func (h *harness) close() {
	if h.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_ = h.srv.Shutdown(ctx)
		cancel()
	}
	if h.logFile != nil {
		_ = h.logFile.Close()
	}
	_ = os.RemoveAll(h.dir)
}

// serverPoolConns is the size of the server's PostgreSQL pool (0 on
// SQLite, whose store has one writer connection).
func (h *harness) serverPoolConns() int32 {
	if pg, ok := h.srv.Store.(*postgres.Store); ok {
		return pg.Pool().Config().MaxConns
	}
	return 0
}

// describe adds what every self-started scenario reports.
func (h *harness) describe(p map[string]any) {
	p["engine"] = h.engine
	p["server"] = "in-process, rate limit off, logs at info to a file"
	if n := h.serverPoolConns(); n > 0 {
		p["server_pool_max_conns"] = n
	}
}

// issue issues a credential from the server's CA and records it, as `npes
// ca issue` does.
func (h *harness) issue(ctx context.Context, req certs.Request) (certs.Credential, error) {
	cred, err := h.ca.Issue(req, time.Now())
	if err != nil {
		return cred, err
	}
	if len(cred.CAPEM) == 0 {
		cred.CAPEM = h.caPEM
	}
	return cred, app.RecordCertificate(ctx, h.srv.Store, cred)
}

// party is a credential holder with an active mailbox.
type party struct {
	cred    certs.Credential
	name    string
	address string
	mailbox string
	client  *apiClient
}

// party issues a credential, registers a mailbox at address and has the
// operator verify it (the counter path of DESIGN §1, flow 1).
func (h *harness) party(ctx context.Context, req certs.Request, address string) (*party, error) {
	cred, err := h.issue(ctx, req)
	if err != nil {
		return nil, err
	}
	c, err := newAPIClient(h.base, cred, h.caPEM)
	if err != nil {
		return nil, err
	}
	var m struct{ ID, Status string }
	if err := c.call(ctx, "POST", "/v1/mailboxes", map[string]string{"address": address}, &m, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("registering a mailbox at %q: %w", address, err)
	}
	if err := h.operator.call(ctx, "POST", "/v1/admin/mailboxes/"+m.ID+"/verify", nil, &m, http.StatusOK); err != nil {
		return nil, fmt.Errorf("verifying mailbox %s: %w", m.ID, err)
	}
	if m.Status != mailbox.StatusActive {
		return nil, checkf("verified mailbox %s is %s", m.ID, m.Status)
	}
	return &party{cred: cred, name: req.Name, address: address, mailbox: m.ID, client: c}, nil
}

// The parties of the scenarios. Each run on a database gets its own run
// number (a counter in the database), which goes into the holders'
// numbers and the house number of their addresses: mailboxes of earlier
// runs never make a delivery point ambiguous (which would route letters
// to print) nor collide with a holder's existing mailbox. The sender's
// mailbox is in Gomel (region 246), so its activation letter never enters
// the Minsk (220) print queue that `lease` measures.
func (h *harness) senderRequest() certs.Request {
	return certs.Request{Role: certs.RoleOrg, Name: "ОАО «Белтелеком»", UNP: fmt.Sprintf("%09d", 100000000+h.run%900000000)}
}

func (h *harness) senderAddress() string {
	return fmt.Sprintf("246050, г. Гомель, ул. Билецкого, д. %d", h.run)
}

func (h *harness) recipientRequest(i int) certs.Request {
	return certs.Request{Role: certs.RolePerson, Name: "Иванов Иван Иванович",
		PersonalID: fmt.Sprintf("%07dA%03dPB3", h.run%10_000_000, i%1000)}
}

func (h *harness) recipientAddress(i int) string {
	return fmt.Sprintf("220013, г. Минск, ул. Дорошевича, д. %d, кв. %d", h.run, i+1)
}

// recipients registers n recipient mailboxes.
func (h *harness) recipients(ctx context.Context, n int) ([]*party, error) {
	if n > 1000 {
		return nil, usagef("at most 1000 recipients")
	}
	out := make([]*party, n)
	for i := range out {
		p, err := h.party(ctx, h.recipientRequest(i), h.recipientAddress(i))
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// apiClient is one client of the API: one mTLS connection, HTTP/1.1 with
// keep-alive, as an integrating system would hold.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(base string, cred certs.Credential, caPEM []byte) (*apiClient, error) {
	if len(caPEM) == 0 {
		caPEM = cred.CAPEM
	}
	tlsCfg, err := certs.ClientTLSConfig(cred.CertPEM, cred.KeyPEM, caPEM)
	if err != nil {
		return nil, err
	}
	tlsCfg.NextProtos = []string{"http/1.1"}
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     5 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &apiClient{base: strings.TrimRight(base, "/"), hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

// apiError is an unexpected reply.
type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	b := e.body
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.method, e.path, e.status, strings.TrimSpace(b))
}

// do sends a request and returns the whole reply body; a status other than
// want is an *apiError.
func (c *apiClient) do(ctx context.Context, method, path, contentType string, hdr map[string]string, body io.Reader, want int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the reply: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return data, &apiError{method: method, path: path, status: resp.StatusCode, body: string(data)}
	}
	return data, nil
}

// call sends in as JSON (when not nil) and decodes the reply into out
// (when not nil).
func (c *apiClient) call(ctx context.Context, method, path string, in, out any, want int) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	data, err := c.do(ctx, method, path, ct, nil, body, want)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decoding the reply: %w", method, path, err)
		}
	}
	return nil
}

func (c *apiClient) close() { c.hc.CloseIdleConnections() }

// clients makes n clients of one credential, one connection each.
func clients(base string, cred certs.Credential, caPEM []byte, n int) ([]*apiClient, error) {
	out := make([]*apiClient, n)
	for i := range out {
		c, err := newAPIClient(base, cred, caPEM)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

func closeClients(cs []*apiClient) {
	for _, c := range cs {
		if c != nil {
			c.close()
		}
	}
}

// parallel runs fn(i) for i in [0, n) on n goroutines and returns the
// first error.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loadAverage reads /proc/loadavg's first three fields: a noisy machine
// shows here.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
