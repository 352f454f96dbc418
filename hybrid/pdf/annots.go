package pdf

import (
	"math"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// Annotation flags (ISO 32000-1 §12.5.3, Table 165).
const (
	annotHidden = 1 << 1 // bit 2: neither displayed nor printed
	annotPrint  = 1 << 2 // bit 3: printed
	// bit 5: the appearance keeps its orientation on a page with /Rotate
	annotNoRotate = 1 << 4
)

// printedAnnot is the normal appearance of an annotation that prints: a
// form XObject and the matrix A of ISO 32000-1 §12.5.5 that maps the
// appearance's transformed bounding box onto the annotation's rectangle
// in the page's default user space. Painting the form with A as the CTM
// applies the form's own /Matrix first, as §12.5.5 prescribes.
type printedAnnot struct {
	form types.IndirectRef
	a    affine
}

// printedAnnots returns the appearances of page's annotations that a
// viewer prints, in the order of /Annots (the order they are painted in,
// §12.5.1): annotations with the Print flag and without the Hidden flag
// (§12.5.3; NoView concerns the screen only) that have a normal
// appearance (/AP /N, for a dictionary of states the one /AS names,
// §12.5.5). Popup and Link annotations are left out: they have no
// appearance of their own on paper. An annotation a viewer cannot draw —
// no appearance, no bounding box, an empty rectangle, an entry of the
// wrong type — is skipped as a viewer skips it: the attachment passed
// its checks at submission and must not become unprintable here. rot is
// the page's /Rotate.
func printedAnnots(ctx *model.Context, page types.Dict, rot int) []printedAnnot {
	arr, err := ctx.DereferenceArray(page["Annots"])
	if err != nil {
		return nil
	}
	var out []printedAnnot
	for _, o := range arr {
		annot, err := ctx.DereferenceDict(o)
		if err != nil || annot == nil {
			continue
		}
		if p, ok := printedAnnotOf(ctx, annot, rot); ok {
			out = append(out, p)
		}
	}
	return out
}

func printedAnnotOf(ctx *model.Context, annot types.Dict, rot int) (printedAnnot, bool) {
	if st := annot.NameEntry("Subtype"); st != nil && (*st == "Popup" || *st == "Link") {
		return printedAnnot{}, false
	}
	f, err := ctx.DereferenceInteger(annot["F"])
	if err != nil || f == nil || f.Value()&annotPrint == 0 || f.Value()&annotHidden != 0 {
		return printedAnnot{}, false
	}
	flags := f.Value()
	ap, err := ctx.DereferenceDict(annot["AP"])
	if err != nil || ap == nil {
		return printedAnnot{}, false
	}
	// /N is a stream — always an indirect object (§7.3.8) — or a
	// dictionary of appearance states, of which /AS selects one.
	ref, ok := ap["N"].(types.IndirectRef)
	n, err := ctx.Dereference(ap["N"])
	if err != nil {
		return printedAnnot{}, false
	}
	if states, isDict := n.(types.Dict); isDict {
		as := annot.NameEntry("AS")
		if as == nil {
			return printedAnnot{}, false
		}
		ref, ok = states[*as].(types.IndirectRef)
	}
	if !ok {
		return printedAnnot{}, false
	}
	form, _, err := ctx.DereferenceStreamDict(ref)
	if err != nil || form == nil {
		return printedAnnot{}, false
	}
	rect, ok := numbers(ctx, annot["Rect"], 4)
	if !ok {
		return printedAnnot{}, false
	}
	bbox, ok := numbers(ctx, form.Dict["BBox"], 4)
	if !ok {
		return printedAnnot{}, false
	}
	m := affine{1, 0, 0, 1, 0, 0}
	if form.Dict["Matrix"] != nil {
		mm, ok := numbers(ctx, form.Dict["Matrix"], 6)
		if !ok {
			return printedAnnot{}, false
		}
		copy(m[:], mm)
	}
	a, ok := appearanceMatrix(rect, bbox, m)
	if !ok {
		return printedAnnot{}, false
	}
	if flags&annotNoRotate != 0 {
		// §12.5.3: the upper-left corner of /Rect stays where it is and
		// the appearance is turned against the page's clockwise
		// rotation, so it is upright as the page is displayed.
		a = a.then(turnLeftAbout(min(rect[0], rect[2]), max(rect[1], rect[3]), rot))
	}
	// An appearance stream is a form XObject (§12.5.5); some writers leave
	// out /Subtype, without which Do is undefined.
	if form.Dict.NameEntry("Subtype") == nil {
		form.Dict.InsertName("Subtype", "Form")
	}
	return printedAnnot{form: ref, a: a}, true
}

// appearanceMatrix is the algorithm of ISO 32000-1 §12.5.5: the
// appearance's /BBox, transformed by its /Matrix, has a bounding box;
// A maps that box onto the annotation's /Rect by scaling and
// translating. It reports false for an empty box or rectangle.
func appearanceMatrix(rect, bbox []float64, m affine) (affine, bool) {
	rx0, rx1 := min(rect[0], rect[2]), max(rect[0], rect[2])
	ry0, ry1 := min(rect[1], rect[3]), max(rect[1], rect[3])
	x0, y0 := math.Inf(1), math.Inf(1)
	x1, y1 := math.Inf(-1), math.Inf(-1)
	for _, c := range [][2]float64{{bbox[0], bbox[1]}, {bbox[2], bbox[1]}, {bbox[0], bbox[3]}, {bbox[2], bbox[3]}} {
		x := m[0]*c[0] + m[2]*c[1] + m[4]
		y := m[1]*c[0] + m[3]*c[1] + m[5]
		x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
	}
	const tiny = 1e-6
	if x1-x0 < tiny || y1-y0 < tiny || rx1-rx0 < tiny || ry1-ry0 < tiny {
		return affine{}, false
	}
	sx, sy := (rx1-rx0)/(x1-x0), (ry1-ry0)/(y1-y0)
	return affine{sx, 0, 0, sy, rx0 - sx*x0, ry0 - sy*y0}, true
}

// turnLeftAbout turns by rot degrees (a multiple of 90, as /Rotate is)
// counter-clockwise about (x, y).
func turnLeftAbout(x, y float64, rot int) affine {
	var c, s float64
	switch ((rot % 360) + 360) % 360 {
	case 90:
		c, s = 0, 1
	case 180:
		c, s = -1, 0
	case 270:
		c, s = 0, -1
	default:
		return affine{1, 0, 0, 1, 0, 0}
	}
	return affine{c, s, -s, c, x - c*x + s*y, y - s*x - c*y}
}

// numbers reads an array of n finite numbers.
func numbers(ctx *model.Context, o types.Object, n int) ([]float64, bool) {
	arr, err := ctx.DereferenceArray(o)
	if err != nil || len(arr) != n {
		return nil, false
	}
	out := make([]float64, n)
	for i, e := range arr {
		v, err := ctx.DereferenceNumber(e)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}
