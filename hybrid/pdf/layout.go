package pdf

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"time"

	"github.com/jung-kurt/gofpdf"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/math/f64"
)

// Page geometry, in millimetres from the top-left corner of an A4 sheet
// unless noted. The letter follows DIN 5008 form B, which is what DL
// window envelopes (DIN 680: window 90 × 45 mm, 20 mm from the left,
// 15 mm from the bottom) are made for: folded in three, the address field
// lies behind the window.
const (
	pageW    = 210.0
	pageH    = 297.0
	ptPerMM  = 72 / 25.4
	mmPerPt  = 25.4 / 72
	lineRule = 0.25 // pt, fold marks

	// DIN 5008 form B address field, 85 × 45 mm at (20, 45). Its upper
	// 17.7 mm are the endorsement zone ("Zusatz- und Vermerkzone": return
	// line, postal endorsements), the lower 27.3 mm the address zone.
	fieldX    = 20.0
	fieldY    = 45.0
	fieldW    = 85.0
	fieldH    = 45.0
	noteZoneH = 17.7
	// Text in the field starts at the letter's left margin, 5 mm inside the
	// field, and keeps 2 mm off its right edge.
	textX     = 25.0
	textRight = fieldX + fieldW - 2
	textW     = textRight - textX
	// Vertical padding inside the address zone.
	zonePad = 0.5

	// The return line: one line at the top of the endorsement zone.
	senderMaxSize = 6.5
	senderMinSize = 5.0

	// Registered letters: the endorsement and the S10 barcode share the
	// endorsement zone below the return line.
	barsTop       = 49.6
	barsH         = 8.4
	barModuleMax  = 0.33 // mm, X dimension (13 mil, common in postal labels)
	barModuleMin  = 0.25 // mm
	barQuiet      = 10   // modules, ISO/IEC 15417 minimum quiet zone
	hriSize       = 7.0
	endorseSize   = 8.0
	addressMaxPt  = 10.0
	addressMinPt  = 8.0
	addressLeadEm = 1.15

	// DIN 5008 information block, right of the address field (outside
	// the window).
	infoX     = 125.0
	infoRight = pageW - marginRight
	infoY     = 50.0

	// Body.
	marginLeft   = 25.0
	marginRight  = 20.0
	contentW     = pageW - marginLeft - marginRight
	firstTop     = 100.5 // DIN 5008 form B: the subject starts about here
	nextTop      = 22.0
	bodyBottom   = 272.0 // lowest baseline
	bodySize     = 11.0
	bodyLead     = 5.0
	codeSize     = 20.0
	codeLead     = 10.0
	footerY      = 287.0
	footerSize   = 8.0
	bandY        = 12.0 // baseline of an attachment page's header band
	bandRuleY    = 14.0 // its hairline; attachment content starts below
	bandSize     = 8.0
	imageDPI     = 150.0 // an image is printed at this resolution unless it has to shrink to fit
	imageMaxDPI  = 300.0 // images are downsampled to at most this resolution at their printed size
	imageGapTop  = 3.0
	imageJPEGQ   = 90
	maxFieldRune = 500 // single-line fields longer than this are cut before measuring

	// Integrity mark: Data Matrix in the left margin, bottom-left corner,
	// 0.5 mm modules, quiet zone painted white around it.
	dmLeft   = 5.0
	dmBottom = 284.0
	dmModule = 0.5
	dmQuiet  = 2 // modules (ISO/IEC 16022 requires at least 1)
)

// doc is one document being laid out. Layout is planned first (so the
// page count n is known) and drawn afterwards, because every page carries
// "page i of n" in its Data Matrix.
type doc struct {
	r         *Renderer
	f         *gofpdf.Fpdf
	id        string
	fonts     *docFonts // nil when gofpdf loaded the fonts itself
	cached    bool      // font objects from the Renderer's fontCache
	asc, desc float64   // font ascent and descent, in em
	lbl       *labels   // the letter's language
	pages     []*page
	y         float64 // next baseline on the last page
	warnings  []string
	replaced  int
	images    int
	err       error
}

type page struct {
	ops     []func(*gofpdf.Fpdf)
	att     int    // number of the attachment the page shows; 0 for the letter
	attName string // its file name, sanitized
}

func (d *doc) clean(s string, kind textKind) string {
	if kind == singleLine && len(s) > maxFieldRune*4 {
		s = s[:maxFieldRune*4] // bytes; a cut rune is replaced below
	}
	out, n := d.r.san.clean(s, kind)
	d.replaced += n
	return out
}

func (d *doc) warn(format string, args ...any) {
	d.warnings = append(d.warnings, fmt.Sprintf(format, args...))
}

// metric measures text in the given style and size. It selects that font
// in the document, as measuring through gofpdf did: the font selected last
// is the one gofpdf repeats at the top of each page, so this keeps the
// bytes of a letter what they were.
func (d *doc) metric(style string, size float64) metric {
	d.f.SetFont(fontFamily, style, size)
	_, fs := d.f.GetFontSize()
	return metric{units: d.r.adv[style].rune, size: fs}
}

func (d *doc) newPage(top float64) *page {
	p := &page{}
	d.pages = append(d.pages, p)
	d.y = top
	if len(d.pages) > MaxPages && d.err == nil {
		d.err = fmt.Errorf("%w: more than %d pages", ErrTooLong, MaxPages)
	}
	return p
}

func (d *doc) last() *page { return d.pages[len(d.pages)-1] }

// text places s with its baseline at (x, y).
func (d *doc) text(p *page, x, y float64, style string, size float64, s string) {
	if s == "" {
		return
	}
	p.ops = append(p.ops, func(f *gofpdf.Fpdf) {
		f.SetFont(fontFamily, style, size)
		f.Text(x, y, s)
	})
}

func (d *doc) raw(p *page, ops string) {
	p.ops = append(p.ops, func(f *gofpdf.Fpdf) { f.RawWriteStr(ops) })
}

// fit shortens s with an ellipsis until it is no wider than w.
func fit(s string, w float64, m metric) (string, bool) {
	if m.measure(s) <= w {
		return s, false
	}
	head, _, _ := splitToWidth(s, w-m.measure("…"), m)
	return strings.TrimRight(head, " ") + "…", true
}

type envelope struct {
	id, tracking, sender, name string
	lines                      []string
	date                       time.Time
}

// envelope lays out the first page's top: fold marks, the address field
// with return line, endorsement and barcode, and the information block.
func (d *doc) envelope(e envelope) {
	p := d.newPage(firstTop)

	// DIN 5008 form B fold marks (105 and 210 mm) and punch mark (148.5 mm).
	var marks strings.Builder
	fmt.Fprintf(&marks, "q %s w 0 G\n", num(lineRule))
	for _, m := range []struct{ y, len float64 }{{105, 5}, {148.5, 7}, {210, 5}} {
		y := (pageH - m.y) * ptPerMM
		fmt.Fprintf(&marks, "%s %s m %s %s l S\n", num(4*ptPerMM), num(y), num((4+m.len)*ptPerMM), num(y))
	}
	marks.WriteString("Q\n")
	d.raw(p, marks.String())

	// Return line.
	if sender := d.clean(e.sender, singleLine); sender != "" {
		size := senderMaxSize
		for ; size > senderMinSize && d.metric("", size).measure(sender) > textW; size -= 0.5 {
		}
		line, cut := fit(sender, textW, d.metric("", size))
		if cut {
			d.warn("return address shortened to fit the window: %q", line)
		}
		d.text(p, textX, fieldY+1.0+d.asc*size*mmPerPt, "", size, line)
	}

	// Registered letter: endorsement and the S10 id as Code 128 with its
	// human-readable text, inside the endorsement zone so they show
	// through the window — a DL window shows 20–110 mm, nothing to the
	// right of the address field — where postal staff and sorting
	// equipment read the item id without opening the envelope.
	if e.tracking != "" {
		d.registered(p, e.tracking)
	}

	// Address zone: recipient name, then the address lines.
	size, lines, err := d.fitAddress(d.addressLines(e.name, e.lines))
	if err != nil {
		d.err = err
		return
	}
	lead := size * addressLeadEm * mmPerPt
	y := fieldY + noteZoneH + zonePad + d.asc*size*mmPerPt
	for _, l := range lines {
		d.text(p, textX, y, "", size, l)
		y += lead
	}

	// Information block.
	info := []struct{ label, value string }{
		{d.lbl.date, e.date.Format("02.01.2006")},
		{d.lbl.letterID, e.id},
	}
	if e.tracking != "" {
		info = append(info, struct{ label, value string }{d.lbl.registered, s10HumanReadable(e.tracking)})
	}
	y = infoY
	for _, it := range info {
		d.text(p, infoX, y, "", 7.5, it.label)
		value, _ := fit(it.value, infoRight-infoX, d.metric("", 8.5))
		d.text(p, infoX, y+3.8, "", 8.5, value)
		y += 9.5
	}
}

// registered draws the endorsement and the barcode of tracking.
func (d *doc) registered(p *page, tracking string) {
	bars, err := code128Modules(tracking)
	if err != nil {
		d.err = err
		return
	}
	endW := d.metric("B", endorseSize).measure(d.lbl.endorsement)
	// Bars end one quiet zone before the field's right edge; the left
	// quiet zone must clear the endorsement.
	mod := barModuleMax
	for ; mod > barModuleMin; mod -= 0.01 {
		if textX+endW+float64(2*barQuiet+len(bars))*mod <= fieldX+fieldW {
			break
		}
	}
	barsW := float64(len(bars)) * mod
	x0 := fieldX + fieldW - barQuiet*mod - barsW
	d.text(p, textX, barsTop+barsH/2+d.asc*endorseSize*mmPerPt/2, "B", endorseSize, d.lbl.endorsement)
	d.raw(p, barsOps(bars, x0*ptPerMM, (pageH-barsTop)*ptPerMM, mod*ptPerMM, barsH*ptPerMM, barQuiet))
	hri := s10HumanReadable(tracking)
	hriW := d.metric("", hriSize).measure(hri)
	d.text(p, x0+(barsW-hriW)/2, barsTop+barsH+0.4+d.asc*hriSize*mmPerPt, "", hriSize, hri)
}

// addressLines returns the recipient name and the non-empty address lines,
// sanitized, in envelope order.
func (d *doc) addressLines(name string, lines []string) []string {
	out := []string{d.clean(name, singleLine)}
	for _, l := range lines {
		if c := d.clean(l, singleLine); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// fitAddress chooses the largest font size, from addressMaxPt down to
// addressMinPt, at which the recipient name (lines[0]) and the address
// lines, each wrapped at spaces onto as many lines as it needs, fit the
// address zone. If they do not fit as given, short address lines are
// joined with commas, as Belarusian addresses are also written on one
// line, and tried again. Below addressMinPt an address is no longer
// reliably read by postal staff and sorting equipment, so an address that
// does not fit even then is refused (ErrAddressTooLong) rather than
// shortened: a letter must never travel with a cut address.
func (d *doc) fitAddress(lines []string) (float64, []string, error) {
	maxH := fieldH - noteZoneH - 2*zonePad
	height := func(n int, size float64) float64 {
		return (d.asc+d.desc)*size*mmPerPt + float64(n-1)*size*addressLeadEm*mmPerPt
	}
	for _, join := range []bool{false, true} {
		for size := addressMaxPt; size >= addressMinPt; size -= 0.5 {
			m := d.metric("", size)
			out := wrap(lines[0], textW, m)
			rest := lines[1:]
			if join {
				rest = packLines(rest, textW, m)
			}
			for _, l := range rest {
				out = append(out, wrap(l, textW, m)...)
			}
			if height(len(out), size) <= maxH {
				if join {
					d.warn("address lines were joined to fit the window")
				}
				return size, out, nil
			}
		}
	}
	return 0, nil, fmt.Errorf("%w: the recipient's name and address need more than the %g × %g mm address zone at %g pt",
		ErrAddressTooLong, fieldW, fieldH-noteZoneH, addressMinPt)
}

// packLines joins consecutive lines with ", " while the joined line is no
// wider than width.
func packLines(lines []string, width float64, m metric) []string {
	var out []string
	for _, l := range lines {
		if n := len(out); n > 0 && m.measure(out[n-1]+", "+l) <= width {
			out[n-1] += ", " + l
			continue
		}
		out = append(out, l)
	}
	return out
}

// subject places the subject in bold at the top of the text area.
func (d *doc) subject(s string) {
	s = d.clean(s, singleLine)
	if s == "" {
		return
	}
	d.y = firstTop + d.asc*bodySize*mmPerPt
	d.flowLines(wrap(s, contentW, d.metric("B", bodySize)), "B", bodySize, bodyLead)
	d.y += bodyLead // a blank line between subject and body
}

// flow wraps text and adds its lines below the current position, on new
// pages as needed.
func (d *doc) flow(text, style string, size, lead float64) {
	if d.err != nil {
		return
	}
	if len(d.pages) == 1 && d.y == firstTop {
		d.y = firstTop + d.asc*size*mmPerPt
	}
	d.flowLines(wrap(text, contentW, d.metric(style, size)), style, size, lead)
}

func (d *doc) flowLines(lines []string, style string, size, lead float64) {
	for _, l := range lines {
		if d.err != nil {
			return
		}
		if d.y > bodyBottom {
			d.newPage(nextTop + d.asc*size*mmPerPt)
			if l == "" {
				continue // no blank line at the top of a page
			}
		}
		d.text(d.last(), marginLeft, d.y, style, size, l)
		d.y += lead
	}
}

// attachmentList lists the attachments after the body, so a reader of the
// paper letter knows what belongs to it (attached PDFs follow the
// generated pages).
func (d *doc) attachmentList(atts []Attachment, in []*inspected) {
	var b strings.Builder
	for i, a := range atts {
		kind := d.lbl.kindText
		switch in[i].kind {
		case attImage:
			kind = d.lbl.kindImage
		case attPDF:
			kind = fmt.Sprintf(d.lbl.kindPDF, in[i].pdf.PageCount)
		}
		fmt.Fprintf(&b, "%d. %s (%s)\n", i+1, d.clean(a.Name, singleLine), kind)
	}
	d.y += bodyLead
	d.flowLines([]string{d.lbl.attachments}, "B", bodySize, bodyLead)
	d.flowLines(wrap(strings.TrimSuffix(b.String(), "\n"), contentW, d.metric("", bodySize)), "", bodySize, bodyLead)
}

// heading starts a new page for an attachment with its heading.
func (d *doc) heading(k int, name string) {
	d.newPage(nextTop + d.asc*bodySize*mmPerPt)
	d.flowLines(wrap(fmt.Sprintf(d.lbl.attachment, k, name), contentW, d.metric("B", bodySize)), "B", bodySize, bodyLead)
}

func (d *doc) textAttachment(k int, name, text string) {
	d.heading(k, name)
	d.y += bodyLead
	d.flowLines(wrap(d.clean(text, multiLine), contentW, d.metric("", bodySize)), "", bodySize, bodyLead)
}

// imageAttachment places an image on its own page: upright as its Exif
// orientation says, turned a quarter counter-clockwise if it is then
// landscape (so it prints larger on the portrait page), at imageDPI or
// smaller to fit the page, never larger.
func (d *doc) imageAttachment(k int, name string, in *inspected) error {
	d.heading(k, name)
	top := d.y - bodyLead + d.desc*bodySize*mmPerPt + imageGapTop
	// The image as stored, at imageDPI, in points.
	w := float64(in.w) / imageDPI * 72
	h := float64(in.h) / imageDPI * 72
	m := orient(in.orientation, w, h)
	uw, uh := w, h
	if in.orientation >= 5 {
		uw, uh = h, w
	}
	if uw > uh {
		m = m.then(quarterLeft(uh))
		uw, uh = uh, uw
	}
	fit, s := fitArea(uw, uh, marginLeft, top, contentW, bodyBottom-top)
	m = m.then(fit)
	data, typ, err := printableImage(name, in, s*w*mmPerPt, s*h*mmPerPt)
	if err != nil {
		return fmt.Errorf("attachment %d: %w", k, err)
	}
	d.images++
	name = fmt.Sprintf("att%d", d.images)
	d.f.RegisterImageOptionsReader(name, gofpdf.ImageOptions{ImageType: typ}, bytes.NewReader(data))
	if err := d.f.Error(); err != nil {
		return fmt.Errorf("attachment %d: %w: %v", k, ErrUnprintable, err)
	}
	p := d.last()
	p.ops = append(p.ops, func(f *gofpdf.Fpdf) {
		// gofpdf draws the image into the rectangle whose bottom-left
		// corner is the page's (w × h points); m carries it from there.
		f.TransformBegin()
		f.Transform(gofpdf.TransformMatrix{A: m[0], B: m[1], C: m[2], D: m[3], E: m[4], F: m[5]})
		f.ImageOptions(name, 0, pageH-h*mmPerPt, w*mmPerPt, h*mmPerPt, false, gofpdf.ImageOptions{ImageType: typ}, 0, "")
		f.TransformEnd()
	})
	return nil
}

// printableImage returns the image as gofpdf embeds it: the original JPEG
// when it needs no change, otherwise re-encoded — downsampled to
// imageMaxDPI at its printed size, transparency flattened onto white
// paper, 8 bits per channel (gofpdf reads neither 16-bit nor interlaced
// PNG).
//
// The decoded image lives only during this call: at most one image is
// decoded at a time, and what the document keeps is the encoded image at
// print resolution.
func printableImage(name string, in *inspected, wMM, hMM float64) ([]byte, string, error) {
	tw := int(math.Ceil(wMM / 25.4 * imageMaxDPI))
	th := int(math.Ceil(hMM / 25.4 * imageMaxDPI))
	scale := in.w > tw || in.h > th
	if in.jpeg != nil && !scale {
		return in.jpeg, "JPG", nil
	}
	src, err := decodeImage(name, in)
	if err != nil {
		return nil, "", err
	}
	b := src.Bounds()
	dr := b.Sub(b.Min)
	if scale {
		dr = image.Rect(0, 0, max(1, tw), max(1, th))
	}
	gray := src.ColorModel() == color.GrayModel || src.ColorModel() == color.Gray16Model
	var dst draw.Image
	if gray {
		dst = image.NewGray(dr)
	} else {
		rgba := image.NewRGBA(dr)
		draw.Draw(rgba, dr, image.White, image.Point{}, draw.Src)
		dst = rgba
	}
	if scale {
		// Transform, not Scale: Kernel.Scale first resamples every source
		// row into a buffer of 32 bytes per destination column and source
		// row — 250 MB for a 4000-pixel-high image — while Transform
		// computes each destination pixel directly from the source, its
		// filter widened by the reduction as Scale's is.
		sx := float64(dr.Dx()) / float64(b.Dx())
		sy := float64(dr.Dy()) / float64(b.Dy())
		s2d := f64.Aff3{sx, 0, -sx * float64(b.Min.X), 0, sy, -sy * float64(b.Min.Y)}
		xdraw.BiLinear.Transform(dst, s2d, src, b, xdraw.Over, nil)
	} else {
		draw.Draw(dst, dr, src, b.Min, draw.Over)
	}
	var buf bytes.Buffer
	if in.jpeg != nil || isJPEGSource(src) {
		if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: imageJPEGQ}); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), "JPG", nil
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, dst); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "PNG", nil
}

// isJPEGSource reports whether the decoded image came from a JPEG (a CMYK
// one, whose bytes were not kept): photos stay JPEG, drawings stay PNG.
func isJPEGSource(img image.Image) bool {
	switch img.(type) {
	case *image.YCbCr, *image.CMYK:
		return true
	}
	return false
}

// band draws an attachment page's header band: attachment k, page i of
// n, and the file name, above a hairline at bandRuleY. Nothing of the
// attachment is drawn above attAreaTop.
func (d *doc) band(k, i, n int, name string) {
	label := fmt.Sprintf(d.lbl.band, k, i, n)
	m := d.metric("", bandSize)
	if name != "" {
		short, _ := fit(name, contentW-m.measure(label+": "), m)
		label += ": " + short
	}
	d.f.SetFont(fontFamily, "", bandSize)
	d.f.Text(marginLeft, bandY, label)
	d.f.RawWriteStr(fmt.Sprintf("q %s w 0 G %s %s m %s %s l S Q\n", num(lineRule),
		num(marginLeft*ptPerMM), num((pageH-bandRuleY)*ptPerMM), num((pageW-marginRight)*ptPerMM), num((pageH-bandRuleY)*ptPerMM)))
}

// footer adds the letter id and the page number at the bottom of a page.
func (d *doc) footer(page, n int) {
	d.f.SetFont(fontFamily, "", footerSize)
	d.f.Text(marginLeft, footerY, fmt.Sprintf(d.lbl.footerID, d.id))
	s := fmt.Sprintf(d.lbl.footerPage, page, n)
	d.f.Text(pageW-marginRight-d.f.GetStringWidth(s), footerY, s)
}
