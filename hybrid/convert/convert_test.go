package convert_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
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

// pdfText extracts a PDF's text with poppler's pdftotext, an independent
// reader.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftotext is missing (poppler-utils)")
		}
		t.Skip("pdftotext is missing")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
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
			text := pdfText(t, pdf)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the PDF lacks %q; its text:\n%s", w, text)
				}
			}
		})
	}
}
