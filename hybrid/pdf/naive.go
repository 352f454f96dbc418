package pdf

import "github.com/pdfcpu/pdfcpu/pkg/api"

// NewBaselineRenderer returns a Renderer that loads and parses the fonts
// for every document, as gofpdf's public API does (AddUTF8FontFromBytes
// per document). Its pages look the same as NewRenderer's (pixel for
// pixel; the bytes differ since the font objects are written differently).
// It exists as the baseline of `npes bench render`, which measures what the
// font cache saves; a server uses NewRenderer.
func NewBaselineRenderer() (*Renderer, error) {
	api.DisableConfigDir()
	return newRenderer(fontsPerDocument)
}
