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
