// Package pdf renders letters of the hybrid print path into print-ready,
// deterministic PDF (DESIGN §6). It is the only package of npes that
// imports gofpdf; it also uses pdfcpu to check and merge attached PDFs and
// boombuler/barcode for the barcodes.
//
// # Layout
//
// A4 portrait after DIN 5008 form B, the layout DL window envelopes (DIN
// 680: window 90 × 45 mm, 20 mm from the left) are made for. Folded in
// three, the 85 × 45 mm address field at 20 mm from the left and 45 mm
// from the top lies behind the window:
//
//   - endorsement zone (upper 17.7 mm of the field): the sender's return
//     line in 5–6.5 pt; for registered letters the endorsement "ЗАКАЗНОЕ"
//     and the UPU S10 item id as Code 128 (X = 0.33 mm, 8.4 mm high, quiet
//     zones of 10 modules inside the field) with its human-readable text
//     "RR 123 456 785 BY". The barcode sits inside the window on purpose:
//     nothing right of the field is visible through a DL window, and
//     postal staff and sorting equipment must read the item id without
//     opening the envelope; the endorsement zone is where DIN 5008 puts
//     postal endorsements such as registered-mail labels;
//   - address zone (lower 27.3 mm): recipient name and the formatted
//     address lines, from 10 pt down to 7 pt until they fit; if they still
//     do not fit, the last lines are joined and overlong lines shortened
//     with "…", and Result.Warnings says so;
//   - information block right of the field (outside the window): date,
//     letter id, S10 id; fold and punch marks in the left margin.
//
// Below follow the subject (bold), the body (wrapped, paginated), a list
// of attachments, then the attachments: plain text in the body font, each
// JPEG/PNG on its own page (150 dpi natural size, shrunk to fit, never
// enlarged; downsampled to 300 dpi), and the pages of attached PDFs,
// merged after the generated pages.
//
// Every page carries an ECC 200 Data Matrix in the bottom-left corner
// (0.5 mm modules, a white quiet zone of 2 modules) with
// "<letter-id>|p<i>/<n>|s<j>/<m>": page i of n and sheet j of m, where a
// duplex letter has ceil(n/2) sheets. An inserter reading it can check
// that a letter is complete and not mixed with another. Merged PDF pages
// get the same mark, added as a content stream after the page's own
// content (wrapped in q/Q), at the bottom-left of the page as displayed
// (rotation respected).
//
// # Text
//
// The fonts are Go Regular and Go Bold (WGL4: Latin, Greek, Cyrillic with
// і and ў), embedded as subsets with a ToUnicode map. gofpdf has no bidi
// algorithm or shaping, so text is sanitized before layout: control,
// format (bidi embeddings, overrides, isolates and marks, zero-width
// characters, soft hyphen) characters are removed; decomposed letters are
// composed where the fonts have the precomposed form; characters the
// fonts cannot draw — including everything above U+FFFF, on which
// gofpdf's SplitText panics — are printed as "□" and counted in
// Result.Warnings.
//
// # Determinism
//
// The same Letter renders to the same bytes: Letter.Date is the only time
// (creation and modification dates, in UTC), gofpdf sorts its resources
// (SetCatalogSort), and letters with attached PDFs are written by this
// package's own serializer instead of pdfcpu's writer, which orders
// objects by Go map iteration and stamps the wall clock into the
// information dictionary and the file identifier. The file identifier is
// derived from the content. Result.SHA256 goes into the RelayToNonERDS
// evidence.
//
// # Speed
//
// gofpdf offers no way to reuse a parsed font: AddUTF8FontFromBytes parses
// the TTF and hashes a JSON of its 65,536-entry width table for every
// document. The Renderer parses each face once per process and copies the
// parsed definition into every document through reflection on gofpdf
// v1.16.2's unexported fields (see fontShare), which halves the time per
// letter. What remains is inside gofpdf's Output: per font it re-parses
// the TTF to cut the subset and compresses the subset and a 128 KB
// CIDToGIDMap with a freshly allocated zlib writer (about 1.2 MB each),
// plus one writer per page — about 85 % of the time of a one-page letter.
//
// # Attachments
//
// CheckAttachment is the submission-time check (printable types, sizes,
// pixel limits read from the image header before decoding, no active
// content in PDFs); Render repeats it, so an unchecked attachment cannot
// slip through. pdfcpu never writes configuration files: NewRenderer
// switches its configuration directory off and this package passes it an
// explicit configuration.
package pdf
