package pdf

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"unsafe"

	"github.com/jung-kurt/gofpdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
)

// The renderer embeds two faces of the Go fonts (WGL4 repertoire: Latin,
// Greek, Cyrillic including Belarusian і and ў). A third face (mono) would
// cost as much per document as the other two together (see fontShare), so
// codes are set in bold instead.
const fontFamily = "go"

type fontFace struct {
	style string // "" regular, "B" bold — gofpdf's style letters
	ttf   []byte
}

// fontFaces returns the faces with private copies of the TTF bytes:
// gofpdf writes into the font data it is given (see install), and the
// x/image slices are package variables shared with the whole process.
func fontFaces() []fontFace {
	return []fontFace{{"", bytes.Clone(goregular.TTF)}, {"B", bytes.Clone(gobold.TTF)}}
}

// Why fonts are shared through reflection.
//
// gofpdf keeps a document's fonts in an unexported map of an unexported
// type, and the only way in is AddUTF8FontFromBytes, which parses the TTF
// and then derives the font's resource name from a SHA-1 over the JSON of
// the font metrics — including a 65,536-entry width table. Measured here,
// that is ~1.2 ms and ~0.9 MB per face per document, about half of the
// whole rendering time (DESIGN §10). Nothing in the public API can copy a
// parsed font from one document to another.
//
// gofpdf v1.16.2 is archived and pinned in go.mod, so its internals cannot
// drift under us. fontShare parses each face once per process into a
// prototype document and copies the parsed definition into every new
// document, giving each document its own copies of the parts that
// rendering mutates: the used-rune set, the subsetter's state
// (utf8FontFile) and its file reader. The TTF bytes and the width table
// are only read and stay shared. The result is byte-identical to loading
// the font per document (a test asserts it), and NewRenderer checks the
// internal shape first: if it ever differs, the renderer falls back to
// per-document loading, which is correct but slower (a test fails then).
//
// The same access marks a document's fonts as core fonts just before
// Output (markCore), so gofpdf writes a placeholder instead of cutting a
// subset, and fontCache writes the font objects (see fontCache).
type fontShare struct {
	fonts []sharedFont
}

type sharedFont struct {
	key       string        // gofpdf font key: family + style
	style     string        // gofpdf style letters
	name      string        // gofpdf's font name (fontDefType.Name)
	def       reflect.Value // addressable copy of gofpdf's fontDefType; never mutated after construction
	usedRunes map[int]int   // the initial used-rune set, copied per document
}

// docFonts is what install gives a document, in the order of
// fontShare.fonts: the used-rune sets gofpdf fills as text is drawn (the
// maps are shared with gofpdf's definitions), and the TTF bytes each
// font's subsetter reads.
type docFonts struct {
	used  []map[int]int
	ttf   []reflect.Value // fileReader.array of each font's private reader
	owned bool
}

var errFontShape = errors.New("gofpdf internals differ from v1.16.2")

// writable returns v (addressable, possibly obtained through an unexported
// field) as a value that reflect lets us read and set.
func writable(v reflect.Value) reflect.Value {
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// field returns the named field of struct value v, checking its kind.
func field(v reflect.Value, name string, kind reflect.Kind) (reflect.Value, error) {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, fmt.Errorf("%w: %s is not a struct", errFontShape, v.Type())
	}
	f := v.FieldByName(name)
	if !f.IsValid() || f.Kind() != kind {
		return reflect.Value{}, fmt.Errorf("%w: %s.%s missing or not a %s", errFontShape, v.Type(), name, kind)
	}
	return f, nil
}

// newFontShare parses faces once and captures gofpdf's definitions.
func newFontShare(faces []fontFace) (*fontShare, error) {
	proto := gofpdf.New("P", "mm", "A4", "")
	for _, fc := range faces {
		proto.AddUTF8FontFromBytes(fontFamily, fc.style, fc.ttf)
	}
	if err := proto.Error(); err != nil {
		return nil, fmt.Errorf("parse fonts: %w", err)
	}
	fontsField, err := field(reflect.ValueOf(proto).Elem(), "fonts", reflect.Map)
	if err != nil {
		return nil, err
	}
	fonts := writable(fontsField)
	if fonts.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("%w: fonts map key", errFontShape)
	}
	fs := &fontShare{}
	for _, fc := range faces {
		key := strings.ToLower(fontFamily) + strings.ToUpper(fc.style)
		mv := fonts.MapIndex(reflect.ValueOf(key))
		if !mv.IsValid() {
			// gofpdf prints parse errors instead of returning them
			// (addFontFromBytes), so a missing key is how failure shows.
			return nil, fmt.Errorf("parse font %q: not registered", key)
		}
		def := reflect.New(mv.Type()).Elem()
		def.Set(mv)
		if err := checkDefShape(def); err != nil {
			return nil, err
		}
		ur := writable(def.FieldByName("usedRunes"))
		initial := make(map[int]int, ur.Len())
		iter := ur.MapRange()
		for iter.Next() {
			initial[int(iter.Key().Int())] = int(iter.Value().Int())
		}
		fs.fonts = append(fs.fonts, sharedFont{key: key, style: strings.ToUpper(fc.style),
			name: def.FieldByName("Name").String(), def: def, usedRunes: initial})
	}
	sort.Slice(fs.fonts, func(i, j int) bool { return fs.fonts[i].key < fs.fonts[j].key })
	return fs, nil
}

// checkDefShape verifies the fields install relies on.
func checkDefShape(def reflect.Value) error {
	ur, err := field(def, "usedRunes", reflect.Map)
	if err != nil {
		return err
	}
	if ur.Type() != reflect.TypeOf(map[int]int(nil)) {
		return fmt.Errorf("%w: usedRunes is %s", errFontShape, ur.Type())
	}
	if _, err := field(def, "Tp", reflect.String); err != nil {
		return err
	}
	if def.FieldByName("Tp").String() != "UTF8" {
		return fmt.Errorf("%w: font type %q", errFontShape, def.FieldByName("Tp").String())
	}
	if _, err := field(def, "Name", reflect.String); err != nil {
		return err
	}
	if n := def.FieldByName("Name").String(); !pdfNameRE.MatchString(n) {
		return fmt.Errorf("%w: font name %q", errFontShape, n)
	}
	uf, err := field(def, "utf8File", reflect.Pointer)
	if err != nil {
		return err
	}
	if uf.IsNil() {
		return fmt.Errorf("%w: utf8File is nil", errFontShape)
	}
	fr, err := field(uf.Elem(), "fileReader", reflect.Pointer)
	if err != nil {
		return err
	}
	if fr.IsNil() {
		return fmt.Errorf("%w: fileReader is nil", errFontShape)
	}
	if _, err := field(fr.Elem(), "readerPosition", reflect.Int64); err != nil {
		return err
	}
	arr, err := field(fr.Elem(), "array", reflect.Slice)
	if err != nil {
		return err
	}
	if arr.Type().Elem().Kind() != reflect.Uint8 {
		return fmt.Errorf("%w: fileReader.array is %s", errFontShape, arr.Type())
	}
	return nil
}

// install puts private copies of the shared font definitions into f, as
// AddUTF8FontFromBytes would have.
func (fs *fontShare) install(f *gofpdf.Fpdf) *docFonts {
	fonts := writable(reflect.ValueOf(f).Elem().FieldByName("fonts"))
	df := &docFonts{used: make([]map[int]int, len(fs.fonts)), ttf: make([]reflect.Value, len(fs.fonts))}
	for i, sf := range fs.fonts {
		def := reflect.New(sf.def.Type()).Elem()
		def.Set(sf.def)

		used := make(map[int]int, len(sf.usedRunes))
		for k, v := range sf.usedRunes {
			used[k] = v
		}
		writable(def.FieldByName("usedRunes")).Set(reflect.ValueOf(used))
		df.used[i] = used

		// The subsetter (GenerateCutFont) re-parses the TTF from its own
		// reader and replaces every map and slice of utf8FontFile before
		// writing to it, so a shallow copy with a fresh reader suffices —
		// except for the TTF bytes themselves: computing table checksums,
		// it appends padding to sub-slices of the font data, writing into
		// the bytes after each table. A document whose fonts gofpdf
		// subsets therefore reads its own copy (privatize; about 0.3 MB
		// for both faces); one whose fonts come from fontCache never runs
		// the subsetter and reads nothing.
		uf := writable(def.FieldByName("utf8File"))
		ufCopy := reflect.New(uf.Type().Elem())
		ufCopy.Elem().Set(uf.Elem())
		fr := writable(ufCopy.Elem().FieldByName("fileReader"))
		frCopy := reflect.New(fr.Type().Elem())
		frCopy.Elem().Set(fr.Elem())
		writable(frCopy.Elem().FieldByName("readerPosition")).SetInt(0)
		df.ttf[i] = writable(frCopy.Elem().FieldByName("array"))
		fr.Set(frCopy)
		uf.Set(ufCopy)

		fonts.SetMapIndex(reflect.ValueOf(sf.key), def)
	}
	return df
}

// privatize gives the document's subsetters their own copies of the TTF
// bytes. It must run before Output unless the fonts are marked core.
func (df *docFonts) privatize() {
	if df.owned {
		return
	}
	for _, a := range df.ttf {
		a.SetBytes(bytes.Clone(a.Bytes()))
	}
	df.owned = true
}

// markCore turns f's fonts into core fonts for Output, which then writes
// a one-line placeholder object per font (corePlaceholder) instead of
// subsetting it. It must run after the last SetFont: gofpdf chooses the
// text encoding by font type when a font is set.
func (fs *fontShare) markCore(f *gofpdf.Fpdf) {
	fonts := writable(reflect.ValueOf(f).Elem().FieldByName("fonts"))
	for _, sf := range fs.fonts {
		key := reflect.ValueOf(sf.key)
		def := reflect.New(sf.def.Type()).Elem()
		def.Set(fonts.MapIndex(key))
		writable(def.FieldByName("Tp")).SetString("Core")
		fonts.SetMapIndex(key, def)
	}
}

// coverage records which BMP runes every face can draw. It comes from the
// fonts' cmap tables through x/image's sfnt parser, independent of gofpdf.
type coverage struct {
	bits [0x10000 / 64]uint64
}

func newCoverage(faces []fontFace) (*coverage, error) {
	c := &coverage{}
	for i := range c.bits {
		c.bits[i] = ^uint64(0)
	}
	var buf sfnt.Buffer
	for _, fc := range faces {
		fnt, err := sfnt.Parse(fc.ttf)
		if err != nil {
			return nil, fmt.Errorf("parse font cmap: %w", err)
		}
		for r := 0; r < 0x10000; r++ {
			gi, err := fnt.GlyphIndex(&buf, rune(r))
			if err != nil || gi == 0 {
				c.bits[r/64] &^= 1 << (r % 64)
			}
		}
	}
	return c, nil
}

// has reports whether every face has a glyph for r.
func (c *coverage) has(r rune) bool {
	return r >= 0 && r < 0x10000 && c.bits[r/64]&(1<<(r%64)) != 0
}
