package bench

import (
	"context"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/npes/npes/hybrid/pdf"
)

// Render measures Cyrillic letters of Pages pages rendered to print-ready
// PDF (address window, Code 128, a Data Matrix per page, embedded font
// subsets) by Concurrency workers, GOMAXPROCS by default so that every
// core renders. Params["letters_per_cpu_second"] (1 ÷ CPU seconds per
// letter) is the per-core figure: it holds on a shared machine, where wall
// time does not.
//
// Baseline: the same letter through a renderer that loads and parses its
// fonts for every document (gofpdf's public API). Both must render the
// same number of pages, each always the same bytes.
func Render(ctx context.Context, o Options) (*Result, error) {
	o.defaults(1000, runtime.GOMAXPROCS(0))
	if o.Pages <= 0 {
		o.Pages = 1
	}
	r, err := pdf.NewRenderer()
	if err != nil {
		return nil, err
	}
	naive, err := pdf.NewBaselineRenderer()
	if err != nil {
		return nil, err
	}
	l, ref, err := letterOfPages(r, o.Pages)
	if err != nil {
		return nil, err
	}
	nref, err := naive.Render(l)
	if err != nil {
		return nil, err
	}
	if nref.Pages != ref.Pages || nref.Sheets != ref.Sheets {
		return nil, checkf("the baseline renders %d pages, the renderer %d", nref.Pages, ref.Pages)
	}
	run := func(name string, rr *pdf.Renderer, ref pdf.Result, profile bool) (*Result, error) {
		p := phase{name: name, workers: o.Concurrency, count: o.Count, dur: o.Duration, progress: o.Progress,
			worker: func(ctx context.Context, w int, rec *recorder) error {
				for {
					if _, ok := rec.claim(ctx); !ok {
						return nil
					}
					t0 := time.Now()
					res, err := rr.Render(l)
					if err != nil {
						return err
					}
					d := time.Since(t0)
					if res.SHA256 != ref.SHA256 {
						return checkf("rendering is not deterministic: %s, then %s", ref.SHA256, res.SHA256)
					}
					rec.observe(w, d)
				}
			}}
		if profile {
			p.profile, p.trace = o.CPUProfile, o.Trace
		}
		// Warm-up: one letter per worker.
		if err := parallel(o.Concurrency, func(int) error { _, err := rr.Render(l); return err }); err != nil {
			return nil, err
		}
		res, err := measure(ctx, p)
		if err != nil {
			return nil, err
		}
		res.Params["item"] = "letter rendered to PDF"
		res.Params["latency"] = "one Render call"
		res.Params["pages"] = ref.Pages
		res.Params["pdf_bytes"] = len(ref.PDF)
		res.Params["gomaxprocs"] = runtime.GOMAXPROCS(0)
		if res.CPUSecondsPerItem > 0 {
			res.Params["letters_per_cpu_second"] = round1(1 / res.CPUSecondsPerItem)
		}
		res.Params["letters_per_s_per_core_wall"] = round1(res.Throughput / float64(min(o.Concurrency, runtime.GOMAXPROCS(0))))
		return res, nil
	}
	var base *Result
	if !o.NoBaseline {
		if base, err = run("render baseline (fonts per document)", naive, nref, false); err != nil {
			return nil, err
		}
	}
	load := loadAverage()
	res, err := run("render", r, ref, true)
	if err != nil {
		return nil, err
	}
	res.Params["loadavg_before"] = load
	res.Params["same_bytes_as_baseline"] = nref.SHA256 == ref.SHA256
	res.setBaseline(base)
	return res, nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// renderParagraph is one paragraph of the render letters (Russian and
// Belarusian, і and ў).
const renderParagraph = "Уважаемый абонент! Сообщаем, что по состоянию на 1 ноября 2026 г. за вами числится задолженность " +
	"за услуги электросвязи. Просим погасить её в течение десяти дней. Інфармацыя пра аплату ўзята з рахунку."

// letterOfPages builds a typical registered letter whose body fills
// exactly pages pages, found by adding paragraphs, and renders it once.
func letterOfPages(r *pdf.Renderer, pages int) (pdf.Letter, pdf.Result, error) {
	l := pdf.Letter{
		ID:            "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
		Tracking:      "RR123456785BY",
		SenderLine:    "ОАО «Белтелеком», 220030, г. Минск, ул. Энгельса, 6",
		RecipientName: "Иванову Ивану Ивановичу",
		AddressLines:  []string{"ул. Дорошевича, д. 8, кв. 12", "г. Минск", "220013"},
		Subject:       "Уведомление о задолженности",
		Date:          time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
	}
	for n := 1; n <= 400; n++ {
		l.Body = strings.TrimSuffix(strings.Repeat(renderParagraph+"\n\n", n), "\n\n")
		res, err := r.Render(l)
		if err != nil {
			return l, res, err
		}
		switch {
		case res.Pages == pages:
			if pages == 1 {
				// A one-page letter is a short one: one paragraph.
				return l, res, nil
			}
			// Fill the last page: keep adding while it stays pages long.
			for {
				next := l
				next.Body = l.Body + "\n\n" + renderParagraph
				nres, err := r.Render(next)
				if err != nil {
					return l, res, err
				}
				if nres.Pages != pages {
					return l, res, nil
				}
				l, res = next, nres
			}
		case res.Pages > pages:
			return l, res, usagef("no body renders to exactly %d pages (%d paragraphs give %d)", pages, n, res.Pages)
		}
	}
	return l, pdf.Result{}, usagef("a letter of %d pages is too long for the bench", pages)
}
