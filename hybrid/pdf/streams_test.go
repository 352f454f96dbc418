package pdf_test

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// zerosZlib returns a zlib stream that inflates to mib MiB of zeros,
// built without compressing them: a byte-aligned run of deflate blocks
// that inflates to 1 MiB once the window holds zeros is repeated.
func zerosZlib(t testing.TB, mib int) []byte {
	t.Helper()
	var raw bytes.Buffer
	w, err := flate.NewWriter(&raw, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	_, _ = w.Write(zeros)
	_ = w.Flush()
	headEnd := raw.Len()
	_, _ = w.Write(zeros)
	_ = w.Flush()
	head, run := bytes.Clone(raw.Bytes()[:headEnd]), bytes.Clone(raw.Bytes()[headEnd:])
	var out bytes.Buffer
	out.Write([]byte{0x78, 0xda})
	out.Write(head)
	for range mib - 1 {
		out.Write(run)
	}
	out.Write([]byte{0x03, 0x00}) // final empty block
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], uint32((uint64(mib)<<20)%65521)<<16|1) // Adler-32 of zeros
	out.Write(sum[:])
	return out.Bytes()
}

func zlibOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func streamObj(filters string, data []byte) string {
	return fmt.Sprintf("<< /Length %d /Filter %s >>\nstream\n%s\nendstream", len(data), filters, data)
}

// TestCheckAttachmentRefusesDecompressionBombs: streams that inflate past
// the per-stream limit, through one filter or a chain, or all streams past
// the document limit, and images that declare a huge canvas, are refused;
// a stream that inflates moderately is not.
func TestCheckAttachmentRefusesDecompressionBombs(t *testing.T) {
	t.Parallel()
	bomb := zerosZlib(t, 300)
	// RunLengthDecode: 129 means "repeat the next byte 128 times".
	rl := bytes.Repeat([]byte{129, 0}, 2_200_000)
	rl = append(rl, 128)
	var fiveLarge []string
	for range 5 {
		fiveLarge = append(fiveLarge, streamObj("/FlateDecode", zerosZlib(t, 240)))
	}
	imageObj := "<< /Type /XObject /Subtype /Image /Width 100000 /Height 100000 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode /Length 4 >>\nstream\nxxxx\nendstream"
	bad := map[string][]string{
		"flate bomb":               {streamObj("/FlateDecode", bomb)},
		"flate inside flate":       {streamObj("[/FlateDecode /FlateDecode]", zlibOf(t, bomb))},
		"hex-encoded flate bomb":   {streamObj("[/ASCIIHexDecode /FlateDecode]", []byte(hex.EncodeToString(bomb)+">"))},
		"run-length bomb":          {streamObj("/RunLengthDecode", rl)},
		"streams too large in all": fiveLarge,
		"image canvas too large":   {imageObj},
	}
	for name, objs := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := pdf.CheckAttachment(pdf.Attachment{Name: "a.pdf", ContentType: "application/pdf", Data: testPDF(pdfSpec{objs: objs})})
			if !errors.Is(err, pdf.ErrUnprintable) {
				t.Fatalf("accepted (%v)", err)
			}
			if !strings.Contains(err.Error(), "inflate") && !strings.Contains(err.Error(), "pixels") {
				t.Logf("refused for another reason: %v", err)
			}
		})
	}
	ok := testPDF(pdfSpec{objs: []string{streamObj("/FlateDecode", zerosZlib(t, 8)), streamObj("/RunLengthDecode", []byte{2, 'a', 'b', 'c', 130, 'x', 128})}})
	if err := pdf.CheckAttachment(pdf.Attachment{Name: "ok.pdf", ContentType: "application/pdf", Data: ok}); err != nil {
		t.Fatalf("a moderately compressed PDF is refused: %v", err)
	}
}
