package mailbox

import (
	"archive/zip"
	"bytes"
	"testing"
)

func testZip(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		h := &zip.FileHeader{Name: n, Method: zip.Deflate}
		data := []byte("<x/>")
		if n == "mimetype:odt" || n == "mimetype:ods" {
			h.Name, h.Method = "mimetype", zip.Store
			data = []byte(map[string]string{"mimetype:odt": TypeODT, "mimetype:ods": TypeODS}[n])
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRecognizeOffice(t *testing.T) {
	ole := func(stream string) []byte {
		return append(append(append([]byte{}, magicOLE2...), make([]byte, 504)...), utf16le(stream)...)
	}
	docx := testZip(t, "[Content_Types].xml", "_rels/.rels", "word/document.xml")
	xlsx := testZip(t, "[Content_Types].xml", "xl/workbook.xml")
	odt := testZip(t, "mimetype:odt", "content.xml")
	ods := testZip(t, "mimetype:ods", "content.xml")
	for _, tc := range []struct {
		name   string
		data   []byte
		office bool
		want   string // content type, or "" for a refusal
	}{
		{"a.docx", docx, true, TypeDOCX},
		{"A.DOCX", docx, true, TypeDOCX},
		{"a.xlsx", xlsx, true, TypeXLSX},
		{"a.odt", odt, true, TypeODT},
		{"a.ods", ods, true, TypeODS},
		{"a.doc", ole("WordDocument"), true, TypeDOC},
		{"a.xls", ole("Workbook"), true, TypeXLS},
		{"a.rtf", []byte(`{\rtf1 x}`), true, TypeRTF},
		{"a.docx", xlsx, true, ""},                            // another format
		{"a.xlsx", docx, true, ""},                            // another format
		{"a.odt", ods, true, ""},                              // another format
		{"a.odt", docx, true, ""},                             // OOXML, not ODF
		{"a.docx", odt, true, ""},                             // ODF, not OOXML
		{"a.docx", testZip(t, "word/document.xml"), true, ""}, // no [Content_Types].xml
		{"a.docx", []byte("%PDF-1.7"), true, ""},              // a PDF named .docx
		{"a.docx", []byte("PK\x03\x04broken"), true, ""},
		{"a.doc", ole("Workbook"), true, ""},     // a workbook named .doc
		{"a.xls", ole("WordDocument"), true, ""}, // a document named .xls
		{"a.doc", docx, true, ""},                // DOCX named .doc
		{"a.rtf", []byte("text"), true, ""},
		{"a.zip", docx, false, ""}, // not named as an office document
		{"a.pdf", []byte("%PDF-1.7"), false, ""},
	} {
		f, office, err := recognizeOffice(tc.name, tc.data)
		if office != tc.office {
			t.Errorf("%s: office %v, want %v", tc.name, office, tc.office)
			continue
		}
		if !office {
			continue
		}
		if tc.want == "" {
			if de, ok := err.(*Error); !ok || de.Code != "attachment_type_mismatch" {
				t.Errorf("%s (%.8q): %v, want attachment_type_mismatch", tc.name, tc.data, err)
			}
			continue
		}
		if err != nil || f.Type != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.name, f.Type, err, tc.want)
		}
	}
}

// TestDetectTypeOffice: an office document is typed by name and container
// whatever type the client declared; an RTF named .rtf is not plain text.
func TestDetectTypeOffice(t *testing.T) {
	for _, tc := range []struct{ declared, name, sniff, want string }{
		{"application/octet-stream", "a.docx", "PK\x03\x04", TypeDOCX},
		{"", "a.rtf", `{\rtf1`, TypeRTF},
		{"text/plain", "a.rtf", `{\rtf1`, TypeRTF},
		{"application/pdf", "a.doc", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", TypeDOC},
		{"application/octet-stream", "a.docx", "not a zip", "application/octet-stream"},
		{"application/octet-stream", "a.zip", "PK\x03\x04", "application/octet-stream"},
	} {
		if got := detectType(tc.declared, tc.name, []byte(tc.sniff), true); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.declared, tc.name, got, tc.want)
		}
	}
}

// TestMacroDocumentsRefused: a document carrying code is refused for print
// with macro_document, whatever container it comes in; the same format
// without code passes.
func TestMacroDocumentsRefused(t *testing.T) {
	ole := func(streams ...string) []byte {
		b := append(append([]byte{}, magicOLE2...), make([]byte, 504)...)
		for _, s := range streams {
			b = append(b, utf16le(s)...)
		}
		return b
	}
	withXML := func(names map[string]string, order ...string) []byte {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for _, n := range order {
			h := &zip.FileHeader{Name: n, Method: zip.Deflate}
			if n == "mimetype" {
				h.Method = zip.Store
			}
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(names[n]))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		data []byte
		code string // "" for accepted
	}{
		{"plain.docx", testZip(t, "[Content_Types].xml", "word/document.xml"), ""},
		{"vba.docx", testZip(t, "[Content_Types].xml", "word/document.xml", "word/vbaProject.bin"), "macro_document"},
		{"activex.docx", testZip(t, "[Content_Types].xml", "word/document.xml", "word/activeX/activeX1.xml"), "macro_document"},
		{"vba.xlsx", testZip(t, "[Content_Types].xml", "xl/workbook.xml", "xl/vbaProject.bin"), "macro_document"},
		{"enabled.docx", withXML(map[string]string{
			"[Content_Types].xml": `<Types><Override ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/></Types>`,
			"word/document.xml":   "<w:document/>"}, "[Content_Types].xml", "word/document.xml"), "macro_document"},
		{"plain.odt", testZip(t, "mimetype:odt", "content.xml"), ""},
		{"basic.odt", testZip(t, "mimetype:odt", "content.xml", "Basic/Standard/Module1.xml"), "macro_document"},
		{"scripts.ods", testZip(t, "mimetype:ods", "content.xml", "Scripts/python/x.py"), "macro_document"},
		{"listener.odt", withXML(map[string]string{"mimetype": TypeODT,
			"content.xml": `<office:document-content><office:scripts><office:event-listeners><script:event-listener xlink:href="vnd.sun.star.script:Standard.Module1.Main"/></office:event-listeners></office:scripts></office:document-content>`},
			"mimetype", "content.xml"), "macro_document"},
		{"empty-scripts.odt", withXML(map[string]string{"mimetype": TypeODT,
			"content.xml": `<office:document-content><office:scripts/><office:body/></office:document-content>`}, "mimetype", "content.xml"), ""},
		{"plain.doc", ole("WordDocument"), ""},
		{"macros.doc", ole("WordDocument", "Macros", "_VBA_PROJECT"), "macro_document"},
		{"vba.xls", ole("Workbook", "_VBA_PROJECT_CUR"), "macro_document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, office, err := recognizeOffice(tc.name, tc.data)
			if !office {
				t.Fatal("not recognised as an office document")
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if de, ok := err.(*Error); !ok || de.Code != tc.code {
				t.Fatalf("%v, want %s", err, tc.code)
			}
		})
	}
}
