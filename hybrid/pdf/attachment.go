package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"mime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

type attKind int

const (
	attText attKind = iota + 1
	attImage
	attPDF
)

// inspected is an attachment that passed the checks, with what rendering
// needs so nothing is parsed twice.
type inspected struct {
	kind attKind
	text string // attText: the raw UTF-8 text
	data []byte // attImage: the file, decoded only when its page is laid out
	mt   string // attImage: image/jpeg or image/png
	jpeg []byte // attImage: JPEG data embeddable as is
	w, h int    // attImage: pixel size
	// attImage: Exif orientation of a JPEG (1–8), 1 for PNG
	orientation int
	cost        int64 // attImage: bytes decoding it allocates, from the header
	pdf         *model.Context
}

// CheckAttachment reports whether a can be printed. It is meant for
// submission time, so a letter that may have to be printed is refused
// with a reason before it is accepted (DESIGN §6). The error wraps
// ErrUnprintable and says what is wrong. Accepted are:
//
//   - application/pdf: parses (pdfcpu, relaxed validation), not encrypted,
//     1..MaxPDFPages pages no larger than MaxPDFPagePoints, and no active
//     content: JavaScript, actions run on opening (/OpenAction other than
//     a plain go-to) or on events (/AA), Launch, ImportData, SubmitForm,
//     GoToR/GoToE and RichMedia actions, embedded files, XFA forms;
//   - image/jpeg and image/png: decodable, at most MaxImageSide per side,
//     MaxImagePixels in all, and at most MaxImageDecodeBytes of memory to
//     decode — checked from the header before decoding (bit depth,
//     interlacing, progressive coding and chroma subsampling included),
//     so a decompression bomb is refused without allocating it;
//   - text/plain: valid UTF-8 (charset utf-8 or us-ascii when given), at
//     most MaxTextAttachmentBytes.
//
// The declared type must match the content's signature.
func CheckAttachment(a Attachment) error {
	in, err := inspect(a)
	if err != nil || in.kind != attImage {
		return err
	}
	// Decodable: decoded once, within the budget checked above, and
	// dropped; rendering decodes it again when it lays out its page.
	_, err = decodeImage(a.Name, in)
	return err
}

func unprintable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnprintable, fmt.Sprintf(format, args...))
}

func inspect(a Attachment) (*inspected, error) {
	if len(a.Data) == 0 {
		return nil, unprintable("%q is empty", a.Name)
	}
	if len(a.Data) > MaxAttachmentBytes {
		return nil, unprintable("%q is %d bytes, more than %d", a.Name, len(a.Data), MaxAttachmentBytes)
	}
	mt, params, err := mime.ParseMediaType(a.ContentType)
	if err != nil {
		return nil, unprintable("%q: content type %q: %v", a.Name, a.ContentType, err)
	}
	switch mt {
	case "text/plain":
		return inspectText(a, params)
	case "image/jpeg", "image/png":
		return inspectImage(a, mt)
	case "application/pdf":
		ctx, err := inspectPDF(a)
		if err != nil {
			return nil, err
		}
		return &inspected{kind: attPDF, pdf: ctx}, nil
	default:
		return nil, unprintable("%q: content type %q cannot be printed (PDF, JPEG, PNG or plain text only)", a.Name, mt)
	}
}

func inspectText(a Attachment, params map[string]string) (*inspected, error) {
	if cs, ok := params["charset"]; ok {
		if cs = strings.ToLower(cs); cs != "utf-8" && cs != "us-ascii" {
			return nil, unprintable("%q: charset %q (only utf-8 is printed)", a.Name, cs)
		}
	}
	if len(a.Data) > MaxTextAttachmentBytes {
		return nil, unprintable("%q: text is %d bytes, more than %d", a.Name, len(a.Data), MaxTextAttachmentBytes)
	}
	if !utf8.Valid(a.Data) {
		return nil, unprintable("%q: text is not valid UTF-8", a.Name)
	}
	return &inspected{kind: attText, text: string(a.Data)}, nil
}

func inspectImage(a Attachment, mt string) (*inspected, error) {
	var sig []byte
	if mt == "image/jpeg" {
		sig = []byte{0xFF, 0xD8, 0xFF}
	} else {
		sig = []byte("\x89PNG\r\n\x1a\n")
	}
	if !bytes.HasPrefix(a.Data, sig) {
		return nil, unprintable("%q: content is not %s", a.Name, mt)
	}
	// Header first: a small file can declare a huge canvas, and nothing
	// is decoded here. The image is decoded when its page is laid out,
	// one image at a time (decodeImage).
	var cfg image.Config
	var err error
	if mt == "image/jpeg" {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(a.Data))
	} else {
		cfg, err = png.DecodeConfig(bytes.NewReader(a.Data))
	}
	if err != nil {
		return nil, unprintable("%q: malformed %s: %v", a.Name, mt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide ||
		cfg.Width*cfg.Height > MaxImagePixels {
		return nil, unprintable("%q: image is %d×%d pixels (limit %d per side, %d in all)",
			a.Name, cfg.Width, cfg.Height, MaxImageSide, MaxImagePixels)
	}
	var cost int64
	if mt == "image/jpeg" {
		cost, err = jpegDecodeBytes(a.Data, cfg)
	} else {
		cost, err = pngDecodeBytes(a.Data, cfg)
	}
	if err != nil {
		return nil, unprintable("%q: malformed %s: %v", a.Name, mt, err)
	}
	if cost > MaxImageDecodeBytes {
		return nil, unprintable("%q: image is %d×%d pixels and would take %d MiB to decode (limit %d MiB)",
			a.Name, cfg.Width, cfg.Height, (cost+1<<20-1)>>20, MaxImageDecodeBytes>>20)
	}
	in := &inspected{kind: attImage, data: a.Data, mt: mt, w: cfg.Width, h: cfg.Height, cost: cost, orientation: 1}
	if mt == "image/jpeg" {
		in.orientation = jpegOrientation(a.Data)
	}
	if mt == "image/jpeg" && (cfg.ColorModel == color.YCbCrModel || cfg.ColorModel == color.GrayModel) {
		// Gray and YCbCr JPEGs are embedded as they are (DCTDecode)
		// unless they must be downsampled; CMYK ones are re-encoded, as
		// Adobe's inverted CMYK would print as a negative in some RIPs.
		in.jpeg = a.Data
	}
	return in, nil
}

// decodeImage decodes an inspected image; its size was checked against
// MaxImageDecodeBytes from the header.
func decodeImage(name string, in *inspected) (image.Image, error) {
	var img image.Image
	var err error
	if in.mt == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(in.data))
	} else {
		img, err = png.Decode(bytes.NewReader(in.data))
	}
	if err != nil {
		return nil, unprintable("%q: malformed %s: %v", name, in.mt, err)
	}
	return img, nil
}

// pngDecodeBytes is the memory image/png allocates to decode a PNG with
// this header: the image in the type it decodes the colour type to, and
// for an Adam7-interlaced one (PNG §8.2) the seven pass images as well,
// which together are as large again.
func pngDecodeBytes(data []byte, cfg image.Config) (int64, error) {
	// Signature (8), IHDR length and type (8), width, height (8), bit
	// depth, colour type, compression, filter, interlace method.
	if len(data) < 29 {
		return 0, errors.New("short IHDR")
	}
	var bpp int64
	switch cfg.ColorModel {
	case color.GrayModel:
		bpp = 1
	case color.Gray16Model:
		bpp = 2
	case color.RGBAModel, color.NRGBAModel:
		bpp = 4
	case color.RGBA64Model, color.NRGBA64Model:
		bpp = 8
	default:
		if _, ok := cfg.ColorModel.(color.Palette); !ok {
			return 0, fmt.Errorf("unknown colour model %T", cfg.ColorModel)
		}
		bpp = 1
	}
	n := int64(cfg.Width) * int64(cfg.Height) * bpp
	if data[28] == 1 {
		n *= 2
	}
	return n, nil
}

// jpegDecodeBytes is the memory image/jpeg allocates to decode a JPEG
// with this header (ITU-T T.81 §B.2.2, the frame header): the component
// planes, whole MCUs of 8×8 samples per component; for a progressive
// frame (SOF2) also the coefficients of every block, 64 int32 each, kept
// until the last scan — five times the planes; for four components (CMYK)
// or RGB-coded JPEGs the converted 4-byte-per-pixel image besides.
func jpegDecodeBytes(data []byte, cfg image.Config) (int64, error) {
	f, err := jpegFrameOf(data)
	if err != nil {
		return 0, err
	}
	hmax, vmax := 1, 1
	for _, c := range f.comps {
		hmax, vmax = max(hmax, c.h), max(vmax, c.v)
	}
	mxx := (int64(cfg.Width) + 8*int64(hmax) - 1) / (8 * int64(hmax))
	myy := (int64(cfg.Height) + 8*int64(vmax) - 1) / (8 * int64(vmax))
	var blocks int64
	for _, c := range f.comps {
		blocks += mxx * myy * int64(c.h) * int64(c.v)
	}
	n := blocks * 64
	if f.progressive {
		n += blocks * 64 * 4
	}
	if len(f.comps) == 4 || f.rgb {
		n += int64(cfg.Width) * int64(cfg.Height) * 4
	}
	return n, nil
}

type jpegFrame struct {
	progressive bool
	rgb         bool // decoded to RGBA, as image/jpeg does for RGB-coded JPEGs
	comps       []struct{ h, v int }
}

// jpegFrameOf reads the marker segments (T.81 §B.1.1.4) up to the first
// scan: the frame header, and what image/jpeg decides the colour coding
// by — JFIF (APP0) means YCbCr; otherwise an Adobe APP14 with transform 0,
// or components named R, G, B, mean RGB.
func jpegFrameOf(data []byte) (jpegFrame, error) {
	var f jpegFrame
	var jfif, adobeRGB, sof bool
	var ids []byte
	for i := 2; ; { // after SOI
		for i+1 < len(data) && data[i] == 0xFF && data[i+1] == 0xFF {
			i++ // fill bytes (T.81 §B.1.1.2)
		}
		if i+2 > len(data) || data[i] != 0xFF {
			return f, errors.New("no scan after the frame header")
		}
		marker := data[i+1]
		if marker == 0x01 || marker >= 0xD0 && marker <= 0xD7 {
			i += 2 // TEM and RSTn carry no length
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // SOS, EOI
			break
		}
		if i+4 > len(data) {
			return f, errors.New("truncated marker segment")
		}
		length := int(data[i+2])<<8 | int(data[i+3])
		if length < 2 || i+2+length > len(data) {
			return f, errors.New("truncated marker segment")
		}
		seg := data[i+4 : i+2+length]
		switch {
		case marker == 0xE0 && bytes.HasPrefix(seg, []byte("JFIF\x00")):
			jfif = true
		case marker == 0xEE && len(seg) >= 12 && bytes.HasPrefix(seg, []byte("Adobe")):
			adobeRGB = seg[11] == 0
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			// SOFn: precision, height, width, component count, then
			// per component an id, sampling factors and a table.
			if sof {
				return f, errors.New("multiple frame headers")
			}
			sof = true
			if len(seg) < 6 {
				return f, errors.New("short frame header")
			}
			nc := int(seg[5])
			if nc < 1 || len(seg) < 6+3*nc {
				return f, errors.New("short frame header")
			}
			f.progressive = marker == 0xC2
			for k := range nc {
				hv := seg[6+3*k+1]
				h, v := int(hv>>4), int(hv&0x0F)
				if h < 1 || h > 4 || v < 1 || v > 4 {
					return f, errors.New("bad sampling factor")
				}
				f.comps = append(f.comps, struct{ h, v int }{h, v})
				ids = append(ids, seg[6+3*k])
			}
		}
		i += 2 + length
	}
	if !sof {
		return f, errors.New("no frame header")
	}
	f.rgb = len(ids) == 3 && !jfif && (adobeRGB || string(ids) == "RGB")
	return f, nil
}

// pdfConfig is pdfcpu's built-in default configuration — the one its
// "disable" config path selects — built here instead of through
// model.NewDefaultConfiguration, which would create a configuration
// directory under the user's home when the process-wide switch is not set.
// Limits are tightened to what an attachment of MaxAttachmentBytes needs.
func pdfConfig() *model.Configuration {
	limits := model.DefaultResourceLimits()
	limits.MaxStreamBytes = 64 << 20
	limits.MaxDecodeBytes = 256 << 20
	limits.MaxImagePixels = 64 << 20
	limits.MaxObjectCount = 1_000_000
	limits.MaxXRefEntries = 1_000_000
	return &model.Configuration{
		Version:                   model.VersionStr,
		Reader15:                  true,
		ValidationMode:            model.ValidationRelaxed,
		UnsupportedResourcePolicy: model.UnsupportedResourceSkip,
		Eol:                       types.EolLF,
		EncryptUsingAES:           true,
		EncryptKeyLength:          256,
		Permissions:               model.PermissionsPrint,
		TimestampFormat:           "2006-01-02 15:04",
		DateFormat:                "2006-01-02",
		OptimizeResourceDicts:     true,
		Offline:                   true,
		Cmd:                       model.MERGECREATE,
		Limits:                    limits,
	}
}

// inspectPDF parses and checks a PDF attachment and returns its context,
// ready to be merged.
func inspectPDF(a Attachment) (ctx *model.Context, err error) {
	head := a.Data
	if len(head) > 1024 {
		head = head[:1024]
	}
	// ISO 32000-1 §7.5.2: the header is "%PDF-"; readers accept it within
	// the first 1024 bytes.
	if !bytes.Contains(head, []byte("%PDF-")) {
		return nil, unprintable("%q: content is not a PDF", a.Name)
	}
	// pdfcpu parses hostile input; a parser bug must refuse the file,
	// not take down the server.
	defer func() {
		if p := recover(); p != nil {
			ctx, err = nil, unprintable("%q: PDF could not be parsed", a.Name)
		}
	}()
	ctx, err = api.ReadAndValidate(bytes.NewReader(a.Data), pdfConfig())
	if err != nil {
		return nil, unprintable("%q: PDF could not be parsed: %v", a.Name, err)
	}
	if ctx.Encrypt != nil || ctx.E != nil {
		return nil, unprintable("%q: PDF is encrypted", a.Name)
	}
	if ctx.PageCount < 1 {
		return nil, unprintable("%q: PDF has no pages", a.Name)
	}
	if ctx.PageCount > MaxPDFPages {
		return nil, unprintable("%q: PDF has %d pages, more than %d", a.Name, ctx.PageCount, MaxPDFPages)
	}
	if err := activeContent(ctx); err != nil {
		return nil, fmt.Errorf("%q: %w", a.Name, err)
	}
	if err := checkStreams(ctx, pdfConfig().Limits); err != nil {
		return nil, fmt.Errorf("%q: %w", a.Name, err)
	}
	pbs, err := ctx.PageBoundaries(nil)
	if err != nil {
		return nil, unprintable("%q: PDF page boxes: %v", a.Name, err)
	}
	for i, pb := range pbs {
		box := pb.CropBox()
		if box == nil {
			return nil, unprintable("%q: PDF page %d has no media box", a.Name, i+1)
		}
		w, h := box.Width(), box.Height()
		if w < 72 || h < 72 || w > MaxPDFPagePoints || h > MaxPDFPagePoints {
			return nil, unprintable("%q: PDF page %d is %.0f×%.0f pt (printable: 72..%.0f pt per side)", a.Name, i+1, w, h, MaxPDFPagePoints)
		}
	}
	return ctx, nil
}

// activeAction names the action types (ISO 32000-1 §12.6.4) that run
// code, open other files or send data. Link actions (GoTo, URI, Named) do
// nothing on paper.
func activeAction(s string) (string, bool) {
	switch s {
	case "JavaScript":
		return "a JavaScript action", true
	case "Launch":
		return "a Launch action", true
	case "ImportData":
		return "an ImportData action", true
	case "SubmitForm":
		return "a SubmitForm action", true
	case "GoToR":
		return "a GoToR action (opens another file)", true
	case "GoToE":
		return "a GoToE action (opens an embedded file)", true
	case "RichMediaExecute":
		return "a RichMediaExecute action", true
	}
	return "", false
}

// activeContent walks every object of the document, reachable or not,
// the catalog first, then by object number, and reports the first active
// element with its object number.
func activeContent(ctx *model.Context) error {
	xt := ctx.XRefTable
	var order []int
	root := -1
	if xt.Root != nil {
		root = xt.Root.ObjectNumber.Value()
		order = append(order, root)
	}
	var rest []int
	for nr, e := range xt.Table {
		if nr != root && e != nil && !e.Free && e.Object != nil {
			rest = append(rest, nr)
		}
	}
	sort.Ints(rest)
	order = append(order, rest...)
	for _, nr := range order {
		e := xt.Table[nr]
		if e == nil || e.Free || e.Object == nil {
			continue
		}
		o := e.Object
		if _, lazy := o.(types.LazyObjectStreamObject); lazy {
			// Still packed in an object stream: decode it, hidden objects
			// are exactly what this walk is for.
			gen := 0
			if e.Generation != nil {
				gen = *e.Generation
			}
			var err error
			if o, err = xt.Dereference(*types.NewIndirectRef(nr, gen)); err != nil {
				return unprintable("PDF object %d could not be parsed: %v", nr, err)
			}
		}
		if reason := scanObject(xt, o, 0); reason != "" {
			return unprintable("PDF contains %s (object %d)", reason, nr)
		}
	}
	return nil
}

func scanObject(xt *model.XRefTable, o types.Object, depth int) string {
	if depth > 64 {
		return "" // direct objects cannot nest cyclically; this only bounds hostile depth
	}
	switch v := o.(type) {
	case types.Dict:
		return scanDict(xt, v, depth)
	case types.StreamDict:
		return scanDict(xt, v.Dict, depth)
	case types.Array:
		for _, e := range v {
			if r := scanObject(xt, e, depth+1); r != "" {
				return r
			}
		}
	}
	return ""
}

func scanDict(xt *model.XRefTable, d types.Dict, depth int) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := d[k]
		switch k {
		case "JS":
			return "JavaScript (/JS)"
		case "JavaScript":
			return "document JavaScript (/Names /JavaScript)"
		case "AA":
			return "additional actions (/AA)"
		case "EmbeddedFiles":
			return "embedded files (/EmbeddedFiles)"
		case "XFA":
			return "an XFA form (/XFA)"
		case "OpenAction":
			// A destination array (open at page N) is harmless and common;
			// an action dictionary runs on opening unless it is a go-to.
			if a, err := xt.Dereference(v); err == nil {
				if ad, ok := a.(types.Dict); ok {
					if s := ad.NameEntry("S"); s == nil || *s != "GoTo" {
						name := "?"
						if s != nil {
							name = *s
						}
						return fmt.Sprintf("an open action (/OpenAction /S /%s)", name)
					}
				}
			}
		case "S":
			if n, ok := v.(types.Name); ok {
				if why, bad := activeAction(string(n)); bad {
					return why
				}
			}
		case "Type":
			if n, ok := v.(types.Name); ok && n == "EmbeddedFile" {
				return "an embedded file"
			}
		case "Subtype":
			if n, ok := v.(types.Name); ok {
				switch n {
				case "FileAttachment":
					return "a file attachment annotation"
				case "RichMedia", "Movie", "Sound", "Screen", "3D":
					return fmt.Sprintf("a multimedia annotation (/%s)", string(n))
				}
			}
		}
		if r := scanObject(xt, v, depth+1); r != "" {
			return r
		}
	}
	return ""
}
