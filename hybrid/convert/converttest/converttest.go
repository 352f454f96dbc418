// Package converttest builds office documents for tests, in code (no
// binary fixtures): DOCX, ODT and XLSX with Cyrillic and Belarusian text,
// a table and an image, and hostile ones. It also gives tests a real
// converter, or skips them where LibreOffice is not installed — except in
// CI, where a missing LibreOffice fails the run.
package converttest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/npes/npes/hybrid/convert"
)

// Texts the documents carry, to be found in the PDF.
const (
	Russian    = "Уведомление о задолженности"
	Belarusian = "Паведамленне аб заўвазе і ўдзеле"
	CellA      = "Гомель"
	CellB      = "Віцебск"
	// MacroMark is what the macro document's macro would insert if it ran.
	MacroMark = "MACRORAN"
)

// New returns a real converter with o, skipping the test where LibreOffice
// or the sandbox tools are missing, failing it in CI (CI set).
func New(t testing.TB, o convert.Options) *convert.Converter {
	t.Helper()
	if o.TempDir == "" {
		o.TempDir = t.TempDir()
	}
	c, err := convert.New(o)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI must convert office documents: %v (install libreoffice-writer-nogui, libreoffice-calc-nogui, bubblewrap)", err)
		}
		t.Skipf("office conversion not available here: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// PDFText extracts a PDF's text with poppler's pdftotext, an independent
// reader; a nil pdf only checks that the tool is there. It skips the test
// where pdftotext is missing, and fails it in CI.
func PDFText(t testing.TB, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pdftotext is missing (poppler-utils)")
		}
		t.Skip("pdftotext is missing")
	}
	if pdf == nil {
		return ""
	}
	cmd := exec.Command("pdftotext", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// Member is one file of a ZIP package.
type Member struct {
	Name  string
	Data  []byte
	Store bool // uncompressed (ODF's mimetype)
}

// Zip writes a package with its members in order.
func Zip(members ...Member) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.Name, Method: zip.Deflate}
		if m.Store {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			panic(err)
		}
		if _, err := w.Write(m.Data); err != nil {
			panic(err)
		}
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// PNG is a small picture (a red square on blue).
func PNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			c := color.RGBA{0, 0, 200, 255}
			if x > 10 && x < 30 && y > 5 && y < 25 {
				c = color.RGBA{220, 0, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

const ooxmlRels = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="%s"/>
</Relationships>`

// DOCX is a WordprocessingML document (ECMA-376) with a Russian and a
// Belarusian paragraph, a two-cell table and an inline PNG picture.
func DOCX() []byte {
	types := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="png" ContentType="image/png"/>
<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>`
	docRels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rIdImg" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.png"/>
</Relationships>`
	cell := func(s string) string {
		return `<w:tc><w:tcPr><w:tcW w:w="3000" w:type="dxa"/></w:tcPr><w:p><w:r><w:t>` + s + `</w:t></w:r></w:p></w:tc>`
	}
	doc := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"
 xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"
 xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
 xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"
 xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">
<w:body>
<w:p><w:r><w:t>` + Russian + `</w:t></w:r></w:p>
<w:p><w:r><w:t>` + Belarusian + `</w:t></w:r></w:p>
<w:tbl><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4"/><w:bottom w:val="single" w:sz="4"/><w:insideV w:val="single" w:sz="4"/></w:tblBorders></w:tblPr>
<w:tblGrid><w:gridCol w:w="3000"/><w:gridCol w:w="3000"/></w:tblGrid>
<w:tr>` + cell(CellA) + cell(CellB) + `</w:tr>
</w:tbl>
<w:p><w:r><w:drawing><wp:inline><wp:extent cx="952500" cy="714375"/><wp:docPr id="1" name="Picture 1"/>
<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>
<pic:nvPicPr><pic:cNvPr id="1" name="image1.png"/><pic:cNvPicPr/></pic:nvPicPr>
<pic:blipFill><a:blip r:embed="rIdImg"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>
<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="952500" cy="714375"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr>
</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>
<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1134" w:right="850" w:bottom="1134" w:left="1701" w:header="708" w:footer="708" w:gutter="0"/></w:sectPr>
</w:body>
</w:document>`
	return Zip(
		Member{Name: "[Content_Types].xml", Data: []byte(types)},
		Member{Name: "_rels/.rels", Data: fmt.Appendf(nil, ooxmlRels, "word/document.xml")},
		Member{Name: "word/document.xml", Data: []byte(doc)},
		Member{Name: "word/_rels/document.xml.rels", Data: []byte(docRels)},
		Member{Name: "word/media/image1.png", Data: PNG()},
	)
}

// XLSX is a SpreadsheetML workbook (ECMA-376) with one sheet of inline
// strings and a number.
func XLSX() []byte {
	types := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>`
	wb := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Аркуш1" sheetId="1" r:id="rId1"/></sheets>
</workbook>`
	wbRels := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>`
	is := func(ref, s string) string { return `<c r="` + ref + `" t="inlineStr"><is><t>` + s + `</t></is></c>` }
	sheet := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<cols><col min="1" max="2" width="40" customWidth="1"/></cols>
<sheetData>
<row r="1">` + is("A1", Russian) + is("B1", Belarusian) + `</row>
<row r="2">` + is("A2", CellA) + `<c r="B2"><v>12345</v></c></row>
</sheetData>
</worksheet>`
	return Zip(
		Member{Name: "[Content_Types].xml", Data: []byte(types)},
		Member{Name: "_rels/.rels", Data: fmt.Appendf(nil, ooxmlRels, "xl/workbook.xml")},
		Member{Name: "xl/workbook.xml", Data: []byte(wb)},
		Member{Name: "xl/_rels/workbook.xml.rels", Data: []byte(wbRels)},
		Member{Name: "xl/worksheets/sheet1.xml", Data: []byte(sheet)},
	)
}

const odfNS = `xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:xlink="http://www.w3.org/1999/xlink"
 xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0"
 office:version="1.2"`

// odt packages an ODF text document (ODF 1.2 Part 3): the mimetype member
// first and uncompressed, the manifest, content.xml and extra members.
func odt(scripts, body string, extra []Member, manifestExtra string) []byte {
	content := `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content ` + odfNS + `>` + scripts + `<office:body><office:text>` + body + `</office:text></office:body></office:document-content>`
	manifest := `<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
` + manifestExtra + `</manifest:manifest>`
	members := []Member{
		{Name: "mimetype", Data: []byte("application/vnd.oasis.opendocument.text"), Store: true},
		{Name: "META-INF/manifest.xml", Data: []byte(manifest)},
		{Name: "content.xml", Data: []byte(content)},
	}
	return Zip(append(members, extra...)...)
}

// ODT is an ODF text document with the same content as DOCX.
func ODT() []byte {
	cell := func(s string) string {
		return `<table:table-cell office:value-type="string"><text:p>` + s + `</text:p></table:table-cell>`
	}
	body := `<text:p>` + Russian + `</text:p><text:p>` + Belarusian + `</text:p>
<table:table table:name="T1"><table:table-column table:number-columns-repeated="2"/>
<table:table-row>` + cell(CellA) + cell(CellB) + `</table:table-row></table:table>
<text:p><draw:frame draw:name="img1" text:anchor-type="as-char" svg:width="2.5cm" svg:height="1.9cm"><draw:image xlink:href="Pictures/image1.png" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p>`
	return odt("", body, []Member{{Name: "Pictures/image1.png", Data: PNG()}},
		`<manifest:file-entry manifest:full-path="Pictures/image1.png" manifest:media-type="image/png"/>
`)
}

// MacroODT is an ODF text document with a Basic macro bound to the
// document's load event: if it ran, it would write MacroMark into the
// document (so into its PDF) and a file next to the input.
func MacroODT() []byte {
	scripts := `<office:scripts><office:event-listeners>
<script:event-listener script:language="ooo:script" script:event-name="dom:load" xlink:type="simple" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document"/>
</office:event-listeners></office:scripts>`
	module := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">Sub Main
  ThisComponent.Text.insertString(ThisComponent.Text.getEnd(), "` + MacroMark + `", False)
  Open "/w/in/pwned.txt" For Output As #1
  Print #1, "` + MacroMark + `"
  Close #1
End Sub
</script:module>`
	lb := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE library:library PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "library.dtd">
<library:library xmlns:library="http://openoffice.org/2000/library" library:name="Standard" library:readonly="false" library:passwordprotected="false">
<library:element library:name="Module1"/>
</library:library>`
	lc := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE library:libraries PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "libraries.dtd">
<library:libraries xmlns:library="http://openoffice.org/2000/library" xmlns:xlink="http://www.w3.org/1999/xlink">
<library:library library:name="Standard" library:link="false"/>
</library:libraries>`
	return odt(scripts, `<text:p>`+Russian+`</text:p>`, []Member{
		{Name: "Basic/script-lc.xml", Data: []byte(lc)},
		{Name: "Basic/Standard/script-lb.xml", Data: []byte(lb)},
		{Name: "Basic/Standard/Module1.xml", Data: []byte(module)},
	}, `<manifest:file-entry manifest:full-path="Basic/script-lc.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/script-lb.xml" manifest:media-type="text/xml"/>
<manifest:file-entry manifest:full-path="Basic/Standard/Module1.xml" manifest:media-type="text/xml"/>
`)
}

// ZipBombDOCX is a DOCX whose document.xml expands to expanded bytes
// (whitespace, which deflate shrinks about a thousandfold).
func ZipBombDOCX(expanded int) []byte {
	d := DOCX()
	zr, err := zip.NewReader(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		panic(err)
	}
	var members []Member
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			panic(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		data := b.Bytes()
		if f.Name == "word/document.xml" {
			i := bytes.Index(data, []byte("<w:body>"))
			data = []byte(string(data[:i]) + strings.Repeat(" ", expanded) + string(data[i:]))
		}
		members = append(members, Member{Name: f.Name, Data: data})
	}
	return Zip(members...)
}
