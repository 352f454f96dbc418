package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/storetest"
	"github.com/npes/npes/mailbox"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, storetest.NewPostgres)
}

func TestDurabilityCheck(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	ctx := context.Background()

	t.Run("safe server accepted", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := postgres.CheckDurability(ctx, conn); err != nil {
			t.Fatalf("default server refused: %v", err)
		}
	})
	t.Run("synchronous_commit off refused", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["synchronous_commit"] = "off"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		err = postgres.CheckDurability(ctx, conn)
		if !errors.Is(err, postgres.ErrUnsafeDurability) {
			t.Fatalf("CheckDurability = %v, want ErrUnsafeDurability", err)
		}
	})
	t.Run("Open refuses an unsafe session", func(t *testing.T) {
		_, err := postgres.Open(ctx, url+"&synchronous_commit=off", postgres.Options{})
		if !errors.Is(err, postgres.ErrUnsafeDurability) {
			t.Fatalf("Open = %v, want ErrUnsafeDurability", err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://u:secret@127.0.0.1:1/db?connect_timeout=1", postgres.Options{}); err == nil {
		t.Fatal("Open on a closed port succeeded")
	} else if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if _, err := postgres.Open(ctx, "::not a url", postgres.Options{}); err == nil {
		t.Fatal("Open with a bad URL succeeded")
	}
}

// TestLetterUpdatesAreHeapOnly: a change of a letter's state that is not
// into or out of awaiting acceptance (printed, posted, its evidence chain)
// writes no index entry: no index of letters names state, and the table
// leaves room on its pages (migration 00026). Counted with PostgreSQL's
// own per-transaction statistics.
func TestLetterUpdatesAreHeapOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := mailbox.Letter{ID: "00000000-0000-4000-8000-000000000001", Tracking: "RR000000016BY", State: mailbox.StatePrintQueued,
		Route: mailbox.RoutePrint, RecipientJSON: []byte("{}"), ContentJSON: []byte("{}"), ContentKey: []byte{1},
		Subject: "тема", RecipientName: "Иванов", RecipientAddress: "г. Минск", CreatedAt: time.Unix(1_800_000_000, 0)}
	if err := s.InTx(ctx, func(tx mailbox.Tx) error { return tx.CreateLetters(ctx, []mailbox.Letter{l}) }); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stateIndexes []string
	rows, err := conn.Query(ctx, `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'letters'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(def, "state") {
			stateIndexes = append(stateIndexes, def)
		}
	}
	if rows.Close(); len(stateIndexes) > 0 {
		t.Errorf("indexes of letters name state, so every change of state writes every index: %q", stateIndexes)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// As UpdateLetters writes a printed letter: every column it sets,
	// the indexed ones unchanged.
	if _, err := tx.Exec(ctx, `UPDATE letters SET tracking = tracking, route = route, route_reason = route_reason,
		state = 'printed', recipient_mailbox = recipient_mailbox, read_at = read_at, last_evidence = 'h',
		evidence_count = evidence_count + 1, notification_id = notification_id, due_at = 0 WHERE id = $1`, l.ID); err != nil {
		t.Fatal(err)
	}
	var updated, hot int64
	if err := tx.QueryRow(ctx, `SELECT pg_stat_get_xact_tuples_updated('letters'::regclass),
		pg_stat_get_xact_tuples_hot_updated('letters'::regclass)`).Scan(&updated, &hot); err != nil {
		t.Fatal(err)
	}
	if updated != 1 || hot != 1 {
		t.Fatalf("updating a letter's state to printed: %d updated, %d of them heap-only; want 1 and 1", updated, hot)
	}
}
