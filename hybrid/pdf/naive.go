package pdf

import "github.com/pdfcpu/pdfcpu/pkg/api"

// NewBaselineRenderer returns a Renderer that loads and parses the fonts
// for every document, as gofpdf's public API does (AddUTF8FontFromBytes
// per document). Its output is byte for byte that of NewRenderer. It
// exists as the baseline of `npes bench render` (issue 7); a server uses
// NewRenderer.
func NewBaselineRenderer() (*Renderer, error) {
	api.DisableConfigDir()
	return newRenderer(fontsPerDocument)
}
