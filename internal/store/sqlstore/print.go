package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

const jobColumns = `id, kind, letter_id, mailbox_id, tracking, region, postcode, recipient_name, state,
	attempts, available_at, lease_token, lease_owner, lease_expires_at, pdf_sha256, pages, sheets,
	last_error, created_at, printed_at, posted_at, printed_by`

func scanJob(r interface{ Scan(...any) error }) (mailbox.PrintJob, error) {
	var j mailbox.PrintJob
	var avail, leaseExp, created, printed, posted int64
	err := r.Scan(&j.ID, &j.Kind, &j.LetterID, &j.MailboxID, &j.Tracking, &j.Region, &j.Postcode,
		&j.RecipientName, &j.State, &j.Attempts, &avail, &j.LeaseToken, &j.LeaseOwner, &leaseExp,
		&j.PDFSHA256, &j.Pages, &j.Sheets, &j.LastError, &created, &printed, &posted, &j.PrintedBy)
	j.AvailableAt, j.LeaseExpiresAt, j.CreatedAt = FromMicros(avail), FromMicros(leaseExp), FromMicros(created)
	j.PrintedAt, j.PostedAt = FromMicros(printed), FromMicros(posted)
	return j, err
}

func collectJobs(rows Rows, err error) ([]mailbox.PrintJob, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.PrintJob
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// CreatePrintJob implements mailbox.PrintTx.
func (t *Tx) CreatePrintJob(ctx context.Context, j mailbox.PrintJob) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO print_jobs (`+jobColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7,
		$8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		j.ID, j.Kind, j.LetterID, j.MailboxID, j.Tracking, j.Region, j.Postcode, j.RecipientName, j.State,
		j.Attempts, Micros(j.AvailableAt), j.LeaseToken, j.LeaseOwner, Micros(j.LeaseExpiresAt),
		j.PDFSHA256, j.Pages, j.Sheets, j.LastError, Micros(j.CreatedAt), Micros(j.PrintedAt), Micros(j.PostedAt), j.PrintedBy)
	return err
}

// GetPrintJob implements mailbox.PrintTx.
func (t *Tx) GetPrintJob(ctx context.Context, id string, lock bool) (mailbox.PrintJob, error) {
	q := `SELECT ` + jobColumns + ` FROM print_jobs WHERE id = $1`
	if lock {
		q += t.D.ForUpdate
	}
	j, err := scanJob(t.Q.QueryRow(ctx, q, id))
	if err != nil {
		return j, fmt.Errorf("print job %s: %w", id, err)
	}
	return j, nil
}

// PrintJobsOfLetter implements mailbox.PrintTx.
func (t *Tx) PrintJobsOfLetter(ctx context.Context, letterID string) ([]mailbox.PrintJob, error) {
	return collectJobs(t.Q.Query(ctx, `SELECT `+jobColumns+` FROM print_jobs WHERE letter_id = $1 ORDER BY created_at, id`, letterID))
}

// PrintJobs implements mailbox.PrintTx: a page of every job in id order.
func (t *Tx) PrintJobs(ctx context.Context, afterID string, limit int) ([]mailbox.PrintJob, error) {
	return collectJobs(t.Q.Query(ctx, `SELECT `+jobColumns+` FROM print_jobs WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit))
}

// UpdatePrintJob implements mailbox.PrintTx.
func (t *Tx) UpdatePrintJob(ctx context.Context, j mailbox.PrintJob) error {
	n, err := t.Q.Exec(ctx, `UPDATE print_jobs SET state = $2, attempts = $3, available_at = $4, lease_token = $5,
		lease_owner = $6, lease_expires_at = $7, pdf_sha256 = $8, pages = $9, sheets = $10, last_error = $11,
		printed_at = $12, posted_at = $13, printed_by = $14 WHERE id = $1`,
		j.ID, j.State, j.Attempts, Micros(j.AvailableAt), j.LeaseToken, j.LeaseOwner, Micros(j.LeaseExpiresAt),
		j.PDFSHA256, j.Pages, j.Sheets, j.LastError, Micros(j.PrintedAt), Micros(j.PostedAt), j.PrintedBy)
	if err == nil && n == 0 {
		err = fmt.Errorf("print job %s: %w", j.ID, mailbox.ErrNotFound)
	}
	return err
}

func regionList(regions []string, first int) (string, []any) {
	ph := make([]string, len(regions))
	args := make([]any, len(regions))
	for i, r := range regions {
		ph[i] = fmt.Sprintf("$%d", first+i)
		args[i] = r
	}
	return "(" + strings.Join(ph, ", ") + ")", args
}

// LeasePrintJobs implements mailbox.PrintTx: River's claim shape, a CTE that
// selects claimable rows FOR UPDATE SKIP LOCKED and an UPDATE … RETURNING
// that gives each a new fencing token (lease_token + 1). A job whose state
// was leased is one whose lease expired: it is returned with TakenOver set.
//
// PostgreSQL reads the claimed row's old state from the CTE in the same
// statement (RETURNING … EXISTS (SELECT … FROM claim); the UPDATE keeps the
// shape `WHERE id IN (SELECT id FROM claim)`, which measured faster than
// UPDATE … FROM claim). SQLite's RETURNING may not read other tables
// (https://sqlite.org/lang_returning.html, limitations), so there the claim
// is a SELECT and then the UPDATE: its write transaction is exclusive, so
// nothing changes in between.
func (t *Tx) LeasePrintJobs(ctx context.Context, regions []string, owner string, max int, now, expires time.Time) ([]mailbox.PrintJob, error) {
	if len(regions) == 0 || max <= 0 {
		return nil, nil
	}
	in, args := regionList(regions, 5)
	args = append([]any{Micros(now), Micros(expires), owner, max}, args...)
	claim := `SELECT id, state FROM print_jobs
			WHERE region IN ` + in + ` AND (
				(state = 'queued' AND available_at <= $1) OR
				(state = 'leased' AND lease_expires_at <= $1))
			ORDER BY available_at, id
			LIMIT $4` + t.D.SkipLocked
	const set = `SET state = 'leased', lease_token = lease_token + 1, lease_owner = $3,
			lease_expires_at = $2, attempts = attempts + 1`
	if t.D.ReturningFrom {
		rows, err := t.Q.Query(ctx, `WITH claim AS (`+claim+`)
		UPDATE print_jobs `+set+`
		WHERE id IN (SELECT id FROM claim)
		RETURNING `+jobColumns+`, EXISTS (SELECT 1 FROM claim c WHERE c.id = print_jobs.id AND c.state = 'leased')`, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []mailbox.PrintJob
		for rows.Next() {
			var takenOver bool
			j, err := scanJob(scanAlso{rows, &takenOver})
			if err != nil {
				return nil, err
			}
			j.TakenOver = takenOver
			out = append(out, j)
		}
		return out, rows.Err()
	}
	expired := map[string]bool{}
	var ids []any
	rows, err := t.Q.Query(ctx, claim, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, state string
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
		expired[id] = state == mailbox.JobLeased
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, err
	}
	ph := make([]string, len(ids))
	for i := range ids {
		ph[i] = fmt.Sprintf("$%d", 4+i)
	}
	jobs, err := collectJobs(t.Q.Query(ctx, `UPDATE print_jobs `+set+`
		WHERE id IN (`+strings.Join(ph, ", ")+`)
		RETURNING `+jobColumns, append([]any{Micros(now), Micros(expires), owner}, ids...)...))
	for i := range jobs {
		jobs[i].TakenOver = expired[jobs[i].ID]
	}
	return jobs, err
}

// scanAlso scans a row's job columns and then extra columns.
type scanAlso struct {
	r     interface{ Scan(...any) error }
	extra *bool
}

func (s scanAlso) Scan(dest ...any) error { return s.r.Scan(append(dest, s.extra)...) }

// PrintQueueStats implements mailbox.PrintTx: one GROUP BY over the jobs
// that are not posted.
func (t *Tx) PrintQueueStats(ctx context.Context) ([]mailbox.PrintJobGroup, error) {
	rows, err := t.Q.Query(ctx, `SELECT region, state, count(*), MIN(created_at) FROM print_jobs
		WHERE state <> 'posted' GROUP BY region, state ORDER BY region, state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.PrintJobGroup
	for rows.Next() {
		var g mailbox.PrintJobGroup
		var oldest int64
		if err := rows.Scan(&g.Region, &g.State, &g.Count, &oldest); err != nil {
			return nil, err
		}
		g.Oldest = FromMicros(oldest)
		out = append(out, g)
	}
	return out, rows.Err()
}

// PostedJobs implements mailbox.PrintTx.
func (t *Tx) PostedJobs(ctx context.Context, regions []string, from, to time.Time) ([]mailbox.PrintJob, error) {
	if len(regions) == 0 {
		return nil, nil
	}
	in, args := regionList(regions, 3)
	args = append([]any{Micros(from), Micros(to)}, args...)
	return collectJobs(t.Q.Query(ctx, `SELECT `+jobColumns+` FROM print_jobs
		WHERE state = 'posted' AND posted_at >= $1 AND posted_at < $2 AND region IN `+in+`
		ORDER BY postcode, tracking, id`, args...))
}

// PutBlob implements mailbox.PrintTx.
func (t *Tx) PutBlob(ctx context.Context, key string, data []byte) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO blobs (key, data) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data`, key, data)
	return err
}

// DeleteBlob implements mailbox.PrintTx.
func (t *Tx) DeleteBlob(ctx context.Context, key string) error {
	_, err := t.Q.Exec(ctx, `DELETE FROM blobs WHERE key = $1`, key)
	return err
}

// GetBlob implements mailbox.PrintTx.
func (t *Tx) GetBlob(ctx context.Context, key string) ([]byte, error) {
	var d []byte
	err := t.Q.QueryRow(ctx, `SELECT data FROM blobs WHERE key = $1`, key).Scan(&d)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", key, err)
	}
	return d, nil
}

// GetPrintJobs implements mailbox.PrintTx: one SELECT for many jobs, locked
// in id order (every caller locks in the same order, so two batches of
// reports never deadlock).
func (t *Tx) GetPrintJobs(ctx context.Context, ids []string, lock bool) ([]mailbox.PrintJob, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return collectJobs(t.queryIDs(ctx, jobColumns, "print_jobs", ids, lock))
}

// UpdatePrintJobs implements mailbox.PrintTx in one statement per chunk
// of jobs (updateFromValues).
func (t *Tx) UpdatePrintJobs(ctx context.Context, js []mailbox.PrintJob) error {
	args := make([]any, 0, 14*len(js))
	for _, j := range js {
		args = append(args, j.ID, j.State, j.Attempts, Micros(j.AvailableAt), j.LeaseToken, j.LeaseOwner, Micros(j.LeaseExpiresAt),
			j.PDFSHA256, j.Pages, j.Sheets, j.LastError, Micros(j.PrintedAt), Micros(j.PostedAt), j.PrintedBy)
	}
	return t.updateFromValues(ctx, "print_jobs", []valueColumn{{"id", "TEXT"}, {"state", "TEXT"}, {"attempts", "INTEGER"},
		{"available_at", "BIGINT"}, {"lease_token", "BIGINT"}, {"lease_owner", "TEXT"}, {"lease_expires_at", "BIGINT"},
		{"pdf_sha256", "TEXT"}, {"pages", "INTEGER"}, {"sheets", "INTEGER"}, {"last_error", "TEXT"},
		{"printed_at", "BIGINT"}, {"posted_at", "BIGINT"}, {"printed_by", "TEXT"}}, args)
}
