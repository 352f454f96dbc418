package pdf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// pdfSpec describes a small hand-written PDF for the tests.
type pdfSpec struct {
	pages      int
	rotate     int
	letterSize bool
	text       string   // drawn on every page, followed by the page number
	mediaBox   string   // of every page, default A4 portrait
	content    string   // of every page, replacing the text
	catalog    string   // extra catalog entries
	page       string   // extra entries of every page dictionary
	objs       []string // extra objects, numbered from 4
}

// testPDF writes a PDF 1.4 file with a classic cross-reference table.
func testPDF(s pdfSpec) []byte {
	if s.pages == 0 {
		s.pages = 1
	}
	if s.text == "" {
		s.text = "Attached page"
	}
	box := "[0 0 595 842]"
	if s.letterSize {
		box = "[0 0 612 792]"
	}
	if s.mediaBox != "" {
		box = s.mediaBox
	}
	firstPage := 4 + len(s.objs)
	var kids []string
	for i := 0; i < s.pages; i++ {
		kids = append(kids, fmt.Sprintf("%d 0 R", firstPage+2*i))
	}
	objs := []string{
		fmt.Sprintf("<< /Type /Catalog /Pages 2 0 R %s >>", s.catalog),
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), s.pages),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	objs = append(objs, s.objs...)
	for i := 0; i < s.pages; i++ {
		content := fmt.Sprintf("BT /F1 18 Tf 72 600 Td (%s %d) Tj ET", s.text, i+1)
		if s.content != "" {
			content = s.content
		}
		rot := ""
		if s.rotate != 0 {
			rot = fmt.Sprintf("/Rotate %d", s.rotate)
		}
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox %s %s /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R %s >>",
				box, rot, firstPage+2*i+1, s.page),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
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

// pngWithSize returns a valid 1×1 PNG whose header claims w×h pixels.
func pngWithSize(t testing.TB, w, h uint32) []byte {
	b := testPNG(t, 1, 1)
	// Signature (8), IHDR length (4) and type (4), then width and height.
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestCheckAttachment(t *testing.T) {
	t.Parallel()
	good := func(name, ct string, data []byte) {
		t.Helper()
		if err := pdf.CheckAttachment(pdf.Attachment{Name: name, ContentType: ct, Data: data}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// bad expects ErrUnprintable with a message naming why.
	bad := func(name, ct string, data []byte, why string) {
		t.Helper()
		err := pdf.CheckAttachment(pdf.Attachment{Name: name, ContentType: ct, Data: data})
		if !errors.Is(err, pdf.ErrUnprintable) {
			t.Errorf("%s: err = %v, want ErrUnprintable", name, err)
			return
		}
		if !strings.Contains(err.Error(), why) {
			t.Errorf("%s: error %q does not say %q", name, err, why)
		}
	}

	good("plain.txt", "text/plain", []byte("Прывітанне, свет!\n"))
	good("charset.txt", "text/plain; charset=UTF-8", []byte("ok"))
	good("scan.png", "image/png", testPNG(t, 40, 30))
	good("photo.jpg", "image/jpeg", testJPEG(t, 40, 30))
	good("letter.pdf", "application/pdf", testPDF(pdfSpec{pages: 3}))
	good("goto-open.pdf", "application/pdf", testPDF(pdfSpec{catalog: "/OpenAction [5 0 R /Fit]"}))
	good("goto-action.pdf", "application/pdf", testPDF(pdfSpec{catalog: "/OpenAction << /S /GoTo /D [5 0 R /Fit] >>"}))
	good("link.pdf", "application/pdf", testPDF(pdfSpec{page: "/Annots [4 0 R]",
		objs: []string{"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (https://belpost.by) >> >>"}}))

	bad("empty.txt", "text/plain", nil, "empty")
	bad("latin1.txt", "text/plain; charset=iso-8859-1", []byte("ok"), "charset")
	bad("binary.txt", "text/plain", []byte{0xff, 0xfe, 'a'}, "UTF-8")
	bad("huge.txt", "text/plain", bytes.Repeat([]byte("a"), pdf.MaxTextAttachmentBytes+1), "more than")
	bad("word.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", []byte("PK"), "cannot be printed")
	bad("nonsense", "no/such/type", []byte("x"), "content type")
	bad("too-big.pdf", "application/pdf", make([]byte, pdf.MaxAttachmentBytes+1), "more than")

	bad("fake.png", "image/png", []byte("\x89PNG\r\n\x1a\nthis is not a png"), "malformed")
	bad("truncated.png", "image/png", testPNG(t, 40, 30)[:60], "malformed")
	bad("truncated.jpg", "image/jpeg", testJPEG(t, 40, 30)[:200], "malformed")
	bad("jpeg-as-png.png", "image/png", testJPEG(t, 4, 4), "not image/png")
	bad("bomb.png", "image/png", pngWithSize(t, 50000, 50000), "pixels")
	bad("strip.png", "image/png", pngWithSize(t, 30000, 1), "pixels")

	bad("not-a.pdf", "application/pdf", []byte("hello"), "not a PDF")
	bad("broken.pdf", "application/pdf", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"), "could not be parsed")
	bad("names-js.pdf", "application/pdf", testPDF(pdfSpec{
		catalog: "/Names << /JavaScript << /Names [(x) 4 0 R] >> >>",
		objs:    []string{"<< /S /JavaScript /JS (app.alert(1)) >>"}}), "JavaScript")
	bad("open-launch.pdf", "application/pdf", testPDF(pdfSpec{
		catalog: "/OpenAction << /S /Launch /F (cmd.exe) >>"}), "/OpenAction /S /Launch")
	bad("open-js-ref.pdf", "application/pdf", testPDF(pdfSpec{
		catalog: "/OpenAction 4 0 R", objs: []string{"<< /S /JavaScript /JS (app.alert(1)) >>"}}), "/OpenAction /S /JavaScript")
	bad("page-aa.pdf", "application/pdf", testPDF(pdfSpec{
		page: "/AA << /O << /S /JavaScript /JS (x) >> >>"}), "/AA")
	bad("link-launch.pdf", "application/pdf", testPDF(pdfSpec{page: "/Annots [4 0 R]",
		objs: []string{"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /Launch /F (calc.exe) >> >>"}}), "Launch action")
	bad("embedded.pdf", "application/pdf", testPDF(pdfSpec{
		catalog: "/Names << /EmbeddedFiles << /Names [(a.exe) 4 0 R] >> >>",
		objs:    []string{"<< /Type /Filespec /F (a.exe) >>"}}), "embedded files")
	bad("xfa.pdf", "application/pdf", testPDF(pdfSpec{
		catalog: "/AcroForm << /Fields [4 0 R] /XFA 5 0 R >>", page: "/Annots [4 0 R]",
		objs: []string{"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /DA (/Helv 0 Tf 0 g) /Rect [0 0 10 10] /P 6 0 R >>",
			"<< /Length 7 >>\nstream\n<xdp/>\n\nendstream"}}), "XFA")
	bad("submit.pdf", "application/pdf", testPDF(pdfSpec{page: "/Annots [4 0 R]",
		objs: []string{"<< /Type /Annot /Subtype /Widget /Rect [0 0 10 10] /A << /S /SubmitForm /F (https://x) >> >>"}}), "SubmitForm")
	bad("poster.pdf", "application/pdf", testPDF(pdfSpec{letterSize: true, page: "/MediaBox [0 0 2384 3370]"}), "pt")
	bad("many-pages.pdf", "application/pdf", testPDF(pdfSpec{pages: pdf.MaxPDFPages + 1}), "pages")
}

// TestCheckAttachmentWithQPDF checks active content hidden where a naive
// byte scan would miss it (compressed object streams), and encryption,
// with files rewritten by qpdf.
func TestCheckAttachmentWithQPDF(t *testing.T) {
	t.Parallel()
	needTool(t, "qpdf")
	dir := t.TempDir()
	js := writePDF(t, testPDF(pdfSpec{catalog: "/OpenAction 4 0 R", objs: []string{"<< /S /JavaScript /JS (app.alert(1)) >>"}}))
	clean := writePDF(t, testPDF(pdfSpec{pages: 2}))
	objstm := dir + "/objstm.pdf"
	run(t, "qpdf", "--object-streams=generate", "--compress-streams=y", js, objstm)
	enc := dir + "/enc.pdf"
	run(t, "qpdf", "--encrypt", "", "owner-secret", "256", "--", clean, enc)
	for _, tc := range []struct{ file, why string }{{objstm, "JavaScript"}, {enc, "encrypted"}} {
		data := readFile(t, tc.file)
		if bytes.Contains(data, []byte("JavaScript")) && tc.why == "JavaScript" {
			t.Fatalf("qpdf left the action uncompressed; the test would not test object streams")
		}
		err := pdf.CheckAttachment(pdf.Attachment{Name: "x.pdf", ContentType: "application/pdf", Data: data})
		if !errors.Is(err, pdf.ErrUnprintable) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: err = %v, want ErrUnprintable saying %q", tc.file, err, tc.why)
		}
	}
}
