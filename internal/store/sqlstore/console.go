package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

// The web consoles' reads and the audit runs (mailbox.ConsoleTx).

// ConsoleJobs implements mailbox.ConsoleTx.
func (t *Tx) ConsoleJobs(ctx context.Context, q mailbox.ConsoleJobQuery) ([]mailbox.PrintJob, error) {
	if len(q.States) == 0 || q.Regions != nil && len(q.Regions) == 0 {
		return nil, nil
	}
	states, args := regionList(q.States, 1)
	where := `state IN ` + states
	if q.Regions != nil {
		in, rargs := regionList(q.Regions, len(args)+1)
		where += ` AND region IN ` + in
		args = append(args, rargs...)
	}
	if q.PrintedBy != "" {
		args = append(args, q.PrintedBy)
		where += fmt.Sprintf(` AND printed_by = $%d`, len(args))
	}
	args = append(args, q.Limit)
	order := `created_at, id`
	if q.NewestFirst {
		order = `created_at DESC, id DESC`
	}
	return collectJobs(t.Q.Query(ctx, `SELECT `+jobColumns+` FROM print_jobs WHERE `+where+
		fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(args)), args...))
}

const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// LetterDayCounts implements mailbox.ConsoleTx: days are whole multiples of
// 24 h of the stored microseconds shifted by the zone's offset, so both
// engines group alike with integer division.
func (t *Tx) LetterDayCounts(ctx context.Context, from, to time.Time, offset time.Duration) ([]mailbox.LetterDayCount, error) {
	off := offset.Microseconds()
	rows, err := t.Q.Query(ctx, `SELECT (created_at + $3) / $4 AS day, route, registered, state, count(*)
		FROM letters WHERE created_at >= $1 AND created_at < $2
		GROUP BY (created_at + $3) / $4, route, registered, state
		ORDER BY day, route, registered, state`, Micros(from), Micros(to), off, microsPerDay)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.LetterDayCount
	for rows.Next() {
		var c mailbox.LetterDayCount
		var day, registered int64
		if err := rows.Scan(&day, &c.Route, &registered, &c.State, &c.Count); err != nil {
			return nil, err
		}
		c.Day, c.Registered = FromMicros(day*microsPerDay-off), registered != 0
		out = append(out, c)
	}
	return out, rows.Err()
}

// PendingMailboxList implements mailbox.ConsoleTx.
func (t *Tx) PendingMailboxList(ctx context.Context, limit int) ([]mailbox.Mailbox, error) {
	return t.listMailboxes(ctx, `SELECT `+mailboxColumns+` FROM mailboxes WHERE status = $1
		ORDER BY created_at, id LIMIT $2`, mailbox.StatusPending, limit)
}

// PendingRecoveries implements mailbox.ConsoleTx.
func (t *Tx) PendingRecoveries(ctx context.Context, limit int) ([]mailbox.Recovery, error) {
	rows, err := t.Q.Query(ctx, `SELECT `+recoveryColumns+` FROM mailbox_recoveries WHERE status = $1
		ORDER BY created_at, id LIMIT $2`, mailbox.RecoveryPending, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.Recovery
	for rows.Next() {
		r, err := scanRecovery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SearchCertificates implements mailbox.ConsoleTx.
func (t *Tx) SearchCertificates(ctx context.Context, serial string, names []string, limit int) ([]mailbox.CertificateRecord, error) {
	args := []any{serial}
	conds := []string{`serial = $1`}
	for _, n := range names {
		if n == "" {
			continue
		}
		args = append(args, "%"+likeEscape(n)+"%")
		conds = append(conds, fmt.Sprintf(`name LIKE $%d ESCAPE '\'`, len(args)))
	}
	args = append(args, limit)
	rows, err := t.Q.Query(ctx, `SELECT `+certColumns+` FROM certificates WHERE `+strings.Join(conds, " OR ")+
		fmt.Sprintf(` ORDER BY not_before DESC, serial LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.CertificateRecord
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const auditRunColumns = `id, started_by, started_at, finished_at, status, report, error`

// StartAuditRun implements mailbox.ConsoleTx (the unique index on running
// rows turns a second running one into ErrConflict).
func (t *Tx) StartAuditRun(ctx context.Context, r mailbox.AuditRun) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO audit_runs (`+auditRunColumns+`) VALUES ($1, $2, $3, $4, $5, NULL, $6)`,
		r.ID, r.StartedBy, Micros(r.StartedAt), Micros(r.FinishedAt), r.Status, r.Error)
	return err
}

// FinishAuditRun implements mailbox.ConsoleTx.
func (t *Tx) FinishAuditRun(ctx context.Context, r mailbox.AuditRun) error {
	report, err := json.Marshal(r.Report)
	if err != nil {
		return err
	}
	n, err := t.Q.Exec(ctx, `UPDATE audit_runs SET finished_at = $2, status = $3, report = $4, error = $5 WHERE id = $1`,
		r.ID, Micros(r.FinishedAt), r.Status, report, r.Error)
	if err == nil && n == 0 {
		err = fmt.Errorf("audit run %s: %w", r.ID, mailbox.ErrNotFound)
	}
	return err
}

// AuditRuns implements mailbox.ConsoleTx.
func (t *Tx) AuditRuns(ctx context.Context, limit int) ([]mailbox.AuditRun, error) {
	rows, err := t.Q.Query(ctx, `SELECT `+auditRunColumns+` FROM audit_runs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.AuditRun
	for rows.Next() {
		var r mailbox.AuditRun
		var started, finished int64
		var report []byte
		if err := rows.Scan(&r.ID, &r.StartedBy, &started, &finished, &r.Status, &report, &r.Error); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = FromMicros(started), FromMicros(finished)
		if len(report) > 0 {
			if err := json.Unmarshal(report, &r.Report); err != nil {
				return nil, fmt.Errorf("audit run %s report: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
