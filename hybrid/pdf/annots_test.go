package pdf_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/pdf"
)

// appearance is an appearance stream object drawing text in Helvetica
// (object 3 of testPDF) at (x, y) of its form space.
func appearance(bbox, matrix string, size, x, y int, text string) string {
	content := fmt.Sprintf("/Tx BMC BT /F1 %d Tf %d %d Td (%s) Tj ET EMC", size, x, y, text)
	if matrix != "" {
		matrix = "/Matrix " + matrix
	}
	return fmt.Sprintf("<< /Type /XObject /Subtype /Form /BBox %s %s /Resources << /Font << /F1 3 0 R >> >> /Length %d >>\nstream\n%s\nendstream",
		bbox, matrix, len(content), content)
}

// annotatedPDF is a w × h pt filled-in form: a text field with its value,
// a checkbox turned on, a free text note, a stamp in the top-right
// corner, and annotations that do not print — one without the Print
// flag, a hidden one, a popup — each with an appearance drawing its word.
func annotatedPDF(w, h int) []byte {
	objs := []string{
		// 4, 5: a filled-in text field (a widget merged with its field).
		"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (FIELDVALUE) /DA (/F1 12 Tf 0 g) /F 4 /Rect [72 500 272 520] /AP << /N 5 0 R >> >>",
		appearance("[0 0 200 20]", "", 12, 2, 5, "FIELDVALUE"),
		// 6, 7: free text whose appearance is drawn twice as large with a
		// /Matrix that moves its bounding box to the origin (§12.5.5).
		"<< /Type /Annot /Subtype /FreeText /F 4 /Rect [300 400 500 430] /Contents (FREETEXTNOTE) /DA (/F1 12 Tf) /AP << /N 7 0 R >> >>",
		appearance("[100 100 500 160]", "[1 0 0 1 -100 -100]", 24, 104, 120, "FREETEXTNOTE"),
		// 8, 9, 10: a checkbox in the state /On.
		"<< /Type /Annot /Subtype /Widget /FT /Btn /T (agree) /V /On /AS /On /F 4 /Rect [300 500 420 520] /AP << /N << /On 9 0 R /Off 10 0 R >> >> >>",
		appearance("[0 0 120 20]", "", 12, 2, 5, "CHECKEDON"),
		appearance("[0 0 120 20]", "", 12, 2, 5, "CHECKEDOFF"),
		// 11, 12: no Print flag.
		"<< /Type /Annot /Subtype /Stamp /F 0 /Rect [72 300 272 320] /AP << /N 12 0 R >> >>",
		appearance("[0 0 200 20]", "", 12, 2, 5, "NOPRINTSTAMP"),
		// 13, 14: Print and Hidden.
		"<< /Type /Annot /Subtype /Stamp /F 6 /Rect [72 250 272 270] /AP << /N 14 0 R >> >>",
		appearance("[0 0 200 20]", "", 12, 2, 5, "HIDDENSTAMP"),
		// 15, 16: a stamp reaching the page's top-right corner.
		fmt.Sprintf("<< /Type /Annot /Subtype /Stamp /F 4 /Rect [%d %d %d %d] /AP << /N 16 0 R >> >>", w-150, h-30, w, h),
		appearance("[0 0 150 30]", "", 12, 40, 10, "APPROVEDSTAMP"),
		// 17, 18: a popup, with the Print flag and an appearance.
		"<< /Type /Annot /Subtype /Popup /F 4 /Open true /Rect [300 250 500 350] /AP << /N 18 0 R >> >>",
		appearance("[0 0 200 100]", "", 12, 2, 50, "POPUPTEXT"),
	}
	return testPDF(pdfSpec{
		mediaBox: fmt.Sprintf("[0 0 %d %d]", w, h),
		content:  "BT /F1 18 Tf 72 400 Td (Form page) Tj ET",
		catalog:  "/AcroForm << /Fields [4 0 R 8 0 R] >>",
		page:     "/Annots [4 0 R 6 0 R 8 0 R 11 0 R 13 0 R 15 0 R 17 0 R]",
		objs:     objs,
	})
}

// TestAnnotationsPrint: the appearances of a filled-in form's fields and
// of the annotations that print are drawn onto the attached page — on a
// portrait page and on a landscape one turned onto A4 — inside the
// attachment area, beside the page content as on the original; hidden,
// non-print and popup annotations and the checkbox's other state are not.
func TestAnnotationsPrint(t *testing.T) {
	for _, tool := range []string{"pdftotext", "qpdf"} {
		needTool(t, tool)
	}
	r := newRenderer(t)
	l := letterWith(
		pdf.Attachment{Name: "анкета.pdf", ContentType: "application/pdf", Data: annotatedPDF(595, 842)},
		pdf.Attachment{Name: "landscape.pdf", ContentType: "application/pdf", Data: annotatedPDF(842, 595)},
	)
	l.Language = pdf.Russian
	res, err := r.Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pages != 3 {
		t.Fatalf("%d pages, want 3", res.Pages)
	}
	again, err := r.Render(l)
	if err != nil {
		t.Fatal(err)
	}
	if again.SHA256 != res.SHA256 {
		t.Error("a letter with annotated attachments renders differently twice")
	}
	// The fields are printed; the form itself is not carried along.
	if bytes.Contains(res.PDF, []byte("/AcroForm")) {
		t.Error("the printed PDF has an interactive form (/AcroForm)")
	}
	file := writePDF(t, res.PDF)
	if out := run(t, "qpdf", "--check", file); !strings.Contains(out, "No syntax or stream encoding errors") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	const (
		areaX0 = 25*ptPerMM - bboxTolerPt
		areaX1 = 200*ptPerMM + bboxTolerPt
		areaY0 = 16*ptPerMM - bboxTolerPt
		areaY1 = 282*ptPerMM + bboxTolerPt
	)
	printed := []string{"FIELDVALUE", "FREETEXTNOTE", "CHECKEDON", "APPROVEDSTAMP", "Form"}
	notPrinted := []string{"NOPRINTSTAMP", "HIDDENSTAMP", "CHECKEDOFF", "POPUPTEXT"}
	for p, name := range map[int]string{2: "анкета.pdf", 3: "landscape.pdf"} {
		at := map[string]word{}
		for _, w := range wordsOn(t, file, p) {
			at[w.text] = w
		}
		for _, want := range printed {
			w, ok := at[want]
			if !ok {
				t.Errorf("page %d (%s): %s is not printed", p, name, want)
				continue
			}
			if w.x0 < areaX0 || w.x1 > areaX1 || w.y0 < areaY0 || w.y1 > areaY1 {
				t.Errorf("page %d (%s): %s at (%.1f,%.1f)-(%.1f,%.1f) pt is outside the attachment area", p, name, want, w.x0, w.y0, w.x1, w.y1)
			}
		}
		for _, not := range notPrinted {
			if _, ok := at[not]; ok {
				t.Errorf("page %d (%s): %s is printed", p, name, not)
			}
		}
		field, free, check, page := at["FIELDVALUE"], at["FREETEXTNOTE"], at["CHECKEDON"], at["Form"]
		if name == "landscape.pdf" {
			// Turned a quarter counter-clockwise: the original's x runs
			// up the sheet, its y to the right.
			if !(field.y0 > check.y1 && free.x0 > field.x1 && page.y0 > free.y1) {
				t.Errorf("page %d (%s): field %v, checkbox %v, free text %v, page text %v are not where the original has them", p, name, field, check, free, page)
			}
			continue
		}
		// The field left of the checkbox, the free text below both and
		// right of the page's own text (at the same height); the free
		// text drawn at half its appearance's 24 pt, as large as the
		// 12 pt field value.
		if !(field.x1 < check.x0 && free.y0 > field.y1 && free.x0 > page.x1) {
			t.Errorf("page %d (%s): field %v, checkbox %v, free text %v are not where the original has them", p, name, field, check, free)
		}
		if fh, th := field.y1-field.y0, free.y1-free.y0; th > fh*1.05 || th < fh*0.95 {
			t.Errorf("page %d (%s): free text %.1f pt high, field value %.1f pt: the appearance is not scaled to its rectangle", p, name, th, fh)
		}
	}
}

// rotatedPDF is an A4 page with /Rotate 90 carrying two stamps, one with
// the NoRotate flag.
func rotatedPDF() []byte {
	return testPDF(pdfSpec{
		rotate:  90,
		content: "BT /F1 18 Tf 72 400 Td (Rotated form) Tj ET",
		page:    "/Annots [4 0 R 6 0 R]",
		objs: []string{
			"<< /Type /Annot /Subtype /Stamp /F 4 /Rect [72 600 272 620] /AP << /N 5 0 R >> >>",
			appearance("[0 0 200 20]", "", 12, 2, 5, "TURNSSTAMP"),
			"<< /Type /Annot /Subtype /Stamp /F 20 /Rect [300 300 500 320] /AP << /N 7 0 R >> >>",
			appearance("[0 0 200 20]", "", 12, 2, 5, "UPRIGHTSTAMP"),
		},
	})
}

// TestNoRotateAnnotation: on a page with /Rotate 90 — displayed
// landscape, so turned back onto portrait A4 and printed as its content
// is written — an appearance with the NoRotate flag stays upright as the
// page is displayed, so it runs across the page text on paper; one
// without the flag turns with the page and runs along it.
func TestNoRotateAnnotation(t *testing.T) {
	needTool(t, "pdftotext")
	l := letterWith(pdf.Attachment{Name: "rotated.pdf", ContentType: "application/pdf", Data: rotatedPDF()})
	res, err := newRenderer(t).Render(l)
	if err != nil {
		t.Fatal(err)
	}
	file := writePDF(t, res.PDF)
	vertical := map[string]bool{"Rotated": false, "TURNSSTAMP": false, "UPRIGHTSTAMP": true}
	found := 0
	for _, w := range wordsOn(t, file, 2) {
		want, ok := vertical[w.text]
		if !ok {
			continue
		}
		found++
		if got := w.y1-w.y0 > w.x1-w.x0; got != want {
			t.Errorf("%s at (%.1f,%.1f)-(%.1f,%.1f) pt runs vertically: %v, want %v", w.text, w.x0, w.y0, w.x1, w.y1, got, want)
		}
		if w.x0 < 25*ptPerMM-bboxTolerPt || w.x1 > 200*ptPerMM+bboxTolerPt || w.y0 < 16*ptPerMM-bboxTolerPt || w.y1 > 282*ptPerMM+bboxTolerPt {
			t.Errorf("%s at (%.1f,%.1f)-(%.1f,%.1f) pt is outside the attachment area", w.text, w.x0, w.y0, w.x1, w.y1)
		}
	}
	if found != len(vertical) {
		t.Errorf("found %d of the words %v", found, vertical)
	}
}

// TestAppearanceMatrix: the algorithm of ISO 32000-1 §12.5.5 maps the
// appearance's bounding box, transformed by its /Matrix, onto /Rect.
func TestAppearanceMatrix(t *testing.T) {
	t.Parallel()
	id := [6]float64{1, 0, 0, 1, 0, 0}
	for _, tc := range []struct {
		name       string
		rect, bbox []float64
		matrix     [6]float64
		want       [6]float64
		ok         bool
	}{
		{"same size", []float64{72, 500, 272, 520}, []float64{0, 0, 200, 20}, id, [6]float64{1, 0, 0, 1, 72, 500}, true},
		{"rectangle corners in other order", []float64{272, 520, 72, 500}, []float64{0, 0, 200, 20}, id, [6]float64{1, 0, 0, 1, 72, 500}, true},
		{"appearance twice as large", []float64{300, 400, 500, 430}, []float64{0, 0, 400, 60}, id, [6]float64{0.5, 0, 0, 0.5, 300, 400}, true},
		{"box off the origin, matrix moves it back", []float64{300, 400, 500, 430}, []float64{100, 100, 500, 160}, [6]float64{1, 0, 0, 1, -100, -100}, [6]float64{0.5, 0, 0, 0.5, 300, 400}, true},
		{"box off the origin, identity", []float64{300, 400, 500, 430}, []float64{100, 100, 500, 160}, id, [6]float64{0.5, 0, 0, 0.5, 250, 350}, true},
		// Turned a quarter counter-clockwise: the 20 × 100 box becomes
		// x −100..0, y 0..20.
		{"matrix turns the box", []float64{10, 10, 110, 30}, []float64{0, 0, 20, 100}, [6]float64{0, 1, -1, 0, 0, 0}, [6]float64{1, 0, 0, 1, 110, 10}, true},
		{"stretched to the rectangle", []float64{0, 0, 100, 100}, []float64{0, 0, 50, 200}, id, [6]float64{2, 0, 0, 0.5, 0, 0}, true},
		{"empty box", []float64{0, 0, 100, 100}, []float64{0, 0, 0, 20}, id, [6]float64{}, false},
		{"empty rectangle", []float64{10, 10, 10, 100}, []float64{0, 0, 20, 20}, id, [6]float64{}, false},
		{"matrix flattens the box", []float64{0, 0, 100, 100}, []float64{0, 0, 20, 20}, [6]float64{1, 0, 0, 0, 0, 0}, [6]float64{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pdf.AppearanceMatrix(tc.rect, tc.bbox, tc.matrix)
			if ok != tc.ok || ok && got != tc.want {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
