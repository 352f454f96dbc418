package pdf_test

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// TestFontCache holds the cached font objects to their contract: they are
// active (a gofpdf whose internals or output differ from v1.16.2 makes
// NewRenderer fall back to gofpdf's own font output, and this test fail),
// every tier builds, and each face gets the smallest subset holding its
// characters.
func TestFontCache(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	if !r.CachesFonts() {
		t.Fatal("font objects are not cached: gofpdf's internals or output changed (see fontCache)")
	}
	if err := r.BuildFontCache(); err != nil {
		t.Fatalf("building the font subsets: %v", err)
	}
	for _, tc := range []struct {
		name          string
		subject, body string
		want          []string // regular, bold
	}{
		{"russian", "Уведомление", "Уважаемый абонент! Сообщаем… № 5 — «срочно».", []string{"basic", "basic"}},
		{"belarusian", "Паведамленне", "Інфармацыя ўзята з рахунку; ёсць „цытата“.", []string{"basic", "basic"}},
		{"ukrainian", "Повідомлення для Євгена", "Їжак, Ґанок.", []string{"european", "european"}},
		{"latin names", "Уведомление", "Łódź, Žilinskas, Müller, Øresund, façade.", []string{"european", "basic"}},
		{"greek in the subject", "Σ-тест", "Текст.", []string{"basic", "wgl4"}},
		{"symbols", "Тема", "Σ Ω ≤ ≥ ∞ ← → ■ ♪ ﬁ", []string{"wgl4", "basic"}},
		{"replaced", "Тема", "Привет 👋 мир 中文", []string{"basic", "basic"}},
	} {
		l := letterWith()
		l.Subject, l.Body = tc.subject, tc.body
		res, tiers, err := r.RenderTiers(l)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(tiers, tc.want) {
			t.Errorf("%s: subsets %q, want %q", tc.name, tiers, tc.want)
		}
		if err := pdf.ParseGofpdf(res.PDF); err != nil {
			t.Errorf("%s: the rewritten file does not have gofpdf's structure: %v", tc.name, err)
		}
	}
}

// TestCachedFontsPixels proves the cached subsets draw the same glyphs as
// gofpdf's per-document subsets: the same letters rendered both ways and
// rasterized by poppler at 100 dpi in grey must give identical images. The
// glyph outlines and advance widths are the same bytes of the same fonts,
// only renumbered within a different subset, so no tolerance is needed:
// one differing pixel fails the test. The page content streams, which do
// not depend on the subset, must also be byte-identical.
func TestCachedFontsPixels(t *testing.T) {
	needTool(t, "pdftoppm")
	fast := newRenderer(t)
	naive, err := pdf.NewNaiveRenderer()
	if err != nil {
		t.Fatal(err)
	}
	type sample struct {
		name  string
		l     pdf.Letter
		tiers []string
	}
	var samples []sample
	names := []string{"Иванову Ивану Ивановичу", "Іванову Івану Івановічу", "ООО «Ромашка»", "Petrov Piotr", "Ўладзіміру Ўсціновічу"}
	for i, a := range loadAddresses(t) {
		l := letterWith()
		l.ID = fmt.Sprintf("0b6a6f2e-9c1d-4f7e-8a52-%012d", i+1)
		l.Tracking = s10("RR", 10000000+i*7919, "BY")
		l.RecipientName = names[i%len(names)]
		l.AddressLines = strings.Split(strings.ReplaceAll(a.raw, "\n", ", "), ", ")
		l.Body = "Тестовое письмо. Інфармацыя ўзята з адраса:\n" + a.raw
		samples = append(samples, sample{fmt.Sprintf("address %02d", i+1), l, []string{"basic", "basic"}})
	}
	be := letterWith()
	be.Subject = "Паведамленне аб паштовым адпраўленні № 12/3"
	be.Body = strings.Repeat("Паважаны Ўладзімір Іванавіч! Паведамляем, што ў аддзяленні «Белпошты» № 7 — "+
		"вул. Першамайская, 24 — ёсць для вас заказны ліст. Ён захоўваецца 30 дзён; ёлка, ўсё, Ёсіф, Ўкраіна, ІВАН.\n\n", 14)
	samples = append(samples,
		sample{"belarusian, 2 pages", be, []string{"basic", "basic"}},
		sample{"european", func() pdf.Letter {
			l := letterWith()
			l.Subject, l.Body = "Ärger über Łódź", "Żółć, Žilinskas, Müller, Øresund, façade, Œuvre, ß, Їжак, Ґанок, € 5."
			return l
		}(), []string{"european", "european"}},
		sample{"wgl4", func() pdf.Letter {
			l := letterWith()
			l.Body = "Σ Ω π ≤ ≥ ∞ ← → ■ □ ♪ ﬁ ½ ‰ ™ ─┼─"
			return l
		}(), []string{"wgl4", "basic"}},
	)
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			a, tiers, err := fast.RenderTiers(s.l)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tiers, s.tiers) {
				t.Errorf("subsets %q, want %q", tiers, s.tiers)
			}
			b, err := naive.Render(s.l)
			if err != nil {
				t.Fatal(err)
			}
			if a.Pages != b.Pages {
				t.Fatalf("%d pages, gofpdf's fonts give %d", a.Pages, b.Pages)
			}
			if ca, cb := pageContents(a.PDF), pageContents(b.PDF); len(ca) != a.Pages || !slices.EqualFunc(ca, cb, bytes.Equal) {
				t.Errorf("page content streams differ from gofpdf's (%d and %d streams)", len(ca), len(cb))
			}
			pa, pb := rasterize(t, a.PDF), rasterize(t, b.PDF)
			if len(pa) != a.Pages || len(pb) != b.Pages {
				t.Fatalf("rasterized %d and %d pages, want %d", len(pa), len(pb), a.Pages)
			}
			for i := range pa {
				if n := differingPixels(t, pa[i], pb[i]); n != 0 {
					t.Errorf("page %d: %d pixels differ from gofpdf's rendering", i+1, n)
				}
			}
		})
	}
}

// contentRE matches a page content stream as gofpdf writes it (the font
// streams of both paths put /Length first).
var contentRE = regexp.MustCompile(`\n\d+ 0 obj\n<</Filter /FlateDecode /Length (\d+)>>\nstream\n`)

func pageContents(b []byte) [][]byte {
	var out [][]byte
	for _, m := range contentRE.FindAllSubmatchIndex(b, -1) {
		var n int
		fmt.Sscanf(string(b[m[2]:m[3]]), "%d", &n)
		if m[1]+n <= len(b) {
			out = append(out, b[m[1]:m[1]+n])
		}
	}
	return out
}

// rasterize renders every page at 100 dpi in grey (PGM) with poppler.
func rasterize(t *testing.T, b []byte) [][]byte {
	t.Helper()
	file := writePDF(t, b)
	prefix := filepath.Join(filepath.Dir(file), "page")
	run(t, "pdftoppm", "-r", "100", "-gray", file, prefix)
	files, err := filepath.Glob(prefix + "-*.pgm")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files) // page-1 … page-9, or page-01 …: same width within one run
	var pages [][]byte
	for _, f := range files {
		p, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
	}
	return pages
}

// differingPixels compares two PGM images of the same size.
func differingPixels(t *testing.T, a, b []byte) int {
	t.Helper()
	if bytes.Equal(a, b) {
		return 0
	}
	if len(a) != len(b) {
		t.Fatalf("images of %d and %d bytes", len(a), len(b))
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestCompressPooled checks that a reused zlib writer compresses exactly
// as a new one does, whatever it compressed before: page contents must not
// depend on which letters a pooled writer saw (determinism).
func TestCompressPooled(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 70_000)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	text := []byte(strings.Repeat("BT 70.87 711.50 Td (\x04\x1f\x04>) Tj ET\n0 0 1.42 1.42 re f\n", 3000))
	inputs := [][]byte{nil, {'q'}, text, random, text[:10], random[:33_000], text, text[5000:], nil}
	got := pdf.CompressPooled(inputs)
	for i, in := range inputs {
		var want bytes.Buffer
		zw, err := zlib.NewWriterLevel(&want, zlib.BestSpeed)
		if err != nil {
			t.Fatal(err)
		}
		zw.Write(in)
		zw.Close()
		if !bytes.Equal(got[i], want.Bytes()) {
			t.Errorf("input %d (%d bytes): pooled writer gives %d bytes, a new writer %d", i, len(in), len(got[i]), want.Len())
		}
	}
}

// TestParseGofpdfRejects checks that the reader of gofpdf's output refuses
// what it does not recognise instead of guessing.
func TestParseGofpdfRejects(t *testing.T) {
	t.Parallel()
	naive, err := pdf.NewNaiveRenderer()
	if err != nil {
		t.Fatal(err)
	}
	res, err := naive.Render(letterWith())
	if err != nil {
		t.Fatal(err)
	}
	good := res.PDF
	if err := pdf.ParseGofpdf(good); err != nil {
		t.Fatalf("gofpdf's own output: %v", err)
	}
	xref := bytes.LastIndex(good, []byte("\nxref\n"))
	for name, edit := range map[string]func([]byte) []byte{
		"truncated":          func(b []byte) []byte { return b[:len(b)-10] },
		"no eof marker":      func(b []byte) []byte { return b[:len(b)-6] },
		"shifted offset":     func(b []byte) []byte { return bytes.Replace(b, []byte(" 00000 n \n"), []byte("1 00000 n \n"), 1) },
		"object moved":       func(b []byte) []byte { return append(append([]byte("%PDF-1.3\n "), b[9:xref]...), b[xref:]...) },
		"second trailer key": func(b []byte) []byte { return bytes.Replace(b, []byte("/Info"), []byte("/ID [] /Info"), 1) },
		"generation number":  func(b []byte) []byte { return bytes.Replace(b, []byte(" 00000 n \n"), []byte(" 00001 n \n"), 1) },
		"bad startxref":      func(b []byte) []byte { return bytes.Replace(b, []byte("startxref\n"), []byte("startxref\n9"), 1) },
	} {
		b := edit(bytes.Clone(good))
		if err := pdf.ParseGofpdf(b); !errors.Is(err, pdf.ErrFastFonts) {
			t.Errorf("%s: err = %v, want ErrFastFonts", name, err)
		}
	}
}

// FuzzParseGofpdf holds the reader of gofpdf's output to never panicking
// on any input.
func FuzzParseGofpdf(f *testing.F) {
	naive, err := pdf.NewNaiveRenderer()
	if err != nil {
		f.Fatal(err)
	}
	res, err := naive.Render(letterWith())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(res.PDF)
	f.Add([]byte("%PDF-1.3\nxref\n0 3\n0000000000 65535 f \ntrailer\n<<\n/Size 3\n>>\nstartxref\n9\n%%EOF\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = pdf.ParseGofpdf(b)
	})
}
