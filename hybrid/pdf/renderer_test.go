package pdf_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/pdf"
)

// letterWith returns a registered letter with the given attachments.
func letterWith(atts ...pdf.Attachment) pdf.Letter {
	return pdf.Letter{
		ID:            "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
		Tracking:      s10("RR", 12345678, "BY"),
		SenderLine:    "ОАО «Белтелеком», 220030, г. Минск, ул. Энгельса, 6",
		RecipientName: "Иванову Ивану Ивановичу",
		AddressLines:  []string{"ул. Дорошевича, д. 8, кв. 12", "г. Минск", "220013"},
		Subject:       "Уведомление",
		Body:          "Уважаемый абонент!\n\nІнфармацыя ўзята з рахунку.",
		Date:          testDate(),
		Attachments:   atts,
	}
}

func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x), uint8(y), 200, uint8(128 + x%128)})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testPNG16 is a 16-bit RGBA PNG, which gofpdf cannot embed as it is.
func testPNG16(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA64{uint16(x * 20), uint16(y * 900), 0x8000, 0xffff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), 100, uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// allKinds is one attachment of every printable kind.
func allKinds(t testing.TB) []pdf.Attachment {
	return []pdf.Attachment{
		{Name: "notes.txt", ContentType: "text/plain", Data: []byte("Line one\n\tIndented line two")},
		{Name: "scan.png", ContentType: "image/png", Data: testPNG(t, 120, 80)},
		{Name: "photo.jpg", ContentType: "image/jpeg", Data: testJPEG(t, 64, 48)},
		// 16 bits per channel, and wide enough to be shrunk and downsampled.
		{Name: "panorama.png", ContentType: "image/png", Data: testPNG16(t, 3000, 60)},
		{Name: "contract.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{pages: 2, text: "Contract"})},
	}
}

func TestRenderDeterministic(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for name, l := range map[string]pdf.Letter{
		"simple":      {ID: "a1", RecipientName: "Петрову П.П.", AddressLines: []string{"г. Гомель", "246050"}, Body: "Текст", Date: testDate()},
		"registered":  letterWith(),
		"attachments": letterWith(allKinds(t)...),
	} {
		t.Run(name, func(t *testing.T) {
			first, err := r.Render(l)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(first.PDF)
			if first.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 %s is not the hash of PDF", first.SHA256)
			}
			// Go randomizes map iteration, so repeated renders in one
			// process expose any order that leaks into the output.
			for i := 0; i < 4; i++ {
				again, err := r.Render(l)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(first.PDF, again.PDF) {
					t.Fatalf("render %d differs from the first (%d vs %d bytes)", i+2, len(again.PDF), len(first.PDF))
				}
			}
			// The information dictionary carries the letter's date (UTC),
			// not the clock's.
			if !bytes.Contains(first.PDF, []byte("D:20261122073000")) {
				t.Error("the PDF's creation date is not the letter's date")
			}
		})
	}
}

// TestFontsShared holds the per-process font sharing to its contract: it
// is active, and with gofpdf subsetting per document its output is
// byte-identical to loading the fonts for every document through gofpdf's
// public API. (NewRenderer also caches the font objects, which changes the
// bytes but not the pixels: TestCachedFontsPixels.)
func TestFontsShared(t *testing.T) {
	t.Parallel()
	if !newRenderer(t).SharesFonts() {
		t.Fatal("NewRenderer loads fonts per document: gofpdf's internals changed (see fontShare)")
	}
	shared, err := pdf.NewSharedFontsRenderer()
	if err != nil {
		t.Fatal(err)
	}
	if !shared.SharesFonts() {
		t.Fatal("fonts are loaded per document: gofpdf's internals changed (see fontShare)")
	}
	naive, err := pdf.NewNaiveRenderer()
	if err != nil {
		t.Fatal(err)
	}
	long := letterWith()
	long.Body = strings.Repeat("Ўсё яшчэ «тэкст» — №1, Ёлка, Ї, Ґ, Ø, ß, €, Σ.\n", 120)
	for name, l := range map[string]pdf.Letter{"short": letterWith(), "long": long, "attachments": letterWith(allKinds(t)...)} {
		a, err := shared.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := naive.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.PDF, b.PDF) {
			t.Errorf("%s: shared fonts give %d bytes, per-document fonts %d", name, len(a.PDF), len(b.PDF))
		}
	}
}

// TestRenderConcurrent renders letters from several goroutines with a
// fresh Renderer, so the larger font subsets are built lazily while other
// goroutines render (run with -race).
func TestRenderConcurrent(t *testing.T) {
	t.Parallel()
	ref := newRenderer(t)
	texts := []string{"Абзац %d. ", "Paragraf %d: Łódź, Müller, façade. ", "Τμήμα %d: Σ ≤ ∞. "}
	letters := make([]pdf.Letter, 6)
	want := make([][]byte, len(letters))
	for i := range letters {
		l := letterWith()
		l.ID = fmt.Sprintf("letter-%d", i)
		l.Body = strings.Repeat(fmt.Sprintf(texts[i%len(texts)], i), 40*(i+1))
		if i%2 == 1 {
			l.Attachments = allKinds(t) // pdfcpu and image decoding run concurrently too
		}
		letters[i] = l
		res, err := ref.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = res.PDF
	}
	r := newRenderer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(letters))
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range letters {
				i := (k + g) % len(letters) // each goroutine starts elsewhere
				res, err := r.Render(letters[i])
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(res.PDF, want[i]) {
					errs <- fmt.Errorf("letter %d rendered concurrently differs", i)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRenderInvalid(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for name, edit := range map[string]func(*pdf.Letter){
		"no id":           func(l *pdf.Letter) { l.ID = "" },
		"id with bar":     func(l *pdf.Letter) { l.ID = "a|p1/1" },
		"id with space":   func(l *pdf.Letter) { l.ID = "a b" },
		"id too long":     func(l *pdf.Letter) { l.ID = strings.Repeat("a", 65) },
		"bad tracking":    func(l *pdf.Letter) { l.Tracking = "RR12345678BY" },
		"lower tracking":  func(l *pdf.Letter) { l.Tracking = "rr123456785by" },
		"no name":         func(l *pdf.Letter) { l.RecipientName = " " },
		"no address":      func(l *pdf.Letter) { l.AddressLines = []string{"", " "} },
		"zero date":       func(l *pdf.Letter) { l.Date = time.Time{} },
		"far future date": func(l *pdf.Letter) { l.Date = time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		l := letterWith()
		edit(&l)
		if _, err := r.Render(l); !errors.Is(err, pdf.ErrInvalidLetter) {
			t.Errorf("%s: err = %v, want ErrInvalidLetter", name, err)
		}
	}
	for name, edit := range map[string]func(*pdf.Activation){
		"no code":    func(a *pdf.Activation) { a.Code = "\u200b" },
		"no mailbox": func(a *pdf.Activation) { a.MailboxID = "" },
		"no date":    func(a *pdf.Activation) { a.Date = time.Time{} },
	} {
		a := pdf.Activation{ID: "act-1", RecipientName: "Иванову И.И.", AddressLines: []string{"г. Минск"},
			Code: "K7QX-2M9D", MailboxID: "mbx-1", Date: testDate()}
		edit(&a)
		if _, err := r.RenderActivation(a); !errors.Is(err, pdf.ErrInvalidLetter) {
			t.Errorf("activation %s: err = %v, want ErrInvalidLetter", name, err)
		}
	}
}

func TestRenderRefusesUnprintableAttachment(t *testing.T) {
	t.Parallel()
	l := letterWith(pdf.Attachment{Name: "x.pdf", ContentType: "application/pdf",
		Data: testPDF(pdfSpec{pages: 1, catalog: "/OpenAction << /S /JavaScript /JS (app.alert(1)) >>"})})
	if _, err := newRenderer(t).Render(l); !errors.Is(err, pdf.ErrUnprintable) {
		t.Fatalf("err = %v, want ErrUnprintable", err)
	}
}

func TestRenderTooLong(t *testing.T) {
	t.Parallel()
	l := letterWith()
	l.Body = strings.Repeat("строка\n", 60*pdf.MaxPages)
	if _, err := newRenderer(t).Render(l); !errors.Is(err, pdf.ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}

func TestSheets(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	for _, tc := range []struct {
		lines          int
		duplex         bool
		pages, sheets  int
		attachedPDFPgs int
	}{
		{lines: 1, pages: 1, sheets: 1},
		{lines: 1, duplex: true, pages: 1, sheets: 1},
		{lines: 60, pages: 2, sheets: 2},
		{lines: 60, duplex: true, pages: 2, sheets: 1},
		{lines: 120, duplex: true, pages: 3, sheets: 2},
		{lines: 1, duplex: true, attachedPDFPgs: 3, pages: 4, sheets: 2},
	} {
		l := letterWith()
		l.Duplex = tc.duplex
		l.Body = strings.Repeat("строка\n", tc.lines)
		if tc.attachedPDFPgs > 0 {
			l.Attachments = []pdf.Attachment{{Name: "a.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{pages: tc.attachedPDFPgs})}}
		}
		res, err := r.Render(l)
		if err != nil {
			t.Fatal(err)
		}
		if res.Pages != tc.pages || res.Sheets != tc.sheets {
			t.Errorf("%+v: pages %d, sheets %d", tc, res.Pages, res.Sheets)
		}
	}
}

// TestAddressThatDoesNotFit: an address that needs more than the window
// at the smallest legible size is refused, by Render and CheckAddress
// alike, never shortened; one that fits after wrapping passes both.
func TestAddressThatDoesNotFit(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	long := "Обществу с ограниченной ответственностью «Очень длинное наименование организации-получателя»"
	for _, tc := range []struct {
		name  string
		lines []string
		fits  bool
	}{
		{"eight long lines", slices.Repeat([]string{"улица Очень Длинного Наименования Героев Обороны, д. 1"}, 8), false},
		{"ten short lines, joined", []string{"ул. А, 1", "корп. 2", "пом. 3", "каб. 4", "аг. Б", "с/с В", "р-н Г", "обл. Д", "220000", "Республика Беларусь"}, true},
		{"one long word", []string{strings.Repeat("Ш", 400), "220000"}, false},
		{"long name, usual address", []string{"ул. Советская, д. 1, пом. 2", "г. Гомель", "246050"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := letterWith()
			l.RecipientName, l.AddressLines = long, tc.lines
			res, err := r.Render(l)
			checkErr := r.CheckAddress(l.RecipientName, l.AddressLines)
			if tc.fits {
				if err != nil || checkErr != nil {
					t.Fatalf("Render: %v; CheckAddress: %v; want both nil", err, checkErr)
				}
				for _, w := range res.Warnings {
					if strings.Contains(w, "shortened") {
						t.Errorf("address shortened: %s", w)
					}
				}
				return
			}
			if !errors.Is(err, pdf.ErrAddressTooLong) || !errors.Is(checkErr, pdf.ErrAddressTooLong) {
				t.Fatalf("Render: %v; CheckAddress: %v; want ErrAddressTooLong from both", err, checkErr)
			}
		})
	}
}

func TestReplacementWarning(t *testing.T) {
	t.Parallel()
	l := letterWith()
	l.Body = "Привет 👋 мир 中文"
	res, err := newRenderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "3 characters") {
		t.Errorf("warnings = %q, want one about 3 replaced characters", res.Warnings)
	}
}
