// Package sqlstore holds the SQL that both database engines share.
//
// npes keeps one store per engine (internal/store/postgres,
// internal/store/sqlite) so that a letter, its evidence and its print job
// commit in one transaction. Most statements are portable SQL (timestamps are
// stored as integer microseconds since the Unix epoch, binary values as
// bytea/BLOB), so they are written once here against the small Querier seam.
// Each engine supplies the connection, its migrations, error translation and
// a Dialect for the few statements that differ (row locks, SKIP LOCKED).
//
// Statements use PostgreSQL's $n placeholders; the SQLite engine rewrites them
// to SQLite's equivalent ?n form (https://sqlite.org/lang_expr.html#varparam).
package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/npes/npes/mailbox"
)

// Querier is what a transaction offers to the shared SQL. Implementations
// translate driver errors into mailbox errors (ErrNotFound for no rows,
// ErrConflict for unique violations, ErrUnavailable for lost connections).
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) Row
}

// Rows is the subset of pgx.Rows / *sql.Rows the shared code uses.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns mailbox.ErrNotFound when empty.
type Row interface {
	Scan(dest ...any) error
}

// Deferrer is a Querier that can hold back statements whose only result
// is an error and send them together with the transaction's next
// statement, or with its commit, in one round trip (pgx's pipeline on
// PostgreSQL). A held statement's error, check's included, is returned by
// the statement or commit that sends it; Defer itself fails only when it
// sends what it holds (it bounds the memory held). The held arguments are
// read when sent: the caller must not change them meanwhile. The evidence
// log's writes use it (they run under the log head's lock, which every
// append waits for, so each round trip saved there is saved for all of
// them), and so do the group commit's letter and body rows, which go out
// with the head's lock.
type Deferrer interface {
	Defer(ctx context.Context, sql string, args []any, check func(rowsAffected int64) error) error
}

// execLater runs a write whose result is only an error: held back when the
// querier is a Deferrer, at once otherwise.
func (t *Tx) execLater(ctx context.Context, sql string, args []any, check func(int64) error) error {
	if d, ok := t.Q.(Deferrer); ok {
		return d.Defer(ctx, sql, args, check)
	}
	n, err := t.Q.Exec(ctx, sql, args...)
	if err != nil || check == nil {
		return err
	}
	return check(n)
}

// Observed returns q with fn called before each statement it runs (the
// engines' Options.OnStatement): tests count a transaction's statements
// with it, so that a set-based path cannot quietly become one statement
// per row again.
func Observed(q Querier, fn func(sql string)) Querier {
	if fn == nil {
		return q
	}
	if d, ok := q.(Deferrer); ok {
		return observedDeferrer{observed{q, fn}, d}
	}
	return observed{q, fn}
}

type observed struct {
	q  Querier
	fn func(string)
}

func (o observed) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	o.fn(sql)
	return o.q.Exec(ctx, sql, args...)
}

func (o observed) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	o.fn(sql)
	return o.q.Query(ctx, sql, args...)
}

func (o observed) QueryRow(ctx context.Context, sql string, args ...any) Row {
	o.fn(sql)
	return o.q.QueryRow(ctx, sql, args...)
}

type observedDeferrer struct {
	observed
	d Deferrer
}

func (o observedDeferrer) Defer(ctx context.Context, sql string, args []any, check func(int64) error) error {
	o.fn(sql)
	return o.d.Defer(ctx, sql, args, check)
}

// Dialect names the engine-specific pieces of SQL.
type Dialect struct {
	// Name is "postgres" or "sqlite".
	Name string
	// ForUpdate is appended to SELECTs that lock the rows they read
	// (" FOR UPDATE" on PostgreSQL; empty on SQLite, whose write
	// transactions are already exclusive).
	ForUpdate string
	// ForShare is appended to SELECTs that read-lock the rows they read
	// (" FOR SHARE" on PostgreSQL: nobody updates or locks them for update
	// until commit, others may read-lock them too; empty on SQLite).
	ForShare string
	// SkipLocked is appended to queue claims (" FOR UPDATE SKIP LOCKED" on
	// PostgreSQL; empty on SQLite).
	SkipLocked string
	// ReturningFrom is true when UPDATE … RETURNING may read other tables
	// (a CTE of the statement): PostgreSQL, not SQLite.
	ReturningFrom bool
}

// Tx implements the mailbox transaction interfaces on top of a Querier.
type Tx struct {
	Q Querier
	D Dialect

	headLocked bool // LockLogHead succeeded: the log head is held until the end
}

// Micros converts a time to the stored representation.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// FromMicros converts the stored representation back to UTC time.
func FromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// insertRows inserts rows with one multi-row INSERT per chunk of rows, so a
// batch costs one round trip instead of one per row. args holds the values
// of all rows, row after row.
func (t *Tx) insertRows(ctx context.Context, table, columns string, ncols int, args []any) error {
	return t.insertRowsWith(ctx, table, columns, ncols, args, func(sql string, args []any) error {
		_, err := t.Q.Exec(ctx, sql, args...)
		return err
	})
}

// insertRowsLater is insertRows with the statements held back (execLater).
func (t *Tx) insertRowsLater(ctx context.Context, table, columns string, ncols int, args []any) error {
	return t.insertRowsWith(ctx, table, columns, ncols, args, func(sql string, args []any) error {
		return t.execLater(ctx, sql, args, nil)
	})
}

func (t *Tx) insertRowsWith(ctx context.Context, table, columns string, ncols int, args []any, exec func(string, []any) error) error {
	nrows := len(args) / ncols
	// Stay well under both engines' bound on parameters per statement.
	perStmt := max(1, 30000/ncols)
	for start := 0; start < nrows; start += perStmt {
		end := min(nrows, start+perStmt)
		var sb strings.Builder
		sb.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
		n := 1
		for r := start; r < end; r++ {
			if r > start {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := 0; c < ncols; c++ {
				if c > 0 {
					sb.WriteString(", ")
				}
				sb.WriteByte('$')
				sb.WriteString(strconv.Itoa(n))
				n++
			}
			sb.WriteByte(')')
		}
		if err := exec(sb.String(), args[start*ncols:end*ncols]); err != nil {
			return err
		}
	}
	return nil
}

// valueColumn is a column of updateFromValues and its SQL type.
type valueColumn struct{ name, sqlType string }

// updateFromValues updates many rows of table in one statement per chunk:
// WITH v (cols) AS (VALUES …) UPDATE table SET col = v.col … FROM v WHERE
// table.id = v.id (PostgreSQL, and SQLite since 3.33). The list is a CTE
// because SQLite names a bare VALUES list's columns column1, column2, …;
// CAST types its parameters, which neither engine infers there. cols[0] is
// the key, id; args holds the values of all rows, row after row. A row
// that matches nothing makes it fail with ErrNotFound. The statements are
// held back (execLater): the error may come from the next statement.
func (t *Tx) updateFromValues(ctx context.Context, table string, cols []valueColumn, args []any) error {
	ncols := len(cols)
	names := make([]string, ncols)
	sets := make([]string, 0, ncols-1)
	for i, c := range cols {
		names[i] = c.name
		if i > 0 {
			sets = append(sets, c.name+" = v."+c.name)
		}
	}
	nrows := len(args) / ncols
	perStmt := max(1, 30000/ncols)
	for start := 0; start < nrows; start += perStmt {
		end := min(nrows, start+perStmt)
		var sb strings.Builder
		sb.WriteString("WITH v (" + strings.Join(names, ", ") + ") AS (VALUES ")
		n := 1
		for r := start; r < end; r++ {
			if r > start {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := range cols {
				if c > 0 {
					sb.WriteString(", ")
				}
				sb.WriteString("CAST($" + strconv.Itoa(n) + " AS " + cols[c].sqlType + ")")
				n++
			}
			sb.WriteByte(')')
		}
		sb.WriteString(") UPDATE " + table + " SET " + strings.Join(sets, ", ") + " FROM v WHERE " + table + ".id = v.id")
		want := int64(end - start)
		if err := t.execLater(ctx, sb.String(), args[start*ncols:end*ncols], func(got int64) error {
			if got != want {
				return fmt.Errorf("%s: %d of %d rows updated: %w", table, got, want, mailbox.ErrNotFound)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// queryIDs selects columns of the rows of table with these ids, in the
// database's id order, and with lock locks them in that order (so every
// caller locks in the same order, and two never deadlock).
func (t *Tx) queryIDs(ctx context.Context, columns, table string, ids []string, lock bool) (Rows, error) {
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i] = "$" + strconv.Itoa(i+1)
		args[i] = id
	}
	q := `SELECT ` + columns + ` FROM ` + table + ` WHERE id IN (` + strings.Join(ph, ", ") + `) ORDER BY id`
	if lock {
		q += t.D.ForUpdate
	}
	return t.Q.Query(ctx, q, args...)
}
