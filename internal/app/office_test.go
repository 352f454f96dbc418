package app_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/certs"
	"github.com/npes/npes/hybrid/convert"
	"github.com/npes/npes/hybrid/convert/converttest"
	"github.com/npes/npes/internal/app"
	"github.com/npes/npes/signing"
)

// TestOfficeDocumentPrinted: through the HTTP API, a DOCX sent as
// application/octet-stream (as the CLI sends it) on a print-routed letter
// is converted before the commit; its evidence names the original's and
// the rendition's digests; the print centre's PDF carries its text; a
// print-if-unsigned letter keeps the original for its recipient and
// prints the rendition made at submission; a DOCX that is not one is
// refused.
func TestOfficeDocumentPrinted(t *testing.T) {
	t.Parallel()
	converttest.New(t, convert.Options{}) // LibreOffice here, or skip (fail in CI)
	converttest.PDFText(t, nil)
	b := setup(t, "")
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	gomel := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Гомель", Regions: []string{"246"}})
	minsk := b.party(t, certs.Request{Role: certs.RolePrintCenter, Name: "РЦ Минск", Regions: []string{"220"}})
	var skip jobsReply // the activation letters of region 220
	minsk.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 100}, &skip, 200)

	docx := converttest.DOCX()
	status, sent, data := org.send(map[string]any{
		"recipient":  map[string]string{"name": "Сидорову Сидору Сидоровичу", "address": "246050, г. Гомель, ул. Билецкого, 10, кв. 3"},
		"registered": true, "subject": "Извещение", "body": "Текст письма.",
	}, "", attachment{"извещение.docx", "application/octet-stream", docx})
	if status != 201 || sent.Route != "print" {
		t.Fatalf("send: %d %s", status, data)
	}
	acc := evidenceOf(t, org, sent.ID, signing.EventSubmissionAcceptance)
	a := acc.Content.Attachments[0]
	if a.SHA256 != signing.DigestHex(docx) || len(a.RenditionSHA256) != 64 || a.RenditionSHA256 == a.SHA256 {
		t.Fatalf("evidence attachment %+v: want the DOCX's sha256 and a rendition_sha256", a)
	}
	var lease jobsReply
	gomel.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &lease, 200)
	if len(lease.Jobs) != 1 || lease.Jobs[0].LetterID != sent.ID {
		t.Fatalf("leased %+v", lease.Jobs)
	}
	job := lease.Jobs[0]
	status, pdf := gomel.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": fmt.Sprint(job.LeaseToken)}, nil)
	if status != 200 {
		t.Fatalf("PDF: %d", status)
	}
	text := converttest.PDFText(t, pdf)
	for _, w := range []string{converttest.Russian, converttest.Belarusian, converttest.CellB} {
		if !strings.Contains(text, w) {
			t.Errorf("the printed letter lacks %q:\n%s", w, text)
		}
	}

	t.Run("print-if-unsigned: converted at submission, original to the recipient", func(t *testing.T) {
		odt := converttest.ODT()
		status, piu, data := org.send(map[string]any{
			"recipient":  map[string]string{"name": citizenReq.Name, "address": citizenAddress},
			"registered": true, "subject": "Решение", "body": "Текст.", "print_if_unsigned_after": "48h",
		}, "", attachment{"решение.odt", "application/octet-stream", odt})
		if status != 201 || piu.Route != "electronic" {
			t.Fatalf("send: %d %s", status, data)
		}
		a := evidenceOf(t, org, piu.ID, signing.EventSubmissionAcceptance).Content.Attachments[0]
		if a.SHA256 != signing.DigestHex(odt) || len(a.RenditionSHA256) != 64 {
			t.Fatalf("evidence attachment %+v", a)
		}
		// The recipient gets the original after accepting (here: the
		// sender's own copy, which is the same stored part).
		status, got := org.do("GET", "/v1/letters/"+piu.ID+"/attachments/1", nil, "", nil, nil)
		if status != 200 || !bytes.Equal(got, odt) {
			t.Fatalf("attachment: %d, %d bytes, want the original ODT", status, len(got))
		}
		b.clock.Advance(49 * time.Hour)
		if n, err := b.srv.Service.ExpireDue(t.Context()); err != nil || n != 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		// The activation letters' leases expired meanwhile: they come again.
		minsk.mustJSON("POST", "/v1/print/leases", map[string]int{"max": 10}, &lease, 200)
		var job = lease.Jobs[0]
		found := false
		for _, j := range lease.Jobs {
			if j.LetterID == piu.ID {
				job, found = j, true
			}
		}
		if !found {
			t.Fatalf("leased %+v, want the print-if-unsigned letter", lease.Jobs)
		}
		status, pdf := minsk.do("GET", "/v1/print/jobs/"+job.ID+"/pdf", nil, "", map[string]string{"X-Lease-Token": fmt.Sprint(job.LeaseToken)}, nil)
		if status != 200 || !strings.Contains(converttest.PDFText(t, pdf), converttest.Belarusian) {
			t.Fatalf("print-if-unsigned PDF: %d", status)
		}
	})

	t.Run("mismatch refused", func(t *testing.T) {
		for name, data := range map[string][]byte{"таблица.docx": converttest.XLSX(), "x.odt": docx, "y.doc": docx, "z.rtf": []byte("plain text")} {
			status, _, reply := org.send(map[string]any{
				"recipient": map[string]string{"name": "Петрову П.П.", "address": "246050, г. Гомель, ул. Билецкого, 12"},
				"subject":   "x", "body": "x",
			}, "", attachment{name, "application/octet-stream", data})
			if status != 400 || !strings.Contains(string(reply), "attachment_type_mismatch") {
				t.Errorf("%s: %d %s, want 400 attachment_type_mismatch", name, status, reply)
			}
		}
	})
	t.Run("macro document refused", func(t *testing.T) {
		status, _, reply := org.send(map[string]any{
			"recipient": map[string]string{"name": "Петрову П.П.", "address": "246050, г. Гомель, ул. Билецкого, 12"},
			"subject":   "x", "body": "x",
		}, "", attachment{"макрос.odt", "application/octet-stream", converttest.MacroODT()})
		if status != 400 || !strings.Contains(string(reply), "macro_document") {
			t.Errorf("%d %s, want 400 macro_document", status, reply)
		}
	})
}

// TestOfficeWithoutLibreOffice: without a converter, office documents are
// refused with conversion_unavailable on letters that may be printed, and
// travel electronically; other letters print as before.
func TestOfficeWithoutLibreOffice(t *testing.T) {
	t.Parallel()
	b := setupWith(t, "", func(c *app.Config) { c.Soffice = "off" })
	org := b.party(t, orgReq)
	org.registerActive(orgAddress)
	citizen := b.party(t, citizenReq)
	citizen.registerActive(citizenAddress)
	printed := map[string]string{"name": "Сидорову С.С.", "address": "246050, г. Гомель, ул. Билецкого, 10"}
	status, _, reply := org.send(map[string]any{"recipient": printed, "subject": "x", "body": "x"}, "",
		attachment{"a.docx", "application/octet-stream", converttest.DOCX()})
	if status != 400 || !strings.Contains(string(reply), "conversion_unavailable") || !strings.Contains(string(reply), "LibreOffice") {
		t.Fatalf("DOCX for print: %d %s, want 400 conversion_unavailable", status, reply)
	}
	status, _, reply = org.send(map[string]any{"recipient": map[string]string{"name": citizenReq.Name, "address": citizenAddress}, "subject": "x", "body": "x"}, "",
		attachment{"a.docx", "application/octet-stream", converttest.DOCX()})
	if status != 201 {
		t.Fatalf("DOCX electronically: %d %s", status, reply)
	}
	status, _, reply = org.send(map[string]any{"recipient": printed, "subject": "x", "body": "x"}, "",
		attachment{"a.txt", "application/octet-stream", []byte("текст")})
	if status != 201 {
		t.Fatalf("text for print: %d %s", status, reply)
	}
}
