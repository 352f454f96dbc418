package pdf_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// The window of a DL envelope over the DIN 5008 address field: 20–105 mm
// from the left, 45–90 mm from the top, in points (pdftotext -bbox units).
const (
	ptPerMM     = 72 / 25.4
	windowX0    = 20 * ptPerMM
	windowX1    = 105 * ptPerMM
	windowY0    = 45 * ptPerMM
	windowY1    = 90 * ptPerMM
	bboxTolerPt = 0.5
)

type testAddress struct {
	raw   string
	lines []string
}

// loadAddresses reads the shared real-world addresses (a copy of
// shared/testdata/addresses_by.tsv, so the test is self-contained). The lines are made
// by hand from the raw address, split at commas and line breaks: the
// addressing package formats them properly, but the renderer must cope
// with whatever it is given.
func loadAddresses(t *testing.T) []testAddress {
	t.Helper()
	path := filepath.Join("testdata", "addresses_by.tsv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("addresses: %v", err)
	}
	defer f.Close()
	var as []testAddress
	s := bufio.NewScanner(f)
	for first := true; s.Scan(); first = false {
		raw, _, _ := strings.Cut(s.Text(), "\t")
		if first || strings.TrimSpace(raw) == "" {
			continue
		}
		raw = strings.ReplaceAll(raw, `\n`, "\n")
		var lines []string
		for _, part := range strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || r == '\n' }) {
			if p := strings.TrimSpace(part); p != "" {
				lines = append(lines, p)
			}
		}
		as = append(as, testAddress{raw: raw, lines: lines})
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(as) < 10 {
		t.Fatalf("only %d addresses in %s", len(as), path)
	}
	return as
}

// TestAddressesWithTools renders a registered letter to every shared
// address and checks the PDF with independent tools: qpdf, poppler
// (pdffonts, pdftotext, pdftoppm), libdmtx and zbar.
func TestAddressesWithTools(t *testing.T) {
	for _, tool := range []string{"qpdf", "pdffonts", "pdftotext", "pdftoppm", "pdfinfo", "dmtxread", "zbarimg"} {
		needTool(t, tool)
	}
	r := newRenderer(t)
	names := []string{"Иванову Ивану Ивановичу", "Іванову Івану Івановічу", "ООО «Ромашка»", "Petrov Piotr", "Ўладзіміру Ўсціновічу"}
	for i, a := range loadAddresses(t) {
		t.Run(fmt.Sprintf("%02d", i+1), func(t *testing.T) {
			l := pdf.Letter{
				ID:            fmt.Sprintf("0b6a6f2e-9c1d-4f7e-8a52-%012d", i+1),
				Tracking:      s10("RR", 10000000+i*7919, "BY"),
				SenderLine:    "ОАО «Белтелеком», 220030, г. Минск, ул. Энгельса, 6",
				RecipientName: names[i%len(names)],
				AddressLines:  a.lines,
				Subject:       "Проверка адреса",
				Body:          "Тестовое письмо. Інфармацыя ўзята з адраса:\n" + a.raw,
				Date:          testDate(),
			}
			res, err := r.Render(l)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res.Warnings {
				if strings.Contains(w, "shortened") {
					t.Errorf("a real address must fit the window unshortened: %s", w)
				}
			}
			file := writePDF(t, res.PDF)

			out := run(t, "qpdf", "--check", file)
			if !strings.Contains(out, "No syntax or stream encoding errors") {
				t.Errorf("qpdf --check:\n%s", out)
			}

			fs := fonts(t, file)
			if len(fs) == 0 {
				t.Error("pdffonts lists no fonts")
			}
			for _, f := range fs {
				if !f.emb || !f.uni {
					t.Errorf("font %s: embedded %v, Unicode map %v; want both", f.name, f.emb, f.uni)
				}
			}

			text := pageText(t, file, 1)
			expect := append([]string{l.RecipientName}, a.lines...)
			expect = append(expect, "Тестовое письмо. Інфармацыя ўзята з адраса:", collapse(a.raw))
			for _, want := range expect {
				if !strings.Contains(text, collapse(want)) {
					t.Errorf("pdftotext lacks %q in:\n%s", want, text)
				}
			}

			checkWindow(t, file, expect[:1+len(a.lines)])

			if got, want := dataMatrixAt(t, file, 1), l.ID+"|p1/1|s1/1"; got != want {
				t.Errorf("Data Matrix = %q, want %q", got, want)
			}
			if got := barcodes(t, file); len(got) != 1 || got[0] != l.Tracking {
				t.Errorf("Code 128 = %q, want [%s]", got, l.Tracking)
			}
		})
	}
}

// checkWindow checks with pdftotext -bbox that every word of the name and
// address lines lies inside the window, and that no word straddles the
// window's edge.
func checkWindow(t *testing.T, file string, lines []string) {
	t.Helper()
	inside := map[string]int{}
	for _, w := range words(t, file) {
		overlaps := w.x1 > windowX0 && w.x0 < windowX1 && w.y1 > windowY0 && w.y0 < windowY1
		contained := w.x0 >= windowX0-bboxTolerPt && w.x1 <= windowX1+bboxTolerPt &&
			w.y0 >= windowY0-bboxTolerPt && w.y1 <= windowY1+bboxTolerPt
		if overlaps && !contained {
			t.Errorf("word %q at (%.1f,%.1f)-(%.1f,%.1f) pt crosses the window edge", w.text, w.x0, w.y0, w.x1, w.y1)
		}
		if contained {
			// Lines joined to fit the window are separated by commas.
			inside[strings.TrimSuffix(w.text, ",")]++
		}
	}
	for _, l := range lines {
		for _, w := range strings.Fields(l) {
			w = strings.TrimSuffix(w, ",")
			if inside[w] == 0 {
				t.Errorf("address word %q is not inside the window (20–105 × 45–90 mm)", w)
				continue
			}
			inside[w]--
		}
	}
}

// TestLongNameWrapsInWindow: a long organization name wraps onto more
// lines inside the window, every word whole and no smaller than 8 pt —
// the size of the footer, whose word height pdftotext reports alike.
func TestLongNameWrapsInWindow(t *testing.T) {
	needTool(t, "pdftotext")
	l := letterWith()
	l.RecipientName = "Коммунальное унитарное предприятие «Гомельское городское жилищное коммунальное хозяйство»"
	l.AddressLines = []string{"ул. Ирининская, д. 23, пом. 4", "г. Гомель", "Гомельская обл.", "246050"}
	l.Language = pdf.Russian
	res, err := newRenderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	file := writePDF(t, res.PDF)
	checkWindow(t, file, append([]string{l.RecipientName}, l.AddressLines...))
	var footerH float64
	for _, w := range words(t, file) {
		if w.text == "Страница" && w.y0 > 280*ptPerMM {
			footerH = w.y1 - w.y0
		}
	}
	if footerH == 0 {
		t.Fatal("no footer word found")
	}
	addressWords := map[string]bool{}
	for _, line := range append([]string{l.RecipientName}, l.AddressLines...) {
		for _, w := range strings.Fields(line) {
			addressWords[w] = true
		}
	}
	for _, w := range words(t, file) {
		inWindow := w.x0 >= windowX0 && w.x1 <= windowX1 && w.y0 >= windowY0+17.7*ptPerMM && w.y1 <= windowY1
		if inWindow && addressWords[w.text] && w.y1-w.y0 < footerH-0.01 {
			t.Errorf("address word %q is %.2f pt high, the 8 pt footer %.2f pt: smaller than 8 pt", w.text, w.y1-w.y0, footerH)
		}
	}
}

// TestMergedPDFWithTools checks a letter with attached PDFs: the pages
// follow the letter in the order of the attachment list, each carries a Data Matrix with the right page
// and sheet numbers (a rotated page included), the dates are the letter's,
// and the result is stable.
func TestMergedPDFWithTools(t *testing.T) {
	for _, tool := range []string{"qpdf", "pdftotext", "pdftoppm", "pdfinfo", "dmtxread"} {
		needTool(t, tool)
	}
	r := newRenderer(t)
	l := letterWith(
		pdf.Attachment{Name: "договор.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{pages: 2, text: "Attached contract"})},
		pdf.Attachment{Name: "схема.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{pages: 1, rotate: 90, letterSize: true, text: "Rotated scheme"})},
		pdf.Attachment{Name: "заметка.txt", ContentType: "text/plain; charset=utf-8", Data: []byte("Тэкст прыкладання.")},
	)
	l.Duplex, l.Language = true, pdf.Russian
	res, err := r.Render(l)
	if err != nil {
		t.Fatal(err)
	}
	// Letter page, text attachment page, then 2 + 1 merged pages.
	if res.Pages != 5 || res.Sheets != 3 {
		t.Fatalf("pages %d, sheets %d; want 5, 3", res.Pages, res.Sheets)
	}
	again, err := r.Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != again.SHA256 {
		t.Fatal("merged letter renders differently twice")
	}
	file := writePDF(t, res.PDF)
	if out := run(t, "qpdf", "--check", file); !strings.Contains(out, "No syntax or stream encoding errors") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	if n := pdfPages(t, file); n != res.Pages {
		t.Errorf("pdfinfo: %d pages, Result.Pages %d", n, res.Pages)
	}
	info := run(t, "pdfinfo", "-isodates", file)
	if !strings.Contains(info, "2026-11-22T07:30:00") {
		t.Errorf("pdfinfo dates are not the letter's date (2026-11-22T07:30:00Z):\n%s", info)
	}
	// The attachments in the order of the list, each page under its band.
	for p, want := range map[int][]string{
		2: {"Приложение 1, страница 1 из 2: договор.pdf", "Attached contract 1"},
		3: {"Приложение 1, страница 2 из 2: договор.pdf", "Attached contract 2"},
		4: {"Приложение 2, страница 1 из 1: схема.pdf", "Rotated scheme 1"},
		5: {"Приложение 3, страница 1 из 1: заметка.txt", "Тэкст прыкладання."},
	} {
		got := pageText(t, file, p)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("page %d text %q lacks %q", p, got, w)
			}
		}
	}
	for p := 1; p <= 5; p++ {
		want := fmt.Sprintf("%s|p%d/5|s%d/3", l.ID, p, (p+1)/2)
		if got := dataMatrixOnPage(t, file, p); got != want {
			t.Errorf("page %d: Data Matrix %q, want %q", p, got, want)
		}
	}
}

// TestPaginationWithTools renders numbered lines and checks that each
// appears exactly once, in order, on the pages the renderer reports.
func TestPaginationWithTools(t *testing.T) {
	needTool(t, "pdftotext")
	var b strings.Builder
	const lines = 120 // ~32 fit on page 1, 50 on each further page
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, "строка %03d\n", i)
	}
	l := letterWith()
	l.Body = b.String()
	res, err := newRenderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 3 {
		t.Fatalf("%d lines: %d pages, want 3", lines, res.Pages)
	}
	file := writePDF(t, res.PDF)
	next := 1
	for p := 1; p <= res.Pages; p++ {
		fs := strings.Fields(pageText(t, file, p))
		for i := 1; i < len(fs); i++ {
			var n int
			if fs[i-1] != "строка" {
				continue
			}
			if _, err := fmt.Sscanf(fs[i], "%d", &n); err != nil {
				t.Fatalf("page %d: %q after строка", p, fs[i])
			}
			if n != next {
				t.Fatalf("page %d: line %d follows line %d", p, n, next-1)
			}
			next++
		}
	}
	if next != lines+1 {
		t.Fatalf("found %d of %d lines", next-1, lines)
	}
}

// TestActivationWithTools checks the activation letter on paper.
func TestActivationWithTools(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdftoppm", "dmtxread", "qpdf"} {
		needTool(t, tool)
	}
	a := pdf.Activation{
		ID:            "act-7d0c2b1e",
		RecipientName: "Ўладзіміру Ўсціновічу",
		AddressLines:  []string{"вул. Першамайская, 24/2, пам. 102Б", "г. Мінск", "220088"},
		Code:          "K7QX-2M9D",
		MailboxID:     "mbx-41f3",
		Date:          testDate(),
	}
	res, err := newRenderer(t).RenderActivation(a)
	if err != nil {
		t.Fatal(err)
	}
	file := writePDF(t, res.PDF)
	if out := run(t, "qpdf", "--check", file); !strings.Contains(out, "No syntax or stream encoding errors") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	text := pageText(t, file, 1)
	for _, want := range []string{a.RecipientName, "г. Мінск", "K7QX-2M9D", "mbx-41f3", "код активации"} {
		if !strings.Contains(text, want) {
			t.Errorf("activation letter lacks %q:\n%s", want, text)
		}
	}
	checkWindow(t, file, append([]string{a.RecipientName}, a.AddressLines...))
	if got, want := dataMatrixAt(t, file, 1), a.ID+"|p1/1|s1/1"; got != want {
		t.Errorf("Data Matrix = %q, want %q", got, want)
	}
}

// TestLabelsFollowLanguage: the fixed labels are Belarusian or Russian as
// the letter says, or as its text shows when it says nothing.
func TestLabelsFollowLanguage(t *testing.T) {
	needTool(t, "pdftotext")
	r := newRenderer(t)
	be := []string{"ЗАКАЗНАЕ", "Нумар ліста", "Заказны ліст", "Дадаткі:", "Дадатак 1. заўвага.txt", "Ліст ", "Старонка 1 з 2"}
	ru := []string{"ЗАКАЗНОЕ", "Номер письма", "Заказное письмо", "Приложения:", "Приложение 1. заўвага.txt", "Письмо ", "Страница 1 из 2"}
	for _, tc := range []struct {
		name, lang, body string
		want, not        []string
	}{
		{"Belarusian text", "", "Паведамляем, што ваш рахунак ужо аплачаны і закрыты.", be, ru},
		{"Russian text", "", "Сообщаем, что ваш счёт уже оплачен и закрыт.", ru, be},
		{"Russian text, Belarusian chosen", pdf.Belarusian, "Сообщаем, что ваш счёт уже оплачен и закрыт.", be, ru},
		{"no Cyrillic", "", "Invoice 42 paid.", ru, be},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := letterWith(pdf.Attachment{Name: "заўвага.txt", ContentType: "text/plain", Data: []byte("x")})
			l.Subject, l.Body, l.Language = "", tc.body, tc.lang
			res, err := r.Render(l)
			if err != nil {
				t.Fatal(err)
			}
			file := writePDF(t, res.PDF)
			text := pageText(t, file, 1) + " " + pageText(t, file, 2)
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(text, w) && !slices.Contains(tc.want, w) {
					t.Errorf("text has %q of the other language", w)
				}
			}
		})
	}
	l := letterWith()
	l.Language = "uk"
	if _, err := r.Render(l); !errors.Is(err, pdf.ErrInvalidLetter) {
		t.Errorf("language uk: %v, want ErrInvalidLetter", err)
	}
}

// TestAttachmentPagesOnA4: attached pages of any size and orientation
// print on A4 portrait, inside the attachment area below the header band
// — content at their very edges included — a landscape page turned a
// quarter counter-clockwise, nothing enlarged.
func TestAttachmentPagesOnA4(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdfinfo", "qpdf"} {
		needTool(t, tool)
	}
	edges := func(w, h int) string {
		return fmt.Sprintf("BT /F1 12 Tf 2 %d Td (TOPLEFT) Tj ET BT /F1 12 Tf %d 4 Td (BOTTOMRIGHT) Tj ET", h-12, w-90)
	}
	l := letterWith(
		pdf.Attachment{Name: "a4.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{content: edges(595, 842)})},
		pdf.Attachment{Name: "landscape.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{mediaBox: "[0 0 842 595]", content: edges(842, 595)})},
		pdf.Attachment{Name: "a3.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{mediaBox: "[0 0 842 1191]", content: edges(842, 1191)})},
		pdf.Attachment{Name: "a6.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{mediaBox: "[0 0 298 420]", content: edges(298, 420)})},
	)
	l.Language = pdf.Russian
	res, err := newRenderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	file := writePDF(t, res.PDF)
	if out := run(t, "qpdf", "--check", file); !strings.Contains(out, "No syntax or stream encoding errors") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	info := run(t, "pdfinfo", "-f", "1", "-l", strconv.Itoa(res.Pages), file)
	if n := strings.Count(info, "595.28 x 841.89 pts (A4)"); n != res.Pages || res.Pages != 5 {
		t.Errorf("%d of %d pages are A4 portrait (want 5):\n%s", n, res.Pages, info)
	}
	const (
		bandRule = 14 * ptPerMM
		areaX0   = 25*ptPerMM - bboxTolerPt
		areaX1   = 200*ptPerMM + bboxTolerPt
		areaY1   = 282*ptPerMM + bboxTolerPt
	)
	for p, name := range map[int]string{2: "a4.pdf", 3: "landscape.pdf", 4: "a3.pdf", 5: "a6.pdf"} {
		var band bool
		for _, w := range wordsOn(t, file, p) {
			switch w.text {
			case "TOPLEFT", "BOTTOMRIGHT":
				if w.x0 < areaX0 || w.x1 > areaX1 || w.y0 < bandRule || w.y1 > areaY1 {
					t.Errorf("page %d (%s): %s at (%.1f,%.1f)-(%.1f,%.1f) pt is outside the attachment area", p, name, w.text, w.x0, w.y0, w.x1, w.y1)
				}
				if vertical := w.y1-w.y0 > w.x1-w.x0; vertical != (name == "landscape.pdf") {
					t.Errorf("page %d (%s): %s runs vertically: %v", p, name, w.text, vertical)
				}
				if name == "a6.pdf" && w.text == "TOPLEFT" && w.x1-w.x0 < 53 { // 54 pt at 100 %
					t.Errorf("page %d: an A6 page was shrunk (TOPLEFT %.1f pt wide)", p, w.x1-w.x0)
				}
				if name == "landscape.pdf" && w.text == "TOPLEFT" && w.y0 < 600 {
					// Turned counter-clockwise, the top-left corner is at the bottom left.
					t.Errorf("page %d: the landscape page's top-left corner is at y %.1f, want at the bottom", p, w.y0)
				}
			case "Приложение":
				band = band || w.y1 <= bandRule
			}
		}
		if !band {
			t.Errorf("page %d (%s): no header band above %.1f pt", p, name, bandRule)
		}
	}
}
