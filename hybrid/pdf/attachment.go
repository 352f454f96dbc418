package pdf

import (
	"bytes"
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
	text string      // attText: the raw UTF-8 text
	img  image.Image // attImage: decoded image (nil for a JPEG passed through)
	jpeg []byte      // attImage: JPEG data embeddable as is
	w, h int         // attImage: pixel size
	pdf  *model.Context
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
//   - image/jpeg and image/png: decodable, at most MaxImageSide per side
//     and MaxImagePixels in all (checked from the header before decoding,
//     so a decompression bomb is refused without allocating it);
//   - text/plain: valid UTF-8 (charset utf-8 or us-ascii when given), at
//     most MaxTextAttachmentBytes.
//
// The declared type must match the content's signature.
func CheckAttachment(a Attachment) error {
	_, err := inspect(a)
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
	// Header first: a small file can declare a huge canvas.
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
	var img image.Image
	if mt == "image/jpeg" {
		img, err = jpeg.Decode(bytes.NewReader(a.Data))
	} else {
		img, err = png.Decode(bytes.NewReader(a.Data))
	}
	if err != nil {
		return nil, unprintable("%q: malformed %s: %v", a.Name, mt, err)
	}
	in := &inspected{kind: attImage, img: img, w: cfg.Width, h: cfg.Height}
	if mt == "image/jpeg" && (cfg.ColorModel == color.YCbCrModel || cfg.ColorModel == color.GrayModel) {
		// Gray and YCbCr JPEGs are embedded as they are (DCTDecode);
		// CMYK ones are re-encoded, as Adobe's inverted CMYK would print
		// as a negative in some RIPs.
		in.jpeg = a.Data
	}
	return in, nil
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
