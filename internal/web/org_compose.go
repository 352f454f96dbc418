package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/npes/npes/addressing"
	"github.com/npes/npes/mailbox"
)

// composePage is the organization's compose form, with the result of its
// "check" step when there is one.
type composePage struct {
	Key                          string // idempotency key of the form
	Name, Address, Subject, Body string
	Registered                   bool
	PrintIfUnsigned              string // a period as the API takes it: 10d, 36h
	// Draft names held, checked attachments (see heldStore).
	Draft       string
	Attachments []mailbox.AttachmentMeta
	Checked     bool
	Parsed      *addressing.Address // how the address is understood
	MatchKey    string
	Lines       []string // the address as it would be printed
	AddressErr  string
	Verdict     string // the precheck's refusal, "" when it passed
	Error       string // a refusal of sending (the service's message)
	ErrorKey    string // or a message of the catalogue
}

// heldDraft is a checked compose draft. One request at a time uses it (a
// draft's staged files are read sequentially), and dropping it from the
// store while a request uses it closes it when that request is done.
type heldDraft struct {
	d    *mailbox.Draft
	atts []mailbox.AttachmentMeta
	use  sync.Mutex // held by the request using d

	mu      sync.Mutex
	users   int
	dropped bool
}

// acquire takes the draft for one request; false if it was dropped.
func (h *heldDraft) acquire() bool {
	h.mu.Lock()
	if h.dropped {
		h.mu.Unlock()
		return false
	}
	h.users++
	h.mu.Unlock()
	h.use.Lock()
	return true
}

func (h *heldDraft) release() {
	h.use.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users--
	if h.users == 0 && h.dropped {
		h.d.Close()
	}
}

// drop is the store's close: now, or when the last request is done.
func (h *heldDraft) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropped = true
	if h.users == 0 {
		h.d.Close()
	}
}

func (o *orgConsole) composeForm(w http.ResponseWriter, r *http.Request) {
	o.p.render(w, r, http.StatusOK, "org_compose", "Compose a letter", composePage{Key: newFormKey()})
}

// composePost is POST /org/compose (multipart/form-data): the button
// "check" runs the service's precheck and shows how the address is
// understood; "send" submits the letter as POST /v1/letters does.
// Attachments are staged in a draft as they stream in (encrypted, as for
// the API); a checked draft is held, so sending it needs no second upload.
func (o *orgConsole) composePost(w http.ResponseWriter, r *http.Request) {
	p := o.p
	lim := p.Service.Limits()
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxAttachmentBytes+4*lim.MaxBodyBytes+int64(lim.MaxAttachments+8)*16<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	d, err := p.Service.NewDraft()
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	keep := false
	defer func() {
		if !keep {
			d.Close()
		}
	}()
	page := composePage{}
	fields := map[string]string{}
	files := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			o.composeError(w, r, page, err)
			return
		}
		name := part.FormName()
		if name == "attachment" {
			if part.FileName() == "" {
				continue // the file input left empty
			}
			files++
			ct := part.Header.Get("Content-Type")
			if mt, _, err := mime.ParseMediaType(ct); err == nil {
				ct = mt
			}
			if err := d.AddAttachment(part.FileName(), ct, part); err != nil {
				o.composeError(w, r, page, err)
				return
			}
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, lim.MaxBodyBytes+1))
		if err != nil {
			o.composeError(w, r, page, err)
			return
		}
		if int64(len(v)) > lim.MaxBodyBytes {
			o.composeError(w, r, page, mailbox.Errorf(mailbox.ErrTooLarge, "body_too_large", "the body exceeds %d bytes", lim.MaxBodyBytes))
			return
		}
		fields[name] = string(v)
	}
	page = composePage{Key: fields["key"], Name: strings.TrimSpace(fields["name"]), Address: strings.TrimSpace(fields["address"]),
		Subject: strings.TrimSpace(fields["subject"]), Body: strings.ReplaceAll(fields["body"], "\r\n", "\n"),
		Registered: fields["registered"] == "on", PrintIfUnsigned: strings.TrimSpace(fields["print_if_unsigned"]),
		Draft: fields["draft"]}
	if len(page.Key) != 22 {
		page.Key = newFormKey()
	}
	s := sessionFrom(r)
	draft := d
	if files == 0 && page.Draft != "" {
		// No new files: the attachments checked before.
		if h, ok := o.held.get(s.Identity.ID, page.Draft).(*heldDraft); ok && h.acquire() {
			defer h.release()
			draft, page.Attachments = h.d, h.atts
		} else {
			page.Draft = ""
			page.ErrorKey = "The checked attachments are no longer kept: please attach the files again."
			p.render(w, r, http.StatusConflict, "org_compose", "Compose a letter", page)
			return
		}
	} else {
		page.Draft = ""
	}
	sub := mailbox.Submission{RecipientName: page.Name, RecipientAddress: page.Address, Registered: page.Registered,
		Subject: page.Subject, Body: page.Body, IdempotencyKey: "web-" + page.Key, Channel: mailbox.ChannelWeb}
	if page.PrintIfUnsigned != "" {
		if sub.PrintIfUnsignedAfter, err = mailbox.ParsePeriod(page.PrintIfUnsigned); err != nil {
			err = mailbox.Errorf(mailbox.ErrInvalid, "bad_period", "print_if_unsigned_after: %v", err)
			o.composeError(w, r, page, err)
			return
		}
	}
	if draft == d && files > 0 {
		// Hold the new attachments, so the next press (send after check,
		// or send again after a refusal) needs no second upload.
		page.Attachments = d.Attachments()
		var size int64
		for _, a := range page.Attachments {
			size += a.Size
		}
		held := &heldDraft{d: d, atts: page.Attachments}
		held.acquire()
		defer held.release()
		page.Draft = o.held.put(s.Identity.ID, size, held, held.drop)
		keep = true
	}
	if fields["action"] == "check" {
		o.check(w, r, page, sub, draft)
		return
	}
	v, _, err := p.Service.Submit(r.Context(), caller(r), sub, draft)
	if err != nil {
		o.composeError(w, r, page, err)
		return
	}
	http.Redirect(w, r, "/letters/"+v.ID, http.StatusSeeOther)
}

// check shows how the address is understood (parsed fields, match key,
// warnings) and whether the service would accept the letter for print:
// never whether a mailbox exists there.
func (o *orgConsole) check(w http.ResponseWriter, r *http.Request, page composePage, sub mailbox.Submission, d *mailbox.Draft) {
	page.Checked = true
	if addr, err := addressing.Parse(page.Address); err != nil {
		page.AddressErr = err.Error()
	} else {
		page.Parsed, page.MatchKey, page.Lines = &addr, addr.MatchKey(), addr.Lines()
	}
	if _, err := o.p.Service.Precheck(r.Context(), caller(r), sub, d); err != nil {
		var de *mailbox.Error
		if !errors.As(err, &de) || errors.Is(err, mailbox.ErrUnavailable) {
			o.p.serverError(w, r, err)
			return
		}
		page.Verdict = de.Message
	}
	o.p.render(w, r, http.StatusOK, "org_compose", "Compose a letter", page)
}

func (o *orgConsole) composeError(w http.ResponseWriter, r *http.Request, page composePage, err error) {
	var de *mailbox.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		page.ErrorKey = "The letter with its attachments is too large."
		page.Draft, page.Attachments = "", nil
		o.p.render(w, r, http.StatusRequestEntityTooLarge, "org_compose", "Compose a letter", page)
	case errors.As(err, &de):
		page.Error = de.Message
		o.p.render(w, r, statusOf(err), "org_compose", "Compose a letter", page)
	default:
		o.p.serverError(w, r, err)
	}
}
