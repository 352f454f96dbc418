package reliability_test

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// buildPDF writes a PDF with a correct cross-reference table from object
// bodies (object 1 must be the catalog).
func buildPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// onePagePDF is a valid one-page A4 PDF; catalogExtra and pageExtra are
// added to the catalog and page dictionaries.
func onePagePDF(catalogExtra, pageExtra string) []byte {
	content := "BT /F1 12 Tf 72 720 Td (Hello) Tj ET"
	return buildPDF(
		"<< /Type /Catalog /Pages 2 0 R "+catalogExtra+" >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R "+pageExtra+" >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	)
}

// manyPagesPDF has n pages.
func manyPagesPDF(n int) []byte {
	objs := []string{"<< /Type /Catalog /Pages 2 0 R >>", ""}
	var kids []string
	for i := range n {
		kids = append(kids, fmt.Sprintf("%d 0 R", i+3))
		objs = append(objs, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>")
	}
	objs[1] = fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), n)
	return buildPDF(objs...)
}

// flateBomb returns a zlib stream (RFC 1950) that inflates to mib MiB of
// zeros, built without compressing them: one byte-aligned run of deflate
// blocks that inflates to 1 MiB of zeros once the window is full of zeros
// (every match refers back into zeros) is repeated, between a head that
// starts the window and a final empty block.
func flateBomb(t testing.TB, mib int) []byte {
	t.Helper()
	var raw bytes.Buffer
	w, err := flate.NewWriter(&raw, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	mark := func() int {
		if err := w.Flush(); err != nil { // a sync flush ends byte-aligned
			t.Fatal(err)
		}
		return raw.Len()
	}
	_, _ = w.Write(zeros)
	headEnd := mark()
	_, _ = w.Write(zeros)
	runEnd := mark()
	head := bytes.Clone(raw.Bytes()[:headEnd])
	run := bytes.Clone(raw.Bytes()[headEnd:runEnd])
	var out bytes.Buffer
	out.Write([]byte{0x78, 0xda}) // zlib header: deflate, 32 KiB window, best compression
	out.Write(head)
	for range mib - 1 {
		out.Write(run)
	}
	out.Write([]byte{0x03, 0x00}) // a final, empty fixed-Huffman block
	// Adler-32 of n zeros: A stays 1, B = n mod 65521.
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], uint32((uint64(mib)<<20)%65521)<<16|1)
	out.Write(sum[:])
	return out.Bytes()
}

// bombPDF is a one-page PDF whose content stream inflates to mib MiB.
func bombPDF(t testing.TB, mib int) []byte {
	z := flateBomb(t, mib)
	return buildPDF(
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", len(z), z),
	)
}
