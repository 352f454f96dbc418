package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // the SQLite driver of the store, for baselines on the same file
)

// db is a direct connection to the scenario's database for baselines,
// seeding and plans: pgx on PostgreSQL, database/sql on SQLite. Statements
// are written with PostgreSQL's $n placeholders; on SQLite they become ?n
// (the same rewrite the SQLite store does).
type db struct {
	engine string
	pg     *pgxpool.Pool
	sq     *sql.DB
}

// openDB connects with conns connections (PostgreSQL) to databaseURL, or
// opens sqlitePath with the store's durability settings: WAL,
// synchronous=FULL, IMMEDIATE write transactions, one connection (SQLite
// has one writer, and the store has one write connection too).
func openDB(ctx context.Context, databaseURL, sqlitePath string, conns int) (*db, error) {
	if databaseURL != "" {
		cfg, err := pgxpool.ParseConfig(databaseURL)
		if err != nil {
			return nil, fmt.Errorf("bench: database URL: %w", err)
		}
		cfg.MaxConns = int32(max(conns, 1))
		cfg.MinConns = cfg.MaxConns
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, err
		}
		// Open every connection now: connection set-up is not part of
		// what a baseline measures.
		held := make([]*pgxpool.Conn, 0, conns)
		for range conns {
			c, err := pool.Acquire(ctx)
			if err != nil {
				for _, h := range held {
					h.Release()
				}
				pool.Close()
				return nil, err
			}
			held = append(held, c)
		}
		for _, h := range held {
			h.Release()
		}
		return &db{engine: "postgres", pg: pool}, nil
	}
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+sqlitePath+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	s.SetMaxOpenConns(1)
	if err := s.PingContext(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return &db{engine: "sqlite", sq: s}, nil
}

func (d *db) close() {
	if d.pg != nil {
		d.pg.Close()
	}
	if d.sq != nil {
		_ = d.sq.Close()
	}
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

func (d *db) rebind(q string) string {
	if d.sq == nil {
		return q
	}
	return placeholder.ReplaceAllString(q, "?$1")
}

// exec runs one statement in its own (autocommit, durable) transaction.
func (d *db) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if d.pg != nil {
		tag, err := d.pg.Exec(ctx, q, args...)
		return tag.RowsAffected(), err
	}
	res, err := d.sq.ExecContext(ctx, d.rebind(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// query runs a query and calls each for every row with its Scan.
func (d *db) query(ctx context.Context, q string, args []any, each func(scan func(...any) error) error) error {
	if d.pg != nil {
		rows, err := d.pg.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows.Scan); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	rows, err := d.sq.QueryContext(ctx, d.rebind(q), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scalar reads a single int64.
func (d *db) scalar(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	found := false
	err := d.query(ctx, q, args, func(scan func(...any) error) error { found = true; return scan(&n) })
	if err == nil && !found {
		err = errors.New("no row")
	}
	return n, err
}

// bytesType is the column type of binary data.
func (d *db) bytesType() string {
	if d.pg != nil {
		return "BYTEA"
	}
	return "BLOB"
}

// scratchName is a fresh table name for a baseline.
func scratchName(purpose string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "npes_bench_" + purpose + "_" + hex.EncodeToString(b[:])
}

// dropTable drops a scratch table, even when ctx is cancelled.
func (d *db) dropTable(ctx context.Context, name string) {
	_, _ = d.exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+name)
}
