package addressing

import (
	"unicode"
	"unicode/utf8"
)

// MaxAddressLen bounds the input of Parse in bytes. A postal address fits on
// an envelope's address block (UPU S42 allows six lines of at most 50
// characters); the limit leaves room for notes and keeps the parser's cost
// bounded for hostile input.
const MaxAddressLen = 1024

type tokKind uint8

const (
	tokWord  tokKind = iota + 1
	tokNum           // starts with a digit: 8, 26а, 13/1, 48-54, 4-ый
	tokSep           // , ; : or a line break
	tokNote          // a parenthesised or bracketed remark, brackets included
	tokQuote         // « » " “ ” „
)

// token is one lexical unit: the bytes [start, end) of the normalized
// input. Its display form is normalized.text[start:end] (Latin look-alike
// letters inside Cyrillic words already replaced); normalized.low[start:end]
// is the same lower-cased with ё folded to е, for vocabulary lookups. The
// struct is kept small: Parse allocates one per word.
type token struct {
	start, end int32
	mk         marker // vocabulary class of a word
	letters    uint16 // letters in a word
	kind       tokKind
	dot        bool
	ordinal    bool // a number with an ordinal ending: 4-ый, 1st
}

// normalized is the cleaned input: display text and its lower-cased twin of
// the same byte length, so that token offsets index both.
type normalized struct {
	text, low string
	// cyr and lat count Cyrillic and Latin letters of the input; be and ru
	// count letters that exist in only one of the two languages.
	cyr, lat, be, ru int
}

// normalize cleans the raw input rune by rune: line separators become '\n',
// other spaces ' ', dashes '-', format characters (zero-width, bidi
// controls, soft hyphen) disappear, combining breve and diaeresis are
// composed (и+◌̆ = й, у+◌̆ = ў, е+◌̈ = ё), other combining marks (stress) are
// dropped, and the escapes \n, \r, \t of exported data become separators.
// Then Latin look-alikes inside Cyrillic words are replaced.
func normalize(raw string) normalized {
	var n normalized
	buf := make([]byte, 0, len(raw)+8)
	lastStart := -1 // start of the last written rune, for composition
	// A word mixing Cyrillic and Latin letters needs look-alike repair.
	wordCyr, wordLat, mixed := false, false, false
	for i := 0; i < len(raw); {
		// Fast path: printable ASCII and Cyrillic letters are copied as they
		// are; only other runes go through the Unicode tables.
		if c := raw[i]; c >= 0x20 && c < 0x7f && c != '\\' {
			if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
				n.lat++
				wordLat = true
				mixed = mixed || wordCyr
			} else {
				wordCyr, wordLat = false, false
			}
			lastStart = len(buf)
			buf = append(buf, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(raw[i:])
		i += size
		if r >= 0x400 && r <= 0x481 || r >= 0x48a && r <= 0x4ff {
			n.cyr++
			switch r {
			case 'і', 'І', 'ў', 'Ў':
				n.be++
			case 'и', 'И', 'щ', 'Щ', 'ъ', 'Ъ':
				n.ru++
			}
			wordCyr = true
			mixed = mixed || wordLat
			lastStart = len(buf)
			buf = append(buf, raw[i-size:i]...)
			continue
		}
		switch {
		case r == '\\' && i < len(raw) && (raw[i] == 'n' || raw[i] == 'r' || raw[i] == 't'):
			i++
			buf = append(buf, '\n')
			lastStart, wordCyr, wordLat = -1, false, false
			continue
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\v' || r == '\f':
			buf = append(buf, '\n')
			lastStart, wordCyr, wordLat = -1, false, false
			continue
		case r == '\u0306' || r == '\u0308':
			if lastStart >= 0 {
				prev, _ := utf8.DecodeRune(buf[lastStart:])
				if c := compose(prev, r); c != prev {
					buf = utf8.AppendRune(buf[:lastStart], c)
				}
			}
			continue
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r):
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			buf = append(buf, ' ')
			lastStart, wordCyr, wordLat = -1, false, false
			continue
		case unicode.Is(unicode.Pd, r) || r == '\u2212':
			r = '-'
		case r >= '\uff10' && r <= '\uff19':
			r = '0' + (r - '\uff10')
		}
		switch {
		case isLatinLetter(r):
			n.lat++
			wordLat = true
			mixed = mixed || wordCyr
		case !isLetter(r):
			wordCyr, wordLat = false, false
		}
		lastStart = len(buf)
		buf = utf8.AppendRune(buf, r)
	}
	if mixed {
		buf = []byte(fixLookalikes(string(buf)))
	}
	n.text = string(buf)
	for i := 0; i < len(buf); {
		c := buf[i]
		if c < utf8.RuneSelf {
			if c >= 'A' && c <= 'Z' {
				buf[i] = c + 'a' - 'A'
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(buf[i:])
		var l rune
		switch {
		case r >= 'А' && r <= 'Я':
			l = r + 'а' - 'А'
		case r == 'Ё' || r == 'ё':
			l = 'е'
		case r >= 'а' && r <= 'я':
			l = r
		default:
			l = unicode.ToLower(r)
		}
		if l != r && utf8.RuneLen(l) == size {
			utf8.EncodeRune(buf[i:], l)
		}
		i += size
	}
	n.low = string(buf)
	return n
}

func compose(base, mark rune) rune {
	switch mark {
	case '\u0306':
		switch base {
		case 'и':
			return 'й'
		case 'И':
			return 'Й'
		case 'у':
			return 'ў'
		case 'У':
			return 'Ў'
		}
	case '\u0308':
		switch base {
		case 'е':
			return 'ё'
		case 'Е':
			return 'Ё'
		case 'і':
			return 'ї'
		}
	}
	return base
}

func isQuote(r rune) bool {
	switch r {
	case '"', '«', '»', '“', '”', '„', '‟', '‹', '›', '\'', '‘', '’', '`':
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// tokenize splits the normalized input (text and its lower-cased twin low)
// into tokens, appending to dst.
func tokenize(dst []token, s, low string) []token {
	last := func() *token {
		if len(dst) == 0 {
			return nil
		}
		return &dst[len(dst)-1]
	}
	sep := func(at int) {
		if t := last(); t != nil && t.kind != tokSep {
			dst = append(dst, token{kind: tokSep, start: int32(at), end: int32(at)})
		}
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == ' ':
			i++
		case r == '\n' || r == ',' || r == ';' || r == ':':
			sep(i)
			i++
		case r == '.':
			if t := last(); t != nil && (t.kind == tokWord || t.kind == tokNum) && !t.dot && int(t.end) == i {
				t.dot = true
			}
			i++
		case r == '(' || r == '[':
			j := closeBracket(s, i)
			dst = append(dst, token{kind: tokNote, start: int32(i), end: int32(j)})
			i = j
		case r == '-' || r == '/':
			// "48 - 54", "13 / 1": join the numbers; otherwise a dash
			// separates ("г. Минск - ул. Ленина") and a slash is ignored.
			t := last()
			j := skipSpaces(s, i+1)
			if t != nil && t.kind == tokNum && !t.ordinal && j < len(s) && isDigit(s[j]) {
				k := scanNumber(s, j)
				t.end = int32(k)
				t.ordinal = isOrdinal(low[t.start:k])
				i = k
				continue
			}
			if r == '-' {
				sep(i)
			}
			i++
		case isQuote(r):
			dst = append(dst, token{kind: tokQuote, start: int32(i), end: int32(i + size)})
			i += size
		case r < utf8.RuneSelf && isDigit(byte(r)):
			j := scanNumber(s, i)
			t := token{kind: tokNum, start: int32(i), end: int32(j)}
			t.ordinal = isOrdinal(low[i:j])
			dst = append(dst, t)
			i = j
		case isLetter(r):
			j, letters := scanWord(s, i)
			t := token{kind: tokWord, start: int32(i), end: int32(j), letters: uint16(min(letters, 0xffff))}
			t.mk = lookupMarker(low[i:j])
			dst = append(dst, t)
			i = j
		default:
			// № # * and other symbols separate tokens and carry nothing.
			i += size
		}
	}
	return dst
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// closeBracket returns the offset after the bracket that closes the one at
// i, or the end of s when it is never closed.
func closeBracket(s string, i int) int {
	depth := 0
	for j := i; j < len(s); j++ {
		switch s[j] {
		case '(', '[':
			depth++
		case ')', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(s)
}

// scanNumber reads a token that starts with a digit: digits and letters,
// with '/' and '-' inside when followed by a digit or letter (13/1, 26а,
// 48/а-66, 4-ый, 24к2).
func scanNumber(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r < utf8.RuneSelf && isDigit(byte(r)):
		case isLetter(r):
		case (r == '/' || r == '-') && i+1 < len(s):
			next, _ := utf8.DecodeRuneInString(s[i+1:])
			if !(next < utf8.RuneSelf && isDigit(byte(next))) && !isLetter(next) {
				return i
			}
		default:
			return i
		}
		i += size
	}
	return i
}

// scanWord reads a word: letters, with apostrophes and hyphens inside
// (сям'я, пр-т, Буда-Кошелево) and slashes between short letter groups
// (с/с, а/г, г/п). It stops before a digit, so "кв12" is "кв" then "12".
func scanWord(s string, i int) (end, letters int) {
	group := 0 // letters since the last '/'
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case isLetter(r):
			letters++
			group++
		case (r == '-' || r == '/' || isApostrophe(r)) && i+size < len(s):
			next, _ := utf8.DecodeRuneInString(s[i+size:])
			if !isLetter(next) {
				return i, letters
			}
			if r == '/' {
				if group > 3 || shortGroup(s[i+size:]) > 3 {
					return i, letters
				}
				group = 0
			}
		default:
			return i, letters
		}
		i += size
	}
	return i, letters
}

// shortGroup counts the letters at the start of s.
func shortGroup(s string) int {
	n := 0
	for _, r := range s {
		if !isLetter(r) {
			break
		}
		n++
	}
	return n
}

// isOrdinal reports whether a lower-cased number token is an ordinal
// numeral as used in street names: 4-ый, 4-й, 2-я, 1-го, 3-і (Belarusian),
// 5th.
func isOrdinal(low string) bool {
	i := 0
	for i < len(low) && isDigit(low[i]) {
		i++
	}
	if i == 0 || i == len(low) {
		return false
	}
	hyphen := low[i] == '-'
	if hyphen {
		i++
	}
	switch low[i:] {
	case "ый", "ий", "ой", "й", "го", "ого", "му", "ому", "ая", "th", "st", "nd", "rd":
		return true
	case "я", "е", "ое", "ые", "ы", "і", "ае", "ага", "i", "y", "ya", "iy", "yi":
		return hyphen
	}
	return false
}
