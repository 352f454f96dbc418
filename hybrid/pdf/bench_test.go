package pdf_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/pdf"
)

// benchLetter is a typical registered one-page letter, or a body of about
// pages pages.
func benchLetter(pages int) pdf.Letter {
	body := "Уважаемый абонент! Сообщаем, что по состоянию на 1 ноября 2026 г. за вами числится задолженность за услуги электросвязи. Просим погасить её в течение десяти дней. Інфармацыя пра аплату ўзята з рахунку."
	if pages > 1 {
		// About 32 lines fit on page 1 below the address and 50 on later
		// pages; a paragraph of this text is 2 lines plus a blank one.
		body = strings.Repeat(body+"\n\n", 12+17*(pages-2))
	}
	return pdf.Letter{
		ID:            "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
		Tracking:      "RR123456785BY",
		SenderLine:    "ОАО «Белтелеком», 220030, г. Минск, ул. Энгельса, 6",
		RecipientName: "Иванову Ивану Ивановичу",
		AddressLines:  []string{"ул. Дорошевича, д. 8, кв. 12", "г. Минск", "220013"},
		Subject:       "Уведомление о задолженности",
		Body:          body,
		Date:          time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
}

func benchRender(b *testing.B, r *pdf.Renderer, pages int) {
	l := benchLetter(pages)
	res, err := r.Render(l)
	if err != nil {
		b.Fatal(err)
	}
	if res.Pages != pages {
		b.Fatalf("letter has %d pages, want %d", res.Pages, pages)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Render(l); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "letters/s")
	b.ReportMetric(float64(b.N*pages)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(len(res.PDF)), "pdf-bytes")
}

func BenchmarkRender1Page(b *testing.B) {
	r, err := pdf.NewRenderer()
	if err != nil {
		b.Fatal(err)
	}
	benchRender(b, r, 1)
}

func BenchmarkRender3Pages(b *testing.B) {
	r, err := pdf.NewRenderer()
	if err != nil {
		b.Fatal(err)
	}
	benchRender(b, r, 3)
}

// BenchmarkRenderNaive is the baseline: the same one-page letter with the
// fonts loaded, parsed and subset by gofpdf for every document.
func BenchmarkRenderNaive(b *testing.B) {
	r, err := pdf.NewNaiveRenderer()
	if err != nil {
		b.Fatal(err)
	}
	benchRender(b, r, 1)
}

// BenchmarkWrapNoSpaces renders a body of size bytes without a space, the
// worst case of line breaking: every line is cut out of one long word.
// Line breaking is linear, so 1 MiB costs about 16 times 64 KiB.
func BenchmarkWrapNoSpaces(b *testing.B) {
	r, err := pdf.NewRenderer()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			l := benchLetter(1)
			l.Body = strings.Repeat("абвгдеёжзийклмнопрстуфхцчшщъыьэюяABCDEFGHIJ0123456789", size/80)
			b.ReportAllocs()
			for b.Loop() {
				// Both sizes print (about 15 and 240 pages); wrapping
				// dominates the quadratic breaker's time.
				if _, err := r.Render(l); err != nil && !errors.Is(err, pdf.ErrTooLong) {
					b.Fatal(err)
				}
			}
		})
	}
}
