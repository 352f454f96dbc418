package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/mailbox"
)

// The seeded jobs are letters to Lida, queued in region 000, the bench's
// own: no Belarusian postcode starts with 000 (addressing.RegionOfPostcode
// refuses it), so no letter the server routes is ever queued there. The
// print centre of the scenario serves that region only, so its agents
// lease the seeded jobs and nothing else, and every statement the bench
// runs on print_jobs is scoped to it.
const (
	benchRegion  = "000"
	leaseAddress = "231300, г. Лида, ул. Советская, д. 1"
)

// Lease measures the print centre's side of the print path over its HTTP
// API (mTLS, as `npes print-agent` talks to it): Concurrency agents (4 by
// default), one connection each, lease jobs in batches of Batch (100) and
// report each job printed, which records a Printed evidence on its letter.
// With Report "none" the agents only lease. Count jobs (20,000 by default)
// are seeded first straight through the store (a print-route letter and
// its queued job each, no rendering: leasing does not read the PDF).
//
// Every job must be leased exactly once and, when reported, be printed
// afterwards: the harness counts leases per job on the client side and
// reads every job back (lease token and attempts 1) when the run ends.
//
// Baseline: a bare claim loop, the store's claim statement (a CTE with FOR
// UPDATE SKIP LOCKED and UPDATE … RETURNING) returning only the ids, in
// batches of Batch by as many workers on their own connections, on a
// scratch copy of the print_jobs table (same columns and indexes) holding
// as many jobs, in the same database. On SQLite, which has neither SKIP
// LOCKED nor concurrent writers, both sides run but serialize.
func Lease(ctx context.Context, o Options) (*Result, error) {
	o.defaults(20000, 4)
	if o.Batch <= 0 {
		o.Batch = 100
	}
	switch o.Report {
	case "":
		o.Report = "batch"
	case "batch", "printed", "none":
	default:
		return nil, usagef("lease: --report must be batch, printed or none")
	}
	jobs := o.Count
	if jobs <= 0 {
		jobs = 20000 // bounded by duration only: seed the default
	}
	h, err := startServer(ctx, o, false)
	if err != nil {
		return nil, err
	}
	defer h.close()
	sender, err := h.party(ctx, h.senderRequest(), h.senderAddress())
	if err != nil {
		return nil, err
	}
	sender.client.close()
	pc, err := h.issue(ctx, certs.Request{Role: certs.RolePrintCenter, Name: "Минский республиканский центр печати", Regions: []string{benchRegion}})
	if err != nil {
		return nil, err
	}
	retired, err := retireStaleJobs(ctx, h)
	if err != nil {
		return nil, err
	}
	ids, err := seedPrintJobs(ctx, h, o, sender, jobs)
	if err != nil {
		return nil, fmt.Errorf("seeding print jobs: %w", err)
	}
	if err := analyzeQueue(ctx, h); err != nil {
		return nil, err
	}
	var base *Result
	if !o.NoBaseline {
		if base, err = claimBaseline(ctx, h, o, jobs); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	agents, err := clients(h.base, pc, h.caPEM, o.Concurrency)
	if err != nil {
		return nil, err
	}
	defer closeClients(agents)
	// Warm-up: each agent's handshake, on a route that changes nothing.
	if err := parallel(len(agents), func(w int) error {
		return clientSide(ctx, func(ctx context.Context) error {
			_, err := agents[w].do(ctx, "GET", "/v1/whoami", "", nil, nil, http.StatusOK)
			return err
		})
	}); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	leased := make(map[string]int, jobs)
	leaseLats := make([][]time.Duration, o.Concurrency)
	load := loadAverage()
	res, err := measure(ctx, phase{
		name: "lease", workers: o.Concurrency, count: 0, dur: o.Duration, progress: o.Progress, profile: o.CPUProfile, trace: o.Trace, client: true,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			c := agents[w]
			for ctx.Err() == nil && !rec.expired() {
				var reply struct {
					Jobs []struct {
						ID         string `json:"id"`
						LeaseToken int64  `json:"lease_token"`
						Sheets     int    `json:"sheets"`
					} `json:"jobs"`
				}
				t0 := time.Now()
				if err := c.call(ctx, "POST", "/v1/print/leases", map[string]int{"max": o.Batch, "lease_seconds": 600}, &reply, http.StatusOK); err != nil {
					return err
				}
				d := time.Since(t0)
				if len(reply.Jobs) == 0 {
					return nil // the queue is drained
				}
				mu.Lock()
				for _, j := range reply.Jobs {
					leased[j.ID]++
				}
				mu.Unlock()
				if o.Report == "none" {
					rec.latencyOnly(w, d)
					rec.addItems(int64(len(reply.Jobs)))
					continue
				}
				leaseLats[w] = append(leaseLats[w], d)
				if o.Report == "batch" {
					// The whole lease reported printed in one request
					// (POST /v1/print/reports: one transaction, the
					// Printed evidence sealed together).
					reports := make([]map[string]any, len(reply.Jobs))
					for i, j := range reply.Jobs {
						reports[i] = map[string]any{"id": j.ID, "lease_token": j.LeaseToken, "outcome": "printed", "sheets": j.Sheets}
					}
					var out struct {
						Results []struct {
							ID    string          `json:"id"`
							State string          `json:"state"`
							Error json.RawMessage `json:"error"`
						} `json:"results"`
					}
					t0 := time.Now()
					if err := c.call(ctx, "POST", "/v1/print/reports", map[string]any{"reports": reports}, &out, http.StatusOK); err != nil {
						return err
					}
					d := time.Since(t0)
					for _, r := range out.Results {
						if r.State != mailbox.JobPrinted {
							return checkf("job %s is %s after its printed report: %s", r.ID, r.State, r.Error)
						}
					}
					rec.latencyOnly(w, d)
					rec.addItems(int64(len(reply.Jobs)))
					continue
				}
				for _, j := range reply.Jobs {
					var job struct{ State string }
					t0 := time.Now()
					if err := c.call(ctx, "POST", "/v1/print/jobs/"+j.ID+"/printed", map[string]any{"lease_token": j.LeaseToken, "sheets": j.Sheets}, &job, http.StatusOK); err != nil {
						return err
					}
					if job.State != mailbox.JobPrinted {
						return checkf("job %s is %s after its printed report", j.ID, job.State)
					}
					rec.observe(w, time.Since(t0))
				}
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	// Exactly once: on the client side, then in the database.
	dups := 0
	for _, n := range leased {
		if n > 1 {
			dups++
		}
	}
	if dups > 0 {
		return nil, checkf("%d jobs were leased more than once", dups)
	}
	drained := o.Duration == 0 || res.Items == jobs
	if err := checkJobs(ctx, h, ids, leased, o.Report != "none", drained); err != nil {
		return nil, err
	}
	if drained && res.Items != jobs {
		return nil, checkf("%d jobs seeded, %d leased and reported", jobs, res.Items)
	}
	h.describe(res.Params)
	res.Params["item"] = "print job leased and reported printed"
	res.Params["latency"] = "POST /v1/print/jobs/{id}/printed (one per job)"
	if o.Report == "batch" {
		res.Params["latency"] = fmt.Sprintf("POST /v1/print/reports (a batch of up to %d)", o.Batch)
	}
	if o.Report == "none" {
		res.Params["item"] = "print job leased"
		res.Params["latency"] = fmt.Sprintf("POST /v1/print/leases (a batch of up to %d)", o.Batch)
	} else {
		var all []time.Duration
		for _, l := range leaseLats {
			all = append(all, l...)
		}
		p50, _, p99 := percentiles(all)
		res.Params["lease_call_p50_ms"] = round2(ms(p50))
		res.Params["lease_call_p99_ms"] = round2(ms(p99))
	}
	res.Params["transport"] = "print-centre API, mTLS HTTP/1.1 keep-alive, one connection per agent"
	res.Params["agents"] = o.Concurrency
	res.Params["batch"] = o.Batch
	res.Params["jobs_seeded"] = jobs
	res.Params["duplicates"] = dups
	res.Params["loadavg_before"] = load
	if retired > 0 {
		res.Params["stale_jobs_retired"] = retired
	}
	if h.engine == "sqlite" {
		res.Params["note"] = "SQLite: one writer, no SKIP LOCKED; PostgreSQL is the engine this scenario is for"
	}
	res.setBaseline(base)
	return res, nil
}

// retireStaleJobs marks dead the jobs an interrupted earlier run left
// claimable in the bench's region, so this run's agents lease its own jobs
// only. It returns how many there were. It touches the bench's region
// only, in a database the bench claimed.
func retireStaleJobs(ctx context.Context, h *harness) (int64, error) {
	d, err := openDB(ctx, h.dbURL, h.sqlite, 1)
	if err != nil {
		return 0, err
	}
	defer d.close()
	return d.exec(ctx, "UPDATE print_jobs SET state = 'dead', last_error = 'retired by npes bench' WHERE region = $1 AND state IN ('queued', 'leased')", benchRegion)
}

// seedPrintJobs submits n letters of the sender to an address without a
// mailbox, so each is routed to print with its evidence (SubmissionAcceptance,
// RelayToNonERDS), its rendered PDF and a queued job: the Printed reports
// of the measured phase follow real evidence through the transition table.
// Submissions run from 32 goroutines, so they group-commit as under load.
func seedPrintJobs(ctx context.Context, h *harness, o Options, sender *party, n int64) ([]string, error) {
	id, err := certs.IdentityFromCert(sender.cred.Cert)
	if err != nil {
		return nil, err
	}
	caller := mailbox.Caller{Identity: id, Cert: sender.cred.Cert}
	svc := h.srv.Service
	var next, done atomic.Int64
	start := time.Now()
	var progress sync.Mutex
	last := start
	letters := make([]string, n)
	err = parallel(int(min(32, n)), func(int) error {
		for {
			i := next.Add(1) - 1
			if i >= n {
				return nil
			}
			d, err := svc.NewDraft()
			if err != nil {
				return err
			}
			v, _, err := svc.Submit(ctx, caller, mailbox.Submission{RecipientName: "Сидоров Сидор Сидорович",
				RecipientAddress: leaseAddress, Subject: fmt.Sprintf("Уведомление № %d", i), Body: "Текст уведомления."}, d)
			d.Close()
			if err != nil {
				return err
			}
			if v.Route != mailbox.RoutePrint {
				return fmt.Errorf("a seeded letter was routed %s, want print", v.Route)
			}
			letters[i] = v.ID
			if c := done.Add(1); o.Progress != nil {
				progress.Lock()
				if time.Since(last) >= time.Second {
					last = time.Now()
					fmt.Fprintf(o.Progress, "lease: seeded %d of %d jobs (%.0fs)\n", c, n, time.Since(start).Seconds())
				}
				progress.Unlock()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, n)
	err = h.srv.Store.View(ctx, func(tx mailbox.Tx) error {
		for _, l := range letters {
			jobs, err := tx.PrintJobsOfLetter(ctx, l)
			if err != nil {
				return err
			}
			if len(jobs) != 1 || jobs[0].State != mailbox.JobQueued {
				return fmt.Errorf("letter %s has print jobs %+v, want one queued", l, jobs)
			}
			ids = append(ids, jobs[0].ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, moveToBenchRegion(ctx, h, ids)
}

// moveToBenchRegion queues the seeded jobs (real letters, routed to print
// by their real postcode) in the bench's own region, by their ids only, so
// the scenario's print centre leases them and nothing else.
func moveToBenchRegion(ctx context.Context, h *harness, ids []string) error {
	d, err := openDB(ctx, h.dbURL, h.sqlite, 1)
	if err != nil {
		return err
	}
	defer d.close()
	for len(ids) > 0 {
		chunk := ids[:min(500, len(ids))]
		ids = ids[len(chunk):]
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			if _, err := uuid.Parse(id); err != nil {
				return fmt.Errorf("seeded job id %q: %w", id, err)
			}
			quoted[i] = "'" + id + "'"
		}
		if _, err := d.exec(ctx, "UPDATE print_jobs SET region = $1 WHERE id IN ("+strings.Join(quoted, ",")+")", benchRegion); err != nil {
			return err
		}
	}
	return nil
}

// checkJobs reads every seeded job back: a job leased by the agents has
// lease token 1 and one attempt (and is printed when reported), the others
// are untouched; a drained queue has every job leased.
func checkJobs(ctx context.Context, h *harness, ids []string, leased map[string]int, reported, drained bool) error {
	return h.srv.Store.View(ctx, func(tx mailbox.Tx) error {
		for _, id := range ids {
			j, err := tx.GetPrintJob(ctx, id, false)
			if err != nil {
				return err
			}
			switch n := leased[id]; {
			case n == 0 && drained:
				return checkf("job %s was never leased", id)
			case n == 0 && (j.LeaseToken != 0 || j.State != mailbox.JobQueued):
				return checkf("job %s: token %d, state %s, but no agent leased it", id, j.LeaseToken, j.State)
			case n == 1 && (j.LeaseToken != 1 || j.Attempts != 1):
				return checkf("job %s: lease token %d, %d attempts: leased more than once", id, j.LeaseToken, j.Attempts)
			case n == 1 && reported && j.State != mailbox.JobPrinted:
				return checkf("job %s is %s after its printed report", id, j.State)
			}
		}
		return nil
	})
}

// analyzeQueue gives the planner statistics of the jobs just seeded, as the
// baseline's copy gets (claimBaseline) and as autovacuum would on a server
// that runs it (the CI server's is off): with the statistics of an empty
// queue, each claim sorts every queued job to lock the first hundred,
// where with them it reads the claimable index in order.
func analyzeQueue(ctx context.Context, h *harness) error {
	if h.sqlite != "" {
		return nil
	}
	d, err := openDB(ctx, h.dbURL, h.sqlite, 1)
	if err != nil {
		return err
	}
	defer d.close()
	for _, table := range []string{"print_jobs", "letters"} {
		if _, err := d.exec(ctx, "ANALYZE "+table); err != nil {
			return fmt.Errorf("analyzing %s: %w", table, err)
		}
	}
	return nil
}

// claimBaseline runs the bare claim loop on a scratch copy of print_jobs.
func claimBaseline(ctx context.Context, h *harness, o Options, n int64) (*Result, error) {
	d, err := openDB(ctx, h.dbURL, h.sqlite, o.Concurrency)
	if err != nil {
		return nil, err
	}
	defer d.close()
	table := scratchName("jobs")
	if err := copyTableShape(ctx, d, "print_jobs", table); err != nil {
		return nil, err
	}
	defer d.dropTable(ctx, table)
	base := time.Now().Add(-time.Hour).UnixMicro()
	if _, err := d.exec(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1)
		INSERT INTO `+table+` (id, kind, letter_id, region, postcode, recipient_name, state, available_at, created_at,
			pdf_sha256, pages, sheets)
		SELECT 'bench-' || n, 'letter', 'bench-letter-' || n, '`+benchRegion+`', '231300', 'Сидоров Сидор Сидорович', 'queued',
			CAST($2 AS BIGINT) + n, CAST($2 AS BIGINT) + n, '`+strings.Repeat("0", 64)+`', 1, 1 FROM g`, n, base); err != nil {
		return nil, err
	}
	if d.engine == "postgres" {
		if _, err := d.exec(ctx, "ANALYZE "+table); err != nil {
			return nil, err
		}
	}
	skip := ""
	if d.engine == "postgres" {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	claim := `WITH claim AS (
			SELECT id FROM ` + table + `
			WHERE region IN ($4) AND (
				(state = 'queued' AND available_at <= $1) OR
				(state = 'leased' AND lease_expires_at <= $1))
			ORDER BY available_at, id
			LIMIT $3` + skip + `
		)
		UPDATE ` + table + ` SET state = 'leased', lease_token = lease_token + 1, lease_owner = $5,
			lease_expires_at = $2, attempts = attempts + 1
		WHERE id IN (SELECT id FROM claim)
		RETURNING id`
	var mu sync.Mutex
	seen := make(map[string]int, n)
	res, err := measure(ctx, phase{
		name: "lease baseline (bare claim loop)", workers: o.Concurrency, dur: o.Duration, progress: o.Progress,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			owner := fmt.Sprintf("bench-worker-%d", w)
			var got []string
			for ctx.Err() == nil && !rec.expired() {
				now := time.Now()
				got = got[:0]
				t0 := time.Now()
				err := d.query(ctx, claim, []any{now.UnixMicro(), now.Add(10 * time.Minute).UnixMicro(), o.Batch, benchRegion, owner},
					func(scan func(...any) error) error {
						var id string
						if err := scan(&id); err != nil {
							return err
						}
						got = append(got, id)
						return nil
					})
				if err != nil {
					return err
				}
				if len(got) == 0 {
					return nil
				}
				rec.latencyOnly(w, time.Since(t0))
				rec.addItems(int64(len(got)))
				mu.Lock()
				for _, id := range got {
					seen[id]++
				}
				mu.Unlock()
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	dups, err := d.scalar(ctx, "SELECT count(*) FROM "+table+" WHERE lease_token > 1")
	if err != nil {
		return nil, err
	}
	leasedRows, err := d.scalar(ctx, "SELECT count(*) FROM "+table+" WHERE state = 'leased'")
	if err != nil {
		return nil, err
	}
	if dups > 0 || leasedRows != res.Items || int64(len(seen)) != res.Items {
		return nil, checkf("baseline: %d claimed, %d distinct, %d leased rows, %d claimed twice", res.Items, len(seen), leasedRows, dups)
	}
	res.Params["item"] = "job claimed"
	res.Params["latency"] = fmt.Sprintf("one claim statement (a batch of up to %d)", o.Batch)
	res.Params["engine"] = d.engine
	res.Params["duplicates"] = dups
	return res, nil
}

// copyTableShape creates table dst with the columns, constraints and
// indexes of src: LIKE … INCLUDING ALL on PostgreSQL, src's own DDL from
// sqlite_master, renamed, on SQLite.
func copyTableShape(ctx context.Context, d *db, src, dst string) error {
	if d.engine == "postgres" {
		_, err := d.exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", dst, src))
		return err
	}
	var ddl []string
	err := d.query(ctx, "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL ORDER BY type = 'index', name",
		[]any{src}, func(scan func(...any) error) error {
			var typ, name, sql string
			if err := scan(&typ, &name, &sql); err != nil {
				return err
			}
			if typ == "table" {
				sql = strings.Replace(sql, src, dst, 1)
			} else {
				sql = strings.Replace(sql, name, dst+"_"+strings.TrimPrefix(name, src+"_"), 1)
				sql = strings.Replace(sql, " ON "+src+" ", " ON "+dst+" ", 1)
			}
			ddl = append(ddl, sql)
			return nil
		})
	if err != nil {
		return err
	}
	if len(ddl) == 0 {
		return fmt.Errorf("table %s not found", src)
	}
	for _, q := range ddl {
		if _, err := d.exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}
