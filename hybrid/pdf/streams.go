package pdf

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/ascii85"
	"errors"
	"io"
	"sort"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
	tifflzw "golang.org/x/image/tiff/lzw"
)

// Decompression bombs (internal/reliability TestUnprintableAttachments). pdfcpu
// decodes a stream only when an operation needs its content, and merging
// copies streams as they are, so a page whose content stream inflates to
// gigabytes passed the attachment check and went on, unchanged, to the print
// centre's RIP. checkStreams inflates every stream through its filters as a
// count, keeping nothing, and refuses the file when one stream decodes to
// more than pdfConfig's MaxDecodeBytes (the bound this package already set
// for pdfcpu) or all streams together to more than maxPDFDecodedBytes. Image
// codecs (DCT, JPX, JBIG2, CCITT) are not decoded; an image's declared
// size is held to pdfConfig's MaxImagePixels instead.

// maxPDFDecodedBytes bounds what all streams of one attached PDF may
// inflate to together: a hundred pages of 300 dpi A4 greyscale scans.
const maxPDFDecodedBytes = 1 << 30

var errInflates = errors.New("inflates past the limit")

// budget is a count of bytes still allowed, shared by the decoding stages.
type budget struct{ stream, total int64 }

type countingReader struct {
	r io.Reader
	b *budget
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.b.stream -= int64(n)
	c.b.total -= int64(n)
	if c.b.stream < 0 || c.b.total < 0 {
		return n, errInflates
	}
	return n, err
}

func checkStreams(ctx *model.Context, limits model.ResourceLimits) error {
	xt := ctx.XRefTable
	nrs := make([]int, 0, len(xt.Table))
	for nr, e := range xt.Table {
		if e != nil && !e.Free && e.Object != nil {
			nrs = append(nrs, nr)
		}
	}
	sort.Ints(nrs)
	b := budget{total: maxPDFDecodedBytes}
	for _, nr := range nrs {
		sd, ok := xt.Table[nr].Object.(types.StreamDict)
		if !ok {
			continue
		}
		if st := sd.NameEntry("Subtype"); st != nil && *st == "Image" {
			w, h := sd.IntEntry("Width"), sd.IntEntry("Height")
			if w != nil && h != nil && (*w < 0 || *h < 0 || int64(*w)*int64(*h) > limits.MaxImagePixels) {
				return unprintable("PDF image (object %d) is %d×%d pixels, more than %d", nr, *w, *h, limits.MaxImagePixels)
			}
		}
		b.stream = limits.MaxDecodeBytes
		r, decoded := decodingReader(bytes.NewReader(sd.Raw), sd.FilterPipeline, &b)
		if !decoded {
			continue
		}
		if _, err := io.Copy(io.Discard, r); errors.Is(err, errInflates) {
			if b.total < 0 {
				return unprintable("PDF streams inflate to more than %d MiB in all (a decompression bomb)", maxPDFDecodedBytes>>20)
			}
			return unprintable("PDF stream (object %d) inflates to more than %d MiB (a decompression bomb)", nr, limits.MaxDecodeBytes>>20)
		}
		// Other decoding errors are not this check's business: a corrupt
		// stream inflates to less, not more.
	}
	return nil
}

// decodingReader chains streaming decoders for the general-purpose filters
// of a pipeline (ISO 32000-1 §7.4), each stage's output counted against b.
// It stops at the first image codec or unknown filter; decoded is false
// when no stage expands data.
func decodingReader(r io.Reader, pipeline []types.PDFFilter, b *budget) (out io.Reader, decoded bool) {
	out = r
	for _, f := range pipeline {
		switch f.Name {
		case "FlateDecode", "Fl":
			zr, err := zlib.NewReader(out)
			if err != nil {
				return out, decoded
			}
			out = zr
		case "LZWDecode", "LZW":
			// EarlyChange 1 (the default) is TIFF's "off by one" variant.
			early := 1
			if f.DecodeParms != nil {
				if e := f.DecodeParms.IntEntry("EarlyChange"); e != nil {
					early = *e
				}
			}
			if early == 0 {
				out = lzw.NewReader(out, lzw.MSB, 8)
			} else {
				out = tifflzw.NewReader(out, tifflzw.MSB, 8)
			}
		case "RunLengthDecode", "RL":
			out = &runLengthReader{r: out}
		case "ASCII85Decode", "A85":
			out = ascii85.NewDecoder(&untilEOD{r: out, eod: '~'})
		case "ASCIIHexDecode", "AHx":
			out = &asciiHexReader{r: &untilEOD{r: out, eod: '>'}}
		default:
			return out, decoded
		}
		out = &countingReader{r: out, b: b}
		decoded = true
	}
	return out, decoded
}

// untilEOD ends a stream at its end-of-data marker.
type untilEOD struct {
	r    io.Reader
	eod  byte
	done bool
}

func (u *untilEOD) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n, err := u.r.Read(p)
	if i := bytes.IndexByte(p[:n], u.eod); i >= 0 {
		u.done = true
		return i, nil
	}
	return n, err
}

// runLengthReader decodes RunLengthDecode (ISO 32000-1 §7.4.5): a length
// byte L, then L+1 literal bytes (L < 128) or one byte repeated 257-L
// times (L > 128); 128 ends the data.
type runLengthReader struct {
	r      io.Reader
	lit    int  // literal bytes left to copy
	rep    int  // repeats left
	repB   byte // the repeated byte
	one    [1]byte
	closed bool
}

func (d *runLengthReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case d.rep > 0:
			k := min(d.rep, len(p)-n)
			for i := range k {
				p[n+i] = d.repB
			}
			n += k
			d.rep -= k
		case d.lit > 0:
			k, err := d.r.Read(p[n : n+min(d.lit, len(p)-n)])
			n += k
			d.lit -= k
			if err != nil {
				return n, err
			}
		case d.closed:
			return n, io.EOF
		default:
			if _, err := io.ReadFull(d.r, d.one[:]); err != nil {
				return n, err
			}
			switch l := int(d.one[0]); {
			case l < 128:
				d.lit = l + 1
			case l > 128:
				if _, err := io.ReadFull(d.r, d.one[:]); err != nil {
					return n, err
				}
				d.rep, d.repB = 257-l, d.one[0]
			default:
				d.closed = true
			}
		}
	}
	return n, nil
}

// asciiHexReader decodes ASCIIHexDecode (§7.4.2), skipping white space.
type asciiHexReader struct {
	r    io.Reader
	buf  [512]byte
	half int // a pending high nibble, or -1
	init bool
}

func (h *asciiHexReader) Read(p []byte) (int, error) {
	if !h.init {
		h.half, h.init = -1, true
	}
	n := 0
	for n == 0 {
		k, err := h.r.Read(h.buf[:min(len(h.buf), 2*len(p))])
		for _, c := range h.buf[:k] {
			v := hexValue(c)
			if v < 0 {
				continue
			}
			if h.half < 0 {
				h.half = v
				continue
			}
			p[n] = byte(h.half<<4 | v)
			n++
			h.half = -1
		}
		if err != nil {
			if errors.Is(err, io.EOF) && h.half >= 0 {
				p[n] = byte(h.half << 4) // §7.4.2: a missing final digit is 0
				n++
				h.half = -1
			}
			return n, err
		}
	}
	return n, nil
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
