package mailbox

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Sender-controlled text (names, subjects, addresses, attachment names) is
// stored, sealed into evidence and later shown on terminals, in web pages,
// PDFs and file systems. It is checked once, here, at the service boundary;
// adapters and clients use the same functions so they agree on what is
// allowed.

// CheckText validates a short single-line text: a name, a subject, a raw
// address, a reason. C0 and C1 controls (NUL, ESC, CR, LF: header and
// terminal injection), the line and paragraph separators and the Unicode
// bidirectional formatting characters ("Trojan Source", CVE-2021-42574:
// text that displays in another order than it is stored) are refused. The
// code of the error is missing_<field> or bad_<field>.
func CheckText(field, v string, maxRunes int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return Errorf(ErrInvalid, "missing_"+field, "%s is required", field)
	}
	if !utf8.ValidString(v) {
		return Errorf(ErrInvalid, "bad_"+field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(v); n > maxRunes {
		return Errorf(ErrInvalid, "bad_"+field, "%s is too long (%d characters, at most %d)", field, n, maxRunes)
	}
	for _, r := range v {
		if unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029' {
			return Errorf(ErrInvalid, "bad_"+field, "%s contains a control or bidirectional formatting character (U+%04X)", field, r)
		}
	}
	return nil
}

func checkText(field, v string, maxRunes int, required bool) error {
	return CheckText(field, v, maxRunes, required)
}

// isBidiControl reports the Unicode bidirectional formatting characters
// (UAX #9: embeddings, overrides, isolates, marks).
func isBidiControl(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}

// BodyFileName is the file `npes read --out DIR` writes the body to; no
// attachment may be named like it.
const BodyFileName = "body.txt"

// MaxAttachmentNameRunes bounds an attachment name (common file systems
// take 255 bytes or UTF-16 units).
const MaxAttachmentNameRunes = 255

// AttachmentName checks an attachment's file name and returns it in NFC
// (Unicode normalization form C, UAX #15), the form it is stored, sealed
// and served in, so that names differing only in normalization are one
// name. The server applies it to every attachment and `npes read --out`
// to every name it receives before it creates a file: a name is safe when
// AttachmentName accepts it and returns it unchanged.
//
// Refused, besides what CheckText refuses: path separators and the
// characters Windows reserves (`/\:*?"<>|`), their look-alikes (U+2215
// DIVISION SLASH, U+2024 ONE DOT LEADER, fullwidth forms …), invisible
// characters (zero-width, other format characters, spaces other than
// U+0020, private use), leading dots, leading or trailing spaces and
// trailing dots (Windows drops them: "a.pdf." opens "a.pdf"), Windows
// device names (CON, NUL, COM1 …, with any extension), and BodyFileName in
// any case.
func AttachmentName(name string) (string, error) {
	if err := CheckText("attachment_name", name, MaxAttachmentNameRunes, true); err != nil {
		return "", err
	}
	n := norm.NFC.String(name)
	bad := func(why string) (string, error) {
		return "", Errorf(ErrInvalid, "bad_attachment_name", "attachment name %q is not a plain file name: %s", n, why)
	}
	if len(n) > 4*MaxAttachmentNameRunes {
		return bad("too long")
	}
	switch {
	case strings.HasPrefix(n, "."):
		return bad("it starts with a dot")
	case strings.HasPrefix(n, " "), strings.HasSuffix(n, " "), strings.HasSuffix(n, "."):
		return bad("it starts or ends with a space, or ends with a dot")
	}
	for _, r := range n {
		if why := fileNameRune(r); why != "" {
			return bad(why)
		}
	}
	stem, _, _ := strings.Cut(n, ".")
	if windowsDevice(stem) {
		return bad("it is a device name on Windows")
	}
	if strings.EqualFold(n, BodyFileName) {
		return "", Errorf(ErrInvalid, "reserved_attachment_name", "an attachment cannot be named %q: that is the body's file", n)
	}
	return n, nil
}

// SameFileName reports whether two attachment names (as AttachmentName
// returns them) would name one file on a case-insensitive file system.
func SameFileName(a, b string) bool {
	return strings.EqualFold(a, b)
}

// fileNameRune says why r cannot be in a file name ("" if it can).
func fileNameRune(r rune) string {
	switch {
	case strings.ContainsRune(`/\:*?"<>|`, r):
		return "it contains a path separator or a character Windows reserves"
	case r == ' ':
		return ""
	case unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r), unicode.IsSpace(r), unicode.Is(unicode.Zs, r),
		r == '\u115F', r == '\u1160', r == '\u3164', r == '\uFFA0': // Hangul fillers render as nothing
		return "it contains an invisible character"
	case separatorLookalike[r]:
		return "it contains a look-alike of a separator"
	}
	// Compatibility forms of the separators and of the dot (fullwidth
	// solidus U+FF0F, small full stop U+FE52, "⒈" …).
	if r > unicode.MaxASCII {
		if k := norm.NFKC.String(string(r)); strings.ContainsAny(k, `/\:*?"<>|.`) {
			return "it contains a look-alike of a separator"
		}
	}
	return ""
}

// separatorLookalike lists characters that look like a slash, backslash,
// dot or colon and that NFKC does not map to one (Unicode confusables,
// UTS #39).
var separatorLookalike = map[rune]bool{
	'\u2215': true, // DIVISION SLASH
	'\u2044': true, // FRACTION SLASH
	'\u29F8': true, // BIG SOLIDUS
	'\u2571': true, // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
	'\u27CB': true, // MATHEMATICAL RISING DIAGONAL
	'\u3033': true, // VERTICAL KANA REPEAT MARK UPPER HALF
	'\u2216': true, // SET MINUS
	'\u29F5': true, // REVERSE SOLIDUS OPERATOR
	'\u29F9': true, // BIG REVERSE SOLIDUS
	'\u2572': true, // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
	'\u27CD': true, // MATHEMATICAL FALLING DIAGONAL
	'\u2024': true, // ONE DOT LEADER (NFKC maps it, listed for clarity)
	'\u0701': true, // SYRIAC SUPRALINEAR FULL STOP
	'\u0702': true, // SYRIAC SUBLINEAR FULL STOP
	'\uA4F8': true, // LISU LETTER TONE MYA TI
	'\uA60E': true, // VAI FULL STOP
	'\u10FB': true, // GEORGIAN PARAGRAPH SEPARATOR
	'\u2236': true, // RATIO
	'\u0589': true, // ARMENIAN FULL STOP
	'\u05C3': true, // HEBREW PUNCTUATION SOF PASUQ
	'\u02D0': true, // MODIFIER LETTER TRIANGULAR COLON
	'\uA789': true, // MODIFIER LETTER COLON
	'\u16EC': true, // RUNIC MULTIPLE PUNCTUATION
	'\uFE30': true, // PRESENTATION FORM FOR VERTICAL TWO DOT LEADER
	'\u0703': true, // SYRIAC SUPRALINEAR COLON
	'\u0704': true, // SYRIAC SUBLINEAR COLON
	'\u0F0D': true, // TIBETAN MARK SHAD (a vertical stroke, like |)
	'\u2223': true, // DIVIDES
	'\u01C0': true, // LATIN LETTER DENTAL CLICK (|)
	'\u2039': true, // SINGLE LEFT-POINTING ANGLE QUOTATION MARK (<)
	'\u203A': true, // SINGLE RIGHT-POINTING ANGLE QUOTATION MARK (>)
}

// windowsDevice reports the names Windows reserves for devices, whatever
// the extension ("nul.txt" is the null device too).
func windowsDevice(stem string) bool {
	s := strings.ToUpper(strings.TrimRight(stem, " "))
	switch s {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(s) == 4 && (strings.HasPrefix(s, "COM") || strings.HasPrefix(s, "LPT")) && s[3] >= '0' && s[3] <= '9' {
		return true
	}
	// COM¹, LPT² … are devices too.
	if strings.HasPrefix(s, "COM") || strings.HasPrefix(s, "LPT") {
		switch s[3:] {
		case "¹", "²", "³":
			return true
		}
	}
	return false
}
