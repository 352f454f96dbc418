package pdf

// Test-only access to internals (the export_test.go idiom): the tests
// themselves are black-box, in package pdf_test.

// NewNaiveRenderer returns a Renderer that loads and parses the fonts for
// every document, as gofpdf's public API does: the benchmark baseline and
// the reference the faster modes must match (byte for byte for shared
// fonts, pixel for pixel for cached font objects).
func NewNaiveRenderer() (*Renderer, error) { return newRenderer(fontsPerDocument) }

// NewSharedFontsRenderer returns a Renderer that parses the fonts once but
// lets gofpdf subset them for every document.
func NewSharedFontsRenderer() (*Renderer, error) { return newRenderer(fontsShared) }

// SharesFonts reports whether r copies pre-parsed fonts into documents.
func (r *Renderer) SharesFonts() bool { return r.share != nil }

// CachesFonts reports whether r writes font objects from its fontCache.
func (r *Renderer) CachesFonts() bool { return r.cache != nil }

// RenderTiers renders l and reports the cached subset each face used
// (regular, then bold), or nil if gofpdf subset the fonts.
func (r *Renderer) RenderTiers(l Letter) (Result, []string, error) {
	res, info, err := r.withFallback(func(cached bool) (Result, renderInfo, error) {
		return r.renderLetter(l, cached)
	})
	return res, info.tiers, err
}

// Sanitize exposes the text sanitizer.
func (r *Renderer) Sanitize(s string, multi bool) (string, int) {
	if multi {
		return r.san.clean(s, multiLine)
	}
	return r.san.clean(s, singleLine)
}

// Wrap exposes the line breaker with the given advance per rune, in
// units of width.
func Wrap(text string, width float64, advance func(rune) int) []string {
	return wrap(text, width, metric{units: advance, size: 1000})
}

// CompressPooled compresses each input with one pooled zlib writer, in
// order, as page contents are compressed.
func CompressPooled(inputs [][]byte) [][]byte {
	fp := newFlatePool()
	out := make([][]byte, len(inputs))
	for i, in := range inputs {
		z := fp.get()
		out[i] = append([]byte(nil), z.compress(in)...)
		fp.put(z)
	}
	return out
}

// BuildFontCache builds every subset tier of r's font cache and reports
// the first error; nil if r has no cache.
func (r *Renderer) BuildFontCache() error {
	if r.cache == nil {
		return nil
	}
	return r.cache.buildAll()
}

// ErrFastFonts is errFastFonts, for errors.Is in tests.
var ErrFastFonts = errFastFonts

// ParseGofpdf splits a gofpdf file into objects as the cached font path
// does, and reports only the error.
func ParseGofpdf(b []byte) error {
	_, err := parseGofpdf(b)
	return err
}

// ImageDecodeBytes is the decoding cost CheckAttachment estimates for an
// image attachment from its header.
func ImageDecodeBytes(a Attachment) (int64, error) {
	in, err := inspect(a)
	if err != nil {
		return 0, err
	}
	return in.cost, nil
}

// JPEGOrientation exposes jpegOrientation to the tests.
func JPEGOrientation(b []byte) int { return jpegOrientation(b) }

// AppearanceMatrix exposes appearanceMatrix: rect, bbox and matrix as
// PDF arrays, the result as [a b c d e f].
func AppearanceMatrix(rect, bbox []float64, matrix [6]float64) ([6]float64, bool) {
	a, ok := appearanceMatrix(rect, bbox, affine(matrix))
	return [6]float64(a), ok
}
