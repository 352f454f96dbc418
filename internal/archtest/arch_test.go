// Package archtest enforces the layout rules of DESIGN.md §2: the core
// packages never import adapters (internal/...), transport or database
// libraries, and each package imports only what its row allows.
package archtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/npes/npes"

// forbiddenInCore are adapters no core package may depend on, directly or
// through another package.
var forbiddenInCore = []string{
	module + "/internal/",
	"github.com/go-chi/chi",
	"github.com/emersion/go-smtp",
	"github.com/jackc/pgx",
	"modernc.org/sqlite",
	"github.com/pressly/goose",
}

// forbiddenImports are standard-library packages no core package may import
// itself (a library it uses may: pdfcpu links net/http, uuid implements
// database/sql/driver interfaces).
var forbiddenImports = []string{"net/http", "database/sql"}

// allowedModules lists, per core package (prefix), the non-standard-library
// import paths it may use directly. Everything else outside the standard
// library is a violation.
var allowedModules = map[string][]string{
	"addressing": {},
	"signing":    {"github.com/cloudflare/circl", "golang.org/x/mod/sumdb/note", "github.com/transparency-dev/merkle", module + "/signing"},
	"certs":      {module + "/signing"},
	// x/text's norm: NFC of attachment names (mailbox/text.go).
	"mailbox":    {module + "/addressing", module + "/signing", module + "/certs", "github.com/google/uuid", "golang.org/x/text/unicode/norm"},
	"hybrid/pdf": {"github.com/jung-kurt/gofpdf", "github.com/boombuler/barcode", "github.com/pdfcpu/pdfcpu", "golang.org/x/image", module + "/hybrid/pdf"},
	"hybrid":     {module + "/mailbox", module + "/addressing", module + "/signing", module + "/hybrid/pdf", module + "/hybrid/convert", module + "/hybrid/pool", "github.com/google/uuid"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "-deps=false", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rule returns the allowed list for a package, or nil if it is not core.
func rule(importPath string) ([]string, bool) {
	rel := strings.TrimPrefix(importPath, module+"/")
	best := ""
	for prefix := range allowedModules {
		if (rel == prefix || strings.HasPrefix(rel, prefix+"/")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return nil, false
	}
	return allowedModules[best], true
}

func isStd(path string) bool {
	first := strings.SplitN(path, "/", 2)[0]
	return !strings.Contains(first, ".")
}

// violations checks packages against the rules; it is the unit under test.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		allowed, core := rule(p.ImportPath)
		if !core {
			continue
		}
		for _, dep := range append(append([]string{}, p.Imports...), p.Deps...) {
			for _, f := range forbiddenInCore {
				if strings.HasPrefix(dep, f) {
					out = append(out, fmt.Sprintf("%s depends on %s", p.ImportPath, dep))
				}
			}
		}
		for _, imp := range p.Imports {
			for _, f := range forbiddenImports {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					out = append(out, fmt.Sprintf("%s imports %s", p.ImportPath, imp))
				}
			}
		}
		for _, imp := range p.Imports {
			if isStd(imp) {
				continue
			}
			ok := false
			for _, a := range allowed {
				if imp == a || strings.HasPrefix(imp, a+"/") || strings.HasPrefix(imp, a) && a == module+"/hybrid/pdf" {
					ok = true
				}
			}
			if !ok {
				out = append(out, fmt.Sprintf("%s imports %s, which DESIGN.md §2 does not allow", p.ImportPath, imp))
			}
		}
	}
	return out
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations proves the check can fail.
func TestRulesCatchViolations(t *testing.T) {
	bad := []pkg{
		{ImportPath: module + "/mailbox", Imports: []string{module + "/internal/store/postgres"}},
		{ImportPath: module + "/signing", Imports: []string{"net/http"}},
		{ImportPath: module + "/addressing", Imports: []string{"github.com/google/uuid"}},
		{ImportPath: module + "/certs", Deps: []string{"github.com/jackc/pgx/v5"}},
		{ImportPath: module + "/mailbox", Imports: []string{"database/sql"}},
		{ImportPath: module + "/hybrid", Imports: []string{"github.com/go-chi/chi/v5"}},
	}
	got := violations(bad)
	if len(got) < len(bad) {
		t.Fatalf("violations found %d of %d: %v", len(got), len(bad), got)
	}
	good := []pkg{{ImportPath: module + "/mailbox", Imports: []string{"context", module + "/signing"}, Deps: []string{"net/netip"}}}
	if v := violations(good); len(v) != 0 {
		t.Fatalf("false positive: %v", v)
	}
}
