package pdf_test

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// pngChunk appends a PNG chunk (PNG §5.3) to b.
func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(data)))
	b.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(data)
	b.WriteString(typ)
	b.Write(data)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	b.Write(n[:])
}

func pngIHDR(b *bytes.Buffer, w, h int, depth, colorType, interlace byte) {
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9], ihdr[12] = depth, colorType, interlace
	pngChunk(b, "IHDR", ihdr)
	if colorType == 3 {
		pngChunk(b, "PLTE", make([]byte, 3*256))
	}
}

// pngHeader is a PNG with a header only: enough for the checks made
// before decoding, which must refuse it without decoding.
func pngHeader(w, h int, depth, colorType, interlace byte) []byte {
	var b bytes.Buffer
	pngIHDR(&b, w, h, depth, colorType, interlace)
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

// pngZeros is a valid, non-interlaced PNG of w×h black pixels: a few
// hundred kilobytes of file however large the canvas (the decompression
// bomb of PNG). It is written row by row, never held decoded.
func pngZeros(t testing.TB, w, h int, depth, colorType byte) []byte {
	t.Helper()
	channels := map[byte]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	row := make([]byte, 1+(w*channels*int(depth)+7)/8) // filter byte 0, then samples
	var idat bytes.Buffer
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestCompression)
	for range h {
		if _, err := z.Write(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	pngIHDR(&b, w, h, depth, colorType, 0)
	pngChunk(&b, "IDAT", idat.Bytes())
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

// jpegHeader is a JPEG up to its frame header (T.81 §B.2.2): sof is the
// marker (0xC0 baseline, 0xC2 progressive), sampling the h,v factors of
// each component.
func jpegHeader(w, h int, sof byte, adobe bool, sampling ...[2]byte) []byte {
	b := []byte{0xFF, 0xD8}
	if adobe {
		seg := []byte("Adobe\x00\x64\x00\x00\x00\x00\x00") // transform (byte 11) 0: RGB or CMYK
		b = append(b, 0xFF, 0xEE, 0, byte(2+len(seg)))
		b = append(b, seg...)
	}
	seg := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), byte(len(sampling))}
	for i, s := range sampling {
		seg = append(seg, byte(i+1), s[0]<<4|s[1], 0)
	}
	b = append(b, 0xFF, sof, 0, byte(2+len(seg)))
	b = append(b, seg...)
	// A scan header, where the decoder's header reading stops.
	return append(b, 0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0)
}

// TestImageDecodeBudget: an image is refused from its header when decoding
// it would take more than MaxImageDecodeBytes, whatever makes it costly —
// its pixel count, bit depth, alpha, interlacing, progressive coding,
// chroma sampling or colour space. Each of these is within the pixel
// limit, so a check of width×height alone admits them all.
func TestImageDecodeBudget(t *testing.T) {
	t.Parallel()
	yuv420 := [][2]byte{{2, 2}, {1, 1}, {1, 1}}
	yuv444 := [][2]byte{{1, 1}, {1, 1}, {1, 1}}
	for _, tc := range []struct {
		name, ct string
		data     []byte
	}{
		{"16-bit RGBA PNG 5000×5000", "image/png", pngHeader(5000, 5000, 16, 6, 0)},
		{"16-bit RGB PNG 4000×3000", "image/png", pngHeader(4000, 3000, 16, 2, 0)},
		{"8-bit RGBA PNG 5000×5000", "image/png", pngHeader(5000, 5000, 8, 6, 0)},
		{"8-bit RGB PNG 5000×4000", "image/png", pngHeader(5000, 4000, 8, 2, 0)},
		{"16-bit gray-alpha PNG 3000×3000", "image/png", pngHeader(3000, 3000, 16, 4, 0)},
		{"interlaced RGBA PNG 4000×3000", "image/png", pngHeader(4000, 3000, 8, 6, 1)},
		{"16-bit gray PNG 6000×4000 interlaced", "image/png", pngHeader(6000, 4000, 16, 0, 1)},
		{"progressive JPEG 6000×4000 4:2:0", "image/jpeg", jpegHeader(6000, 4000, 0xC2, false, yuv420...)},
		{"progressive JPEG 4000×3000 4:4:4", "image/jpeg", jpegHeader(4000, 3000, 0xC2, false, yuv444...)},
		{"progressive gray JPEG 5000×4000", "image/jpeg", jpegHeader(5000, 4000, 0xC2, false, [2]byte{1, 1})},
		{"baseline JPEG 5000×5000 4:4:4", "image/jpeg", jpegHeader(5000, 5000, 0xC0, false, yuv444...)},
		{"CMYK JPEG 5000×4000", "image/jpeg", jpegHeader(5000, 4000, 0xC0, true, yuv444[0], yuv444[0], yuv444[0], yuv444[0])},
		{"Adobe RGB JPEG 5000×3000", "image/jpeg", jpegHeader(5000, 3000, 0xC0, true, yuv444...)},
	} {
		err := pdf.CheckAttachment(pdf.Attachment{Name: "x", ContentType: tc.ct, Data: tc.data})
		if !errors.Is(err, pdf.ErrUnprintable) || !strings.Contains(err.Error(), "MiB to decode") {
			t.Errorf("%s (%d bytes): err = %v, want it refused for its decoding cost", tc.name, len(tc.data), err)
		}
	}
	// What a camera or scanner produces at full size still passes.
	for _, tc := range []struct {
		name, ct string
		data     []byte
	}{
		{"baseline JPEG 6000×4000 4:2:0", "image/jpeg", jpegHeader(6000, 4000, 0xC0, false, yuv420...)},
		{"progressive JPEG 3000×2000 4:2:0", "image/jpeg", jpegHeader(3000, 2000, 0xC2, false, yuv420...)},
		{"8-bit RGB PNG 4000×3000", "image/png", pngHeader(4000, 3000, 8, 2, 0)},
		{"gray PNG 6000×4000 (A4 at 600 dpi)", "image/png", pngHeader(6000, 4000, 8, 0, 0)},
		{"1-bit scan 6000×4000", "image/png", pngHeader(6000, 4000, 1, 0, 0)},
	} {
		cost, err := pdf.ImageDecodeBytes(pdf.Attachment{Name: "x", ContentType: tc.ct, Data: tc.data})
		if err != nil || cost > pdf.MaxImageDecodeBytes {
			t.Errorf("%s: cost %d MiB, %v; want it within %d MiB", tc.name, cost>>20, err, pdf.MaxImageDecodeBytes>>20)
		}
	}
}

// TestImageDecodeEstimate holds the header's estimate to what the Go
// decoders really allocate, for every kind of image the Go encoders make:
// the estimate is never less than the allocation, so the budget bounds
// the memory.
func TestImageDecodeEstimate(t *testing.T) {
	const w, h = 1003, 701 // not multiples of 8 or 16: partial MCUs
	fill := func(m interface{ Set(x, y int, c color.Color) }) {
		for y := range h {
			for x := range w {
				m.Set(x, y, color.NRGBA{uint8(x * 7), uint8(y * 3), uint8(x ^ y), uint8(128 + x%128)})
			}
		}
	}
	encPNG := func(m image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	encJPEG := func(m image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	r := image.Rect(0, 0, w, h)
	gray, gray16, nrgba, nrgba64, rgba := image.NewGray(r), image.NewGray16(r), image.NewNRGBA(r), image.NewNRGBA64(r), image.NewRGBA(r)
	pal := image.NewPaletted(r, palette.Plan9)
	for _, m := range []interface{ Set(x, y int, c color.Color) }{gray, gray16, nrgba, nrgba64, rgba, pal} {
		fill(m)
	}
	for _, tc := range []struct {
		name, ct string
		data     []byte
	}{
		{"gray PNG", "image/png", encPNG(gray)},
		{"16-bit gray PNG", "image/png", encPNG(gray16)},
		{"RGBA PNG", "image/png", encPNG(nrgba)},
		{"opaque RGB PNG", "image/png", encPNG(rgba)},
		{"16-bit RGBA PNG", "image/png", encPNG(nrgba64)},
		{"paletted PNG", "image/png", encPNG(pal)},
		{"YCbCr 4:2:0 JPEG", "image/jpeg", encJPEG(rgba)},
		{"gray JPEG", "image/jpeg", encJPEG(gray)},
	} {
		a := pdf.Attachment{Name: "x", ContentType: tc.ct, Data: tc.data}
		cost, err := pdf.ImageDecodeBytes(a)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err = pdf.CheckAttachment(a) // decodes once
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// CheckAttachment also reads the header again and allocates
		// small decoder state (Huffman tables, zlib window, two rows).
		const slack = 256 << 10
		if got := int64(after.TotalAlloc - before.TotalAlloc); got > cost+slack {
			t.Errorf("%s: decoding allocated %d bytes, the header estimate is %d", tc.name, got, cost)
		}
	}
}
