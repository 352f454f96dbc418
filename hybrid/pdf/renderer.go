package pdf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// Renderer renders letters to print-ready PDFs. Build one per process with
// NewRenderer: it parses the fonts and builds their subsets once. It is
// safe for concurrent use; each call works on its own document.
type Renderer struct {
	faces []fontFace
	share *fontShare // nil: fonts are loaded per document (fallback, and the benchmark baseline)
	cache *fontCache // nil: gofpdf subsets the fonts of every document (fallback)
	san   sanitizer
	adv   map[string]*advances // by style
}

// fontMode selects how documents get their fonts.
type fontMode int

const (
	// fontsPerDocument loads and parses the fonts for every document
	// through gofpdf's public API: the benchmark baseline and the
	// reference the faster modes are compared with.
	fontsPerDocument fontMode = iota
	// fontsShared parses the fonts once (fontShare); gofpdf subsets them
	// per document.
	fontsShared
	// fontsCached also writes the font objects from fontCache.
	fontsCached
)

// NewRenderer parses the embedded fonts, builds their subsets once and
// returns a Renderer.
//
// It also switches pdfcpu's configuration directory off for the process
// (api.DisableConfigDir, DESIGN §10): npes passes pdfcpu an explicit
// configuration and never wants it to create or read files under $HOME.
func NewRenderer() (*Renderer, error) {
	api.DisableConfigDir()
	return newRenderer(fontsCached)
}

func newRenderer(mode fontMode) (*Renderer, error) {
	faces := fontFaces()
	cov, err := newCoverage(faces)
	if err != nil {
		return nil, err
	}
	for _, r := range []rune{replacementRune, '…', '№', 'і', 'ў'} {
		if !cov.has(r) {
			return nil, fmt.Errorf("embedded fonts lack %q", r)
		}
	}
	r := &Renderer{faces: faces, san: sanitizer{cov: cov, compose: composeTable()}, adv: fontAdvances(faces)}
	if mode >= fontsShared {
		fs, err := newFontShare(faces)
		switch {
		case err == nil:
			r.share = fs
		case errors.Is(err, errFontShape):
			// Correct but slower: see fontShare. TestFontsShared fails
			// in CI so this never goes unnoticed.
		default:
			return nil, err
		}
	}
	if mode >= fontsCached && r.share != nil {
		fc, err := newFontCache(r.share, faces, cov)
		switch {
		case err == nil:
			r.cache = fc
		case errors.Is(err, errFontShape), errors.Is(err, errFastFonts):
			// Correct but slower: gofpdf subsets every document (see
			// fontCache). TestFontCache fails in CI.
		default:
			return nil, err
		}
	}
	return r, nil
}

// renderInfo says how a document got its fonts: the tier of each face's
// cached subset, or nil when gofpdf subset them.
type renderInfo struct {
	tiers []string
}

// withFallback renders with the cached fonts if the Renderer has them,
// and again through gofpdf's font output if the cached objects could not
// be written — which NewRenderer's probe makes a bug, not an expected
// case, but a letter must print either way.
func (r *Renderer) withFallback(render func(cached bool) (Result, renderInfo, error)) (Result, renderInfo, error) {
	if r.cache != nil {
		res, info, err := render(true)
		if !errors.Is(err, errFastFonts) {
			return res, info, err
		}
	}
	return render(false)
}

// Render renders l. The same Letter always renders to the same bytes.
func (r *Renderer) Render(l Letter) (Result, error) {
	res, _, err := r.withFallback(func(cached bool) (Result, renderInfo, error) {
		return r.renderLetter(l, cached)
	})
	return res, err
}

func (r *Renderer) renderLetter(l Letter, cached bool) (res Result, info renderInfo, err error) {
	defer recoverRender(&err, l.ID)
	if err := validateCommon(l.ID, l.Tracking, l.RecipientName, l.AddressLines, l.Date); err != nil {
		return Result{}, info, err
	}
	if !ValidLanguage(l.Language) {
		return Result{}, info, fmt.Errorf("%w: language %q (be, ru, or empty to detect it)", ErrInvalidLetter, l.Language)
	}
	atts := make([]*inspected, len(l.Attachments))
	for i, a := range l.Attachments {
		in, err := inspect(a)
		if err != nil {
			return Result{}, info, fmt.Errorf("attachment %d: %w", i+1, err)
		}
		atts[i] = in
	}

	lang := l.Language
	if lang == "" {
		lang = DetectLanguage(l.Subject, l.Body)
	}
	d := r.newDoc(l.ID, lang, l.Date, cached)
	d.envelope(envelope{id: l.ID, tracking: l.Tracking, sender: l.SenderLine,
		name: l.RecipientName, lines: l.AddressLines, date: l.Date})
	d.subject(l.Subject)
	d.flow(d.clean(l.Body, multiLine), "", bodySize, bodyLead)

	// Attachments follow in the order of the list on the first page; every
	// page of one carries its header band (finish). An attached PDF's
	// pages get generated pages of their own, which mergePDFs fills.
	var pdfs []attachedPDF
	var places []placement
	if len(atts) > 0 {
		d.attachmentList(l.Attachments, atts)
		for i, in := range atts {
			name := d.clean(l.Attachments[i].Name, singleLine)
			start := len(d.pages)
			switch in.kind {
			case attText:
				d.textAttachment(i+1, name, in.text)
			case attImage:
				if err := d.imageAttachment(i+1, name, in); err != nil {
					return Result{}, info, err
				}
			case attPDF:
				for p := 1; p <= in.pdf.PageCount && d.err == nil; p++ {
					d.newPage(nextTop)
					places = append(places, placement{onto: len(d.pages), att: len(pdfs), page: p})
				}
				pdfs = append(pdfs, attachedPDF{ctx: in.pdf, data: l.Attachments[i].Data})
			}
			for _, p := range d.pages[start:] {
				p.att, p.attName = i+1, name
			}
		}
	}
	return d.finish(l.Duplex, pdfs, places)
}

// CheckAddress reports whether the recipient's name and address lines fit
// the envelope window as Render lays them out; the error wraps
// ErrAddressTooLong when they do not. It is meant for submission time, for
// letters that may be printed later.
func (r *Renderer) CheckAddress(name string, lines []string) (err error) {
	defer recoverRender(&err, "address check")
	d := r.newDoc("address-check", Russian, time.Unix(0, 0), false)
	_, _, err = d.fitAddress(d.addressLines(name, lines))
	return err
}

// RenderActivation renders the short letter carrying a mailbox activation
// code to the mailbox's postal address.
func (r *Renderer) RenderActivation(a Activation) (Result, error) {
	res, _, err := r.withFallback(func(cached bool) (Result, renderInfo, error) {
		return r.renderActivation(a, cached)
	})
	return res, err
}

func (r *Renderer) renderActivation(a Activation, cached bool) (res Result, info renderInfo, err error) {
	defer recoverRender(&err, a.ID)
	if err := validateCommon(a.ID, a.Tracking, a.RecipientName, a.AddressLines, a.Date); err != nil {
		return Result{}, info, err
	}
	if strings.TrimSpace(a.MailboxID) == "" {
		return Result{}, info, fmt.Errorf("%w: mailbox id is empty", ErrInvalidLetter)
	}
	d := r.newDoc(a.ID, Russian, a.Date, cached)
	code := d.clean(a.Code, singleLine)
	if code == "" {
		return Result{}, info, fmt.Errorf("%w: activation code is empty", ErrInvalidLetter)
	}
	mailbox := d.clean(a.MailboxID, singleLine)
	d.envelope(envelope{id: a.ID, tracking: a.Tracking, sender: a.SenderLine,
		name: a.RecipientName, lines: a.AddressLines, date: a.Date})
	d.subject("Код активации почтового ящика")
	d.flow("Для этого адреса в Национальной электронной почтовой системе зарегистрирован "+
		"почтовый ящик "+mailbox+". Он станет активным, когда вы подтвердите, что получаете "+
		"почту по этому адресу.\n\nВаш код активации почтового ящика:", "", bodySize, bodyLead)
	d.y += codeLead - bodyLead // room for the large type above its baseline
	d.flow(code, "B", codeSize, codeLead)
	d.flow("\nЧтобы активировать почтовый ящик, введите этот код при подтверждении адреса "+
		"в приложении npes (команда «npes mailbox activate --code КОД»), войдя с той же электронной подписью, "+
		"с которой регистрировали ящик. Код подходит только для почтового ящика "+mailbox+
		" и используется один раз.\n\nЕсли вы не регистрировали почтовый ящик, не вводите код "+
		"и никому его не сообщайте, а обратитесь в ближайшее отделение почтовой связи.", "", bodySize, bodyLead)
	return d.finish(a.Duplex, nil, nil)
}

// recoverRender turns a panic inside gofpdf or pdfcpu into an error: a
// letter that cannot be rendered must not take the print path down.
// FuzzRender holds the renderer to never reaching this.
func recoverRender(err *error, id string) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("render letter %q: internal error: %v", id, p)
	}
}

// attachedPDF is a checked attachment PDF to merge after the letter.
type attachedPDF struct {
	ctx  *model.Context
	data []byte
}

// newDoc starts a document whose only time is date. cached selects the
// font objects from the Renderer's fontCache.
func (r *Renderer) newDoc(id, lang string, date time.Time, cached bool) *doc {
	f := newGofpdf()
	// ISO 32000-1 §14.3.3: dates in the information dictionary. UTC, so
	// the bytes do not depend on the Location the caller's time carries.
	f.SetCreationDate(date.UTC())
	f.SetModificationDate(date.UTC())
	f.SetProducer("npes hybrid/pdf", false)
	f.SetCreator("npes", false)
	f.SetTitle(id, false)
	d := &doc{r: r, f: f, id: id, lbl: labelSets[lang], cached: cached && r.cache != nil}
	if r.share != nil {
		d.fonts = r.share.install(f)
	} else {
		for _, fc := range r.faces {
			// A copy: gofpdf writes into the font data (see install).
			f.AddUTF8FontFromBytes(fontFamily, fc.style, bytes.Clone(fc.ttf))
		}
	}
	desc := f.GetFontDesc(fontFamily, "")
	d.asc = float64(desc.Ascent) / 1000
	d.desc = -float64(desc.Descent) / 1000
	return d
}

// output writes the document: with the font objects from the cache when
// every face's characters lie within a cached subset, otherwise through
// gofpdf's own subsetter.
func (d *doc) output() ([]byte, renderInfo, error) {
	var info renderInfo
	if d.cached {
		if tiers, ok := d.r.cache.choose(d.fonts.used); ok {
			d.r.share.markCore(d.f)
			d.f.SetCompression(false) // writeDoc compresses the pages
			var buf bytes.Buffer
			if err := d.f.Output(&buf); err != nil {
				return nil, info, fmt.Errorf("render letter %q: %w", d.id, err)
			}
			out, err := d.r.cache.writeDoc(buf.Bytes(), tiers)
			if err != nil {
				return nil, info, fmt.Errorf("render letter %q: %w", d.id, err)
			}
			for _, t := range tiers {
				info.tiers = append(info.tiers, d.r.cache.tiers[t].name)
			}
			return out, info, nil
		}
	}
	if d.fonts != nil {
		d.fonts.privatize()
	}
	var buf bytes.Buffer
	if err := d.f.Output(&buf); err != nil {
		return nil, info, fmt.Errorf("render letter %q: %w", d.id, err)
	}
	return buf.Bytes(), info, nil
}

// finish draws the planned pages with their footers and integrity marks,
// merges attached PDFs and returns the result.
func (d *doc) finish(duplex bool, pdfs []attachedPDF, places []placement) (Result, renderInfo, error) {
	var info renderInfo
	if d.err != nil {
		return Result{}, info, d.err
	}
	n := len(d.pages)
	if n > MaxPages {
		return Result{}, info, fmt.Errorf("%w: %d pages (limit %d)", ErrTooLong, n, MaxPages)
	}
	sheets := func(page int) int {
		if duplex {
			return (page + 1) / 2
		}
		return page
	}
	m := sheets(n)
	// mark draws the Data Matrix of a page, its bottom-left corner dmLeft
	// from the left and pageH-dmBottom from the bottom edge, in PDF
	// default user space.
	mark := func(page int) (string, error) {
		dm, err := dataMatrixModules(fmt.Sprintf("%s|p%d/%d|s%d/%d", d.id, page, n, sheets(page), m))
		if err != nil {
			return "", err
		}
		yTop := pageH - dmBottom + float64(len(dm))*dmModule
		return matrixOps(dm, dmLeft*ptPerMM, yTop*ptPerMM, dmModule*ptPerMM, dmQuiet), nil
	}

	attPages := map[int]int{} // pages of each attachment
	for _, p := range d.pages {
		attPages[p.att]++
	}
	attPage := 0
	for i, p := range d.pages {
		d.f.AddPage()
		for _, op := range p.ops {
			op(d.f)
		}
		page := i + 1
		if p.att > 0 {
			if i == 0 || d.pages[i-1].att != p.att {
				attPage = 0
			}
			attPage++
			d.band(p.att, attPage, attPages[p.att], p.attName)
		}
		d.footer(page, n)
		ops, err := mark(page)
		if err != nil {
			return Result{}, info, err
		}
		d.f.RawWriteStr(ops)
	}
	out, info, err := d.output()
	if err != nil {
		return Result{}, info, err
	}

	if len(pdfs) > 0 {
		// The file identifier (ISO 32000-1 §14.4) is derived from the
		// content, so it is unique per letter yet reproducible.
		h := sha256.New()
		h.Write(out)
		ctxs := make([]*model.Context, len(pdfs))
		for i, p := range pdfs {
			fmt.Fprintf(h, "|%d|", len(p.data))
			h.Write(p.data)
			ctxs[i] = p.ctx
		}
		var fileID [16]byte
		copy(fileID[:], h.Sum(nil))
		merged, err := mergePDFs(out, ctxs, places, fileID)
		if err != nil {
			return Result{}, info, fmt.Errorf("render letter %q: %w", d.id, err)
		}
		out = merged
	}

	sum := sha256.Sum256(out)
	res := Result{PDF: out, Pages: n, Sheets: m, SHA256: hex.EncodeToString(sum[:]), Warnings: d.warnings}
	if d.replaced > 0 {
		res.Warnings = append(res.Warnings,
			fmt.Sprintf("%d characters the fonts cannot draw were printed as %c", d.replaced, replacementRune))
	}
	return res, info, nil
}
