package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

const batchColumns = `id, sender, idempotency_key, request_hash, state, total, created_at, finished_at`

func scanBatch(r Row) (mailbox.LetterBatch, error) {
	var b mailbox.LetterBatch
	var created, finished int64
	err := r.Scan(&b.ID, &b.Sender, &b.IdempotencyKey, &b.RequestHash, &b.State, &b.Total, &created, &finished)
	b.CreatedAt, b.FinishedAt = FromMicros(created), FromMicros(finished)
	return b, err
}

// CreateBatch implements mailbox.BatchTx.
func (t *Tx) CreateBatch(ctx context.Context, b mailbox.LetterBatch) error {
	_, err := t.Q.Exec(ctx, `INSERT INTO letter_batches (`+batchColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		b.ID, b.Sender, b.IdempotencyKey, b.RequestHash, b.State, b.Total, Micros(b.CreatedAt), Micros(b.FinishedAt))
	return err
}

// GetBatch implements mailbox.BatchTx.
func (t *Tx) GetBatch(ctx context.Context, id string) (mailbox.LetterBatch, error) {
	return scanBatch(t.Q.QueryRow(ctx, `SELECT `+batchColumns+` FROM letter_batches WHERE id = $1`, id))
}

// UnfinishedBatches implements mailbox.BatchTx.
func (t *Tx) UnfinishedBatches(ctx context.Context, limit int) ([]mailbox.LetterBatch, error) {
	rows, err := t.Q.Query(ctx, `SELECT `+batchColumns+` FROM letter_batches WHERE state IN ($1, $2)
		ORDER BY created_at, id LIMIT $3`, mailbox.BatchRunning, mailbox.BatchInterrupted, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.LetterBatch
	for rows.Next() {
		b, err := scanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BatchByKey implements mailbox.BatchTx.
func (t *Tx) BatchByKey(ctx context.Context, sender, key string) (mailbox.LetterBatch, error) {
	return scanBatch(t.Q.QueryRow(ctx, `SELECT `+batchColumns+` FROM letter_batches
		WHERE sender = $1 AND idempotency_key = $2 AND idempotency_key <> ''`, sender, key))
}

// SetBatchState implements mailbox.BatchTx.
func (t *Tx) SetBatchState(ctx context.Context, id, state string, finishedAt time.Time) error {
	n, err := t.Q.Exec(ctx, `UPDATE letter_batches SET state = $2, finished_at = $3 WHERE id = $1`, id, state, Micros(finishedAt))
	if err == nil && n == 0 {
		return mailbox.ErrNotFound
	}
	return err
}

// PutBatchResults implements mailbox.BatchTx with multi-row INSERTs. A line
// already stored keeps its outcome: two workers resuming the same batch
// (after a crash, on two nodes) record the same letter for a line, as the
// line's idempotency key makes its letter one.
func (t *Tx) PutBatchResults(ctx context.Context, batchID string, rs []mailbox.BatchResult) error {
	const ncols = 7
	perStmt := 30000 / ncols
	for start := 0; start < len(rs); start += perStmt {
		part := rs[start:min(len(rs), start+perStmt)]
		var sb strings.Builder
		sb.WriteString(`INSERT INTO letter_batch_results (batch_id, line, letter_id, tracking, route, error_code, error_message) VALUES `)
		args := make([]any, 0, ncols*len(part))
		for i, r := range part {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := 1; c <= ncols; c++ {
				if c > 1 {
					sb.WriteString(", ")
				}
				sb.WriteString("$" + strconv.Itoa(i*ncols+c))
			}
			sb.WriteByte(')')
			args = append(args, batchID, r.Line, r.LetterID, r.Tracking, r.Route, r.ErrorCode, r.ErrorMessage)
		}
		sb.WriteString(` ON CONFLICT (batch_id, line) DO NOTHING`)
		if _, err := t.Q.Exec(ctx, sb.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// BatchResults implements mailbox.BatchTx.
func (t *Tx) BatchResults(ctx context.Context, batchID string) ([]mailbox.BatchResult, error) {
	rows, err := t.Q.Query(ctx, `SELECT line, letter_id, tracking, route, error_code, error_message
		FROM letter_batch_results WHERE batch_id = $1 ORDER BY line`, batchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []mailbox.BatchResult
	for rows.Next() {
		var r mailbox.BatchResult
		if err := rows.Scan(&r.Line, &r.LetterID, &r.Tracking, &r.Route, &r.ErrorCode, &r.ErrorMessage); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
