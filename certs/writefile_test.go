package certs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/npes/npes/certs"
)

// TestWriteNewFile: the file appears whole with its mode, an existing file
// is never replaced, and no temporary file is left behind either way.
func TestWriteNewFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "key.pem")
	for _, tc := range []struct {
		name string
		data string
		want error
	}{
		{"new file", "first", nil},
		{"existing file", "second", fs.ErrExist},
	} {
		if err := certs.WriteNewFile(p, []byte(tc.data), 0o600); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != "first" {
			t.Fatalf("%s: file holds %q (%v), want the first write", tc.name, b, err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v %v", tc.name, fi.Mode(), err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) != 1 {
			t.Fatalf("%s: directory holds %v (%v), want only key.pem", tc.name, entries, err)
		}
	}
}
