package pdf

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// This file reads and rewrites the PDF files gofpdf v1.16.2 writes — only
// those: every object is "N 0 obj\n<body>endobj\n", streams are
// "<<dict>>\nstream\n<data>\nendstream\n", one classic cross-reference
// section (ISO 32000-1 §7.5.4) with 20-byte entries covers objects
// 0..Size-1, and the trailer holds /Size, /Root and /Info. Anything else
// is an error wrapping errFastFonts, never a guess.

// rawObj is one object of a gofpdf file.
type rawObj struct {
	num  int
	body []byte // between "N 0 obj\n" and "endobj\n"
}

// rawPDF is a gofpdf file split into its objects.
type rawPDF struct {
	header     []byte   // "%PDF-1.x\n", before the first object
	objs       []rawObj // in file order
	index      []int    // index[num] is the position of object num in objs
	root, info int
}

func (p *rawPDF) obj(num int) (rawObj, bool) {
	if num <= 0 || num >= len(p.index) {
		return rawObj{}, false
	}
	return p.objs[p.index[num]], true
}

func shapeErr(format string, args ...any) error {
	return fmt.Errorf("%w: gofpdf output: %s", errFastFonts, fmt.Sprintf(format, args...))
}

// atoiAt parses the decimal number at the start of b and returns it with
// the rest of b.
func atoiAt(b []byte) (int, []byte, bool) {
	i := 0
	for i < len(b) && i < 12 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, b, false
	}
	n, err := strconv.Atoi(string(b[:i]))
	return n, b[i:], err == nil
}

// expect consumes prefix from b.
func expect(b []byte, prefix string) ([]byte, bool) {
	return bytes.CutPrefix(b, []byte(prefix))
}

// parseGofpdf splits a file written by gofpdf into its objects. It reads
// the offsets from the cross-reference table and checks every object
// against them, so stream data can never be mistaken for structure.
func parseGofpdf(b []byte) (*rawPDF, error) {
	const eof = "\n%%EOF\n"
	if !bytes.HasPrefix(b, []byte("%PDF-1.")) || !bytes.HasSuffix(b, []byte(eof)) {
		return nil, shapeErr("no header or end-of-file marker")
	}
	sx := bytes.LastIndex(b, []byte("\nstartxref\n"))
	if sx < 0 {
		return nil, shapeErr("no startxref")
	}
	xrefAt, rest, ok := atoiAt(b[sx+len("\nstartxref\n"):])
	if !ok || string(rest) != eof || xrefAt <= 0 || xrefAt > sx {
		return nil, shapeErr("bad startxref")
	}
	x, ok := expect(b[xrefAt:sx+1], "xref\n0 ")
	size := 0
	if ok {
		size, x, ok = atoiAt(x)
	}
	if ok {
		x, ok = expect(x, "\n0000000000 65535 f \n")
	}
	if !ok || size < 3 || len(x) < 20*(size-1) {
		return nil, shapeErr("bad cross-reference table")
	}
	p := &rawPDF{index: make([]int, size)}
	offsets := make([]int, size)
	for n := 1; n < size; n++ {
		e := x[20*(n-1) : 20*n]
		off, tail, ok := atoiAt(e)
		if !ok || len(tail) != 10 || string(tail) != " 00000 n \n" || off <= 0 || off >= xrefAt {
			return nil, shapeErr("bad cross-reference entry %d", n)
		}
		offsets[n] = off
	}
	t := x[20*(size-1):]
	t, ok = expect(t, "trailer\n<<\n/Size "+strconv.Itoa(size)+"\n/Root ")
	if ok {
		p.root, t, ok = atoiAt(t)
	}
	if ok {
		t, ok = expect(t, " 0 R\n/Info ")
	}
	if ok {
		p.info, t, ok = atoiAt(t)
	}
	if ok {
		_, ok = expect(t, " 0 R\n>>\n")
		ok = ok && len(t) == len(" 0 R\n>>\n")
	}
	if !ok || p.root <= 0 || p.root >= size || p.info <= 0 || p.info >= size {
		return nil, shapeErr("bad trailer")
	}

	order := make([]int, 0, size-1)
	for n := 1; n < size; n++ {
		order = append(order, n)
	}
	slices.SortFunc(order, func(a, b int) int { return offsets[a] - offsets[b] })
	p.header = b[:offsets[order[0]]]
	p.objs = make([]rawObj, 0, size-1)
	var prefix []byte
	for i, n := range order {
		start, end := offsets[n], xrefAt
		if i+1 < len(order) {
			end = offsets[order[i+1]]
		}
		chunk := b[start:end]
		prefix = append(strconv.AppendInt(prefix[:0], int64(n), 10), " 0 obj\n"...)
		body, ok := bytes.CutPrefix(chunk, prefix)
		if ok {
			body, ok = bytes.CutSuffix(body, []byte("endobj\n"))
		}
		if !ok {
			return nil, shapeErr("object %d does not start at its offset", n)
		}
		p.index[n] = len(p.objs)
		p.objs = append(p.objs, rawObj{num: n, body: body})
	}
	return p, nil
}

// splitStream splits a stream object body into its dictionary and data.
func splitStream(body []byte) (dict, data []byte, ok bool) {
	i := bytes.Index(body, []byte("\nstream\n"))
	if i < 0 {
		return nil, nil, false
	}
	data, ok = bytes.CutSuffix(body[i+len("\nstream\n"):], []byte("\nendstream\n"))
	return body[:i], data, ok
}

// pageContents returns the content stream's object number of a page
// object, which gofpdf writes as "<</Type /Page\n...\n/Contents N 0 R>>\n".
func pageContents(body []byte) (int, bool) {
	if !bytes.HasPrefix(body, []byte("<</Type /Page\n")) {
		return 0, false
	}
	i := bytes.LastIndex(body, []byte("/Contents "))
	if i < 0 {
		return 0, false
	}
	n, rest, ok := atoiAt(body[i+len("/Contents "):])
	if !ok || string(rest) != " 0 R>>\n" {
		return 0, false
	}
	return n, true
}

// writeDoc rewrites a document gofpdf wrote with its fonts marked as core
// fonts (fontShare.markCore) and compression off: each face's placeholder
// becomes the cached font of tiers[face], whose other objects follow it
// with new numbers, and each page content stream is compressed as gofpdf
// would have (zlib, best speed) but with a pooled writer. Object numbers
// of everything else stay, so every reference in the file stays valid.
func (c *fontCache) writeDoc(in []byte, tiers []int) ([]byte, error) {
	fonts, err := c.fonts(tiers)
	if err != nil {
		return nil, err
	}
	p, err := parseGofpdf(in)
	if err != nil {
		return nil, err
	}
	// Which object is whose placeholder, and which are page contents.
	faceOf := make([]int, len(p.index)) // face+1; 0: not a placeholder
	placeholder := make([]int, len(c.faces))
	contents := make([]bool, len(p.index))
	for _, o := range p.objs {
		if n, ok := pageContents(o.body); ok {
			if n <= 0 || n >= len(contents) || contents[n] {
				return nil, shapeErr("page object %d: contents %d", o.num, n)
			}
			contents[n] = true
			continue
		}
		for i := range c.faces {
			if bytes.Equal(o.body, c.faces[i].placeholder) {
				if placeholder[i] != 0 {
					return nil, shapeErr("two placeholders for font %q", c.faces[i].key)
				}
				placeholder[i], faceOf[o.num] = o.num, i+1
			}
		}
	}
	extra := 0
	for i, n := range placeholder {
		if n == 0 {
			return nil, shapeErr("no placeholder for font %q", c.faces[i].key)
		}
		extra += fonts[i].bytes
	}

	out := make([]byte, 0, len(in)+extra)
	out = append(out, p.header...)
	offsets := make([]int, len(p.index), len(p.index)+8*len(c.faces))
	next := len(p.index) // the next free object number
	z := c.zw.get()
	defer c.zw.put(z)
	for _, o := range p.objs {
		offsets[o.num] = len(out)
		out = strconv.AppendInt(out, int64(o.num), 10)
		out = append(out, " 0 obj\n"...)
		switch {
		case contents[o.num]:
			dict, data, ok := splitStream(o.body)
			if !ok || string(dict) != "<</Length "+strconv.Itoa(len(data))+">>" {
				return nil, shapeErr("page contents %d are not an uncompressed stream", o.num)
			}
			// ISO 32000-1 §7.4.4: FlateDecode is zlib (RFC 1950).
			compressed := z.compress(data)
			out = append(out, "<</Filter /FlateDecode /Length "...)
			out = strconv.AppendInt(out, int64(len(compressed)), 10)
			out = append(out, ">>\nstream\n"...)
			out = append(out, compressed...)
			out = append(out, "\nendstream\nendobj\n"...)
		case faceOf[o.num] != 0:
			font := fonts[faceOf[o.num]-1]
			self, first := o.num, next
			num := func(slot int) int {
				if slot == 0 {
					return self
				}
				return first + slot - 1
			}
			out = font.objs[0].appendTo(out, num)
			out = append(out, "endobj\n"...)
			for s := 1; s < len(font.objs); s++ {
				offsets = append(offsets, len(out))
				out = strconv.AppendInt(out, int64(num(s)), 10)
				out = append(out, " 0 obj\n"...)
				out = font.objs[s].appendTo(out, num)
				out = append(out, "endobj\n"...)
			}
			next += len(font.objs) - 1
		default:
			out = append(out, o.body...)
			out = append(out, "endobj\n"...)
		}
	}
	// Cross-reference table and trailer as gofpdf writes them (ISO
	// 32000-1 §7.5.4, §7.5.5).
	xrefAt := len(out)
	out = append(out, "xref\n0 "...)
	out = strconv.AppendInt(out, int64(next), 10)
	out = append(out, "\n0000000000 65535 f \n"...)
	var entry [10]byte
	for n := 1; n < next; n++ {
		e := strconv.AppendInt(entry[:0], int64(offsets[n]), 10)
		for i := len(e); i < 10; i++ {
			out = append(out, '0')
		}
		out = append(out, e...)
		out = append(out, " 00000 n \n"...)
	}
	out = append(out, "trailer\n<<\n/Size "...)
	out = strconv.AppendInt(out, int64(next), 10)
	out = append(out, "\n/Root "...)
	out = strconv.AppendInt(out, int64(p.root), 10)
	out = append(out, " 0 R\n/Info "...)
	out = strconv.AppendInt(out, int64(p.info), 10)
	out = append(out, " 0 R\n>>\nstartxref\n"...)
	out = strconv.AppendInt(out, int64(xrefAt), 10)
	out = append(out, "\n%%EOF\n"...)
	return out, nil
}

// flatePool reuses zlib writers. A new writer allocates about 1 MB of
// hash tables, most of a page's compression cost; Reset at best speed
// only moves the window offset (compress/flate), and the output after a
// Reset is the same as a new writer's (a test asserts it).
type flatePool struct {
	p sync.Pool
}

// flater is a pooled zlib writer with its output buffer.
type flater struct {
	w   *zlib.Writer
	buf bytes.Buffer
}

func newFlatePool() *flatePool {
	fp := &flatePool{}
	fp.p.New = func() any {
		fl := &flater{}
		// Best speed, as gofpdf compresses its streams (sliceCompress).
		fl.w, _ = zlib.NewWriterLevel(&fl.buf, zlib.BestSpeed) // the level is valid
		return fl
	}
	return fp
}

func (fp *flatePool) get() *flater  { return fp.p.Get().(*flater) }
func (fp *flatePool) put(f *flater) { fp.p.Put(f) }

// compress returns data compressed; the result is valid until the next
// call.
func (f *flater) compress(data []byte) []byte {
	f.buf.Reset()
	f.w.Reset(&f.buf)
	f.w.Write(data) // a bytes.Buffer does not fail
	f.w.Close()
	return f.buf.Bytes()
}
