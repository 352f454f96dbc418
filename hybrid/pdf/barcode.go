package pdf

import (
	"fmt"
	"strconv"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/datamatrix"
)

// Barcodes are drawn as vector rectangles, not images: no image object or
// extra zlib stream per document, edges exact at any printer resolution,
// and the same operators serve gofpdf pages (RawWriteStr) and merged
// attachment pages (a content stream added with pdfcpu).

// modules is a barcode as rows of dark (true) and light modules.
type modules [][]bool

func toModules(bc barcode.Barcode) modules {
	b := bc.Bounds()
	m := make(modules, b.Dy())
	for y := range m {
		row := make([]bool, b.Dx())
		for x := range row {
			r, g, bl, _ := bc.At(b.Min.X+x, b.Min.Y+y).RGBA()
			row[x] = r+g+bl < 3*0x8000
		}
		m[y] = row
	}
	return m
}

// dataMatrixModules encodes payload as an ECC 200 Data Matrix (ISO/IEC
// 16022), without quiet zone.
func dataMatrixModules(payload string) (modules, error) {
	bc, err := datamatrix.Encode(payload)
	if err != nil {
		return nil, fmt.Errorf("datamatrix %q: %w", payload, err)
	}
	return toModules(bc), nil
}

// code128Modules encodes s as Code 128 (ISO/IEC 15417) with its check
// character, without quiet zones: one row of modules.
func code128Modules(s string) ([]bool, error) {
	bc, err := code128.Encode(s)
	if err != nil {
		return nil, fmt.Errorf("code128 %q: %w", s, err)
	}
	return toModules(bc)[0], nil
}

// appendNum appends a coordinate in points for a content stream: three
// decimals (1/1000 pt is far below any printer's resolution), no trailing
// zeros.
func appendNum(b []byte, v float64) []byte {
	start := len(b)
	b = strconv.AppendFloat(b, v, 'f', 3, 64)
	for b[len(b)-1] == '0' {
		b = b[:len(b)-1]
	}
	if b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	if string(b[start:]) == "-0" {
		b = append(b[:start], '0')
	}
	return b
}

func num(v float64) string { return string(appendNum(nil, v)) }

// appendRect appends "x y w h re".
func appendRect(b []byte, x, y, w, h float64) []byte {
	b = appendNum(b, x)
	b = append(b, ' ')
	b = appendNum(b, y)
	b = append(b, ' ')
	b = appendNum(b, w)
	b = append(b, ' ')
	b = appendNum(b, h)
	return append(b, " re\n"...)
}

// matrixOps returns PDF content-stream operators (ISO 32000-1 §8.5) that
// paint m with its top-left corner at (x, yTop) in PDF user space (points,
// y grows upwards) and square modules of side mod, on a white field that
// extends quiet modules beyond every edge. The white field guarantees the
// quiet zone even when it overlaps other content. The whole symbol is one
// path filled once, so abutting modules leave no anti-aliasing seams.
func matrixOps(m modules, x, yTop, mod float64, quiet int) string {
	rows := len(m)
	cols := 0
	if rows > 0 {
		cols = len(m[0])
	}
	q := float64(quiet) * mod
	b := make([]byte, 0, 32*rows*cols/4+64)
	b = append(b, "q 1 g "...)
	b = appendRect(b, x-q, yTop-float64(rows)*mod-q, float64(cols)*mod+2*q, float64(rows)*mod+2*q)
	b = append(b, "f 0 g\n"...)
	for r, row := range m {
		y := yTop - float64(r+1)*mod
		for c := 0; c < cols; {
			if !row[c] {
				c++
				continue
			}
			start := c
			for c < cols && row[c] {
				c++
			}
			b = appendRect(b, x+float64(start)*mod, y, float64(c-start)*mod, mod)
		}
	}
	b = append(b, "f Q\n"...)
	return string(b)
}

// barsOps is matrixOps for a one-row symbol with bars of height h (points).
func barsOps(bars []bool, x, yTop, mod, h float64, quiet int) string {
	q := float64(quiet) * mod
	b := make([]byte, 0, 32*len(bars)/2+64)
	b = append(b, "q 1 g "...)
	b = appendRect(b, x-q, yTop-h, float64(len(bars))*mod+2*q, h)
	b = append(b, "f 0 g\n"...)
	for c := 0; c < len(bars); {
		if !bars[c] {
			c++
			continue
		}
		start := c
		for c < len(bars) && bars[c] {
			c++
		}
		b = appendRect(b, x+float64(start)*mod, yTop-h, float64(c-start)*mod, h)
	}
	b = append(b, "f Q\n"...)
	return string(b)
}
