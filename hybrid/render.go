package hybrid

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/npes/npes/hybrid/pdf"
	"github.com/npes/npes/hybrid/pool"
	"github.com/npes/npes/mailbox"
)

// Renderer adapts the PDF renderer to the core's mailbox.Renderer. Fonts are
// parsed once, when it is built; it is safe for concurrent use.
//
// Renders run in a bounded pool (hybrid/pool): at most Workers at a
// time, each bounded in memory by the pdf package's limits
// (MaxImageDecodeBytes, one image decoded at a time), so the pool bounds
// the memory of all renders together. A render waits at most Wait for a free worker, then fails with
// the code render_busy (kind mailbox.ErrUnavailable: HTTP 503 with
// Retry-After). Checking an attachment decodes or parses it, and takes a
// worker as well.
type Renderer struct {
	pdf  *pdf.Renderer
	pool *pool.Pool
	// Duplex prints on both sides of each sheet.
	Duplex bool
	// SenderLine is the operator's return address on activation letters.
	OperatorLine string
}

var _ mailbox.Renderer = (*Renderer)(nil)

// PoolOptions size the render pool.
type PoolOptions struct {
	// Workers is the number of renders that run at once; 0 means
	// GOMAXPROCS (rendering is CPU-bound: more would only queue inside
	// the scheduler while holding their memory).
	Workers int
	// Wait is how long a render waits for a worker before it fails as
	// busy; 0 means DefaultRenderWait, negative means not at all.
	Wait time.Duration
}

// DefaultRenderWait is how long a render waits for a worker by default:
// a few renders' time on a busy server, well within a client's timeout.
const DefaultRenderWait = 5 * time.Second

// NewRenderer builds the renderer with the default pool.
func NewRenderer() (*Renderer, error) { return NewPooledRenderer(PoolOptions{}) }

// NewPooledRenderer builds the renderer with the given pool.
func NewPooledRenderer(o PoolOptions) (*Renderer, error) {
	r, err := pdf.NewRenderer()
	if err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Wait == 0 {
		o.Wait = DefaultRenderWait
	}
	return &Renderer{pdf: r, pool: pool.New(o.Workers, o.Wait, "render_busy", "renderers")}, nil
}

// translate gives the renderer's refusals the core's error codes.
func translate(err error) error {
	if errors.Is(err, pdf.ErrAddressTooLong) {
		return mailbox.Errorf(mailbox.ErrInvalid, "address_too_long", "%v", err)
	}
	return err
}

func result(res pdf.Result) mailbox.Rendered {
	return mailbox.Rendered{PDF: res.PDF, Pages: res.Pages, Sheets: res.Sheets, SHA256: res.SHA256}
}

// RenderLetter implements mailbox.Renderer. Dates are printed in Minsk
// time, and only the letter's own date is used (deterministic output).
func (r *Renderer) RenderLetter(ctx context.Context, l mailbox.PrintLetter) (mailbox.Rendered, error) {
	release, err := r.pool.Acquire(ctx)
	if err != nil {
		return mailbox.Rendered{}, err
	}
	defer release()
	atts := make([]pdf.Attachment, len(l.Attachments))
	for i, a := range l.Attachments {
		atts[i] = pdf.Attachment{Name: a.Name, ContentType: a.ContentType, Data: a.Data}
	}
	res, err := r.pdf.Render(pdf.Letter{
		ID: l.ID, Tracking: l.Tracking, SenderLine: l.SenderLine, RecipientName: l.RecipientName,
		AddressLines: l.AddressLines, Subject: l.Subject, Body: l.Body, Date: minsk(l.Date),
		Attachments: atts, Duplex: r.Duplex, Language: l.Language,
	})
	return result(res), translate(err)
}

// RenderActivation implements mailbox.Renderer.
func (r *Renderer) RenderActivation(ctx context.Context, a mailbox.PrintActivation) (mailbox.Rendered, error) {
	release, err := r.pool.Acquire(ctx)
	if err != nil {
		return mailbox.Rendered{}, err
	}
	defer release()
	res, err := r.pdf.RenderActivation(pdf.Activation{
		ID: a.ID, RecipientName: a.RecipientName, AddressLines: a.AddressLines, Code: a.Code,
		MailboxID: a.MailboxID, Date: minsk(a.Date), SenderLine: r.OperatorLine, Duplex: r.Duplex,
	})
	return result(res), translate(err)
}

// CheckAttachment implements mailbox.Renderer.
func (r *Renderer) CheckAttachment(name, contentType string, data []byte) error {
	release, err := r.pool.Acquire(context.Background())
	if err != nil {
		return err
	}
	defer release()
	return pdf.CheckAttachment(pdf.Attachment{Name: name, ContentType: contentType, Data: data})
}

// CheckAddress implements mailbox.Renderer. Measuring a few lines of text
// is cheap, so it does not wait for a worker.
func (r *Renderer) CheckAddress(name string, lines []string) error {
	return translate(r.pdf.CheckAddress(name, lines))
}

func minsk(t time.Time) time.Time { return t.In(Minsk) }
