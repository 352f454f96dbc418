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
//     address lines, each wrapped at spaces onto as many lines as it
//     needs, from 10 pt down to 8 pt until they fit; if they do not, short
//     address lines are joined with commas (Result.Warnings says so) and
//     tried again; an address that still does not fit is refused with
//     ErrAddressTooLong, never shortened (CheckAddress tells at
//     submission);
//   - information block right of the field (outside the window): date,
//     letter id, S10 id; fold and punch marks in the left margin.
//
// Below follow the subject (bold), the body (wrapped, paginated), a list
// of attachments, then the attachments in the order of that list: plain
// text in the body font, each JPEG/PNG on its own page (upright as its
// Exif orientation says, turned a quarter counter-clockwise when
// landscape, 150 dpi natural size, shrunk to fit, never enlarged;
// downsampled to 300 dpi), and the pages of attached PDFs. Every page of
// an attachment carries a header band (attachment number, page i of n,
// file name) above a hairline at 14 mm. An attached PDF page is drawn as
// a form XObject onto a generated A4 page: as displayed (/Rotate
// respected), turned a quarter counter-clockwise when landscape, shrunk
// (never enlarged) into the area below the band, above the footer and
// right of the Data Matrix, so neither covers it.
//
// The annotations of an attached page print as a viewer prints them (ISO
// 32000-1 §12.5): those with the Print flag and without the Hidden flag
// that have a normal appearance (/AP /N; of a dictionary of states, the
// one /AS names) — filled-in form fields, check boxes, stamps, free text —
// are drawn after the page content, in the same transformation, each
// appearance as a form XObject mapped onto its /Rect by the algorithm of
// §12.5.5 and clipped to the page's crop box, in the order of /Annots.
// Popup and Link annotations, which have nothing of their own on paper,
// and annotations a viewer cannot draw (no appearance, no bounding box,
// an empty rectangle, malformed entries) are left out; a form whose
// /NeedAppearances asks the viewer to build the field appearances itself
// prints the appearances the file has. The annotations themselves and the
// interactive form (/AcroForm) are not carried into the print file: their
// fields are printed, their data is not kept. An appearance with the
// NoRotate flag on a page with /Rotate stays upright as the page is
// displayed, turned about the upper-left corner of its /Rect (§12.5.3).
//
// The fixed labels are Belarusian or Russian (Letter.Language, else
// DetectLanguage on the subject and body).
//
// Every page carries an ECC 200 Data Matrix in the bottom-left corner
// (0.5 mm modules, a white quiet zone of 2 modules) with
// "<letter-id>|p<i>/<n>|s<j>/<m>": page i of n and sheet j of m, where a
// duplex letter has ceil(n/2) sheets. An inserter reading it can check
// that a letter is complete and not mixed with another. Pages carrying an
// attached PDF page are generated pages too and get the same mark.
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
// letter.
//
// The rest of gofpdf's cost was its font output, about 85 % of what
// remained: per font and document it re-parsed the TTF to cut the subset
// and compressed the subset and a 128 KB CIDToGIDMap, each with a freshly
// allocated zlib writer of about 1 MB. The Renderer writes the font
// objects from a per-process cache instead (see fontCache). For each face
// there are three fixed subsets, cut once by gofpdf's own subsetter from a
// prototype document and recompressed at the best zlib level:
//
//   - basic: ASCII, the Belarusian and Russian alphabets (ё, і, ў), their
//     punctuation (« » „ “ – — № …) and the replacement square; about
//     180 characters, 25 KB of font objects;
//   - european: adds Latin-1, Latin Extended-A, the rest of the fonts'
//     Cyrillic and general punctuation; about 440 characters, 48 KB;
//   - wgl4: everything the fonts have (about 700 characters, 73 KB), so
//     every text the sanitizer lets through has a cached subset.
//
// Each face of a letter gets the smallest subset that holds the characters
// it drew; the larger two are built on first use. gofpdf then writes the
// document with its fonts marked as core fonts (a one-line placeholder
// each, fontShare.markCore) and its page contents uncompressed, and
// writeDoc puts the cached objects in place of the placeholders (ISO
// 32000-1 §9.7: Type0 font, CIDFontType2 with its widths, ToUnicode CMap,
// font descriptor, CIDToGIDMap, FontFile2), compresses the page contents
// with pooled zlib writers and writes a new cross-reference table. Page
// contents do not depend on the subset, because gofpdf writes text as
// Unicode code points (Identity-H) and each subset's CIDToGIDMap maps them
// to its glyphs; they come out byte for byte as gofpdf compresses them.
//
// What this costs and risks:
//
//   - Size: a typical one-page letter is about 53 KB instead of 31 KB with
//     per-letter subsets (8–14 KB per face); a face that needs the
//     european or wgl4 subset adds about 23 or 48 KB.
//   - Bytes: the output differs from gofpdf's own font output — other
//     subsets, and subset-tagged names such as KDMLJZ+GoRegular (ISO
//     32000-1 §9.6.4; the tag is derived from the font program, so a name
//     never stands for two different subsets) — but renders identically:
//     TestCachedFontsPixels rasterizes the 20 test addresses, a Belarusian
//     two-page letter and the larger subsets both ways with poppler and
//     requires identical pixels. The subsets are fixed by the fonts and
//     the tier definitions, so the same letter still renders to the same
//     bytes; changing the tiers changes the bytes of every letter, like
//     any change to the layout.
//   - gofpdf internals: marking fonts as core fonts uses the same
//     reflection as fontShare, and writeDoc reads gofpdf's output format,
//     refusing anything but v1.16.2's exact shape. NewRenderer builds the
//     basic subsets and renders a probe document this way; if anything
//     differs, the Renderer falls back to gofpdf's own font output
//     (correct, about five times slower) and TestFontCache fails. A
//     document whose cached objects cannot be written — a bug, given the
//     probe — is rendered again through gofpdf's font output.
//
// Measured on a shared 2-core machine (go test -bench . -benchmem -cpu 1
// ./hybrid/pdf/): a one-page letter takes about 0.5 ms and 0.33 MB of
// allocation instead of 2.9 ms and 8.9 MB; what remains is page
// compression, the Data Matrix's Reed–Solomon code, gofpdf's number
// formatting and the SHA-256 of the result.
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
