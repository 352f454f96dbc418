package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// mergePDFs appends the pages of the checked attachment PDFs to base (the
// gofpdf output), stamps every appended page with stamp(pageNumber) — path
// operators in a coordinate system whose origin is the bottom-left corner
// of the page as it is displayed, in points — and serializes the result.
//
// pdfcpu reads, validates and merges; it does not write. Its writer walks
// dictionaries in Go map order (so the object order changes from run to
// run) and stamps the wall-clock time into the information dictionary and
// the file identifier. serialize writes the same objects deterministically.
func mergePDFs(base []byte, atts []*model.Context, stamp func(page int) (string, error), fileID [16]byte) (out []byte, err error) {
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
	firstMerged := dest.PageCount + 1
	for i, src := range atts {
		if src.XRefTable.Version() == model.V20 {
			version = "2.0" // ISO 32000-2
		}
		if err := pdfcpu.MergeXRefTables(strconv.Itoa(i+1), src, dest, false, false); err != nil {
			return nil, fmt.Errorf("merge attachments: attachment PDF %d: %w", i+1, err)
		}
	}
	if err := stampPages(dest, firstMerged, stamp); err != nil {
		return nil, err
	}
	return serialize(dest.XRefTable, version, fileID)
}

// stampPages adds the integrity mark to pages firstMerged..PageCount. The
// page's own content is wrapped in q/Q (ISO 32000-1 §8.4.2) so whatever
// graphics state it leaves behind cannot move or recolour the mark; the
// original content streams are referenced, not modified, so streams shared
// between pages stay intact.
func stampPages(ctx *model.Context, firstMerged int, stamp func(page int) (string, error)) error {
	if firstMerged > ctx.PageCount {
		return nil
	}
	pbs, err := ctx.PageBoundaries(nil)
	if err != nil {
		return fmt.Errorf("merge attachments: page boxes: %w", err)
	}
	open, err := ctx.StreamDictIndRef([]byte("q\n"))
	if err != nil {
		return fmt.Errorf("merge attachments: stamp: %w", err)
	}
	for p := firstMerged; p <= ctx.PageCount; p++ {
		d, _, _, err := ctx.PageDict(p, false)
		if err != nil {
			return fmt.Errorf("merge attachments: page %d: %w", p, err)
		}
		box := pbs[p-1].CropBox()
		if box == nil {
			return fmt.Errorf("merge attachments: page %d has no media box", p)
		}
		ops, err := stamp(p)
		if err != nil {
			return err
		}
		ops = "Q\nq " + displayCM(box, pbs[p-1].Rot) + " cm\n" + ops + "Q\n"
		mark, err := ctx.StreamDictIndRef([]byte(ops))
		if err != nil {
			return fmt.Errorf("merge attachments: stamp page %d: %w", p, err)
		}
		contents := types.Array{*open}
		switch c := d["Contents"].(type) {
		case types.IndirectRef:
			o, err := ctx.Dereference(c)
			if err != nil {
				return fmt.Errorf("merge attachments: page %d contents: %w", p, err)
			}
			if a, ok := o.(types.Array); ok {
				contents = append(contents, a...)
			} else {
				contents = append(contents, c)
			}
		case types.Array:
			contents = append(contents, c...)
		case nil:
		default:
			return fmt.Errorf("merge attachments: page %d: contents of type %T", p, c)
		}
		d["Contents"] = append(contents, *mark)
	}
	return nil
}

// displayCM returns the matrix (ISO 32000-1 §8.3.4) that maps a
// coordinate system anchored at the bottom-left corner of the page as
// displayed — after /Rotate, which turns the page clockwise — into the
// page's default user space.
func displayCM(box *types.Rectangle, rot int) string {
	llx, lly, urx, ury := box.LL.X, box.LL.Y, box.UR.X, box.UR.Y
	var a, b, c, d, e, f float64
	switch ((rot % 360) + 360) % 360 {
	case 90:
		a, b, c, d, e, f = 0, 1, -1, 0, urx, lly
	case 180:
		a, b, c, d, e, f = -1, 0, 0, -1, urx, ury
	case 270:
		a, b, c, d, e, f = 0, -1, 1, 0, llx, ury
	default:
		a, b, c, d, e, f = 1, 0, 0, 1, llx, lly
	}
	return num(a) + " " + num(b) + " " + num(c) + " " + num(d) + " " + num(e) + " " + num(f)
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
