package pdf

// Test-only access to internals (the export_test.go idiom): the tests
// themselves are black-box, in package pdf_test.

// NewNaiveRenderer returns a Renderer that loads and parses the fonts for
// every document, as gofpdf's public API does: the benchmark baseline and
// the reference the shared-font path must match byte for byte.
func NewNaiveRenderer() (*Renderer, error) { return newRenderer(false) }

// SharesFonts reports whether r copies pre-parsed fonts into documents.
func (r *Renderer) SharesFonts() bool { return r.share != nil }

// Sanitize exposes the text sanitizer.
func (r *Renderer) Sanitize(s string, multi bool) (string, int) {
	if multi {
		return r.san.clean(s, multiLine)
	}
	return r.san.clean(s, singleLine)
}

// Wrap exposes the line breaker with a fixed-advance measure.
func Wrap(text string, width float64, measure func(string) float64) []string {
	return wrap(text, width, measure)
}
