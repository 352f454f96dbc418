package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
)

// EnvDatabaseURL names the PostgreSQL database the tests may use. .ci/run
// creates a fresh database for each run and exports its URL here.
const EnvDatabaseURL = "NPES_TEST_DATABASE_URL"

// PostgresURL returns a URL for a fresh, empty schema of the test database,
// dropped when the test ends. Without NPES_TEST_DATABASE_URL the test is
// skipped locally, and fails in CI (CI=true): PostgreSQL tests must never
// skip silently there.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must test against a real PostgreSQL", EnvDatabaseURL)
		}
		t.Skipf("%s not set; PostgreSQL tests skipped (set it, e.g. postgres://postgres@127.0.0.1:5432/postgres)", EnvDatabaseURL)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", EnvDatabaseURL, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// NewPostgres is a Factory for PostgreSQL stores, each in its own schema.
func NewPostgres(t *testing.T) mailbox.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), PostgresURL(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewSQLite is a Factory for SQLite stores, each in its own file.
func NewSQLite(t *testing.T) mailbox.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "npes.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// StatementLog records the statements of the transactions of a store
// opened by NewCounted, in order.
type StatementLog struct {
	mu         sync.Mutex
	stmts      []string
	roundTrips int
}

func (l *StatementLog) roundTrip() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roundTrips++
}

// RoundTrips counts the round trips to the database since the last Reset
// (PostgreSQL only: the SQLite engine is in-process and counts none).
func (l *StatementLog) RoundTrips() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roundTrips
}

func (l *StatementLog) add(sql string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts = append(l.stmts, sql)
}

// Reset forgets the statements recorded so far.
func (l *StatementLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts, l.roundTrips = nil, 0
}

// Statements returns the statements recorded since the last Reset.
func (l *StatementLog) Statements() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stmts)
}

// NewCounted opens a store of the engine ("sqlite", or "postgres" as
// NewPostgres) that records every statement its transactions run.
func NewCounted(t *testing.T, engine string) (mailbox.Store, *StatementLog) {
	t.Helper()
	log := &StatementLog{}
	var s mailbox.Store
	var err error
	switch engine {
	case "sqlite":
		s, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "npes.db"), sqlite.Options{OnStatement: log.add})
	case "postgres":
		s, err = postgres.Open(t.Context(), PostgresURL(t), postgres.Options{OnStatement: log.add, OnRoundTrip: log.roundTrip})
	default:
		t.Fatalf("storetest: no engine %q", engine)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, log
}
