package signing_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports enforces DESIGN §2 for signing and its subpackages: the
// standard library (without net/http and database/sql), circl's ML-DSA,
// x/mod's note and transparency-dev/merkle; tests may add go-jose.
func TestImports(t *testing.T) {
	t.Parallel()
	allowed := func(path string, test bool) bool {
		switch {
		case path == "net/http" || strings.HasPrefix(path, "net/http/") || path == "database/sql":
			return false
		case !strings.Contains(strings.Split(path, "/")[0], "."):
			return true // standard library
		case path == "github.com/cloudflare/circl/sign/mldsa/mldsa65",
			path == "golang.org/x/mod/sumdb/note",
			strings.HasPrefix(path, "github.com/transparency-dev/merkle"),
			path == "github.com/npes/npes/signing" || strings.HasPrefix(path, "github.com/npes/npes/signing/"):
			return true
		case test && path == "github.com/go-jose/go-jose/v4":
			return true
		}
		return false
	}
	files := 0
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed(path, strings.HasSuffix(p, "_test.go")) {
				t.Errorf("%s imports %s", p, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 {
		t.Fatalf("checked only %d files", files)
	}
}
