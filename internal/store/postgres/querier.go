package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/npes/npes/internal/store/sqlstore"
)

// querier runs the shared SQL in one transaction on one connection, and
// spends as few round trips on it as the statements allow. On a busy
// machine a round trip is not the network's 0.1 ms but the time until the
// server's backend and then this process are scheduled again, often
// milliseconds, and the group commit holds the evidence log's head for
// some of them. So:
//
//   - BEGIN is not sent on its own: it goes out with the first statement;
//   - statements held back (sqlstore.Deferrer) go out with the next
//     statement, or with the COMMIT;
//   - a transaction that ran nothing sends nothing.
//
// Each such group is one pgx batch: one pipeline of extended-protocol
// messages with one Sync at its end, whose results are read in order
// (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-PIPELINING).
// After an error the server skips the rest of the pipeline, so a
// statement after a failed one, the COMMIT included, never runs; the
// first error is what the caller hears, and the transaction is rolled
// back by release.
type querier struct {
	conn *pgx.Conn
	// begin is the BEGIN statement until it has been sent.
	begin   string
	pending []deferred
	// pendingBytes is what the held statements' byte arguments weigh.
	pendingBytes int
	// roundTrip, when set, is told of each round trip (Options.OnRoundTrip).
	roundTrip func()
}

func (q *querier) sent() {
	if q.roundTrip != nil {
		q.roundTrip()
	}
}

type deferred struct {
	sql   string
	args  []any
	check func(int64) error
}

var _ sqlstore.Deferrer = (*querier)(nil)

// maxPendingBytes bounds what held statements may keep in memory: past
// it they are sent at once (a body or a rendition's chunks are held; an
// attachment is streamed chunk by chunk and never held).
const maxPendingBytes = 4 << 20

// Defer implements sqlstore.Deferrer.
func (q *querier) Defer(ctx context.Context, sql string, args []any, check func(int64) error) error {
	q.pending = append(q.pending, deferred{sql, args, check})
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			q.pendingBytes += len(v)
		case string:
			q.pendingBytes += len(v)
		}
	}
	if q.pendingBytes > maxPendingBytes {
		return q.send(ctx, nil)
	}
	return nil
}

// send sends what waits (the BEGIN, the held statements) in one batch and
// returns the first error.
func (q *querier) send(ctx context.Context, final *deferred) error {
	_, err := q.sendBatch(ctx, final)
	return err
}

// sendBatch sends the BEGIN (if not yet sent), the held statements and,
// when final is set, one more statement, in one batch; it reads the
// results of all but final's and returns the first error. With final set
// and no error, the batch is returned open for the caller to read final's
// result and close it; otherwise it is closed.
func (q *querier) sendBatch(ctx context.Context, final *deferred) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(q.pending)+2)}
	begun := q.begin != ""
	if begun {
		b.Queue(q.begin)
		q.begin = ""
	}
	pending := q.pending
	q.pending, q.pendingBytes = nil, 0
	for _, d := range pending {
		b.Queue(d.sql, d.args...)
	}
	if final != nil {
		b.Queue(final.sql, final.args...)
	}
	if len(b.QueuedQueries) == 0 {
		return nil, nil
	}
	q.sent()
	br := q.conn.SendBatch(ctx, b)
	var first error
	if begun {
		if _, err := br.Exec(); err != nil {
			first = translate(err)
		}
	}
	for _, d := range pending {
		if first != nil {
			break // the server skipped the rest of the pipeline
		}
		tag, err := br.Exec()
		if err == nil && d.check != nil {
			err = d.check(tag.RowsAffected())
		} else {
			err = translate(err)
		}
		first = err
	}
	if final != nil && first == nil {
		return br, nil
	}
	if err := br.Close(); err != nil && first == nil {
		first = translate(err)
	}
	return nil, first
}

// direct reports whether nothing waits to be sent: a statement can go out
// on its own.
func (q *querier) direct() bool { return q.begin == "" && len(q.pending) == 0 }

func (q *querier) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if q.direct() {
		q.sent()
		tag, err := q.conn.Exec(ctx, sql, args...)
		return tag.RowsAffected(), translate(err)
	}
	br, err := q.sendBatch(ctx, &deferred{sql: sql, args: args})
	if err != nil {
		return 0, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag.RowsAffected(), translate(err)
}

func (q *querier) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	if q.direct() {
		q.sent()
		r, err := q.conn.Query(ctx, sql, args...)
		if err != nil {
			return nil, translate(err)
		}
		return rows{Rows: r}, nil
	}
	br, err := q.sendBatch(ctx, &deferred{sql: sql, args: args})
	if err != nil {
		return nil, err
	}
	r, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, translate(err)
	}
	return rows{Rows: r, batch: br}, nil
}

func (q *querier) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	if q.direct() {
		q.sent()
		return row{Row: q.conn.QueryRow(ctx, sql, args...)}
	}
	br, err := q.sendBatch(ctx, &deferred{sql: sql, args: args})
	if err != nil {
		return errRow{err}
	}
	return row{Row: br.QueryRow(), batch: br}
}

// errCommitRolledBack is a COMMIT that the server answered with ROLLBACK:
// the transaction had failed before it.
var errCommitRolledBack = errors.New("the transaction was rolled back at commit")

// commit sends the held statements and the COMMIT in one round trip. A
// transaction that never sent its BEGIN has nothing to commit. A held
// statement with a check (its row count) is judged here, after the server
// answered: the COMMIT then waits for that answer, in a round trip of its
// own, or a failed check would come too late to stop it.
func (q *querier) commit(ctx context.Context) error {
	if q.begin != "" && len(q.pending) == 0 {
		q.begin = ""
		return nil
	}
	for _, d := range q.pending {
		if d.check != nil {
			if err := q.send(ctx, nil); err != nil {
				return err
			}
			break
		}
	}
	br, err := q.sendBatch(ctx, &deferred{sql: "commit"})
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return translate(err)
	}
	if tag.String() == "ROLLBACK" {
		return errCommitRolledBack
	}
	return nil
}

// release ends the transaction if it is still open (fn failed, or the
// COMMIT did not reach the server) and gives the connection back. A
// rollback that fails leaves the connection in an unknown state: it is
// closed, and the pool does not reuse a connection that is not idle.
func (q *querier) release(ctx context.Context, c *pgxpool.Conn) {
	defer c.Release()
	if q.conn.IsClosed() || q.conn.PgConn().TxStatus() == 'I' {
		return
	}
	// With a cancelled ctx the rollback must still reach the server.
	q.sent()
	if _, err := q.conn.Exec(context.WithoutCancel(ctx), "rollback"); err != nil {
		_ = q.conn.Close(context.WithoutCancel(ctx))
	}
}

// errRow is a row whose statement was never sent: a held statement before
// it failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// rows are a statement's rows; batch, when set, is the pipeline they were
// read from, closed with them.
type rows struct {
	pgx.Rows
	batch pgx.BatchResults
}

func (r rows) Err() error { return translate(r.Rows.Err()) }

func (r rows) Close() {
	r.Rows.Close()
	if r.batch != nil {
		_ = r.batch.Close()
	}
}

type row struct {
	pgx.Row
	batch pgx.BatchResults
}

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if r.batch != nil {
		if cerr := r.batch.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the pipeline: %w", cerr)
		}
	}
	return translate(err)
}
