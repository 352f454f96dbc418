package web

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/npes/npes/hybrid/pdf"
	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// receiptPDF is GET /letters/{id}/receipt.pdf: a printable, human-readable
// receipt of the letter in the reader's language — metadata, tracking
// number, parties, every event with its time and log entry, the SHA-256
// digests of the content and of each evidence record, the log checkpoint
// the bundle proves into — and a QR code to the public verify page. The
// paper proves nothing by itself: it says where and how to check the
// bundle, whose digests it repeats.
func (p *Portal) receiptPDF(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, c := r.Context(), caller(r)
	v, err := p.Service.GetLetter(ctx, c, id)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	raw, err := p.Service.Bundle(ctx, c, id)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	var b signing.Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		p.serverError(w, r, fmt.Errorf("receipt: own bundle: %w", err))
		return
	}
	var content *mailbox.Content
	if v.ContentVisible && v.Attachments > 0 && (v.Folder == "sent" || v.State != mailbox.StateDelivered) {
		// Reading the attachment list is reading the letter: a receipt of
		// a simple letter its recipient has not opened yet lists no
		// attachment digests rather than record a read nobody made.
		cn, err := p.Service.Content(ctx, c, id)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		content = &cn
	}
	l := p.locale(w, r)
	doc, err := pdf.RenderReceipt(receiptOf(l, v, b, content, p.verifyURL(r), p.now()))
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "npes-receipt-" + id + ".pdf"}))
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
}

// verifyURL is the public verify page on the configured origin
// (NPES_WEB_ORIGIN), else on the origin the browser reached.
func (p *Portal) verifyURL(r *http.Request) string {
	if p.rp != nil && len(p.rp.Origins) > 0 {
		return p.rp.Origins[0] + "/verify"
	}
	return "https://" + r.Host + "/verify"
}

func receiptOf(l *locale, v mailbox.LetterView, b signing.Bundle, content *mailbox.Content, verify string, now time.Time) pdf.Receipt {
	kind := l.T("Simple letter")
	if v.Registered {
		kind = l.T("Registered letter")
	}
	party := func(p mailbox.PartyView) string {
		s := p.Name
		if p.Address != "" {
			s += "\n" + p.Address
		}
		if p.Mailbox != "" {
			s += "\n" + l.T("Mailbox %s", p.Mailbox)
		}
		return strings.TrimSpace(s)
	}
	letter := pdf.ReceiptSection{Heading: l.T("Letter"), Rows: []pdf.ReceiptRow{
		{Label: l.T("Subject"), Value: v.Subject},
		{Label: l.T("Letter number"), Value: v.ID, Code: true},
	}}
	if v.Tracking != "" {
		letter.Rows = append(letter.Rows, pdf.ReceiptRow{Label: l.T("Tracking number"), Value: v.Tracking, Code: true})
	}
	letter.Rows = append(letter.Rows,
		pdf.ReceiptRow{Label: l.T("Kind"), Value: kind},
		pdf.ReceiptRow{Label: l.T("State"), Value: l.T("state." + v.State)},
		pdf.ReceiptRow{Label: l.T("Date"), Value: l.Date(v.CreatedAt)})
	if v.Deadline != nil {
		letter.Rows = append(letter.Rows, pdf.ReceiptRow{Label: l.T("Deadline to sign"), Value: l.Date(*v.Deadline)})
	}
	parties := pdf.ReceiptSection{Heading: l.T("Parties"), Rows: []pdf.ReceiptRow{
		{Label: l.T("From"), Value: party(v.Sender)},
		{Label: l.T("To"), Value: party(v.Recipient)},
	}}
	hashes := map[uint64]string{}
	for _, e := range b.Evidence {
		hashes[e.LeafIndex] = e.Envelope.Hash()
	}
	events := pdf.ReceiptSection{Heading: l.T("What happened")}
	for _, e := range v.Evidence {
		val := l.T("event."+e.Event) + "\n" + l.T("Recorded in the public log as entry %d.", e.LogIndex)
		if h := hashes[e.LogIndex]; h != "" {
			val += "\nSHA-256 " + h
		}
		events.Rows = append(events.Rows, pdf.ReceiptRow{Label: l.Date(e.Time), Value: val})
	}
	digests := pdf.ReceiptSection{Heading: l.T("Digests (SHA-256)"), Rows: []pdf.ReceiptRow{
		{Label: l.T("Content"), Value: v.ContentSHA256, Code: true},
	}}
	if content != nil {
		for i, a := range content.Attachments {
			digests.Rows = append(digests.Rows, pdf.ReceiptRow{Label: l.T("Attachment %d: %s", i+1, a.Name), Value: a.SHA256, Code: true})
		}
	}
	// The checkpoint note's body: origin, tree size, root hash (C2SP
	// tlog-checkpoint); the signature lines follow a blank line.
	cp, _, _ := strings.Cut(b.Checkpoint, "\n\n")
	digests.Rows = append(digests.Rows, pdf.ReceiptRow{Label: l.T("Log checkpoint"), Value: strings.TrimSpace(cp), Code: true})
	return pdf.Receipt{
		Lang:      l.Code,
		Title:     l.T("Receipt for a letter"),
		Intro:     l.T("This receipt lists what the post office recorded about the letter. The proof is the evidence bundle (JSON) from the letter's page: upload it on the verify page, which checks every signature and the public log, and compare the digests with this paper."),
		Sections:  []pdf.ReceiptSection{letter, parties, events, digests},
		QR:        verify,
		QRCaption: l.T("Check the bundle:") + " " + verify,
		Footer:    l.T("npes — registered electronic post") + " · " + l.T("Printed %s", l.Date(now)),
		Created:   now,
	}
}
