// Package postgres is the production store of npes: PostgreSQL through pgx v5.
//
// Migrations are embedded and applied at Open under a session-level advisory
// lock, so several npes processes starting together on one database migrate
// it exactly once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/npes/npes/internal/store/sqlstore"
	"github.com/npes/npes/mailbox"
)

//go:embed migrations/*.sql
var migrations embed.FS

var dialect = sqlstore.Dialect{Name: "postgres", ForUpdate: " FOR UPDATE", ForShare: " FOR SHARE", SkipLocked: " FOR UPDATE SKIP LOCKED", ReturningFrom: true}

// migrationLockID is the advisory lock key taken while migrating
// ("npes" in ASCII).
const migrationLockID = 0x6e706573

// Store is the PostgreSQL implementation of mailbox.Store.
type Store struct {
	pool        *pgxpool.Pool
	onStatement func(sql string)
	onRoundTrip func()
}

var _ mailbox.Store = (*Store)(nil)

// Options tune Open.
type Options struct {
	// Logger receives one line per applied migration.
	Logger *slog.Logger
	// AllowUnsafeDurability skips the fsync/synchronous_commit check. Only
	// for benchmarks that want to measure the difference; never in service.
	AllowUnsafeDurability bool
	// MaxConns caps the pool (default: pgxpool's default).
	MaxConns int32
	// OnStatement, when set, is called with the text of every statement a
	// transaction runs (InTx and View), before it runs: tests count
	// statements with it. It must be safe for concurrent use.
	OnStatement func(sql string)
	// OnRoundTrip, when set, is called each time a transaction sends
	// statements and waits for their answer (one statement, or a pipeline
	// of several): tests count round trips with it. It must be safe for
	// concurrent use.
	OnRoundTrip func()
}

// Open connects, checks that the server is durable, and migrates.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad database URL: %w", redactURLError(err))
	}
	if opts.MaxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = opts.MaxConns
	}
	// A database that stops answering must not hold requests forever: a
	// statement or an idle transaction that takes longer is cancelled by
	// the server (the client then gets 503 and retries with its key). The
	// URL may set its own values.
	for param, value := range map[string]string{
		"statement_timeout":                   "60s",
		"idle_in_transaction_session_timeout": "60s",
	} {
		if _, set := cfg.ConnConfig.RuntimeParams[param]; !set {
			cfg.ConnConfig.RuntimeParams[param] = value
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, onStatement: opts.OnStatement, onRoundTrip: opts.OnRoundTrip}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	if !opts.AllowUnsafeDurability {
		if err := CheckDurability(ctx, pool); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx, cfg.ConnConfig, opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// ErrUnsafeDurability is returned when the server could acknowledge a commit
// that a crash would lose. npes refuses to issue receipts on such a database.
var ErrUnsafeDurability = errors.New("postgres: unsafe durability settings")

// CheckDurability refuses a server on which an acknowledged commit could be
// lost: fsync or synchronous_commit off (a receipt would then
// promise something a power cut can undo), or full_page_writes off (torn pages
// after a crash).
func CheckDurability(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) error {
	var fsync, syncCommit, fpw string
	err := q.QueryRow(ctx, `SELECT current_setting('fsync'), current_setting('synchronous_commit'), current_setting('full_page_writes')`).
		Scan(&fsync, &syncCommit, &fpw)
	if err != nil {
		return fmt.Errorf("postgres: reading durability settings: %w", err)
	}
	var problems []string
	if fsync != "on" {
		problems = append(problems, "fsync is "+fsync+" (must be on)")
	}
	// "on", "local", "remote_write" and "remote_apply" all wait for the
	// local WAL flush before COMMIT returns; "off" acknowledges commits that
	// a crash can still lose, so it is refused.
	if syncCommit == "off" {
		problems = append(problems, "synchronous_commit is off (must be on, remote_write, remote_apply or local)")
	}
	if fpw != "on" {
		problems = append(problems, "full_page_writes is "+fpw+" (must be on)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %v; an acknowledged letter could be lost in a crash", ErrUnsafeDurability, problems)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context, base *pgx.ConnConfig, log *slog.Logger) error {
	// Migrations (and waiting for another process's) may outlast the
	// service's statement timeout: they get connections without it.
	mcfg := base.Copy()
	mcfg.RuntimeParams["statement_timeout"] = "0"
	mcfg.RuntimeParams["idle_in_transaction_session_timeout"] = "0"
	// Several processes starting together must migrate once: a blocking
	// session-level advisory lock (pg_advisory_lock waits in the server,
	// no polling) serializes them; the later ones find nothing to apply.
	conn, err := pgx.ConnectConfig(ctx, mcfg)
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("postgres: migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockID)
	}()
	db := stdlib.OpenDB(*mcfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sqlstore.SubFS(migrations, "migrations"),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrating: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "engine", "postgres", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Engine implements mailbox.Store.
func (s *Store) Engine() string { return "postgres" }

// Close implements mailbox.Store.
func (s *Store) Close() error { s.pool.Close(); return nil }

// Pool exposes the pool for benchmarks that compare npes with raw inserts.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// ConnsInUse is how many of the pool's connections are acquired now (the
// gauge npes_db_pool_in_use).
func (s *Store) ConnsInUse() int { return int(s.pool.Stat().AcquiredConns()) }

// SchemaVersion implements mailbox.Store.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&v)
	return v, translate(err)
}

// InTx implements mailbox.Store. Read committed plus explicit row locks is
// what every statement in sqlstore is written for.
func (s *Store) InTx(ctx context.Context, fn func(mailbox.Tx) error) error {
	return s.run(ctx, beginReadCommitted, fn)
}

// View implements mailbox.Store.
func (s *Store) View(ctx context.Context, fn func(mailbox.Tx) error) error {
	return s.run(ctx, beginReadOnly, fn)
}

// The statements that open a transaction (PostgreSQL's BEGIN): InTx's and
// View's.
const (
	beginReadCommitted = "begin isolation level read committed"
	beginReadOnly      = "begin isolation level repeatable read read only"
)

// run runs fn in a transaction on one pooled connection. The BEGIN goes
// out with the transaction's first statement and the statements held back
// (sqlstore.Deferrer) with the COMMIT, each in one round trip (querier):
// a transaction costs its statements' round trips and no more.
func (s *Store) run(ctx context.Context, begin string, fn func(mailbox.Tx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return translate(err)
	}
	q := &querier{conn: c.Conn(), begin: begin, roundTrip: s.onRoundTrip}
	defer q.release(ctx, c)
	if err := fn(&sqlstore.Tx{Q: sqlstore.Observed(q, s.onStatement), D: dialect}); err != nil {
		return err
	}
	return q.commit(ctx)
}

// translate maps pgx errors to the domain's (River's interpretError is the
// model): no rows → ErrNotFound, unique violation → ErrConflict, a lost
// connection or server shutdown → ErrUnavailable.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return mailbox.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %s", mailbox.ErrConflict, pgErr.ConstraintName)
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return fmt.Errorf("%w: %s", mailbox.ErrUnavailable, pgErr.Message)
		}
		if len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:2] == "57" || pgErr.Code[:2] == "53") {
			// connection exception, operator intervention (shutdown),
			// insufficient resources.
			return fmt.Errorf("%w: %s", mailbox.ErrUnavailable, pgErr.Message)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: %v", mailbox.ErrUnavailable, err)
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return fmt.Errorf("%w: %v", mailbox.ErrUnavailable, err)
	}
	if lostConnection(err) {
		// The connection broke mid-statement or mid-COMMIT: the
		// transaction rolled back, or (a cut during COMMIT) its outcome is
		// unknown to this process; either way the client must retry (with
		// its Idempotency-Key), so it is 503, not 500
		// (internal/reliability TestDatabaseFaults cuts connections).
		return fmt.Errorf("%w: %v", mailbox.ErrUnavailable, err)
	}
	return err
}

// lostConnection reports the transport errors of a connection that died
// under a statement: a truncated server message, a reset or closed socket,
// any other network error.
func lostConnection(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.As(err, &netErr)
}

// redactURLError keeps a password in the URL out of logs: pgx's parse errors
// may quote the connection string.
func redactURLError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New(pe.Error())
	}
	return err
}
