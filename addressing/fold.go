package addressing

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file builds the spelling-independent skeleton of names that the match
// key, the region and city lookups and the recipient-name matcher compare.
//
// The same place or person is written in Russian, in Belarusian and in several
// Latin transliterations (BGN/PCGN, ICAO passport style, the Belarusian
// national romanization of 2007, Łacinka). Rather than pick one direction of
// transliteration, both Cyrillic and Latin are mapped into one lossy ASCII
// alphabet and the differences that matter least for identity are folded
// away:
//
//   - case, ё/е/э, і/и/ы/й, ў/в, ь/ъ and apostrophes;
//   - akanie and yakanie (unstressed о written а, е written я in Belarusian:
//     Савецкая/Советская, Зялёная/Зелёная): о→a, and i+vowel pairs (я, ю, ё,
//     "ya", "iu", "ie") collapse onto the vowel;
//   - dzekanie and tsekanie (Belarusian дз/ц for Russian д/т:
//     Дзяржынскага/Дзержинского, Віцебск/Витебск): dz→d, ts→t;
//   - doubled letters (Кассовая/Kasovaya).
//
// The fold is deliberately lossy: two different names may share a skeleton
// (Ленина/Лянина). That is acceptable because a skeleton never identifies a
// delivery point on its own; the match key also carries the region, the
// house, building and unit, and routing additionally requires the holder's
// name to match.

// foldAppend appends the skeleton of s to dst. Words are separated by one
// space; characters that are neither letters nor digits separate words, except
// apostrophes and combining marks, which are dropped.
func foldAppend(dst []byte, s string) []byte {
	start := len(dst)
	space := true // suppress leading and repeated spaces
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r < utf8.RuneSelf && (r >= '0' && r <= '9'):
			dst = append(dst, byte(r))
			space = false
		case isApostrophe(r) || unicode.Is(unicode.Mn, r):
			// Belarusian apostrophe (сям'я), stress marks: no separator.
		case isLetter(r):
			r = toLower(r)
			if r < utf8.RuneSelf {
				var next rune
				if i < len(s) {
					next, _ = utf8.DecodeRuneInString(s[i:])
					next = toLower(next)
				}
				var prev byte
				if len(dst) > start {
					prev = dst[len(dst)-1]
				}
				dst = appendLatin(dst, byte(r), prev, next)
			} else if m, ok := cyrFold(r); ok {
				dst = append(dst, m...)
			} else if m, ok := latinExtFold(r); ok {
				dst = append(dst, m...)
			} else {
				// Another script: keep the letter so that unrelated inputs
				// do not collapse onto the same skeleton.
				dst = utf8.AppendRune(dst, r)
			}
			space = false
		default:
			if !space {
				dst = append(dst, ' ')
				space = true
			}
		}
	}
	if len(dst) > start && dst[len(dst)-1] == ' ' {
		dst = dst[:len(dst)-1]
	}
	return append(dst[:start], postFold(dst[start:])...)
}

// fold returns the skeleton of s.
func fold(s string) string {
	var buf [64]byte
	return string(foldAppend(buf[:0], s))
}

func isApostrophe(r rune) bool {
	switch r {
	case '\'', '’', 'ʼ', '‘', '`', 'ʻ', '´':
		return true
	}
	return false
}

// appendLatin maps one lower-case ASCII letter of a Latin transliteration
// onto the skeleton alphabet. prev is the previous skeleton byte (or 0) and
// next the following rune, so digraphs (ch, sh, zh, kh) survive.
func appendLatin(dst []byte, c, prev byte, next rune) []byte {
	switch c {
	case 'y', 'j':
		return append(dst, 'i')
	case 'w':
		return append(dst, 'v')
	case 'q':
		return append(dst, 'k')
	case 'x':
		return append(dst, 'k', 's')
	case 'c':
		if next == 'h' {
			return append(dst, 'c') // "ch" = ч
		}
		return append(dst, 't', 's') // Belarusian Latin c = ц
	case 'h':
		switch prev {
		case 'k', 'z', 'c', 's':
			return append(dst, 'h') // second letter of kh, zh, ch, sh
		}
		return append(dst, 'g') // Belarusian Latin h = г (Homiel, Hrodna)
	}
	return append(dst, c)
}

// cyrFold maps a lower-case Cyrillic letter (Russian, Belarusian, and the
// Ukrainian letters people sometimes type instead) onto the skeleton alphabet.
func cyrFold(r rune) (string, bool) {
	if r >= 'а' && r <= 'я' {
		return cyrTable[r-'а'], true
	}
	switch r {
	case 'ё', 'є', 'э':
		return "e", true
	case 'і', 'ї':
		return "i", true
	case 'ў':
		return "v", true
	case 'ґ':
		return "g", true
	}
	return "", false
}

var cyrTable = [32]string{
	"a", "b", "v", "g", "d", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p",
	"r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "i", "", "e", "iu", "ia",
}

// latinExtFold maps the diacritic letters of Belarusian Latin and Łacinka and
// common accented letters.
func latinExtFold(r rune) (string, bool) {
	switch r {
	case 'č':
		return "ch", true
	case 'š':
		return "sh", true
	case 'ž':
		return "zh", true
	case 'ŭ':
		return "v", true
	case 'ć':
		return "ts", true
	case 'ś':
		return "s", true
	case 'ź':
		return "z", true
	case 'ń':
		return "n", true
	case 'ł', 'ĺ', 'ľ':
		return "l", true
	case 'á', 'à', 'â', 'ä', 'ą':
		return "a", true
	case 'é', 'è', 'ê', 'ë', 'ę', 'ě':
		return "e", true
	case 'í', 'ì', 'î', 'ï', 'ý', 'ÿ':
		return "i", true
	case 'ó', 'ò', 'ô', 'ö':
		return "o", true
	case 'ú', 'ù', 'û', 'ü', 'ů':
		return "u", true
	case 'ř':
		return "r", true
	}
	return "", false
}

// postFold applies the phonetic folds to an ASCII skeleton in place and
// returns the shortened slice. The order matters and is part of the match
// key's definition: changing it changes stored keys.
func postFold(b []byte) []byte {
	// 1. akanie: o → a.
	for i, c := range b {
		if c == 'o' {
			b[i] = 'a'
		}
	}
	// 2. dzekanie/tsekanie: dz → d, ts → t.
	w := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if (c == 'd' && i+1 < len(b) && b[i+1] == 'z') || (c == 't' && i+1 < len(b) && b[i+1] == 's') {
			b[w] = c
			w++
			i++
			continue
		}
		b[w] = c
		w++
	}
	b = collapseDoubles(b[:w])
	// 3. i + vowel (я, ю, ё, ya, yu, ie) → the vowel; ia, ie → e; iu → u.
	w = 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 'i' && i+1 < len(b) {
			switch b[i+1] {
			case 'a', 'e':
				b[w] = 'e'
				w++
				i++
				continue
			case 'u':
				b[w] = 'u'
				w++
				i++
				continue
			}
		}
		b[w] = c
		w++
	}
	return collapseDoubles(b[:w])
}

// collapseDoubles removes repeated letters (not digits: house 11 is not 1).
func collapseDoubles(b []byte) []byte {
	w := 0
	for i, c := range b {
		if i > 0 && c == b[i-1] && c >= 'a' && c <= 'z' {
			continue
		}
		b[w] = c
		w++
	}
	return b[:w]
}

// NameKey returns a normalized, spelling-independent key for a name: case,
// ё/е, Belarusian і/ў, Latin look-alike letters and Latin transliteration are
// folded, punctuation and quotes are dropped. NameKey("Першамайская") and
// NameKey("Pervomayskaya") differ (they are different words), but
// NameKey("Дзяржынскага") == NameKey("Dzerzhinskogo"). It is meant for
// indexes and comparisons, not for display.
func NameKey(s string) string {
	return fold(fixLookalikes(s))
}

// fixLookalikes replaces Latin letters that look like Cyrillic ones inside
// words that are otherwise Cyrillic ("Ленiна" typed with a Latin i). Words
// that are entirely Latin are left alone: they are transliterations.
func fixLookalikes(s string) string {
	if !hasMixedWord(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		i := 0
		for i < len(s) {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !isLetter(r) {
				break
			}
			i += n
		}
		if w := s[:i]; hasCyrillic(w) && hasLatin(w) {
			for _, r := range w {
				b.WriteRune(lookalikeToCyrillic(r))
			}
		} else {
			b.WriteString(w)
		}
		if i == len(s) {
			break
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		b.WriteString(s[i : i+n])
		s = s[i+n:]
	}
	return b.String()
}

// hasMixedWord reports whether some word of s mixes Cyrillic and Latin letters.
func hasMixedWord(s string) bool {
	cyr, lat := false, false
	for _, r := range s {
		switch {
		case isCyrillic(r):
			cyr = true
		case isLatinLetter(r):
			lat = true
		case !isLetter(r):
			cyr, lat = false, false
		}
		if cyr && lat {
			return true
		}
	}
	return false
}

func hasCyrillic(s string) bool {
	for _, r := range s {
		if isCyrillic(r) {
			return true
		}
	}
	return false
}

func hasLatin(s string) bool {
	for _, r := range s {
		if isLatinLetter(r) {
			return true
		}
	}
	return false
}

func isCyrillic(r rune) bool { return r >= 0x400 && r <= 0x4ff }

// toLower is unicode.ToLower with fast paths for ASCII and Russian.
func toLower(r rune) rune {
	switch {
	case r >= 'A' && r <= 'Z':
		return r + 'a' - 'A'
	case r < 0x80, r >= 'а' && r <= 'я':
		return r
	case r >= 'А' && r <= 'Я':
		return r + 'а' - 'А'
	}
	return unicode.ToLower(r)
}

// isLetter is unicode.IsLetter with fast paths for the scripts addresses
// are written in.
func isLetter(r rune) bool {
	switch {
	case r < 0x80:
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	case r >= 0x400 && r <= 0x481, r >= 0x48a && r <= 0x4ff:
		return true
	}
	return unicode.IsLetter(r)
}

func isLatinLetter(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= 0xc0 && r <= 0x24f && r != 0xd7 && r != 0xf7)
}

// lookalikeToCyrillic maps a Latin letter that is visually identical to a
// Cyrillic one; i maps to the Belarusian і.
func lookalikeToCyrillic(r rune) rune {
	switch r {
	case 'a':
		return 'а'
	case 'A':
		return 'А'
	case 'B':
		return 'В'
	case 'c':
		return 'с'
	case 'C':
		return 'С'
	case 'e':
		return 'е'
	case 'E':
		return 'Е'
	case 'H':
		return 'Н'
	case 'i':
		return 'і'
	case 'I':
		return 'І'
	case 'K':
		return 'К'
	case 'k':
		return 'к'
	case 'M':
		return 'М'
	case 'o':
		return 'о'
	case 'O':
		return 'О'
	case 'p':
		return 'р'
	case 'P':
		return 'Р'
	case 'T':
		return 'Т'
	case 'x':
		return 'х'
	case 'X':
		return 'Х'
	case 'y':
		return 'у'
	case 'Y':
		return 'У'
	case 'b':
		return 'б'
	}
	return r
}
