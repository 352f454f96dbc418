package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/mailbox"
)

// A data directory belongs to one database: its CA's registry, its
// revocations and its evidence log live there. databaseFile records which
// one, by engine and by the UUID migration 00005 writes into the database's
// server_state (key databaseIDKey) when its schema is created. The URL is
// never recorded: it may carry a password, and the same database may be
// reached by several URLs.
const (
	databaseFile  = "database.json"
	databaseIDKey = "database_id"

	enginePostgres = "postgres"
	engineSQLite   = "sqlite"
)

// databaseRecord is the content of databaseFile.
type databaseRecord struct {
	Engine string `json:"engine"`
	ID     string `json:"database_id"`
}

// engineOf names the engine cfg selects.
func engineOf(cfg Config) string {
	if cfg.DatabaseURL != "" {
		return enginePostgres
	}
	return engineSQLite
}

// ErrWrongDatabase: the configured database is not the one the data
// directory belongs to.
var ErrWrongDatabase = errors.New("wrong database for this data directory")

// readDatabaseRecord reads the data directory's record; ok is false when it
// has none yet.
func (d DataDir) readDatabaseRecord() (rec databaseRecord, ok bool, err error) {
	p := d.path(databaseFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("reading %s: %w", p, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, false, fmt.Errorf("%s is corrupt: %w", p, err)
	}
	if rec.Engine != enginePostgres && rec.Engine != engineSQLite {
		return rec, false, fmt.Errorf("%s is corrupt: engine %q (want %s or %s)", p, rec.Engine, enginePostgres, engineSQLite)
	}
	if _, err := uuid.Parse(rec.ID); err != nil {
		return rec, false, fmt.Errorf("%s is corrupt: database_id %q: %v", p, rec.ID, err)
	}
	return rec, true, nil
}

// OpenStore opens the database the data directory belongs to: PostgreSQL
// when a URL is configured, else SQLite in the data directory. It refuses,
// with ErrWrongDatabase and before touching anything, a configuration that
// selects the other engine (so a command run without the server's
// NPES_DATABASE_URL never creates and acts on an empty SQLite file), and
// after opening, a database whose identity differs from the record.
func OpenStore(ctx context.Context, cfg Config) (mailbox.Store, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	d := DataDir{Root: cfg.DataDir}
	rec, ok, err := d.readDatabaseRecord()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("data directory %s records no database (%s is missing): run `npes init` with the server's --database-url / NPES_DATABASE_URL first", d.Root, d.path(databaseFile))
	}
	return openRecorded(ctx, cfg, d, rec)
}

func openRecorded(ctx context.Context, cfg Config, d DataDir, rec databaseRecord) (mailbox.Store, error) {
	switch got := engineOf(cfg); {
	case rec.Engine == enginePostgres && got == engineSQLite:
		return nil, fmt.Errorf("%w: data directory %s belongs to a PostgreSQL database (id %s), but no database URL is set, which would mean SQLite in the data directory: set --database-url or NPES_DATABASE_URL to the server's database",
			ErrWrongDatabase, d.Root, rec.ID)
	case rec.Engine == engineSQLite && got == enginePostgres:
		return nil, fmt.Errorf("%w: data directory %s belongs to its SQLite database %s (id %s), but a PostgreSQL URL is set: unset --database-url and NPES_DATABASE_URL",
			ErrWrongDatabase, d.Root, d.path(sqliteFile), rec.ID)
	case rec.Engine == engineSQLite && !exists(d.path(sqliteFile)):
		return nil, fmt.Errorf("%w: data directory %s belongs to the SQLite database %s (id %s), which is missing: restore it from backup",
			ErrWrongDatabase, d.Root, d.path(sqliteFile), rec.ID)
	}
	st, err := openEngine(ctx, cfg)
	if err != nil {
		return nil, err
	}
	id, err := databaseID(ctx, st)
	if err == nil && id != rec.ID {
		err = fmt.Errorf("%w: the %s database opened has id %s, but data directory %s belongs to the database with id %s: set --database-url or NPES_DATABASE_URL to the server's database",
			ErrWrongDatabase, rec.Engine, id, d.Root, rec.ID)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// bindStore opens the configured database for `npes init` and the first
// serve. The first time, it records the database's engine and identity in
// the data directory; afterwards it is OpenStore.
func bindStore(ctx context.Context, cfg Config, d DataDir) (st mailbox.Store, recorded bool, err error) {
	rec, ok, err := d.readDatabaseRecord()
	if err != nil {
		return nil, false, err
	}
	if ok {
		st, err := openRecorded(ctx, cfg, d, rec)
		return st, false, err
	}
	st, err = openEngine(ctx, cfg)
	if err != nil {
		return nil, false, err
	}
	rec = databaseRecord{Engine: st.Engine()}
	if rec.ID, err = databaseID(ctx, st); err != nil {
		st.Close()
		return nil, false, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		st.Close()
		return nil, false, err
	}
	err = writeNew(d.path(databaseFile), append(b, '\n'), 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process initializing the same directory recorded first:
		// this one must agree with it.
		st.Close()
		st, err := OpenStore(ctx, cfg)
		return st, false, err
	}
	if err != nil {
		st.Close()
		return nil, false, err
	}
	return st, true, nil
}

// databaseID reads the identity migration 00005 wrote.
func databaseID(ctx context.Context, st mailbox.Store) (string, error) {
	var v []byte
	err := st.View(ctx, func(tx mailbox.Tx) error {
		var err error
		v, err = tx.GetState(ctx, databaseIDKey)
		return err
	})
	if errors.Is(err, mailbox.ErrNotFound) {
		return "", fmt.Errorf("the %s database has no identity (server_state %q is missing): it was not created by npes", st.Engine(), databaseIDKey)
	}
	if err != nil {
		return "", fmt.Errorf("reading the database identity: %w", err)
	}
	id, err := uuid.ParseBytes(v)
	if err != nil {
		return "", fmt.Errorf("the %s database's identity %q is not a UUID: %w", st.Engine(), v, err)
	}
	return id.String(), nil
}

// openEngine opens the configured engine without any identity check.
func openEngine(ctx context.Context, cfg Config) (mailbox.Store, error) {
	if cfg.DatabaseURL != "" {
		return postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Logger: cfg.Logger, MaxConns: defaultPoolSize})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(cfg.DataDir, sqliteFile), sqlite.Options{Logger: cfg.Logger})
}
