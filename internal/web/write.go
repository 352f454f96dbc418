package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/npes/npes/mailbox"
)

type writePage struct {
	// Key is the form's idempotency key: a second press of Send (or a
	// reload of the POST) returns the first letter instead of a copy.
	Key                          string
	Name, Address, Subject, Body string
	Registered                   bool
	// InReplyTo is the letter this one answers; ReplySubject its subject.
	InReplyTo, ReplySubject string
	// Error is the catalogue key of what went wrong and Field the form
	// field it belongs to ("" for the form as a whole); Detail the
	// service's own words (addresses: which part could not be read).
	Error, Field, Detail string
	// Lost: files were chosen but the form came back, so they must be
	// chosen again (a browser never refills a file input).
	Lost bool
	// MaxFiles and MaxMiB state the limits next to the file input.
	MaxFiles, MaxMiB int
}

// writeForm is GET /write: a letter to a person or organization by postal
// address, simple or registered, with attachments; ?reply=ID answers a
// letter (in_reply_to), addressed to its other party.
func (p *Portal) writeForm(w http.ResponseWriter, r *http.Request) {
	page := p.newWritePage()
	if id := r.URL.Query().Get("reply"); id != "" {
		v, err := p.Service.GetLetter(r.Context(), caller(r), id)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		other := v.Sender
		if v.Folder == "sent" {
			other = v.Recipient
		}
		page.InReplyTo, page.ReplySubject = v.ID, v.Subject
		page.Name, page.Address = other.Name, other.Address
		page.Subject = v.Subject
		if !strings.HasPrefix(strings.ToLower(page.Subject), "re:") {
			page.Subject = "Re: " + page.Subject
		}
	}
	p.render(w, r, http.StatusOK, "write", "Write a letter", page)
}

func (p *Portal) newWritePage() writePage {
	lim := p.Service.Limits()
	return writePage{Key: newFormKey(), MaxFiles: lim.MaxAttachments, MaxMiB: int(lim.MaxAttachmentBytes >> 20)}
}

// formFieldMax bounds each text field of the form: the body by the
// service's limit (with room for the form encoding), the others small.
const formFieldMax = 8 << 10

// writeSend is POST /write (multipart/form-data, or urlencoded without
// files). The service validates, routes and records the letter exactly as
// for POST /v1/letters; its errors are shown next to the field they concern
// in the reader's language.
func (p *Portal) writeSend(w http.ResponseWriter, r *http.Request) {
	lim := p.Service.Limits()
	// The whole request: the body, every attachment and the form's own
	// overhead. MaxBytesReader also tells the server to close the
	// connection rather than read the rest of an oversized upload.
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxAttachmentBytes+2*lim.MaxBodyBytes+1<<20)
	page := p.newWritePage()
	draft, err := p.Service.NewDraft()
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	defer draft.Close()
	fail := func(status int, key, field string) {
		page.Error, page.Field = key, field
		if len(page.Key) != 22 {
			page.Key = newFormKey()
		}
		p.render(w, r, status, "write", "Write a letter", page)
	}
	files := 0
	fields := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			fail(http.StatusBadRequest, "The form could not be read. Please try again.", "")
			return
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				page.Lost = files > 0
				fillWrite(&page, fields)
				if isTooLarge(err) {
					fail(http.StatusRequestEntityTooLarge, "The letter with its attachments is too large.", "attachments")
					return
				}
				fail(http.StatusBadRequest, "The form could not be read. Please try again.", "")
				return
			}
			name := part.FormName()
			if part.FileName() != "" || name == "files" {
				if part.FileName() == "" {
					continue // the file input left empty
				}
				files++
				if err := draft.AddAttachment(part.FileName(), part.Header.Get("Content-Type"), part); err != nil {
					// Read the text fields that follow, to give them back.
					drainFields(mr, fields)
					fillWrite(&page, fields)
					page.Lost = true
					var de *mailbox.Error
					var mbe *http.MaxBytesError
					switch {
					case errors.As(err, &mbe):
						fail(http.StatusRequestEntityTooLarge, "The letter with its attachments is too large.", "attachments")
					case errors.As(err, &de):
						page.Detail = de.Message
						fail(statusOf(err), errorKey(err, "An attachment could not be read."), "attachments")
					default:
						p.serverError(w, r, err)
					}
					return
				}
				continue
			}
			v, err := io.ReadAll(io.LimitReader(part, int64(max(formFieldMax, int(lim.MaxBodyBytes)*2))+1))
			if err != nil {
				fillWrite(&page, fields)
				page.Lost = files > 0
				fail(http.StatusRequestEntityTooLarge, "The letter with its attachments is too large.", "attachments")
				return
			}
			fields[name] = string(v)
		}
	} else {
		if err := r.ParseForm(); err != nil {
			fail(http.StatusRequestEntityTooLarge, "The text is too long.", "body")
			return
		}
		for k := range r.PostForm {
			fields[k] = r.PostForm.Get(k)
		}
	}
	fillWrite(&page, fields)
	if len(page.Key) != 22 {
		page.Key = newFormKey()
	}
	// The address is one line as written on an envelope: line breaks of
	// the text area become the commas the parser expects.
	address := oneLine(page.Address)
	v, _, err := p.Service.Submit(r.Context(), caller(r), mailbox.Submission{
		RecipientName: strings.TrimSpace(page.Name), RecipientAddress: strings.TrimSpace(address), Registered: page.Registered,
		Subject: strings.TrimSpace(page.Subject), Body: page.Body, IdempotencyKey: "web-" + page.Key, Channel: mailbox.ChannelWeb,
		InReplyTo: page.InReplyTo,
	}, draft)
	if err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) {
			page.Lost = files > 0
			page.Detail = de.Message
			fail(statusOf(err), errorKey(err, "The letter could not be sent."), fieldOf(err))
			return
		}
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/letters/"+v.ID+"?done=sent", http.StatusSeeOther)
}

func fillWrite(page *writePage, f map[string]string) {
	if k := f["key"]; k != "" {
		page.Key = k
	}
	page.Name, page.Address, page.Subject, page.Body = f["name"], f["address"], f["subject"], f["body"]
	page.Registered = f["registered"] == "on"
	page.InReplyTo = f["in_reply_to"]
}

// drainFields reads the remaining text fields of a form whose files are
// refused, bounded, so that the page can show what was typed.
func drainFields(mr *multipart.Reader, fields map[string]string) {
	for {
		part, err := mr.NextPart()
		if err != nil {
			return
		}
		if part.FileName() != "" {
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, 2<<20))
		if err != nil {
			return
		}
		fields[part.FormName()] = string(v)
	}
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe) || errors.Is(err, mailbox.ErrTooLarge)
}

func newFormKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// oneLine joins the lines of an address typed in a text area with the
// commas the address parser expects (a line may already end with one).
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimRight(strings.TrimSpace(l), ","); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, ", ")
}
