package mailbox

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"path"
	"strings"
)

// Office documents are printed through a PDF rendition made by a
// Converter (LibreOffice in the hybrid print path, DESIGN §6). The original
// is what the letter carries, what its evidence digests and what electronic
// recipients receive; the rendition is stored beside it, encrypted with the
// letter's key, digested in the evidence as rendition_sha256, and reused
// for every later render (a converter's output is not byte-identical
// between runs, so converting again could not reproduce the digest).

// Office formats that can be printed, by their media types (IANA).
const (
	TypeDOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	TypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	TypeODT  = "application/vnd.oasis.opendocument.text"
	TypeODS  = "application/vnd.oasis.opendocument.spreadsheet"
	TypeDOC  = "application/msword"
	TypeXLS  = "application/vnd.ms-excel"
	TypeRTF  = "application/rtf"
)

// OfficeFormat is a printable office format: its media type, the file name
// extension that names it, and the container its content must be.
type OfficeFormat struct {
	Type      string
	Extension string // with the dot, lower case
	Name      string // for messages
	container int
}

const (
	containerOOXML = iota + 1 // ZIP with [Content_Types].xml (ECMA-376 Part 2, Open Packaging Conventions)
	containerODF              // ZIP whose first member is "mimetype" (ODF 1.2 Part 3, §3.3)
	containerOLE2             // Compound File Binary ([MS-CFB])
	containerRTF              // RTF 1.x text
)

// OfficeFormats lists the printable office formats.
var OfficeFormats = []OfficeFormat{
	{TypeDOCX, ".docx", "DOCX", containerOOXML},
	{TypeXLSX, ".xlsx", "XLSX", containerOOXML},
	{TypeODT, ".odt", "ODT", containerODF},
	{TypeODS, ".ods", "ODS", containerODF},
	{TypeDOC, ".doc", "DOC", containerOLE2},
	{TypeXLS, ".xls", "XLS", containerOLE2},
	{TypeRTF, ".rtf", "RTF", containerRTF},
}

// officeByExtension returns the office format a file name claims.
func officeByExtension(name string) (OfficeFormat, bool) {
	ext := strings.ToLower(path.Ext(name))
	for _, f := range OfficeFormats {
		if f.Extension == ext {
			return f, true
		}
	}
	return OfficeFormat{}, false
}

// OfficeByType returns the office format of a media type.
func OfficeByType(contentType string) (OfficeFormat, bool) {
	for _, f := range OfficeFormats {
		if f.Type == contentType {
			return f, true
		}
	}
	return OfficeFormat{}, false
}

var (
	magicZIP  = []byte("PK\x03\x04")
	magicOLE2 = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	magicRTF  = []byte(`{\rtf`)
)

// sniffOffice is the first-bytes check made while an attachment streams in:
// the name claims an office format and the content starts like its
// container. recognizeOffice makes the full check before printing.
func sniffOffice(name string, sniff []byte) (string, bool) {
	f, ok := officeByExtension(name)
	if !ok {
		return "", false
	}
	var magic []byte
	switch f.container {
	case containerOOXML, containerODF:
		magic = magicZIP
	case containerOLE2:
		magic = magicOLE2
	case containerRTF:
		magic = magicRTF
	}
	return f.Type, bytes.HasPrefix(sniff, magic)
}

// recognizeOffice checks that an attachment named as an office document is
// one, of the format its name says, whatever media type the client sent:
// the file name and the content must agree, so a document cannot reach the
// converter as another format than the recipient will see it as. It
// reports ok=false for a name without an office extension.
func recognizeOffice(name string, data []byte) (OfficeFormat, bool, error) {
	f, ok := officeByExtension(name)
	if !ok {
		return OfficeFormat{}, false, nil
	}
	mismatch := func(what string) error {
		return Errorf(ErrInvalid, "attachment_type_mismatch",
			"attachment %q is named as a %s document but its content is %s", name, f.Name, what)
	}
	switch f.container {
	case containerRTF:
		if !bytes.HasPrefix(data, magicRTF) {
			return f, true, mismatch("not RTF (it does not start with {\\rtf)")
		}
	case containerOLE2:
		if !bytes.HasPrefix(data, magicOLE2) {
			return f, true, mismatch("not a compound file (no D0 CF 11 E0 signature)")
		}
		// The directory names the main stream ([MS-DOC] "WordDocument",
		// [MS-XLS] "Workbook", or "Book" in BIFF5), in UTF-16LE.
		word, book := bytes.Contains(data, utf16le("WordDocument")), bytes.Contains(data, utf16le("Workbook")) || bytes.Contains(data, utf16le("Book"))
		if f.Type == TypeDOC && !word {
			return f, true, mismatch("a compound file without a WordDocument stream")
		}
		if f.Type == TypeXLS && (!book || word) {
			return f, true, mismatch("a compound file without a Workbook stream")
		}
		// [MS-OVBA] §2.2: a VBA project lives in the storages "Macros"
		// (Word) or "_VBA_PROJECT_CUR" (Excel), with a "_VBA_PROJECT" stream.
		for _, stream := range []string{"_VBA_PROJECT", "Macros"} {
			if bytes.Contains(data, utf16le(stream)) {
				return f, true, macroDocument(name, f)
			}
		}
	case containerOOXML, containerODF:
		if !bytes.HasPrefix(data, magicZIP) {
			return f, true, mismatch("not a ZIP package")
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return f, true, mismatch("not a readable ZIP package")
		}
		got := packageType(zr)
		if got != f.Type {
			what := "a ZIP package of another kind"
			if g, ok := OfficeByType(got); ok {
				what = "a " + g.Name + " document"
			}
			return f, true, mismatch(what)
		}
		if hasMacros(zr) {
			return f, true, macroDocument(name, f)
		}
	}
	return f, true, nil
}

// packageType names the office format of a ZIP package from its members:
// ODF's uncompressed first member "mimetype", or OOXML's
// [Content_Types].xml with the main part's folder (word/ or xl/).
func packageType(zr *zip.Reader) string {
	if len(zr.File) == 0 {
		return ""
	}
	if first := zr.File[0]; first.Name == "mimetype" && first.Method == zip.Store && first.UncompressedSize64 < 100 {
		rc, err := first.Open()
		if err != nil {
			return ""
		}
		defer rc.Close()
		var b [100]byte
		n, _ := rc.Read(b[:])
		switch string(bytes.TrimSpace(b[:n])) {
		case TypeODT:
			return TypeODT
		case TypeODS:
			return TypeODS
		}
		return ""
	}
	var types, word, xl bool
	for _, f := range zr.File {
		switch {
		case f.Name == "[Content_Types].xml":
			types = true
		case f.Name == "word/document.xml":
			word = true
		case f.Name == "xl/workbook.xml":
			xl = true
		}
	}
	switch {
	case types && word && !xl:
		return TypeDOCX
	case types && xl && !word:
		return TypeXLSX
	}
	return ""
}

func utf16le(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, r := range s {
		out = append(out, byte(r), 0)
	}
	return out
}

// Converter turns office documents into PDF renditions for print. It is
// called before the commit, outside any transaction. Errors are *Error:
// ErrUnavailable (code conversion_busy) when every converter is busy,
// ErrInvalid when the document cannot be converted within its limits.
type Converter interface {
	ConvertToPDF(ctx context.Context, name string, f OfficeFormat, data []byte) ([]byte, error)
}

// macroDocument refuses a document that carries macros or scripts for
// print: the operator converts documents, it never runs their code, and a
// document whose printed form may depend on code that did not run is not
// printed as the sender meant it either. (Macro execution is also disabled
// in the converter's profile; this refusal does not rely on that.)
func macroDocument(name string, f OfficeFormat) error {
	return Errorf(ErrInvalid, "macro_document",
		"attachment %q is a %s document with macros or scripts, which are not printed; save it without macros (or as PDF) and send it again", name, f.Name)
}

// maxScanMember bounds how much of one package member hasMacros reads.
const maxScanMember = 8 << 20

// hasMacros reports whether an OOXML or ODF package carries code: a VBA
// project or ActiveX controls ([MS-OFFMACRO2], ECMA-376 Part 2 content
// types), ODF Basic or script libraries (ODF 1.2 Part 3 §2.2, "Basic/",
// "Scripts/"), or event listeners bound to scripts in the document's XML
// (ODF 1.2 Part 1 §10.4.5 <script:event-listener>, OOXML macro-enabled
// content types).
func hasMacros(zr *zip.Reader) bool {
	for _, f := range zr.File {
		n := strings.ToLower(f.Name)
		switch {
		case strings.Contains(n, "vbaproject"), strings.Contains(n, "vbadata"), strings.HasPrefix(n, "word/activex/"),
			strings.HasPrefix(n, "xl/activex/"), strings.HasPrefix(n, "basic/"), strings.HasPrefix(n, "scripts/"):
			return true
		}
		switch n {
		case "[content_types].xml", "content.xml", "styles.xml", "settings.xml":
			rc, err := f.Open()
			if err != nil {
				return true // unreadable: refuse rather than guess
			}
			b, _ := io.ReadAll(io.LimitReader(rc, maxScanMember))
			rc.Close()
			low := bytes.ToLower(b)
			for _, marker := range [][]byte{[]byte("macroenabled"), []byte("vbaproject"), []byte("script:event-listener"),
				[]byte("vnd.sun.star.script:"), []byte("macro:///"), []byte("office:script ")} {
				if bytes.Contains(low, marker) {
					return true
				}
			}
		}
	}
	return false
}
