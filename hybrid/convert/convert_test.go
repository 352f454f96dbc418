package convert_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/convert"
	"github.com/npes/npes/hybrid/convert/converttest"
	"github.com/npes/npes/mailbox"
)

// shared is one real converter for the tests that convert real documents:
// its profile template is prepared once.
var (
	sharedOnce sync.Once
	sharedConv *convert.Converter
	sharedErr  error
)

func shared(t *testing.T) *convert.Converter {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "npes-convert-test-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedConv, sharedErr = convert.New(convert.Options{TempDir: dir, Timeout: 90 * time.Second, Wait: 10 * time.Minute, Workers: 2})
	})
	if sharedErr != nil {
		// Same rule as converttest.New: skip locally, fail in CI.
		converttest.New(t, convert.Options{})
		t.Fatal(sharedErr)
	}
	return sharedConv
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedConv != nil {
		sharedConv.Close()
	}
	os.Exit(code)
}

func format(t *testing.T, typ string) mailbox.OfficeFormat {
	t.Helper()
	f, ok := mailbox.OfficeByType(typ)
	if !ok {
		t.Fatalf("no format %s", typ)
	}
	return f
}

func TestConvertDocuments(t *testing.T) {
	c := shared(t)
	for _, tc := range []struct {
		name, typ string
		data      []byte
		want      []string
	}{
		{"letter.docx", mailbox.TypeDOCX, converttest.DOCX(), []string{converttest.Russian, converttest.Belarusian, converttest.CellA, converttest.CellB}},
		{"letter.odt", mailbox.TypeODT, converttest.ODT(), []string{converttest.Russian, converttest.Belarusian, converttest.CellA, converttest.CellB}},
		{"table.xlsx", mailbox.TypeXLSX, converttest.XLSX(), []string{converttest.Russian, converttest.Belarusian, converttest.CellA, "12345"}},
		{"note.rtf", mailbox.TypeRTF, []byte(`{\rtf1\ansi\ansicpg1251 \u1030?\u1118? npes rtf\par}`), []string{"Іў npes rtf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pdf, err := c.ConvertToPDF(context.Background(), tc.name, format(t, tc.typ), tc.data)
			if err != nil {
				t.Fatal(err)
			}
			text := converttest.PDFText(t, pdf)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the PDF lacks %q; its text:\n%s", w, text)
				}
			}
		})
	}
}

// TestConvertKeepsImage: the DOCX's and the ODT's picture is in the
// rendition (pdfimages lists it).
func TestConvertKeepsImage(t *testing.T) {
	if _, err := exec.LookPath("pdfimages"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdfimages is missing") // CI installs it: a skip there would prove nothing
		}
		t.Skip("pdfimages is missing")
	}
	c := shared(t)
	for _, tc := range []struct {
		name, typ string
		data      []byte
	}{{"a.docx", mailbox.TypeDOCX, converttest.DOCX()}, {"a.odt", mailbox.TypeODT, converttest.ODT()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pdf, err := c.ConvertToPDF(context.Background(), tc.name, format(t, tc.typ), tc.data)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "r.pdf")
			if err := os.WriteFile(f, pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("pdfimages", "-list", f).Output()
			if err != nil {
				t.Fatal(err)
			}
			// Header lines, then one line per image: 40x30 pixels.
			if !regexp.MustCompile(`(?m)^\s*1\s+\d+\s+image\s+40\s+30\s`).Match(out) {
				t.Errorf("the picture is not in the PDF:\n%s", out)
			}
		})
	}
}

// TestMacroDoesNotRun: a document whose load event runs a Basic macro is
// converted without running it: the macro's text is not in the PDF.
func TestMacroDoesNotRun(t *testing.T) {
	c := shared(t)
	pdf, err := c.ConvertToPDF(context.Background(), "macro.odt", format(t, mailbox.TypeODT), converttest.MacroODT())
	if err != nil {
		t.Fatal(err)
	}
	text := converttest.PDFText(t, pdf)
	if !strings.Contains(text, converttest.Russian) {
		t.Fatalf("the document was not converted: %q", text)
	}
	if strings.Contains(text, converttest.MacroMark) {
		t.Fatalf("the macro ran: %q", text)
	}
}

// fakeSoffice writes a shell script that stands in for LibreOffice, in a
// directory of its own (bound read-only into the sandbox).
func fakeSoffice(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "soffice")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeConverter is a converter with a fake LibreOffice; it skips (fails in
// CI) where the sandbox tools are missing.
func fakeConverter(t *testing.T, body string, o convert.Options) *convert.Converter {
	t.Helper()
	return fakeConverterIn(t, t.TempDir(), body, o)
}

func fakeConverterIn(t *testing.T, dir, body string, o convert.Options) *convert.Converter {
	t.Helper()
	// The profile's warm-up conversion succeeds; body converts documents.
	o.Soffice = fakeSoffice(t, dir, fakePDF+`
case "$in" in */warmup.rtf) echo "%PDF-1.4" > "$out"; exit 0;; esac
`+body)
	return converttest.New(t, o)
}

// fakePDF is what a fake LibreOffice writes: the PDF name LibreOffice
// would use for the input (the last argument).
const fakePDF = `for a; do in="$a"; done; out=/w/out/$(basename "${in%.*}").pdf`

func codeOf(err error) string {
	var de *mailbox.Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}

// TestZipBombRefused: a package that expands beyond the budget is refused
// before LibreOffice starts.
func TestZipBombRefused(t *testing.T) {
	c := fakeConverter(t, `exit 1`, convert.Options{MaxExpandedBytes: 4 << 20})
	bomb := converttest.ZipBombDOCX(64 << 20)
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes: not a bomb", len(bomb))
	}
	_, err := c.ConvertToPDF(context.Background(), "bomb.docx", format(t, mailbox.TypeDOCX), bomb)
	if codeOf(err) != "conversion_too_large" {
		t.Fatalf("bomb: %v, want conversion_too_large", err)
	}
	// Within the budget the same document reaches the converter (which
	// fails here).
	_, err = c.ConvertToPDF(context.Background(), "ok.docx", format(t, mailbox.TypeDOCX), converttest.ZipBombDOCX(1<<20))
	if codeOf(err) != "conversion_failed" {
		t.Fatalf("a package within the budget: %v, want conversion_failed from the converter", err)
	}
}

// TestTimeoutKillsProcessGroup: a converter that never finishes, and
// leaves a child behind, is killed as a whole at the timeout and the
// document refused with conversion_timeout.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	// A unique sleep length marks this test's processes in /proc.
	marker := fmt.Sprintf("%d", 900000+time.Now().UnixNano()%99999)
	c := fakeConverter(t, `sleep `+marker+` & sleep `+marker, convert.Options{Timeout: 2 * time.Second})
	_, err := c.ConvertToPDF(context.Background(), "slow.rtf", format(t, mailbox.TypeRTF), []byte(`{\rtf1 x}`))
	if codeOf(err) != "conversion_timeout" {
		t.Fatalf("got %v, want conversion_timeout", err)
	}
	// Every process of the conversion is gone (polled: the kernel reaps
	// the PID namespace asynchronously).
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := processesWith(t, "sleep\x00"+marker)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes of the conversion are still running", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processesWith counts processes whose command line contains s.
func processesWith(t *testing.T, s string) int {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
	}
	return n
}

// TestSandbox: the converter sees no network but loopback, none of the
// host's files outside the programs and fonts, and runs under the memory
// limit.
func TestSandbox(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := `
{ echo "%PDF-1.4"
  echo "net:"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
  echo "secret:"; cat ` + secret + ` 2>/dev/null || echo unreadable
  echo "etc:"; ls /etc | tr '\n' ' '; echo
  echo "as:"; grep '^Max address space' /proc/self/limits | tr -s ' ' | cut -d' ' -f4
} > "$out"`
	c := fakeConverter(t, body, convert.Options{MemoryBytes: 900 << 20})
	out, err := c.ConvertToPDF(context.Background(), "x.rtf", format(t, mailbox.TypeRTF), []byte(`{\rtf1 x}`))
	if err != nil {
		t.Fatal(err)
	}
	report := string(out)
	for _, want := range []string{"net:\nlo\nsecret:", "secret:\nunreadable", "as:\n" + fmt.Sprint(900<<20)} {
		if !strings.Contains(report, want) {
			t.Errorf("sandbox report lacks %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, "passwd") || strings.Contains(report, "shadow") {
		t.Errorf("the sandbox sees the host's /etc:\n%s", report)
	}
}

// TestMemoryLimit: LibreOffice cannot start within a 64 MiB address
// space; the document is refused, not converted without the limit.
func TestMemoryLimit(t *testing.T) {
	c := converttest.New(t, convert.Options{MemoryBytes: 64 << 20, Timeout: 60 * time.Second})
	_, err := c.ConvertToPDF(context.Background(), "a.rtf", format(t, mailbox.TypeRTF), []byte(`{\rtf1 x}`))
	if code := codeOf(err); code != "conversion_unavailable" && code != "conversion_failed" && code != "conversion_too_large" {
		t.Fatalf("got %v, want a refusal", err)
	}
}

// TestPoolFull: with every converter busy, a conversion is refused at
// once with conversion_busy (mailbox.ErrUnavailable: 503 with
// Retry-After), and the busy one completes.
func TestPoolFull(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	// The program directory is bound into the sandbox, so the fake sees
	// the release file the test creates there.
	c := fakeConverterIn(t, dir, `while [ ! -e `+release+` ]; do sleep 0.05; done; echo "%PDF-1.4" > "$out"`,
		convert.Options{Workers: 1, Wait: -1, Timeout: 60 * time.Second})
	done := make(chan error, 1)
	go func() {
		_, err := c.ConvertToPDF(context.Background(), "a.rtf", format(t, mailbox.TypeRTF), []byte(`{\rtf1 a}`))
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for processesWith(t, filepath.Join(dir, "soffice")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the first conversion did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err := c.ConvertToPDF(context.Background(), "b.rtf", format(t, mailbox.TypeRTF), []byte(`{\rtf1 b}`))
	if codeOf(err) != "conversion_busy" || !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("second conversion: %v, want conversion_busy", err)
	}
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first conversion: %v", err)
	}
}
