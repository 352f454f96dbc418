package pdf_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/pdf"
)

// testDate is the only time in the tests.
func testDate() time.Time {
	return time.Date(2026, 11, 22, 10, 30, 0, 0, time.FixedZone("Europe/Minsk", 3*3600))
}

func newRenderer(t testing.TB) *pdf.Renderer {
	t.Helper()
	r, err := pdf.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// s10 returns the UPU S10 id for serial with its check digit (weights
// 8 6 4 2 3 5 9 7; 11 - sum mod 11; 10 → 0, 11 → 5).
func s10(prefix string, serial int, country string) string {
	digits := fmt.Sprintf("%08d", serial)
	w := []int{8, 6, 4, 2, 3, 5, 9, 7}
	sum := 0
	for i, c := range digits {
		sum += int(c-'0') * w[i]
	}
	check := 11 - sum%11
	switch check {
	case 10:
		check = 0
	case 11:
		check = 5
	}
	return prefix + digits + strconv.Itoa(check) + country
}

// needTool returns the path of a command-line tool. Outside CI a missing
// tool skips the test; in CI (CI=true) it fails it, because .ci/run
// installs poppler-utils, qpdf, dmtx-utils and zbar-tools.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (apt-get install poppler-utils qpdf dmtx-utils zbar-tools): %v", name, err)
		}
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (apt-get install poppler-utils qpdf dmtx-utils zbar-tools)", name) // CI installs it: a skip there would prove nothing
		}
		t.Skipf("%s not installed (apt-get install poppler-utils qpdf dmtx-utils zbar-tools)", name)
	}
	return p
}

// run runs a tool and returns its standard output; a non-zero exit fails
// the test with the tool's error output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(needTool(t, name), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func writePDF(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// pageText extracts page n (1-based) as text, whitespace collapsed.
func pageText(t testing.TB, file string, n int) string {
	t.Helper()
	return collapse(run(t, "pdftotext", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), file, "-"))
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// pdfPages returns the page count pdfinfo reports.
func pdfPages(t testing.TB, file string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindStringSubmatch(run(t, "pdfinfo", file))
	if m == nil {
		t.Fatalf("pdfinfo reports no page count for %s", file)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// dataMatrixAt decodes the Data Matrix in the bottom-left corner of page
// n, rendered at 200 dpi.
func dataMatrixAt(t testing.TB, file string, n int) string {
	t.Helper()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "corner")
	// The corner: 0–30 mm from the left, 250–297 mm from the top of an
	// A4 page (at 200 dpi: 7.874 px/mm).
	run(t, "pdftoppm", "-r", "200", "-png", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n),
		"-x", "0", "-y", "1968", "-W", "236", "-H", "370", "-singlefile", file, prefix)
	return strings.TrimSpace(run(t, "dmtxread", "-n", "-N1", "-m", "2000", prefix+".png"))
}

// dataMatrixOnPage decodes the Data Matrix anywhere on page n.
func dataMatrixOnPage(t testing.TB, file string, n int) string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "page")
	run(t, "pdftoppm", "-r", "200", "-png", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), "-singlefile", file, prefix)
	return strings.TrimSpace(run(t, "dmtxread", "-n", "-N1", "-m", "5000", prefix+".png"))
}

// barcodes decodes the Code 128 symbols on page 1.
func barcodes(t testing.TB, file string) []string {
	t.Helper()
	prefix := filepath.Join(t.TempDir(), "p1")
	run(t, "pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", "-singlefile", file, prefix)
	out := run(t, "zbarimg", "-q", "--raw", "--nodbus", prefix+".png")
	return strings.Fields(out)
}

type word struct {
	x0, y0, x1, y1 float64 // points from the top-left corner
	text           string
}

// words returns the words of page 1 with their boxes (pdftotext -bbox).
func words(t testing.TB, file string) []word { t.Helper(); return wordsOn(t, file, 1) }

// wordsOn returns the words of page n with their boxes.
func wordsOn(t testing.TB, file string, n int) []word {
	t.Helper()
	out := run(t, "pdftotext", "-bbox", "-f", strconv.Itoa(n), "-l", strconv.Itoa(n), file, "-")
	wordRE := regexp.MustCompile(`<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>`)
	var ws []word
	for _, m := range wordRE.FindAllStringSubmatch(out, -1) {
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		ws = append(ws, word{f(m[1]), f(m[2]), f(m[3]), f(m[4]), htmlUnescape(m[5])})
	}
	return ws
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'").Replace(s)
}

// pdfFont is one row of pdffonts.
type pdfFont struct {
	name          string
	emb, sub, uni bool
}

func fonts(t testing.TB, file string) []pdfFont {
	t.Helper()
	var fs []pdfFont
	for i, line := range strings.Split(run(t, "pdffonts", file), "\n") {
		f := strings.Fields(line)
		if i < 2 || len(f) < 7 {
			continue // header
		}
		n := len(f)
		fs = append(fs, pdfFont{name: f[0], emb: f[n-5] == "yes", sub: f[n-4] == "yes", uni: f[n-3] == "yes"})
	}
	return fs
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
