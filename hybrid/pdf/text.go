package pdf

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// replacementRune is drawn for a character the fonts cannot draw, so the
// loss is visible on paper instead of silently dropped (both Go fonts have
// U+25A1 WHITE SQUARE; NewRenderer checks).
const replacementRune = '□'

// textKind selects how sanitize treats line structure.
type textKind int

const (
	// singleLine is for names, address lines, the return line and the
	// subject: line breaks and tabs become spaces, runs of spaces collapse.
	singleLine textKind = iota
	// multiLine is for the body and text attachments: line breaks stay,
	// a tab becomes four spaces.
	multiLine
)

// sanitizer turns arbitrary sender text into text the fonts can draw and
// the layout can measure. gofpdf has no bidi algorithm or shaping, draws
// every rune it is given, and panics on runes above U+FFFF in SplitText
// (DESIGN §10), so everything outside what the fonts cover is dealt with
// here, before layout.
type sanitizer struct {
	cov     *coverage
	compose map[[2]rune]rune
}

// clean returns s sanitized and the number of characters replaced by
// replacementRune. Removed invisible characters are not counted: they were
// invisible before as well.
func (z *sanitizer) clean(s string, kind textKind) (string, int) {
	out := make([]rune, 0, len(s))
	replaced := 0
	prevCR := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			// Invalid UTF-8 byte: the sender's text is damaged here.
			out = append(out, replacementRune)
			replaced++
			prevCR = false
			continue
		}
		if r == '\n' && prevCR {
			prevCR = false
			continue // \r\n is one line break
		}
		prevCR = r == '\r'
		// Fast path: printable ASCII, and drawable runes that are neither
		// C1 controls nor the soft hyphen (the only format character the
		// fonts have). The fonts have no combining marks, spaces other
		// than U+0020/U+00A0, or the characters mapped below.
		if r > 0x1F && r < 0x7F || r >= 0xA0 && r != 0xAD && z.cov.has(r) {
			out = append(out, r)
			continue
		}
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			if kind == multiLine {
				out = append(out, '\n')
			} else {
				out = append(out, ' ')
			}
		case r == '\t':
			if kind == multiLine {
				out = append(out, ' ', ' ', ' ', ' ')
			} else {
				out = append(out, ' ')
			}
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
			// Controls and format characters: bidi embeddings, overrides
			// and isolates (U+202A–202E, U+2066–2069), marks (U+200E/F,
			// U+061C), zero-width characters (U+200B–200D, U+2060, U+FEFF),
			// soft hyphen, tags. Without a bidi algorithm they can only
			// mislead: a right-to-left override could make the printed
			// text read differently from the text the evidence records.
		case r == '\u202F' || r == '\u2007':
			out = append(out, '\u00A0') // narrow and figure no-break spaces keep the no-break
		case unicode.Is(unicode.Zs, r) && r != ' ' && r != '\u00A0':
			out = append(out, ' ')
		case r == '\u2010' || r == '\u2011':
			out = append(out, '-') // hyphen, non-breaking hyphen: the fonts lack them
		case r == '\u2012':
			out = append(out, '\u2013') // figure dash → en dash
		case unicode.In(r, unicode.Mn, unicode.Me):
			// A combining mark: compose it with its base where the fonts
			// have the precomposed letter (decomposed й, ў, ё, č, ą ...).
			// The fonts have no combining marks of their own.
			if n := len(out); n > 0 {
				if c, ok := z.compose[[2]rune{out[n-1], r}]; ok {
					out[n-1] = c
					continue
				}
				// A stress mark over a Cyrillic vowel has no precomposed
				// form and is optional in Russian and Belarusian spelling.
				if r == '\u0301' && unicode.Is(unicode.Cyrillic, out[n-1]) {
					continue
				}
			}
			if z.cov.has(r) {
				out = append(out, r)
			} else {
				out = append(out, replacementRune)
				replaced++
			}
		case z.cov.has(r):
			out = append(out, r)
		default:
			// Unassigned, private use, supplementary planes (above
			// U+FFFF) and scripts outside WGL4.
			out = append(out, replacementRune)
			replaced++
		}
	}
	res := string(out)
	if kind == singleLine {
		res = strings.Join(strings.FieldsFunc(res, func(r rune) bool { return r == ' ' }), " ")
	}
	return res, replaced
}

// composeTable lists the canonical compositions (Unicode NFC) whose result
// the Go fonts cover: per combining mark, pairs of base and precomposed
// letter. Generated once with Python's unicodedata over the fonts' cmap;
// the x/text normalization tables are not a dependency of npes.
func composeTable() map[[2]rune]rune {
	table := []struct {
		mark  rune
		pairs string
	}{
		{'\u0300', "AÀEÈIÌOÒUÙaàeèiìoòuùÜǛüǜЕЀИЍеѐиѝWẀwẁYỲyỳ"},
		{'\u0301', "AÁEÉIÍOÓUÚYÝaáeéiíoóuúyýCĆcćLĹlĺNŃnńRŔrŕSŚsśZŹzźÜǗüǘÅǺåǻÆǼæǽØǾøǿ¨΅ΑΆΕΈΗΉΙΊΟΌΥΎΩΏϊΐαάεέηήιίϋΰοόυύωώГЃКЌгѓкќWẂwẃ"},
		{'\u0302', "AÂEÊIÎOÔUÛaâeêiîoôuûCĈcĉGĜgĝHĤhĥJĴjĵSŜsŝWŴwŵYŶyŷ"},
		{'\u0303', "AÃNÑOÕaãnñoõIĨiĩUŨuũ"},
		{'\u0304', "AĀaāEĒeēIĪiīOŌoōUŪuūÜǕüǖ"},
		{'\u0306', "AĂaăEĔeĕGĞgğIĬiĭOŎoŏUŬuŭУЎИЙийуў"},
		{'\u0307', "CĊcċEĖeėGĠgġIİZŻzż"},
		{'\u0308', "AÄEËIÏOÖUÜaäeëiïoöuüyÿYŸΙΪΥΫιϊυϋЕЁІЇеёіїWẄwẅ"},
		{'\u030A', "AÅaåUŮuů"},
		{'\u030B', "OŐoőUŰuű"},
		{'\u030C', "CČcčDĎdďEĚeěLĽlľNŇnňRŘrřSŠsšTŤtťZŽzžAǍaǎIǏiǐOǑoǒUǓuǔÜǙüǚ"},
		{'\u0326', "SȘsșTȚtț"},
		{'\u0327', "CÇcçGĢgģKĶkķLĻlļNŅnņRŖrŗSŞsşTŢtţ"},
		{'\u0328', "AĄaąEĘeęIĮiįUŲuų"},
	}
	m := make(map[[2]rune]rune, 240)
	for _, t := range table {
		rs := []rune(t.pairs)
		for i := 0; i+1 < len(rs); i += 2 {
			m[[2]rune{rs[i], t.mark}] = rs[i+1]
		}
	}
	return m
}

// advances are the advance widths of one font face in glyph units (1/1000
// em), rune by rune, exactly as gofpdf's GetStringSymbolWidth sums them.
// gofpdf applies no kerning, so widths are additive: a string's width is
// the sum of its runes', and layout measures text without calling into
// gofpdf (whose every call converts the whole string to runes).
type advances struct {
	bmp   []int32 // U+0000..U+FFFF
	above int     // any rune above U+FFFF (the sanitizer replaces them before layout)
}

// fontAdvances reads the advance widths of every face from a document
// with the fonts loaded.
func fontAdvances(faces []fontFace) map[string]*advances {
	f := newGofpdf()
	for _, fc := range faces {
		f.AddUTF8FontFromBytes(fontFamily, fc.style, bytes.Clone(fc.ttf))
	}
	out := make(map[string]*advances, len(faces))
	for _, fc := range faces {
		f.SetFont(fontFamily, fc.style, bodySize)
		a := &advances{bmp: make([]int32, 0x10000)}
		for r := range a.bmp {
			a.bmp[r] = int32(f.GetStringSymbolWidth(string(rune(r))))
		}
		// U+10000 itself indexes one past gofpdf's width table (DESIGN
		// §10); every rune above it gets the font's missing width.
		a.above = f.GetStringSymbolWidth(string(rune(0x10001)))
		out[fc.style] = a
	}
	return out
}

func (a *advances) rune(r rune) int {
	if r >= 0 && int(r) < len(a.bmp) {
		return int(a.bmp[r])
	}
	return a.above
}

// metric measures text set in one face at one size.
type metric struct {
	units func(rune) int // advance of a rune, in glyph units
	size  float64        // font size in user units (mm), as gofpdf's GetFontSize reports it
}

// runes returns the advance of s in glyph units. Invalid UTF-8 counts as
// U+FFFD, as in gofpdf's []rune conversion.
func (m metric) runes(s string) int {
	n := 0
	for _, r := range s {
		n += m.units(r)
	}
	return n
}

// width converts glyph units to millimetres with gofpdf's own expression
// (GetStringWidth), so a measured line is exactly as wide as gofpdf says.
func (m metric) width(units int) float64 { return float64(units) * m.size / 1000 }

// measure returns the width of s in millimetres.
func (m metric) measure(s string) float64 { return m.width(m.runes(s)) }

// wrap breaks text into lines no wider than width, as measured by m.
// Paragraphs are separated by '\n'; an empty paragraph is an empty line.
// Lines break at spaces; a word wider than a line is broken between
// characters. U+00A0 never breaks.
//
// It runs in time linear in the length of text: every rune is measured a
// bounded number of times, and the rest of a long word being broken is
// never measured again (its width is the word's less the cut head's, in
// exact integer glyph units). A 1 MiB body without a space used to take
// tens of seconds, re-measuring the rest of the word for every line.
func wrap(text string, width float64, m metric) []string {
	var lines []string
	spaceW := m.measure(" ")
	for para := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(para) == "" {
			lines = append(lines, "")
			continue
		}
		body := strings.TrimLeft(para, " ")
		indent := para[:len(para)-len(body)]
		var line strings.Builder
		lineW := m.measure(indent)
		if lineW > width/2 {
			indent, lineW = "", 0 // absurd indentation would leave no room for text
		}
		line.WriteString(indent)
		empty := true // no word on the line yet
		emit := func() {
			lines = append(lines, strings.TrimRight(line.String(), " "))
			line.Reset()
			lineW = 0
			empty = true
		}
		for w := range strings.SplitSeq(body, " ") {
			wu := m.runes(w)
			ww := m.width(wu)
			if !empty {
				// An empty w is the second of two spaces: it widens the
				// gap, as the sender typed it.
				if lineW+spaceW+ww <= width {
					line.WriteByte(' ')
					line.WriteString(w)
					lineW += spaceW + ww
					continue
				}
				emit()
			}
			if w == "" {
				continue // no leading spaces on a continuation line
			}
			for lineW+ww > width {
				head, rest, hu := splitToWidth(w, width-lineW, m)
				line.WriteString(head)
				emit()
				w, wu = rest, wu-hu
				ww = m.width(wu)
			}
			if w == "" {
				continue
			}
			line.WriteString(w)
			lineW += ww
			empty = false
		}
		if !empty {
			emit()
		}
	}
	return lines
}

// splitToWidth returns the longest prefix of w (at least one rune) no
// wider than width, the rest, and the prefix's advance in glyph units. It
// reads only the prefix and one rune more.
func splitToWidth(w string, width float64, m metric) (head, rest string, units int) {
	acc := 0
	for i, r := range w {
		cu := m.units(r)
		if m.width(acc+cu) > width && i > 0 {
			return w[:i], w[i:], acc
		}
		acc += cu
	}
	return w, "", acc
}
