package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/boombuler/barcode/qr"
	"github.com/jung-kurt/gofpdf"
)

// Receipt is a human-readable proof of a letter for its parties to print
// and keep: the texts come already translated (the renderer knows no
// language), the QR code links to the public verify page where the
// evidence bundle, not this paper, is checked.
type Receipt struct {
	Lang     string // BCP 47 tag of the texts (in the keywords: gofpdf writes no /Lang)
	Title    string
	Intro    string
	Sections []ReceiptSection
	// QR is the URL the QR code carries; QRCaption is printed under it.
	QR, QRCaption string
	Footer        string
	// Created is the document's creation date: output is deterministic
	// for given inputs (a golden hash can be compared).
	Created time.Time
}

// ReceiptSection is a heading and its label–value rows.
type ReceiptSection struct {
	Heading string
	Rows    []ReceiptRow
}

// ReceiptRow is one fact. Code marks a value set in a way that keeps hex
// digests and identifiers legible (broken anywhere, no hyphenation).
type ReceiptRow struct {
	Label, Value string
	Code         bool
}

// maxReceiptRows bounds a receipt (a letter's events are few; a runaway
// caller must not make a thousand-page document).
const maxReceiptRows = 400

// A4 in millimetres, and the receipt's margins.
const (
	rcptW, rcptH  = 210.0, 297.0
	rcptMargin    = 18.0
	rcptLabelW    = 52.0
	rcptQRModule  = 1.0 // mm: ~6 px at 150 dpi, decodable from a phone photo or a scan
	rcptQRQuiet   = 4   // modules (ISO/IEC 18004 §6.3.8)
	rcptLineH     = 4.6
	rcptTextSize  = 9.5
	rcptHeadSize  = 12.0
	rcptTitleSize = 17.0
)

// RenderReceipt renders r as a PDF with the Go fonts embedded (Latin and
// Cyrillic, Belarusian і and ў included), so it prints and extracts the
// same everywhere.
func RenderReceipt(r Receipt) ([]byte, error) {
	rows := 0
	for _, s := range r.Sections {
		rows += len(s.Rows)
	}
	if rows > maxReceiptRows {
		return nil, fmt.Errorf("pdf: receipt has %d rows, at most %d", rows, maxReceiptRows)
	}
	f := gofpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(r.Created)
	f.SetModificationDate(r.Created)
	f.SetCatalogSort(true)
	f.SetCompression(true)
	if r.Lang != "" {
		f.SetKeywords("lang:"+r.Lang, true)
	}
	f.SetTitle(clean(r.Title), true)
	f.SetCreator("npes", true)
	for _, face := range fontFaces() {
		f.AddUTF8FontFromBytes(fontFamily, face.style, face.ttf)
	}
	f.SetMargins(rcptMargin, rcptMargin, rcptMargin)
	f.SetAutoPageBreak(true, rcptMargin+8)
	footer := clean(r.Footer)
	f.SetFooterFunc(func() {
		f.SetY(-rcptMargin - 4)
		f.SetFont(fontFamily, "", 7.5)
		f.SetTextColor(60, 60, 60)
		f.MultiCell(0, 3.6, footer+fmt.Sprintf("  ·  %d/{nb}", f.PageNo()), "", "L", false)
	})
	f.AliasNbPages("{nb}")
	f.AddPage()

	// The QR code sits top right; the title and intro flow left of it.
	qrSize := 0.0
	if r.QR != "" {
		code, err := qr.Encode(r.QR, qr.M, qr.Auto)
		if err != nil {
			return nil, fmt.Errorf("pdf: receipt QR: %w", err)
		}
		n := code.Bounds().Dx()
		qrSize = float64(n+2*rcptQRQuiet) * rcptQRModule
		x0, y0 := rcptW-rcptMargin-qrSize, rcptMargin
		f.SetFillColor(0, 0, 0)
		for y := range n {
			for x := 0; x < n; {
				if !dark(code.At(x, y)) {
					x++
					continue
				}
				run := x
				for run < n && dark(code.At(run, y)) {
					run++
				}
				f.Rect(x0+float64(rcptQRQuiet+x)*rcptQRModule, y0+float64(rcptQRQuiet+y)*rcptQRModule,
					float64(run-x)*rcptQRModule, rcptQRModule, "F")
				x = run
			}
		}
		f.SetFont(fontFamily, "", 7.5)
		f.SetXY(x0, y0+qrSize)
		f.MultiCell(qrSize, 3.4, clean(r.QRCaption), "", "C", false)
	}
	textW := rcptW - 2*rcptMargin - qrSize - 4
	f.SetXY(rcptMargin, rcptMargin+2)
	f.SetFont(fontFamily, "B", rcptTitleSize)
	f.MultiCell(textW, 7.5, clean(r.Title), "", "L", false)
	f.Ln(2)
	f.SetFont(fontFamily, "", rcptTextSize)
	f.MultiCell(textW, rcptLineH, clean(r.Intro), "", "L", false)
	if y := rcptMargin + qrSize + 12; f.GetY() < y && qrSize > 0 {
		f.SetY(y)
	}
	for _, s := range r.Sections {
		f.Ln(4)
		// Keep a heading with its first row.
		if f.GetY() > rcptH-rcptMargin-30 {
			f.AddPage()
		}
		f.SetFont(fontFamily, "B", rcptHeadSize)
		f.MultiCell(0, 6, clean(s.Heading), "B", "L", false)
		f.Ln(1.5)
		for _, row := range s.Rows {
			row.Label, row.Value = clean(row.Label), clean(row.Value)
			f.SetFont(fontFamily, "", rcptTextSize)
			valueW := rcptW - 2*rcptMargin - rcptLabelW
			lines := f.SplitText(row.Value, valueW)
			if row.Code {
				lines = splitCode(f, row.Value, valueW)
			}
			f.SetFont(fontFamily, "B", rcptTextSize)
			labels := f.SplitText(row.Label, rcptLabelW-2)
			h := float64(max(len(lines), len(labels), 1)) * rcptLineH
			if f.GetY()+h > rcptH-rcptMargin-8 {
				f.AddPage()
			}
			y := f.GetY()
			for i, l := range labels {
				f.SetXY(rcptMargin, y+float64(i)*rcptLineH)
				f.CellFormat(rcptLabelW-2, rcptLineH, l, "", 0, "L", false, 0, "")
			}
			f.SetFont(fontFamily, "", rcptTextSize)
			for i, l := range lines {
				f.SetXY(rcptMargin+rcptLabelW, y+float64(i)*rcptLineH)
				f.CellFormat(valueW, rcptLineH, l, "", 0, "L", false, 0, "")
			}
			f.SetXY(rcptMargin, y+h+1.2)
		}
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, fmt.Errorf("pdf: receipt: %w", err)
	}
	if buf.Len() == 0 {
		return nil, errors.New("pdf: receipt: empty output")
	}
	return buf.Bytes(), nil
}

// splitCode breaks a code (a digest, an id) into lines at any character,
// keeping its own line breaks.
func splitCode(f *gofpdf.Fpdf, s string, w float64) []string {
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, r := range para {
			if line != "" && f.GetStringWidth(line+string(r)) > w {
				out = append(out, line)
				line = ""
			}
			line += string(r)
		}
		out = append(out, line)
	}
	return out
}

func dark(c interface{ RGBA() (r, g, b, a uint32) }) bool {
	r, _, _, _ := c.RGBA()
	return r < 0x8000
}

// clean makes a text safe for gofpdf and the Go fonts: controls other than
// line breaks are dropped, and runes above U+FFFF (gofpdf's SplitText
// panics on them, DESIGN §10) become U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n':
			return r
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r):
			return -1
		case r > 0xFFFF:
			return '\uFFFD'
		}
		return r
	}, s)
}
