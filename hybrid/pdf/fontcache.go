package pdf

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/sfnt"
)

// Why the font objects come from a per-process cache.
//
// For every document and font, gofpdf's Output re-parses the TTF to cut a
// subset of the used glyphs, and compresses the subset and a 128 KB
// CIDToGIDMap with a freshly allocated zlib writer: about 85 % of the
// time of a one-page letter once the fonts are shared (see fontShare).
// None of that depends on the letter except the set of used characters,
// and gofpdf writes text as Unicode code points (Identity-H, CID = code
// point), so the page content does not depend on the subset at all.
//
// fontCache therefore builds, once per process (each on first use) and
// deterministically, a few fixed subsets per face (subsetTiers) through
// gofpdf's own subsetter, and keeps their font objects (ISO 32000-1 §9.7: Type0 font,
// CIDFontType2 with its widths, ToUnicode CMap, CIDSystemInfo, font
// descriptor, CIDToGIDMap, FontFile2) as templates with the object
// numbers left open. A document whose characters lie within a tier is
// output by gofpdf with its fonts marked as core fonts (a one-line
// placeholder object instead of the subset, see fontShare.markCore) and
// without compression; writeDoc then puts the cached objects in place of
// the placeholders and compresses the page contents with pooled zlib
// writers. A document using a character outside every tier — none the
// sanitizer lets through today, as the largest tier is the fonts' whole
// repertoire — is written by gofpdf's own subsetter as before.
//
// Each face picks the smallest tier that holds its characters, so the
// common Belarusian or Russian letter embeds two subsets of about 21 KB
// each (compressed) instead of gofpdf's per-letter subsets of about 8–14 KB:
// the price of not subsetting per letter (see doc.go, Speed).

// errFastFonts marks a document whose font objects could not be written
// from the cache: the Renderer then renders it again through gofpdf's
// own font output.
var errFastFonts = errors.New("cached font objects cannot be written")

// subsetTier is a fixed repertoire for which each face's subset is built
// once per process.
type subsetTier struct {
	name   string
	ranges [][2]rune // inclusive; runes the fonts lack are skipped
}

// subsetTiers returns the tiers, smallest first.
func subsetTiers() []subsetTier {
	// Belarusian and Russian in Cyrillic (STB 1236, GOST R 7.0.97 letter
	// forms: ё, і, ў), ASCII, and the punctuation of their typography —
	// guillemets, „ “ quotes, en and em dashes, №, ellipsis — and the
	// replacement square the sanitizer prints for what the fonts lack.
	basic := [][2]rune{
		{0x20, 0x7E},
		{0xA0, 0xA0}, {0xA7, 0xA7}, {0xA9, 0xA9}, {0xAB, 0xAB}, {0xB0, 0xB1},
		{0xB7, 0xB7}, {0xBB, 0xBB}, {0xD7, 0xD7},
		{0x401, 0x401}, {0x406, 0x406}, {0x40E, 0x40E}, {0x410, 0x44F},
		{0x451, 0x451}, {0x456, 0x456}, {0x45E, 0x45E},
		{0x2013, 0x2014}, {0x2018, 0x2019}, {0x201C, 0x201E}, {0x2022, 0x2022},
		{0x2026, 0x2026}, {0x20AC, 0x20AC}, {0x2116, 0x2116}, {0x25A1, 0x25A1},
	}
	// European: Latin-1, Latin Extended-A (Polish, Lithuanian, Czech,
	// German names; Belarusian Łacinka), all of Cyrillic in the fonts
	// (Ukrainian ї є ґ), general punctuation.
	european := append([][2]rune{
		{0xA0, 0xFF}, {0x100, 0x17F}, {0x400, 0x45F}, {0x490, 0x491},
		{0x2010, 0x206F}, {0x2122, 0x2122}, {0x2212, 0x2212},
	}, basic...)
	return []subsetTier{
		{name: "basic", ranges: basic},
		{name: "european", ranges: european},
		// Everything the fonts have (WGL4): the sanitizer replaces any
		// other character, so every document fits this tier.
		{name: "wgl4", ranges: [][2]rune{{0x20, 0xFFFF}}},
	}
}

// runeSet is a set of BMP runes.
type runeSet struct {
	bits [0x10000 / 64]uint64
}

func (s *runeSet) add(r int) {
	if r >= 0 && r < 0x10000 {
		s.bits[r/64] |= 1 << (r % 64)
	}
}

func (s *runeSet) has(r int) bool {
	return r >= 0 && r < 0x10000 && s.bits[r/64]&(1<<(r%64)) != 0
}

func (s *runeSet) count() int {
	n := 0
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// objTemplate is a PDF object body whose references to the other objects
// of a cached font are left open: lits[0], slot[0], lits[1], ... lits[n].
type objTemplate struct {
	lits  [][]byte
	slots []int
}

// appendTo appends the body with slot i written as the object number
// num(i).
func (t *objTemplate) appendTo(dst []byte, num func(slot int) int) []byte {
	for i, s := range t.slots {
		dst = append(dst, t.lits[i]...)
		dst = strconv.AppendInt(dst, int64(num(s)), 10)
	}
	return append(dst, t.lits[len(t.lits)-1]...)
}

func (t *objTemplate) size() int {
	n := 8 * len(t.slots)
	for _, l := range t.lits {
		n += len(l)
	}
	return n
}

// cachedFont is one face's font objects for one tier. objs[0] is the
// Type0 font dictionary, written in place of gofpdf's placeholder and
// keeping its object number (slot 0); objs[1:] follow it with fresh
// numbers (slots 1...).
type cachedFont struct {
	objs  []objTemplate
	bytes int // written size, for sizing the output
}

// cachedFace is one face, in the order of fontShare.fonts.
type cachedFace struct {
	key         string
	style       string
	psName      string // PostScript name, from the font's name table
	placeholder []byte // the body gofpdf writes for the face marked as a core font
}

// cacheTier is one subset tier of every face. The rune sets are known
// from the start; the subsets are built on first use, so a process (or a
// test) that never prints a Greek letter never builds the largest tier.
type cacheTier struct {
	name  string
	text  string    // the tier's runes the fonts have, drawn in the prototype
	runes []runeSet // per face: the used-rune set the subset is cut from

	once  sync.Once
	fonts []*cachedFont // per face
	err   error
}

// fontCache is the per-process cache of font objects. Apart from the
// lazily built tiers and the pool of zlib writers it is read-only after
// newFontCache.
type fontCache struct {
	share *fontShare
	faces []cachedFace
	tiers []*cacheTier // smallest first
	zw    *flatePool
}

// newFontCache prepares the tiers, builds the smallest, and checks with a
// probe document that the rest of gofpdf's output has the shape writeDoc
// expects. An error wrapping errFontShape or errFastFonts means the cache
// cannot be used with this gofpdf.
func newFontCache(fs *fontShare, faces []fontFace, cov *coverage) (*fontCache, error) {
	c := &fontCache{share: fs, faces: make([]cachedFace, len(fs.fonts)), zw: newFlatePool()}
	for i, sf := range fs.fonts {
		c.faces[i] = cachedFace{key: sf.key, style: sf.style, placeholder: []byte(corePlaceholder(sf.name))}
		for _, fc := range faces {
			if fc.style != sf.style {
				continue
			}
			fnt, err := sfnt.Parse(fc.ttf)
			if err != nil {
				return nil, fmt.Errorf("parse font names: %w", err)
			}
			if c.faces[i].psName, err = fnt.Name(nil, sfnt.NameIDPostScript); err != nil {
				return nil, fmt.Errorf("font %q PostScript name: %w", sf.key, err)
			}
		}
		if !pdfNameRE.MatchString(c.faces[i].psName) {
			return nil, fmt.Errorf("font %q: PostScript name %q unusable in a PDF name", sf.key, c.faces[i].psName)
		}
	}
	for _, st := range subsetTiers() {
		var text []rune
		var seen runeSet
		for _, rg := range st.ranges {
			for r := rg[0]; r <= rg[1]; r++ {
				if cov.has(r) && !seen.has(int(r)) {
					seen.add(int(r))
					text = append(text, r)
				}
			}
		}
		t := &cacheTier{name: st.name, text: string(text), runes: make([]runeSet, len(fs.fonts))}
		for i, sf := range fs.fonts {
			// gofpdf subsets the runes drawn and those its used-rune
			// set starts with.
			t.runes[i] = seen
			for r := range sf.usedRunes {
				t.runes[i].add(r)
			}
		}
		c.tiers = append(c.tiers, t)
	}
	if _, err := c.tiers[0].get(c); err != nil {
		return nil, err
	}
	if err := c.probe(); err != nil {
		return nil, err
	}
	return c, nil
}

// get returns the tier's fonts, building them on first use.
func (t *cacheTier) get(c *fontCache) ([]*cachedFont, error) {
	t.once.Do(func() { t.fonts, t.err = c.build(t) })
	return t.fonts, t.err
}

// build cuts every face's subset for tier t through gofpdf's subsetter,
// from a prototype document that draws the tier's runes in each face.
func (c *fontCache) build(t *cacheTier) ([]*cachedFont, error) {
	f := newGofpdf()
	df := c.share.install(f)
	df.privatize() // gofpdf's subsetter runs on this document
	f.AddPage()
	for _, cf := range c.faces {
		f.SetFont(fontFamily, cf.style, 10)
		f.Text(10, 20, t.text)
	}
	for i, used := range df.used {
		if len(used) != t.runes[i].count() {
			return nil, fmt.Errorf("%w: tier %q: gofpdf used %d runes, want %d", errFastFonts, t.name, len(used), t.runes[i].count())
		}
		for r := range used {
			if !t.runes[i].has(r) {
				return nil, fmt.Errorf("%w: tier %q: gofpdf used rune %U", errFastFonts, t.name, r)
			}
		}
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, fmt.Errorf("build font subset %q: %w", t.name, err)
	}
	p, err := parseGofpdf(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("build font subset %q: %w", t.name, err)
	}
	fonts := make([]*cachedFont, len(c.faces))
	for i, cf := range c.faces {
		if fonts[i], err = extractFont(p, c.share.fonts[i].name, cf.psName); err != nil {
			return nil, fmt.Errorf("build font subset %q of %q: %w", t.name, cf.key, err)
		}
	}
	return fonts, nil
}

// buildAll builds every tier; for tests.
func (c *fontCache) buildAll() error {
	for _, t := range c.tiers {
		if _, err := t.get(c); err != nil {
			return err
		}
	}
	return nil
}

// pdfNameRE accepts names that need no escaping in a PDF name object
// (ISO 32000-1 §7.3.5).
var pdfNameRE = regexp.MustCompile(`^[A-Za-z0-9._+-]{1,100}$`)

// corePlaceholder is the object gofpdf v1.16.2 writes for a core font
// named name (putfonts, case "Core").
func corePlaceholder(name string) string {
	return "<</Type /Font\n/BaseFont /" + name + "\n/Subtype /Type1\n/Encoding /WinAnsiEncoding\n>>\n"
}

// refRE matches an indirect reference in gofpdf's font dictionaries. The
// dictionaries hold names, numbers and arrays of numbers (/W), never a
// number followed by "0 R" that is not a reference.
var refRE = regexp.MustCompile(`(\d+) 0 R\b`)

// extractFont turns gofpdf's objects for the UTF-8 font called name in p
// into templates: the Type0 dictionary and everything it references,
// renamed as a tagged subset of psName (ISO 32000-1 §9.6.4), streams
// recompressed at the best level (once per process, so it costs nothing
// per letter).
func extractFont(p *rawPDF, name, psName string) (*cachedFont, error) {
	gofpdfName := "/utf8" + name + "\n"
	root := -1
	for _, o := range p.objs {
		if bytes.HasPrefix(o.body, []byte("<</Type /Font\n/Subtype /Type0\n/BaseFont "+gofpdfName)) {
			if root >= 0 {
				return nil, fmt.Errorf("%w: two Type0 fonts named %q", errFastFonts, name)
			}
			root = o.num
		}
	}
	if root < 0 {
		return nil, fmt.Errorf("%w: no Type0 font named %q in gofpdf's output", errFastFonts, name)
	}
	// The closure of references from the Type0 font, in order of first
	// appearance: slot i is order[i].
	order := []int{root}
	slot := map[int]int{root: 0}
	bodies := map[int][]byte{}
	var fontFile []byte
	for i := 0; i < len(order); i++ {
		o, ok := p.obj(order[i])
		if !ok {
			return nil, fmt.Errorf("%w: font object %d missing", errFastFonts, order[i])
		}
		dict, data, isStream := splitStream(o.body)
		if !isStream {
			dict = o.body
		}
		for _, m := range refRE.FindAllSubmatch(dict, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			if _, seen := slot[n]; !seen {
				slot[n] = len(order)
				order = append(order, n)
			}
		}
		if !isStream {
			bodies[order[i]] = o.body
			continue
		}
		body, raw, err := recompress(dict, data)
		if err != nil {
			return nil, fmt.Errorf("font object %d: %w", order[i], err)
		}
		if bytes.Contains(dict, []byte("/Length1 ")) {
			if fontFile != nil {
				return nil, fmt.Errorf("%w: two font programs for %q", errFastFonts, name)
			}
			fontFile = raw
		}
		bodies[order[i]] = body
	}
	if fontFile == nil || len(order) < 5 {
		return nil, fmt.Errorf("%w: font %q: %d objects, font program found: %v", errFastFonts, name, len(order), fontFile != nil)
	}
	// ISO 32000-1 §9.6.4: a subset's name begins with a tag of six
	// uppercase letters; derived from the font program, the same subset
	// always has the same name and different subsets never share one.
	sum := sha256.Sum256(fontFile)
	tag := make([]byte, 6)
	for i := range tag {
		tag[i] = 'A' + sum[i]%26
	}
	newName := []byte("/" + string(tag) + "+" + psName + "\n")

	cf := &cachedFont{}
	renamed := 0
	for _, n := range order {
		body := bodies[n]
		renamed += bytes.Count(body, []byte(gofpdfName))
		body = bytes.ReplaceAll(body, []byte(gofpdfName), newName)
		var t objTemplate
		dictEnd := len(body)
		if i := bytes.Index(body, []byte("\nstream\n")); i >= 0 {
			dictEnd = i
		}
		last := 0
		for _, m := range refRE.FindAllSubmatchIndex(body[:dictEnd], -1) {
			ref, _ := strconv.Atoi(string(body[m[2]:m[3]]))
			t.lits = append(t.lits, body[last:m[2]])
			t.slots = append(t.slots, slot[ref])
			last = m[3]
		}
		t.lits = append(t.lits, body[last:])
		cf.objs = append(cf.objs, t)
		cf.bytes += t.size() + 40 // "n 0 obj\n", "endobj\n", xref entry
	}
	// BaseFont of the Type0 and the CIDFont, FontName of the descriptor.
	if renamed != 3 {
		return nil, fmt.Errorf("%w: font %q named %d times, want 3", errFastFonts, name, renamed)
	}
	return cf, nil
}

// flateRE and lengthRE match the entries recompress replaces in a stream
// dictionary written by gofpdf.
var (
	flateRE  = regexp.MustCompile(`/Filter\s*/FlateDecode`)
	lengthRE = regexp.MustCompile(`/Length\s+(\d+)\b`)
)

// recompress returns a stream object body with data (compressed with
// zlib when dict says so) compressed at the best level, and the
// uncompressed data.
func recompress(dict, data []byte) (body, raw []byte, err error) {
	m := lengthRE.FindSubmatch(dict)
	if m == nil || string(m[1]) != strconv.Itoa(len(data)) {
		return nil, nil, fmt.Errorf("%w: stream length does not match %q", errFastFonts, dict)
	}
	raw = data
	if flateRE.Match(dict) {
		zr, err := zlib.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errFastFonts, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errFastFonts, err)
		}
	}
	var z bytes.Buffer
	zw, err := zlib.NewWriterLevel(&z, zlib.BestCompression)
	if err != nil {
		return nil, nil, err
	}
	zw.Write(raw) // a bytes.Buffer does not fail
	zw.Close()
	// The remaining entries (/Length1 of a font program) are names and
	// numbers only, so collapsing white space keeps their meaning.
	rest := lengthRE.ReplaceAll(flateRE.ReplaceAll(dict, nil), nil)
	inner, ok := bytes.CutPrefix(bytes.TrimSpace(rest), []byte("<<"))
	if inner, ok2 := bytes.CutSuffix(inner, []byte(">>")); ok && ok2 {
		fields := bytes.Fields(inner)
		var b bytes.Buffer
		fmt.Fprintf(&b, "<</Length %d /Filter /FlateDecode", z.Len())
		for _, f := range fields {
			b.WriteByte(' ')
			b.Write(f)
		}
		b.WriteString(">>\nstream\n")
		b.Write(z.Bytes())
		b.WriteString("\nendstream\n")
		return b.Bytes(), raw, nil
	}
	return nil, nil, fmt.Errorf("%w: stream dictionary %q", errFastFonts, dict)
}

// choose returns, for a document whose faces used the runes in used (in
// the order of c.faces), each face's smallest tier holding its runes, or
// false if a face used a rune outside every tier.
func (c *fontCache) choose(used []map[int]int) ([]int, bool) {
	tiers := make([]int, len(c.faces))
faces:
	for i := range c.faces {
	tiers:
		for t, tier := range c.tiers {
			for r := range used[i] {
				if !tier.runes[i].has(r) {
					continue tiers
				}
			}
			tiers[i] = t
			continue faces
		}
		return nil, false
	}
	return tiers, true
}

// fonts returns the cached font of each face for the chosen tiers.
func (c *fontCache) fonts(tiers []int) ([]*cachedFont, error) {
	out := make([]*cachedFont, len(tiers))
	for i, t := range tiers {
		fonts, err := c.tiers[t].get(c)
		if err != nil {
			return nil, err
		}
		out[i] = fonts[i]
	}
	return out, nil
}

// newGofpdf returns a document set up the way every document of this
// package is: the settings that shape the bytes of the output.
func newGofpdf() *gofpdf.Fpdf {
	f := gofpdf.New("P", "mm", "A4", "")
	f.SetCatalogSort(true) // resources in sorted order, not map order
	f.SetCompression(true)
	f.SetAutoPageBreak(false, 0)
	return f
}

// probe renders a small document through the cached path and parses the
// result, so a gofpdf whose output differs from what writeDoc expects is
// caught by NewRenderer, not by the first letter.
func (c *fontCache) probe() error {
	f := newGofpdf()
	df := c.share.install(f)
	f.AddPage()
	for _, cf := range c.faces {
		f.SetFont(fontFamily, cf.style, 10)
		f.Text(10, 20, "Проба шрыфтоў: №1 — «ўсё».")
	}
	tiers, ok := c.choose(df.used)
	if !ok || slices.Max(tiers) != 0 {
		return fmt.Errorf("%w: probe text outside the basic tier", errFastFonts)
	}
	c.share.markCore(f)
	f.SetCompression(false)
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return fmt.Errorf("%w: probe: %v", errFastFonts, err)
	}
	out, err := c.writeDoc(buf.Bytes(), tiers)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	p, err := parseGofpdf(out)
	if err != nil {
		return fmt.Errorf("probe: rewritten output: %w", err)
	}
	for _, o := range p.objs {
		if bytes.Contains(o.body, []byte("/Subtype /Type1")) {
			return fmt.Errorf("%w: probe: placeholder font left in the output", errFastFonts)
		}
	}
	return nil
}
