package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/npes/npes/internal/store/sqlite"
	"github.com/npes/npes/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, storetest.NewSQLite)
}

func TestReopenKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "npes.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v1, _ := s.SchemaVersion(ctx)
	s.Close()
	s, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	v2, _ := s.SchemaVersion(ctx)
	if v1 != v2 || v1 == 0 {
		t.Fatalf("schema version %d then %d", v1, v2)
	}
}

func TestOpenUnwritable(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing", "dir")
	if _, err := sqlite.Open(context.Background(), filepath.Join(dir, "npes.db"), sqlite.Options{}); err == nil {
		t.Fatal("Open in a missing directory succeeded")
	}
	_ = os.Remove(dir)
}
