package pdf_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// exifSegment returns an APP1 Exif segment whose IFD0 holds one entry.
func exifSegment(bo binary.ByteOrder, tag, typ uint16, count uint32, value uint16) []byte {
	var t bytes.Buffer
	if bo == binary.LittleEndian {
		t.WriteString("II")
	} else {
		t.WriteString("MM")
	}
	w := func(v any) { _ = binary.Write(&t, bo, v) }
	w(uint16(42))
	w(uint32(8))
	w(uint16(1))
	w(tag)
	w(typ)
	w(count)
	w(value)
	w(uint16(0))
	w(uint32(0)) // no next IFD
	seg := append([]byte("Exif\x00\x00"), t.Bytes()...)
	return append([]byte{0xFF, 0xE1, byte((len(seg) + 2) >> 8), byte(len(seg) + 2)}, seg...)
}

// withExif inserts seg after the SOI marker of a JPEG.
func withExif(j, seg []byte) []byte {
	return append(append(append([]byte{}, j[:2]...), seg...), j[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	t.Parallel()
	j := testJPEG(t, 8, 8)
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"no Exif", j, 1},
		{"little-endian 6", withExif(j, exifSegment(binary.LittleEndian, 0x0112, 3, 1, 6)), 6},
		{"big-endian 8", withExif(j, exifSegment(binary.BigEndian, 0x0112, 3, 1, 8)), 8},
		{"big-endian 3", withExif(j, exifSegment(binary.BigEndian, 0x0112, 3, 1, 3)), 3},
		{"out of range", withExif(j, exifSegment(binary.LittleEndian, 0x0112, 3, 1, 9)), 1},
		{"zero", withExif(j, exifSegment(binary.LittleEndian, 0x0112, 3, 1, 0)), 1},
		{"wrong type", withExif(j, exifSegment(binary.LittleEndian, 0x0112, 4, 1, 6)), 1},
		{"another tag", withExif(j, exifSegment(binary.LittleEndian, 0x0110, 3, 1, 6)), 1},
		{"truncated", withExif(j, exifSegment(binary.LittleEndian, 0x0112, 3, 1, 6)[:20]), 1},
		{"after the scan", append(j[:len(j)-2:len(j)-2], exifSegment(binary.LittleEndian, 0x0112, 3, 1, 6)...), 1},
	} {
		if got := pdf.JPEGOrientation(tc.data); got != tc.want {
			t.Errorf("%s: orientation %d, want %d", tc.name, got, tc.want)
		}
	}
}

func FuzzJPEGOrientation(f *testing.F) {
	j := testJPEG(f, 4, 4)
	f.Add(j)
	f.Add(withExif(j, exifSegment(binary.LittleEndian, 0x0112, 3, 1, 6)))
	f.Add(withExif(j, exifSegment(binary.BigEndian, 0x0112, 3, 1, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := pdf.JPEGOrientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

// TestPhotoFollowsExifOrientation prints a photo stored on its side (left
// half black, right half grey) with Orientation 6, "turn a quarter
// clockwise": on paper the black half must be on top.
func TestPhotoFollowsExifOrientation(t *testing.T) {
	needTool(t, "pdftoppm")
	img := image.NewGray(image.Rect(0, 0, 300, 200))
	for y := range 200 {
		for x := range 300 {
			v := uint8(160)
			if x < 150 {
				v = 0
			}
			img.SetGray(x, y, color.Gray{Y: v})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	// Upright (6), the photo is a portrait with the black half on top. As
	// stored (1) it is a landscape, turned a quarter counter-clockwise onto
	// the portrait page: its left half comes to the bottom.
	for _, tc := range []struct {
		orientation uint16
		blackTop    bool // else at the bottom
	}{{6, true}, {1, false}} {
		data := withExif(b.Bytes(), exifSegment(binary.BigEndian, 0x0112, 3, 1, tc.orientation))
		l := letterWith(pdf.Attachment{Name: "photo.jpg", ContentType: "image/jpeg", Data: data})
		res, err := newRenderer(t).Render(l)
		if err != nil {
			t.Fatal(err)
		}
		prefix := filepath.Join(t.TempDir(), "p2")
		run(t, "pdftoppm", "-r", "50", "-gray", "-png", "-f", "2", "-l", "2", "-singlefile", writePDF(t, res.PDF), prefix)
		f, err := os.Open(prefix + ".png")
		if err != nil {
			t.Fatal(err)
		}
		page, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Bounding boxes of the photo (grey or black) and of its black half,
		// below the heading and the band (the top tenth of the page).
		all, black := image.Rectangle{}, image.Rectangle{}
		bnd := page.Bounds()
		for y := bnd.Min.Y + bnd.Dy()/10; y < bnd.Max.Y*4/5; y++ {
			for x := bnd.Min.X; x < bnd.Max.X; x++ {
				v := color.GrayModel.Convert(page.At(x, y)).(color.Gray).Y
				px := image.Rect(x, y, x+1, y+1)
				if v < 200 {
					all = all.Union(px)
				}
				if v < 60 {
					black = black.Union(px)
				}
			}
		}
		if all.Empty() || black.Empty() {
			t.Fatalf("orientation %d: no photo found on page 2", tc.orientation)
		}
		portrait := all.Dy() > all.Dx()
		wide := black.Dx() >= all.Dx()-2
		top := black.Max.Y <= all.Min.Y+all.Dy()/2+2
		bottom := black.Min.Y >= all.Min.Y+all.Dy()/2-2
		if !portrait || !wide || tc.blackTop && !top || !tc.blackTop && !bottom {
			t.Errorf("orientation %d: photo %v, black half %v: want a portrait photo with the black half at the %s",
				tc.orientation, all, black, map[bool]string{true: "top", false: "bottom"}[tc.blackTop])
		}
	}
}
