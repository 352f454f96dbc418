package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// placement puts page page (1-based) of attachment PDF att (an index into
// mergePDFs' atts) onto generated page onto, which the layout reserved for
// it with the header band, footer and Data Matrix already drawn.
type placement struct {
	onto, att, page int
}

// mergePDFs places the pages of the checked attachment PDFs onto the
// generated pages reserved for them (placements) and serializes the
// result: each attachment page becomes a form XObject (ISO 32000-1 §8.10)
// drawn, scaled and turned onto A4 portrait, inside the attachment area
// below the header band (placeOnA4). The attachment's own pages are then
// dropped from the page tree, so the document has exactly the generated
// pages, in the order of the attachment list.
//
// pdfcpu reads, validates and merges; it does not write. Its writer walks
// dictionaries in Go map order (so the object order changes from run to
// run) and stamps the wall-clock time into the information dictionary and
// the file identifier. serialize writes the same objects deterministically.
func mergePDFs(base []byte, atts []*model.Context, places []placement, fileID [16]byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("merge attachments: pdfcpu panic: %v", p)
		}
	}()
	dest, err := api.ReadAndValidate(bytes.NewReader(base), pdfConfig())
	if err != nil {
		return nil, fmt.Errorf("merge attachments: read generated pages: %w", err)
	}
	version := "1.7" // ISO 32000-1
	generated := dest.PageCount
	first := make([]int, len(atts)) // merged page number of each attachment's first page
	for i, src := range atts {
		if src.XRefTable.Version() == model.V20 {
			version = "2.0" // ISO 32000-2
		}
		first[i] = dest.PageCount + 1
		if err := pdfcpu.MergeXRefTables(strconv.Itoa(i+1), src, dest, false, false); err != nil {
			return nil, fmt.Errorf("merge attachments: attachment PDF %d: %w", i+1, err)
		}
	}
	pbs, err := dest.PageBoundaries(nil)
	if err != nil {
		return nil, fmt.Errorf("merge attachments: page boxes: %w", err)
	}
	for _, pl := range places {
		if err := placePage(dest, pbs, first[pl.att]+pl.page-1, pl.onto); err != nil {
			return nil, err
		}
	}
	if err := keepPages(dest, generated); err != nil {
		return nil, err
	}
	// pdfcpu's merge carries the attachments' interactive forms into the
	// catalog. Their fields are now printed into the page content and
	// their widgets are on no page: the form would only carry the field
	// data, unseen, into the print file, and invite a viewer to draw the
	// fields anew (/NeedAppearances, ISO 32000-1 §12.7.2).
	root, err := dest.Catalog()
	if err != nil {
		return nil, fmt.Errorf("merge attachments: document catalog: %w", err)
	}
	delete(root, "AcroForm")
	return serialize(dest.XRefTable, version, fileID)
}

// placePage draws merged page src onto generated page onto as a form
// XObject named /NpesAtt, followed by the appearances of its annotations
// that print (printedAnnots) as /NpesAnnot1, /NpesAnnot2, … in the same
// transformation.
func placePage(ctx *model.Context, pbs []model.PageBoundaries, src, onto int) error {
	d, _, inh, err := ctx.PageDict(src, false)
	if err != nil {
		return fmt.Errorf("merge attachments: page %d: %w", src, err)
	}
	box := pbs[src-1].CropBox()
	if box == nil {
		return fmt.Errorf("merge attachments: page %d has no media box", src)
	}
	content, err := ctx.PageContent(d, src)
	if err != nil && !errors.Is(err, model.ErrNoContent) {
		return fmt.Errorf("merge attachments: page %d contents: %w", src, err)
	}
	form, _ := ctx.NewStreamDictForBuf(content)
	form.InsertName("Type", "XObject")
	form.InsertName("Subtype", "Form")
	form.Insert("BBox", types.NewNumberArray(box.LL.X, box.LL.Y, box.UR.X, box.UR.Y))
	res := types.Dict{}
	if inh.Resources != nil {
		res = inh.Resources
	}
	form.Insert("Resources", res)
	if err := form.Encode(); err != nil {
		return fmt.Errorf("merge attachments: page %d: %w", src, err)
	}
	ref, err := ctx.IndRefForNewObject(*form)
	if err != nil {
		return fmt.Errorf("merge attachments: page %d: %w", src, err)
	}

	pd, _, pinh, err := ctx.PageDict(onto, false)
	if err != nil {
		return fmt.Errorf("merge attachments: page %d: %w", onto, err)
	}
	// gofpdf shares one resource dictionary between all pages: this page
	// gets its own copy with the form added.
	pres := types.Dict{}
	if pinh.Resources != nil {
		pres = pinh.Resources.Clone().(types.Dict)
	} else if o, err := ctx.Dereference(pd["Resources"]); err == nil {
		if r, ok := o.(types.Dict); ok {
			pres = r.Clone().(types.Dict)
		}
	}
	xobj := types.Dict{}
	if o, err := ctx.Dereference(pres["XObject"]); err == nil {
		if x, ok := o.(types.Dict); ok {
			xobj = x.Clone().(types.Dict)
		}
	}
	xobj["NpesAtt"] = *ref
	m := placeOnA4(box, pbs[src-1].Rot)
	var ops strings.Builder
	ops.WriteString("q " + m.String() + " cm /NpesAtt Do")
	if annots := printedAnnots(ctx, d, pbs[src-1].Rot); len(annots) > 0 {
		// The annotations are painted after the page content in the
		// page's default user space, clipped to its crop box as the page
		// is (§12.5.5), so they stay inside the attachment area.
		ops.WriteString(" " + num(box.LL.X) + " " + num(box.LL.Y) + " " + num(box.Width()) + " " + num(box.Height()) + " re W n")
		for i, a := range annots {
			name := "NpesAnnot" + strconv.Itoa(i+1)
			xobj[name] = a.form
			ops.WriteString(" q " + a.a.String() + " cm /" + name + " Do Q")
		}
	}
	pres["XObject"] = xobj
	pd["Resources"] = pres
	draw, err := ctx.StreamDictIndRef([]byte(ops.String() + " Q\n"))
	if err != nil {
		return fmt.Errorf("merge attachments: page %d: %w", onto, err)
	}
	contents := types.Array{}
	switch c := pd["Contents"].(type) {
	case types.IndirectRef:
		o, err := ctx.Dereference(c)
		if err != nil {
			return fmt.Errorf("merge attachments: page %d contents: %w", onto, err)
		}
		if a, ok := o.(types.Array); ok {
			contents = append(contents, a...)
		} else {
			contents = append(contents, c)
		}
	case types.Array:
		contents = append(contents, c...)
	}
	pd["Contents"] = append(contents, *draw)
	return nil
}

// keepPages makes pages 1..n, in order, the whole page tree: one root
// node with n kids. The merged attachment pages, placed onto generated
// pages, become unreachable and are not written.
func keepPages(ctx *model.Context, n int) error {
	root, err := ctx.Pages()
	if err != nil {
		return fmt.Errorf("merge attachments: page tree: %w", err)
	}
	kids := make(types.Array, n)
	dicts := make([]types.Dict, n)
	for p := 1; p <= n; p++ {
		d, ref, inh, err := ctx.PageDict(p, false)
		if err != nil {
			return fmt.Errorf("merge attachments: page %d: %w", p, err)
		}
		if inh.MediaBox != nil {
			// Explicit: the merge may have put another root above the
			// node the page inherited its media box from (§7.7.3.4).
			d["MediaBox"] = inh.MediaBox.Array()
		}
		kids[p-1], dicts[p-1] = *ref, d
	}
	rd, err := ctx.DereferenceDict(*root)
	if err != nil || rd == nil {
		return fmt.Errorf("merge attachments: page tree root: %v", err)
	}
	for _, d := range dicts {
		d["Parent"] = *root
	}
	rd["Kids"] = kids
	rd["Count"] = types.Integer(n)
	ctx.PageCount = n
	return nil
}

// The attachment area of a page that carries an attached PDF page, in
// millimetres from the top-left corner: below the header band, above the
// footer, right of the Data Matrix column in the left margin.
const (
	attAreaLeft   = 25.0
	attAreaRight  = 200.0
	attAreaTop    = 16.0
	attAreaBottom = 282.0
)

// affine is a PDF transformation matrix [a b c d e f] (ISO 32000-1
// §8.3.3): x' = a·x + c·y + e, y' = b·x + d·y + f.
type affine [6]float64

// then returns the transformation that applies m, then n.
func (m affine) then(n affine) affine {
	return affine{
		n[0]*m[0] + n[2]*m[1], n[1]*m[0] + n[3]*m[1],
		n[0]*m[2] + n[2]*m[3], n[1]*m[2] + n[3]*m[3],
		n[0]*m[4] + n[2]*m[5] + n[4], n[1]*m[4] + n[3]*m[5] + n[5],
	}
}

func (m affine) inverse() affine {
	det := m[0]*m[3] - m[1]*m[2]
	return affine{m[3] / det, -m[1] / det, -m[2] / det, m[0] / det,
		(m[2]*m[5] - m[3]*m[4]) / det, (m[1]*m[4] - m[0]*m[5]) / det}
}

func (m affine) String() string {
	return num(m[0]) + " " + num(m[1]) + " " + num(m[2]) + " " + num(m[3]) + " " + num(m[4]) + " " + num(m[5])
}

// quarterLeft turns a w × h picture a quarter counter-clockwise about the
// origin and back into the first quadrant: it becomes h × w, its top at
// the left.
func quarterLeft(h float64) affine { return affine{0, 1, -1, 0, h, 0} }

// fitArea scales a w × h picture (points, origin at its bottom-left) to
// fit the w×h box whose top-left corner is (left, top) millimetres from
// the page's top-left corner — never enlarged, centred across, at the
// top — and returns the transformation and the printed size.
func fitArea(w, h, left, top, boxW, boxH float64) (affine, float64) {
	s := min(1, boxW*ptPerMM/w, boxH*ptPerMM/h)
	x := left*ptPerMM + (boxW*ptPerMM-s*w)/2
	y := (pageH-top)*ptPerMM - s*h
	return affine{s, 0, 0, s, x, y}, s
}

// placeOnA4 maps the default user space of an attached page with crop box
// box and /Rotate rot onto the attachment area of an A4 portrait page:
// the page as it is displayed (rotation respected), turned a quarter
// counter-clockwise if it is landscape, shrunk to fit if it is larger.
func placeOnA4(box *types.Rectangle, rot int) affine {
	m := displayCM(box, rot).inverse()
	w, h := box.Width(), box.Height()
	if r := ((rot % 360) + 360) % 360; r == 90 || r == 270 {
		w, h = h, w
	}
	if w > h {
		m = m.then(quarterLeft(h))
		w, h = h, w
	}
	fit, _ := fitArea(w, h, attAreaLeft, attAreaTop, attAreaRight-attAreaLeft, attAreaBottom-attAreaTop)
	return m.then(fit)
}

// displayCM returns the matrix (ISO 32000-1 §8.3.4) that maps a
// coordinate system anchored at the bottom-left corner of the page as
// displayed — after /Rotate, which turns the page clockwise — into the
// page's default user space.
func displayCM(box *types.Rectangle, rot int) affine {
	llx, lly, urx, ury := box.LL.X, box.LL.Y, box.UR.X, box.UR.Y
	switch ((rot % 360) + 360) % 360 {
	case 90:
		return affine{0, 1, -1, 0, urx, lly}
	case 180:
		return affine{-1, 0, 0, -1, urx, ury}
	case 270:
		return affine{0, -1, 1, 0, llx, ury}
	default:
		return affine{1, 0, 0, 1, llx, lly}
	}
}

// serialize writes the objects reachable from the document catalog and
// the information dictionary with a classic cross-reference table (ISO
// 32000-1 §7.5). pdfcpu's merge numbers objects in map order, so objects
// are renumbered canonically: in depth-first order from the catalog, then
// the information dictionary, dictionary keys sorted. The output depends
// only on the document: no clock, no map order.
func serialize(xt *model.XRefTable, version string, fileID [16]byte) ([]byte, error) {
	if xt.Root == nil {
		return nil, errors.New("merge attachments: no document catalog")
	}
	number := map[int]int{}  // old object number → new
	var order []types.Object // objects by new number - 1
	var walk func(o types.Object) error
	walk = func(o types.Object) error {
		switch v := o.(type) {
		case types.IndirectRef:
			old := v.ObjectNumber.Value()
			if _, seen := number[old]; seen {
				return nil
			}
			d, err := xt.Dereference(v) // also decodes objects still packed in object streams
			if err != nil {
				return fmt.Errorf("merge attachments: object %d: %w", old, err)
			}
			if d == nil {
				number[old] = 0 // a reference to a missing object means null (§7.3.10)
				return nil
			}
			order = append(order, d)
			number[old] = len(order)
			return walk(d)
		case types.Dict:
			for _, k := range sortedKeys(v) {
				if err := walk(v[k]); err != nil {
					return err
				}
			}
		case types.StreamDict:
			for _, k := range sortedKeys(v.Dict) {
				if k != "Length" { // written as a direct value
					if err := walk(v.Dict[k]); err != nil {
						return err
					}
				}
			}
		case types.Array:
			for _, e := range v {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(*xt.Root); err != nil {
		return nil, err
	}
	if xt.Info != nil {
		if err := walk(*xt.Info); err != nil {
			return nil, err
		}
	}

	var b bytes.Buffer
	b.WriteString("%PDF-" + version + "\n%\xe2\xe3\xcf\xd3\n") // binary marker, §7.5.2
	offsets := make([]int, len(order))
	for i, o := range order {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n", i+1)
		switch o := renumber(o, number).(type) {
		case types.StreamDict:
			if o.Raw == nil && o.Content != nil {
				if err := o.Encode(); err != nil {
					return nil, fmt.Errorf("merge attachments: object %d: %w", i+1, err)
				}
			}
			o.Dict["Length"] = types.Integer(len(o.Raw))
			b.WriteString(o.Dict.PDFString())
			b.WriteString("\nstream\n")
			b.Write(o.Raw)
			b.WriteString("\nendstream")
		case types.ObjectStreamDict, types.XRefStreamDict:
			return nil, fmt.Errorf("merge attachments: object %d: unexpected %T", i+1, o)
		default:
			b.WriteString(o.PDFString())
		}
		b.WriteString("\nendobj\n")
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(order)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	id := fmt.Sprintf("<%x>", fileID)
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R", len(order)+1, number[xt.Root.ObjectNumber.Value()])
	if xt.Info != nil && number[xt.Info.ObjectNumber.Value()] > 0 {
		fmt.Fprintf(&b, " /Info %d 0 R", number[xt.Info.ObjectNumber.Value()])
	}
	fmt.Fprintf(&b, " /ID [%s %s] >>\nstartxref\n%d\n%%%%EOF\n", id, id, xref)
	return b.Bytes(), nil
}

// renumber returns a copy of o with its indirect references renumbered;
// a reference to a missing object becomes null.
func renumber(o types.Object, number map[int]int) types.Object {
	switch v := o.(type) {
	case types.IndirectRef:
		n := number[v.ObjectNumber.Value()]
		if n == 0 {
			return nil
		}
		return *types.NewIndirectRef(n, 0)
	case types.Dict:
		d := make(types.Dict, len(v))
		for k, e := range v {
			d[k] = renumber(e, number)
		}
		return d
	case types.StreamDict:
		c := v
		c.Dict = renumber(v.Dict, number).(types.Dict)
		return c
	case types.Array:
		a := make(types.Array, len(v))
		for i, e := range v {
			a[i] = renumber(e, number)
		}
		return a
	}
	return o
}

func sortedKeys(d types.Dict) []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
