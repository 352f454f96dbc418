// Package sqlite is the embedded store of npes (modernc.org/sqlite, pure Go),
// so that `npes serve` runs with nothing else installed.
//
// Durability: WAL journal with synchronous=FULL, so a COMMIT is on disk
// before it returns (https://sqlite.org/pragma.html#pragma_synchronous).
// Write transactions begin IMMEDIATE (`_txlock=immediate`): they take the
// write lock up front, so two writers never deadlock upgrading a read lock;
// a busy timeout makes a second writer wait instead of failing.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/npes/npes/internal/store/sqlstore"
	"github.com/npes/npes/mailbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

var dialect = sqlstore.Dialect{Name: "sqlite"}

// Store is the SQLite implementation of mailbox.Store.
type Store struct {
	write *sql.DB // IMMEDIATE transactions, one connection: SQLite has one writer
	read  *sql.DB // deferred (read) transactions, several connections under WAL

	onStatement func(sql string)
}

var _ mailbox.Store = (*Store)(nil)

// Options tune Open.
type Options struct {
	Logger *slog.Logger
	// OnStatement, when set, is called with the text of every statement a
	// transaction runs (InTx and View), before it runs: tests count
	// statements with it. It must be safe for concurrent use.
	OnStatement func(sql string)
}

func dsn(path string, txlock string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", txlock)
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path and migrates it.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w, err := sql.Open("sqlite", dsn(path, "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", dsn(path, "deferred"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{write: w, read: r, onStatement: opts.OnStatement}
	if err := w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := s.migrate(ctx, opts.Logger); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context, log *slog.Logger) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, s.write, sqlstore.SubFS(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "engine", "sqlite", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Engine implements mailbox.Store.
func (s *Store) Engine() string { return "sqlite" }

// Close implements mailbox.Store.
func (s *Store) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// ConnsInUse is how many connections are in use now, the writer's and the
// readers' (the gauge npes_db_pool_in_use).
func (s *Store) ConnsInUse() int { return s.write.Stats().InUse + s.read.Stats().InUse }

// SchemaVersion implements mailbox.Store.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	return v, translate(err)
}

// InTx implements mailbox.Store.
func (s *Store) InTx(ctx context.Context, fn func(mailbox.Tx) error) error {
	return run(ctx, s.write, nil, s.onStatement, fn)
}

// View implements mailbox.Store.
func (s *Store) View(ctx context.Context, fn func(mailbox.Tx) error) error {
	return run(ctx, s.read, &sql.TxOptions{ReadOnly: true}, s.onStatement, fn)
}

func run(ctx context.Context, db *sql.DB, opts *sql.TxOptions, onStatement func(string), fn func(mailbox.Tx) error) error {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return translate(err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(&sqlstore.Tx{Q: sqlstore.Observed(querier{tx}, onStatement), D: dialect}); err != nil {
		return err
	}
	return translate(tx.Commit())
}

// rebind rewrites PostgreSQL's $n placeholders to SQLite's ?n, which means
// the same (https://sqlite.org/lang_expr.html#varparam), in one pass.
//
// Rewritten texts are cached, but at most maxRebound of them: the shared SQL
// is mostly constants, yet batch statements (multi-row INSERTs, the OR list
// of LogNodes) differ with their size, and an unbounded cache would grow
// with every size ever used. Past the bound a statement is rewritten on each
// use, which costs one pass over its text.
func rebind(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	rebound.mu.RLock()
	r, ok := rebound.m[q]
	rebound.mu.RUnlock()
	if ok {
		return r
	}
	b := []byte(q)
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '$' && b[i+1] >= '0' && b[i+1] <= '9' {
			b[i] = '?'
		}
	}
	r = string(b)
	rebound.mu.Lock()
	if len(rebound.m) < maxRebound {
		rebound.m[q] = r
	}
	rebound.mu.Unlock()
	return r
}

// maxRebound bounds the rewrite cache: several times the number of constant
// statements, so they all fit beside a working set of batch sizes.
const maxRebound = 512

var rebound = struct {
	mu sync.RWMutex
	m  map[string]string // statement text → rewritten text
}{m: map[string]string{}}

type querier struct{ tx *sql.Tx }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.tx.ExecContext(ctx, rebind(query), args...)
	if err != nil {
		return 0, translate(err)
	}
	n, err := res.RowsAffected()
	return n, translate(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := q.tx.QueryContext(ctx, rebind(query), args...)
	if err != nil {
		return nil, translate(err)
	}
	return rows{r}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return row{q.tx.QueryRowContext(ctx, rebind(query), args...)}
}

type rows struct{ r *sql.Rows }

func (r rows) Next() bool             { return r.r.Next() }
func (r rows) Scan(dest ...any) error { return translate(r.r.Scan(dest...)) }
func (r rows) Err() error             { return translate(r.r.Err()) }
func (r rows) Close()                 { _ = r.r.Close() }

type row struct{ r *sql.Row }

func (r row) Scan(dest ...any) error { return translate(r.r.Scan(dest...)) }

// translate maps database/sql and SQLite errors to the domain's.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return mailbox.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", mailbox.ErrConflict, se.Error())
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%w: %s", mailbox.ErrUnavailable, se.Error())
		}
	}
	return err
}
