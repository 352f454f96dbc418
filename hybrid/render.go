package hybrid

import (
	"context"
	"time"

	"github.com/npes/npes/hybrid/pdf"
	"github.com/npes/npes/mailbox"
)

// Renderer adapts the PDF renderer to the core's mailbox.Renderer. Fonts are
// parsed once, when it is built; it is safe for concurrent use.
type Renderer struct {
	pdf *pdf.Renderer
	// Duplex prints on both sides of each sheet.
	Duplex bool
	// SenderLine is the operator's return address on activation letters.
	OperatorLine string
}

var _ mailbox.Renderer = (*Renderer)(nil)

// NewRenderer builds the renderer.
func NewRenderer() (*Renderer, error) {
	r, err := pdf.NewRenderer()
	if err != nil {
		return nil, err
	}
	return &Renderer{pdf: r}, nil
}

func result(res pdf.Result) mailbox.Rendered {
	return mailbox.Rendered{PDF: res.PDF, Pages: res.Pages, Sheets: res.Sheets, SHA256: res.SHA256}
}

// RenderLetter implements mailbox.Renderer. Dates are printed in Minsk
// time, and only the letter's own date is used (deterministic output).
func (r *Renderer) RenderLetter(ctx context.Context, l mailbox.PrintLetter) (mailbox.Rendered, error) {
	if err := ctx.Err(); err != nil {
		return mailbox.Rendered{}, err
	}
	atts := make([]pdf.Attachment, len(l.Attachments))
	for i, a := range l.Attachments {
		atts[i] = pdf.Attachment{Name: a.Name, ContentType: a.ContentType, Data: a.Data}
	}
	res, err := r.pdf.Render(pdf.Letter{
		ID: l.ID, Tracking: l.Tracking, SenderLine: l.SenderLine, RecipientName: l.RecipientName,
		AddressLines: l.AddressLines, Subject: l.Subject, Body: l.Body, Date: minsk(l.Date),
		Attachments: atts, Duplex: r.Duplex,
	})
	return result(res), err
}

// RenderActivation implements mailbox.Renderer.
func (r *Renderer) RenderActivation(ctx context.Context, a mailbox.PrintActivation) (mailbox.Rendered, error) {
	if err := ctx.Err(); err != nil {
		return mailbox.Rendered{}, err
	}
	res, err := r.pdf.RenderActivation(pdf.Activation{
		ID: a.ID, RecipientName: a.RecipientName, AddressLines: a.AddressLines, Code: a.Code,
		MailboxID: a.MailboxID, Date: minsk(a.Date), SenderLine: r.OperatorLine, Duplex: r.Duplex,
	})
	return result(res), err
}

// CheckAttachment implements mailbox.Renderer.
func (r *Renderer) CheckAttachment(name, contentType string, data []byte) error {
	return pdf.CheckAttachment(pdf.Attachment{Name: name, ContentType: contentType, Data: data})
}

func minsk(t time.Time) time.Time { return t.In(Minsk) }
