package pdf_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/pdf"
)

func sampleReceipt() pdf.Receipt {
	digest := strings.Repeat("0123456789abcdef", 4)
	return pdf.Receipt{
		Lang: "be", Title: "Квітанцыя аб лісце", Intro: "Гэтая квітанцыя пералічвае, што пошта запісала пра ліст.",
		Sections: []pdf.ReceiptSection{
			{Heading: "Ліст", Rows: []pdf.ReceiptRow{
				{Label: "Тэма", Value: "Аб рамонце даху ў доме № 7 — зварот жыхароў 😀"},
				{Label: "Трэк-нумар", Value: "RR000000017BY", Code: true},
			}},
			{Heading: "Хэшы (SHA-256)", Rows: []pdf.ReceiptRow{{Label: "Змест", Value: digest, Code: true}}},
			{Heading: "Што адбылося", Rows: []pdf.ReceiptRow{{Label: "3 снежня 2026 г., 14:05", Value: "Адпраўнік адклікаў ліст.\u202e"}}},
		},
		QR: "https://localhost:8443/verify", QRCaption: "Праверыць пакет: https://localhost:8443/verify",
		Footer: "npes", Created: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC),
	}
}

// TestReceiptReadable: the receipt's text (Cyrillic, Belarusian ў and і,
// a full hex digest) extracts with pdftotext, and its QR code decodes with
// zbarimg from a 150 dpi rendering to the verify page's URL.
func TestReceiptReadable(t *testing.T) {
	doc, err := pdf.RenderReceipt(sampleReceipt())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "receipt.pdf")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	text := run(t, "pdftotext", "-layout", file, "-")
	flat := strings.Join(strings.Fields(text), " ")
	for _, want := range []string{"Квітанцыя аб лісце", "Аб рамонце даху ў доме № 7", "RR000000017BY", "Адпраўнік адклікаў ліст.", "Праверыць пакет:"} {
		if !strings.Contains(flat, want) {
			t.Errorf("pdftotext lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(strings.ReplaceAll(flat, " ", ""), strings.Repeat("0123456789abcdef", 4)) {
		t.Errorf("the digest is not extractable whole:\n%s", text)
	}
	if strings.ContainsRune(text, '\u202e') {
		t.Error("a bidirectional override reached the PDF")
	}
	fonts := run(t, "pdffonts", file)
	embedded := 0
	for _, line := range strings.Split(fonts, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[len(f)-6] == "Identity-H" && f[len(f)-5] == "yes" {
			embedded++
		}
	}
	if embedded != 2 {
		t.Errorf("want the two Go faces embedded:\n%s", fonts)
	}
	run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", file, filepath.Join(dir, "page"))
	out := run(t, "zbarimg", "--quiet", "--raw", filepath.Join(dir, "page.png"))
	if strings.TrimSpace(out) != "https://localhost:8443/verify" {
		t.Errorf("zbarimg read %q", out)
	}
}

// TestReceiptDeterministic: the same receipt renders to the same bytes.
func TestReceiptDeterministic(t *testing.T) {
	a, err := pdf.RenderReceipt(sampleReceipt())
	if err != nil {
		t.Fatal(err)
	}
	b, err := pdf.RenderReceipt(sampleReceipt())
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("two renderings differ (%d, %d bytes), %v", len(a), len(b), err)
	}
}

// TestReceiptBounded: a runaway row count is refused, not rendered.
func TestReceiptBounded(t *testing.T) {
	r := sampleReceipt()
	rows := make([]pdf.ReceiptRow, 1000)
	r.Sections = []pdf.ReceiptSection{{Heading: "x", Rows: rows}}
	if _, err := pdf.RenderReceipt(r); err == nil {
		t.Error("a 1000-row receipt was rendered")
	}
}
