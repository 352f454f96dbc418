package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/npes/npes/internal/store/postgres"
	"github.com/npes/npes/internal/store/storetest"
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
