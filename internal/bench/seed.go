package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/mailbox"
)

// The letters and evidence columns as the store's migrations define them
// (internal/store/*/migrations/00002_core.sql, 00008). A change there that this
// list misses makes `seed` fail loudly, and its test with it.
func seedLetterColumns() []string {
	return []string{"id", "tracking", "sender_mailbox", "sender_name", "sender_address", "recipient_name",
		"recipient_address", "recipient_json", "recipient_key", "recipient_postcode", "recipient_mailbox", "registered",
		"subject", "route", "route_reason", "state", "deadline", "print_if_unsigned", "content_json", "content_digest",
		"content_key", "attachments_json", "created_at", "read_at", "last_evidence", "evidence_count", "notification_id",
		"recipient_by_mailbox"}
}

func seedEvidenceColumns() []string {
	return []string{"id", "letter_id", "seq", "event", "log_index", "envelope", "created_at"}
}

// pageQuery is the store's inbox page for one mailbox after a cursor
// (sqlstore ListLetters), kept identical so that the baseline and the plan
// are those of the query the API runs.
const pageQuery = `SELECT id, tracking, sender_mailbox, sender_name, sender_address, recipient_name,
	recipient_address, recipient_json, recipient_key, recipient_postcode, recipient_mailbox, registered,
	subject, route, route_reason, state, deadline, print_if_unsigned, content_json, content_digest,
	content_key, attachments_json, created_at, read_at, last_evidence, evidence_count, notification_id,
	recipient_by_mailbox FROM letters WHERE recipient_mailbox IN ($1) AND recipient_mailbox <> '' AND (created_at, id) < ($2, $3) ORDER BY created_at DESC, id DESC LIMIT $4`

// evidenceQuery is the store's EvidenceOf, which the API runs for every
// letter of a page.
const evidenceQuery = `SELECT id, letter_id, seq, event, log_index, envelope, created_at FROM evidence WHERE letter_id = $1 ORDER BY seq`

// Seed inserts Seed.Letters letters (1,000,000 by default) straight into
// the store's tables, fast (COPY on PostgreSQL, multi-row INSERTs in large
// transactions on SQLite): simple delivered letters with dummy encrypted
// content, Seed.Heavy of them (50,000) to one real, verified mailbox, the
// rest spread uniformly over Seed.Mailboxes others, created at random
// times over a year; the heavy mailbox's letters get Seed.Evidence
// evidence records each, of the size a real envelope has. Then it walks
// the heavy mailbox's inbox through the API (GET
// /v1/letters?folder=inbox with cursors), Count pages (by default the
// whole heavy inbox once, from the newest letter to the oldest), and reports
// page latency and the query plans (EXPLAIN ANALYZE on PostgreSQL,
// EXPLAIN QUERY PLAN on SQLite) of the page query and of the per-letter
// evidence query.
//
// Each run adds letters: run it on a scratch database, several times to
// grow it. Baseline: the same walk with the bare page query on one
// connection (no TLS, no HTTP, no evidence look-ups, no JSON).
func Seed(ctx context.Context, o Options) (*Result, error) {
	s := &o.Seed
	if s.Letters <= 0 {
		s.Letters = 1_000_000
	}
	if s.Heavy <= 0 {
		s.Heavy = 50_000
	}
	s.Heavy = min(s.Heavy, s.Letters)
	if s.Mailboxes <= 0 {
		s.Mailboxes = 10_000
	}
	if s.Evidence < 0 {
		s.Evidence = 0
	} else if s.Evidence == 0 {
		s.Evidence = 2
	}
	if s.PageSize <= 0 {
		s.PageSize = 50
	}
	// By default the walk covers the whole heavy inbox once: deep pages
	// are where a keyset that is not an index condition shows.
	o.defaults((s.Heavy+int64(s.PageSize)-1)/int64(s.PageSize), 1)
	h, err := startServer(ctx, o, false)
	if err != nil {
		return nil, err
	}
	defer h.close()
	heavy, err := h.party(ctx, h.recipientRequest(0), h.recipientAddress(0))
	if err != nil {
		return nil, err
	}
	// A fresh client: its connection is opened under the client label.
	heavy.client.close()
	if heavy.client, err = newAPIClient(h.base, heavy.cred, h.caPEM); err != nil {
		return nil, err
	}
	defer heavy.client.close()
	d, err := openDB(ctx, h.dbURL, h.sqlite, 1)
	if err != nil {
		return nil, err
	}
	defer d.close()
	envBytes, err := envelopeSize(h)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := seedLetters(ctx, h, d, o, heavy, envBytes); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	seedSecs := time.Since(t0).Seconds()
	total, err := d.scalar(ctx, "SELECT count(*) FROM letters")
	if err != nil {
		return nil, err
	}
	inbox, err := d.scalar(ctx, "SELECT count(*) FROM letters WHERE recipient_mailbox = $1", heavy.mailbox)
	if err != nil {
		return nil, err
	}

	// The API walk: newest first, following next_cursor, from the top
	// again at the end of the inbox.
	cursor := ""
	apiPage := func(ctx context.Context) error {
		path := fmt.Sprintf("/v1/letters?folder=inbox&limit=%d", s.PageSize)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Letters    []mailbox.LetterView `json:"letters"`
			NextCursor string               `json:"next_cursor"`
		}
		if err := heavy.client.call(ctx, "GET", path, nil, &page, http.StatusOK); err != nil {
			return err
		}
		if len(page.Letters) == 0 || (page.NextCursor != "" && len(page.Letters) != s.PageSize) {
			return checkf("an inbox page of %d letters (page size %d, next cursor %q)", len(page.Letters), s.PageSize, page.NextCursor)
		}
		if n := len(page.Letters[0].Evidence); n != s.Evidence {
			return checkf("a seeded letter shows %d evidence records, want %d", n, s.Evidence)
		}
		cursor = page.NextCursor
		return nil
	}
	// The bare walk, on the same keyset, with the service's look-ahead of
	// one row (LIMIT page size + 1) to know whether a next page exists.
	far := time.Now().Add(24 * time.Hour).UnixMicro()
	rawTime, rawID := far, "~"
	rawPage := func(ctx context.Context) error {
		n := 0
		var nextTime int64
		var nextID string
		err := d.query(ctx, pageQuery, []any{heavy.mailbox, rawTime, rawID, s.PageSize + 1}, func(scan func(...any) error) error {
			var l seedRow
			if err := scan(l.dest()...); err != nil {
				return err
			}
			if n++; n == s.PageSize {
				nextTime, nextID = l.createdAt, l.id
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return checkf("the page query found no letters")
		}
		if n > s.PageSize {
			rawTime, rawID = nextTime, nextID
		} else {
			rawTime, rawID = far, "~"
		}
		return nil
	}
	walk := func(name string, page func(context.Context) error, profile bool) (*Result, error) {
		for range 5 { // warm-up
			if err := clientSide(ctx, page); err != nil {
				return nil, err
			}
		}
		p := phase{name: name, workers: 1, count: o.Count, dur: o.Duration, progress: o.Progress, client: true,
			worker: func(ctx context.Context, w int, rec *recorder) error {
				for {
					if _, ok := rec.claim(ctx); !ok {
						return nil
					}
					t0 := time.Now()
					if err := page(ctx); err != nil {
						return err
					}
					rec.observe(w, time.Since(t0))
				}
			}}
		if profile {
			p.profile, p.trace = o.CPUProfile, o.Trace
		}
		return measure(ctx, p)
	}
	var base *Result
	if !o.NoBaseline {
		if base, err = walk("seed baseline (bare page query)", rawPage, false); err != nil {
			return nil, err
		}
		base.Params["item"] = "inbox page by the bare SQL query"
		base.Params["engine"] = d.engine
	}
	load := loadAverage()
	res, err := walk("seed", apiPage, true)
	if err != nil {
		return nil, err
	}
	plans, err := explain(ctx, d, heavy.mailbox, s.PageSize)
	if err != nil {
		return nil, fmt.Errorf("explain: %w", err)
	}
	h.describe(res.Params)
	for k, v := range plans {
		res.Params[k] = v
	}
	res.Params["item"] = fmt.Sprintf("inbox page of %d letters, GET /v1/letters?folder=inbox with cursors", s.PageSize)
	res.Params["latency"] = "one page request until the whole reply is read"
	res.Params["letters_seeded"] = s.Letters
	res.Params["seed_seconds"] = round1(seedSecs)
	res.Params["seed_letters_per_s"] = round1(float64(s.Letters) / seedSecs)
	res.Params["letters_in_database"] = total
	res.Params["heavy_inbox_letters"] = inbox
	res.Params["other_mailboxes"] = s.Mailboxes
	res.Params["evidence_per_heavy_letter"] = s.Evidence
	res.Params["envelope_bytes"] = envBytes
	res.Params["loadavg_before"] = load
	res.setBaseline(base)
	return res, nil
}

// envelopeSize is the size of a real evidence envelope of this server.
func envelopeSize(h *harness) (int, error) {
	sealer, err := h.srv.Data.Sealer()
	if err != nil {
		return 0, err
	}
	payload := []byte(`{"v":1,"id":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d8c","event":"SubmissionAcceptance","time":"2026-11-22T09:00:00Z","letter":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d8b","sender":{"mailbox":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d8a","name":"ОАО «Белтелеком»","address":"246050, г. Гомель, ул. Билецкого, д. 10"},"recipient":{"mailbox":"0193c9a0-8f7e-7c1a-9d6e-3b2a1f0e9d89","name":"Иванов Иван Иванович","address":"220013, г. Минск, ул. Дорошевича, д. 8, кв. 1"},"content":{"body_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},"route":"electronic","prev":"","log_index":1000000}`)
	env, err := sealer.Seal(payload)
	if err != nil {
		return 0, err
	}
	return len(env.Bytes()), nil
}

// seedRow is one letter row as pageQuery returns it.
type seedRow struct {
	id, tracking, senderMailbox, senderName, senderAddress, recipientName, recipientAddress string
	recipientJSON                                                                           []byte
	recipientKey, recipientPostcode, recipientMailbox                                       string
	registered                                                                              int64
	subject, route, routeReason, state                                                      string
	deadline, printIfUnsigned                                                               int64
	contentJSON                                                                             []byte
	contentDigest                                                                           string
	contentKey, attachmentsJSON                                                             []byte
	createdAt, readAt                                                                       int64
	lastEvidence                                                                            string
	evidenceCount                                                                           int64
	notificationID                                                                          string
	recipientByMailbox                                                                      int64
}

func (r *seedRow) dest() []any {
	return []any{&r.id, &r.tracking, &r.senderMailbox, &r.senderName, &r.senderAddress, &r.recipientName,
		&r.recipientAddress, &r.recipientJSON, &r.recipientKey, &r.recipientPostcode, &r.recipientMailbox, &r.registered,
		&r.subject, &r.route, &r.routeReason, &r.state, &r.deadline, &r.printIfUnsigned, &r.contentJSON, &r.contentDigest,
		&r.contentKey, &r.attachmentsJSON, &r.createdAt, &r.readAt, &r.lastEvidence, &r.evidenceCount, &r.notificationID,
		&r.recipientByMailbox}
}

func (r *seedRow) values() []any {
	return []any{r.id, r.tracking, r.senderMailbox, r.senderName, r.senderAddress, r.recipientName,
		r.recipientAddress, r.recipientJSON, r.recipientKey, r.recipientPostcode, r.recipientMailbox, r.registered,
		r.subject, r.route, r.routeReason, r.state, r.deadline, r.printIfUnsigned, r.contentJSON, r.contentDigest,
		r.contentKey, r.attachmentsJSON, r.createdAt, r.readAt, r.lastEvidence, r.evidenceCount, r.notificationID,
		r.recipientByMailbox}
}

// seedLetters generates and inserts the letters, then the heavy mailbox's
// evidence, then vacuums and analyzes both tables.
func seedLetters(ctx context.Context, h *harness, d *db, o Options, heavy *party, envBytes int) error {
	s := o.Seed
	// The shape of the data is reproducible (fixed seed); the ids are new
	// on every run, so that runs add up on one database.
	shape := rand.New(rand.NewPCG(7, 11))
	var idSeed [32]byte
	runID := uuid.New()
	copy(idSeed[:], runID[:])
	ids := rand.NewChaCha8(idSeed)
	newID := func() string { return uuid.Must(uuid.NewRandomFromReader(ids)).String() }

	others := make([]string, s.Mailboxes)
	for i := range others {
		others[i] = newID()
	}
	senders := make([]string, 100)
	for i := range senders {
		senders[i] = newID()
	}
	addr, err := addressing.Parse(h.recipientAddress(1))
	if err != nil {
		return err
	}
	addrJSON, err := json.Marshal(addr)
	if err != nil {
		return err
	}
	heavyAddr, err := addressing.Parse(heavy.address)
	if err != nil {
		return err
	}
	heavyJSON, err := json.Marshal(heavyAddr)
	if err != nil {
		return err
	}
	now := time.Now()
	yearAgo := now.AddDate(-1, 0, 0).UnixMicro()
	span := now.UnixMicro() - yearAgo

	type heavyLetter struct {
		id string
		at int64
	}
	heavyLetters := make([]heavyLetter, 0, s.Heavy)
	heavyLeft := s.Heavy
	var row seedRow
	i := int64(0)
	next := func() ([]any, bool) {
		if i >= s.Letters {
			return nil, false
		}
		// Selection sampling: exactly Heavy letters go to the heavy
		// mailbox, spread uniformly over the load.
		isHeavy := shape.Int64N(s.Letters-i) < heavyLeft
		digest := sha256.Sum256([]byte(fmt.Sprint(i)))
		key := make([]byte, 60) // the size of a wrapped AES-256 data key
		_, _ = ids.Read(key)
		row = seedRow{
			id: newID(), senderMailbox: senders[shape.IntN(len(senders))], senderName: "ОАО «Белтелеком»", senderAddress: h.senderAddress(),
			recipientName: "Иванов Иван Иванович", recipientAddress: h.recipientAddress(1), recipientJSON: addrJSON,
			recipientKey: addr.MatchKey(), recipientPostcode: addr.Postcode, recipientMailbox: others[shape.IntN(len(others))],
			subject: fmt.Sprintf("Уведомление № %d", i), route: mailbox.RouteElectronic, state: mailbox.StateDelivered,
			contentJSON: []byte(`{"body_sha256":"` + hex.EncodeToString(digest[:]) + `"}`), contentDigest: hex.EncodeToString(digest[:]),
			contentKey: key, attachmentsJSON: []byte("null"), createdAt: yearAgo + shape.Int64N(span),
		}
		if isHeavy {
			heavyLeft--
			row.recipientMailbox, row.recipientAddress, row.recipientJSON = heavy.mailbox, heavy.address, heavyJSON
			row.recipientKey, row.recipientPostcode = heavyAddr.MatchKey(), heavyAddr.Postcode
			row.evidenceCount = int64(s.Evidence)
			heavyLetters = append(heavyLetters, heavyLetter{row.id, row.createdAt})
		}
		i++
		return row.values(), true
	}
	if err := bulkInsert(ctx, d, "letters", seedLetterColumns(), s.Letters, next, o.Progress); err != nil {
		return err
	}

	if s.Evidence > 0 && len(heavyLetters) > 0 {
		first, err := d.scalar(ctx, "SELECT COALESCE(MAX(log_index), 0) FROM evidence")
		if err != nil {
			return err
		}
		// Far above any real leaf index: these rows are not in the log.
		first = max(first+1, 1<<40)
		envelope := make([]byte, envBytes)
		events := []string{"SubmissionAcceptance", "NotificationForAcceptance", "ConsignmentAcceptance", "ContentHandover"}
		k, seq := 0, 0
		n := int64(0)
		nextEv := func() ([]any, bool) {
			if k >= len(heavyLetters) {
				return nil, false
			}
			l := heavyLetters[k]
			raw := make([]byte, envBytes*3/4)
			_, _ = ids.Read(raw)
			base64.RawURLEncoding.Encode(envelope, raw)
			vals := []any{newID(), l.id, int64(seq), events[seq%len(events)], first + n, append([]byte(nil), envelope[:base64.RawURLEncoding.EncodedLen(len(raw))]...), l.at}
			n++
			if seq++; seq == s.Evidence {
				seq, k = 0, k+1
			}
			return vals, true
		}
		if err := bulkInsert(ctx, d, "evidence", seedEvidenceColumns(), int64(len(heavyLetters)*s.Evidence), nextEv, o.Progress); err != nil {
			return err
		}
	}
	// What autovacuum would do after a bulk load: statistics for the
	// planner and, on PostgreSQL, hint bits and the visibility map set, so
	// that neither walk pays the first touch of a million fresh rows (the
	// baseline walk runs first and would).
	analyze := "ANALYZE "
	if d.engine == "postgres" {
		analyze = "VACUUM (ANALYZE) "
	}
	for _, table := range []string{"letters", "evidence"} {
		if _, err := d.exec(ctx, analyze+table); err != nil {
			return err
		}
	}
	return nil
}

// bulkInsert writes n rows from next: COPY on PostgreSQL, 100-row INSERTs
// in transactions of 20,000 rows on SQLite.
func bulkInsert(ctx context.Context, d *db, table string, cols []string, n int64, next func() ([]any, bool), progress io.Writer) error {
	start := time.Now()
	last := start
	done := int64(0)
	report := func() {
		if progress != nil && time.Since(last) >= time.Second {
			last = time.Now()
			secs := time.Since(start).Seconds()
			fmt.Fprintf(progress, "seed: %s: %d of %d rows (%.0f rows/s)\n", table, done, n, float64(done)/secs)
		}
	}
	if d.pg != nil {
		_, err := d.pg.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
			v, ok := next()
			if !ok {
				return nil, nil
			}
			done++
			report()
			return v, nil
		}))
		return err
	}
	const perStmt, perTx = 100, 20_000
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	stmt := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(one+",", perStmt), ",")
	for more := true; more; {
		tx, err := d.sq.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		ps, err := tx.PrepareContext(ctx, stmt)
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		inTx := 0
		args := make([]any, 0, perStmt*len(cols))
		for inTx < perTx {
			args = args[:0]
			rows := 0
			for rows < perStmt {
				v, ok := next()
				if !ok {
					more = false
					break
				}
				args = append(args, v...)
				rows++
			}
			if rows == 0 {
				break
			}
			if rows == perStmt {
				_, err = ps.ExecContext(ctx, args...)
			} else {
				q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
					strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
				_, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				_ = tx.Rollback()
				return err
			}
			inTx += rows
			done += int64(rows)
			report()
			if !more {
				break
			}
		}
		_ = ps.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// explain returns the plans of the page query (at a cursor in the middle
// of the heavy inbox) and of the evidence query, and whether the page
// query uses the letters_inbox index.
func explain(ctx context.Context, d *db, mailboxID string, pageSize int) (map[string]any, error) {
	var midTime int64
	var midID string
	err := d.query(ctx, `SELECT created_at, id FROM letters WHERE recipient_mailbox = $1 ORDER BY created_at DESC, id DESC
		LIMIT 1 OFFSET (SELECT count(*) / 2 FROM letters WHERE recipient_mailbox = $1)`, []any{mailboxID},
		func(scan func(...any) error) error { return scan(&midTime, &midID) })
	if err != nil {
		return nil, err
	}
	var letterID string
	err = d.query(ctx, `SELECT letter_id FROM evidence WHERE letter_id IN (SELECT id FROM letters WHERE recipient_mailbox = $1) LIMIT 1`,
		[]any{mailboxID}, func(scan func(...any) error) error { return scan(&letterID) })
	if err != nil {
		return nil, err
	}
	prefix := "EXPLAIN (ANALYZE, BUFFERS) "
	if d.engine == "sqlite" {
		prefix = "EXPLAIN QUERY PLAN "
	}
	plan := func(q string, args ...any) (string, error) {
		var lines []string
		err := d.query(ctx, prefix+q, args, func(scan func(...any) error) error {
			if d.engine == "sqlite" {
				var id, parent, unused int64
				var detail string
				if err := scan(&id, &parent, &unused, &detail); err != nil {
					return err
				}
				lines = append(lines, detail)
				return nil
			}
			var line string
			if err := scan(&line); err != nil {
				return err
			}
			lines = append(lines, line)
			return nil
		})
		return strings.Join(lines, "\n") + "\n", err
	}
	page, err := plan(pageQuery, mailboxID, midTime, midID, pageSize+1)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"plan_page_query": page, "page_query_uses_letters_inbox": strings.Contains(page, "letters_inbox")}
	if letterID != "" {
		ev, err := plan(evidenceQuery, letterID)
		if err != nil {
			return nil, err
		}
		out["plan_evidence_query"] = ev
	}
	return out, nil
}
