package smtpgw

import (
	"bufio"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/npes/npes/mailbox"
)

// The npes header fields of a submission (DESIGN §7). Any other X-Npes-*
// field is refused: a misspelt "X-Npes-Registred: yes" must not quietly
// send a simple letter instead of a registered one.
const (
	hdrRecipientName    = "X-Npes-Recipient-Name"
	hdrRecipientAddress = "X-Npes-Recipient-Address"
	hdrRegistered       = "X-Npes-Registered"
	hdrPrintIfUnsigned  = "X-Npes-Print-If-Unsigned"
	hdrAcceptancePeriod = "X-Npes-Acceptance-Period"
	// hdrLanguage chooses the language of a printed letter's labels:
	// be or ru (absent: detected from the text).
	hdrLanguage = "X-Npes-Language"
	// hdrInReplyTo names the npes letter id a letter answers. RFC 5322
	// In-Reply-To names Message-IDs, which are the sender's MTA's, not
	// npes letters: it is left alone.
	hdrInReplyTo = "X-Npes-In-Reply-To"
)

var npesHeaders = []string{hdrRecipientName, hdrRecipientAddress, hdrRegistered, hdrPrintIfUnsigned, hdrAcceptancePeriod, hdrLanguage, hdrInReplyTo}

// parsed is what the gateway takes from a message; the attachments went to
// the sink as they streamed by.
type parsed struct {
	From             []string // addresses of the From field
	MessageID        string   // without angle brackets
	Subject          string
	Body             string
	Registered       bool
	Language         string // be, ru or "" (detected)
	PrintIfUnsigned  time.Duration
	AcceptancePeriod time.Duration
	RecipientName    string
	RecipientAddress string
	// RecipientHeaders is true when either X-Npes-Recipient-* field is there.
	RecipientHeaders bool
	Attachments      int
	InReplyTo        string // an npes letter id, checked by the core
}

// parseLimits bound what one message may make the parser hold or visit.
type parseLimits struct {
	MaxHeaderBytes int64 // the top-level header block
	MaxBodyBytes   int64 // the decoded UTF-8 body
	MaxDepth       int   // multipart nesting
	MaxParts       int   // MIME entities, the message itself included
}

// attachmentSink receives attachments as streams (*mailbox.Draft encrypts
// them to a temporary file as they arrive).
type attachmentSink interface {
	AddAttachment(name, contentType string, r io.Reader) error
}

// parseMessage reads an RFC 5322 message with MIME (RFC 2045-2049): the
// header fields of the submission, the body (the first text/plain part that
// is not an attachment, charset decoded, CRLF turned into LF, format=flowed
// undone) and every other leaf part as an attachment (transfer-decoded,
// bytes unchanged otherwise). Of a multipart/alternative only one rendering
// is kept: the text/plain one when it is there (RFC 2046 §5.1.4 — the
// alternatives carry the same content). message/rfc822 parts are attached
// whole, not opened. onBoundary, when set, learns each multipart boundary
// (lineReader uses it to bound part headers).
func parseMessage(r io.Reader, lim parseLimits, sink attachmentSink, onBoundary func(string)) (*parsed, error) {
	// A coarse cap for the header read (bufio reads ahead); lineReader
	// enforces the exact limit on the wire.
	lr := &io.LimitedReader{R: r, N: lim.MaxHeaderBytes + 64<<10}
	br := bufio.NewReaderSize(lr, 32<<10)
	h, err := textproto.ReadHeader(br)
	if lr.N <= 0 {
		return nil, refuse(ErrTooLarge, 552, enhTooBig, "The message header exceeds %d octets", lim.MaxHeaderBytes)
	}
	if err != nil {
		return nil, refuse(ErrMalformed, 550, enhMedia, "Malformed message header: %s", reason(err))
	}
	lr.N = math.MaxInt64

	out := &parsed{}
	if err := readHeaderFields(h, out); err != nil {
		return nil, err
	}
	w := &walker{lim: lim, sink: sink, onBoundary: onBoundary, out: out}
	if err := w.entity(h, br, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// readHeaderFields reads the submission's fields from the top-level header.
func readHeaderFields(h textproto.Header, out *parsed) error {
	for _, k := range append([]string{"From", "Sender", "Message-Id", "Subject", "Content-Type"}, npesHeaders...) {
		if len(h.Values(k)) > 1 {
			return refuse(ErrMalformed, 550, enhMedia, "The header field %s appears more than once (RFC 5322 §3.6)", k)
		}
	}
	for f := h.Fields(); f.Next(); {
		k := f.Key()
		if len(k) > 7 && strings.EqualFold(k[:7], "X-Npes-") && !knownNpesHeader(k) {
			return refuse(ErrMalformed, 550, enhMedia, "Unknown header field %s; npes knows %s", truncate(k, 60), strings.Join(npesHeaders, ", "))
		}
	}
	mh := mail.Header{Header: message.Header{Header: h}}
	from, err := mh.AddressList("From")
	if err != nil {
		return refuse(ErrMalformed, 550, enhMedia, "Malformed From field: %s", reason(err))
	}
	for _, a := range from {
		out.From = append(out.From, a.Address)
	}
	if out.MessageID, err = mh.MessageID(); err != nil {
		return refuse(ErrMalformed, 550, enhMedia, "Malformed Message-ID field: %s", reason(err))
	}
	text := func(k string) (string, error) {
		v, err := mh.Text(k)
		if err != nil {
			return "", refuse(ErrUnsupported, 554, enhMediaUnsupp, "The %s field uses an unsupported charset", k)
		}
		return singleLine(v), nil
	}
	if out.Subject, err = text("Subject"); err != nil {
		return err
	}
	if out.RecipientName, err = text(hdrRecipientName); err != nil {
		return err
	}
	if out.RecipientAddress, err = text(hdrRecipientAddress); err != nil {
		return err
	}
	out.RecipientHeaders = h.Has(hdrRecipientName) || h.Has(hdrRecipientAddress)
	out.InReplyTo = strings.TrimSpace(h.Get(hdrInReplyTo))
	switch v := strings.ToLower(strings.TrimSpace(h.Get(hdrRegistered))); v {
	case "yes":
		out.Registered = true
	case "no", "":
	default:
		return refuse(ErrMalformed, 550, enhMedia, "%s must be yes or no", hdrRegistered)
	}
	switch v := strings.ToLower(strings.TrimSpace(h.Get(hdrLanguage))); v {
	case mailbox.LanguageBelarusian, mailbox.LanguageRussian, "":
		out.Language = v
	default:
		return refuse(ErrMalformed, 550, enhMedia, "%s must be be (Belarusian) or ru (Russian)", hdrLanguage)
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{hdrPrintIfUnsigned, &out.PrintIfUnsigned}, {hdrAcceptancePeriod, &out.AcceptancePeriod}} {
		v := strings.TrimSpace(h.Get(d.key))
		if v == "" {
			continue
		}
		p, err := mailbox.ParsePeriod(v)
		if err != nil {
			return refuse(ErrMalformed, 550, enhMedia, "%s: %v", d.key, err)
		}
		*d.to = p
	}
	return nil
}

func knownNpesHeader(k string) bool {
	for _, n := range npesHeaders {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// walker visits the MIME tree depth-first as it streams.
type walker struct {
	lim        parseLimits
	sink       attachmentSink
	onBoundary func(string)
	out        *parsed
	parts      int
	bodySet    bool
}

func (w *walker) entity(h textproto.Header, body io.Reader, depth int) error {
	w.parts++
	if w.parts > w.lim.MaxParts {
		return refuse(ErrTooComplex, 554, enhMedia, "The message has more than %d MIME parts", w.lim.MaxParts)
	}
	mh := message.Header{Header: h}
	mt, params, err := mh.ContentType()
	if err != nil {
		return refuse(ErrMalformed, 550, enhMedia, "Malformed Content-Type: %s", reason(err))
	}
	if strings.HasPrefix(mt, "multipart/") {
		return w.multipart(mt, params, body, depth)
	}
	return w.leaf(mh, mt, params, body)
}

func (w *walker) multipart(mt string, params map[string]string, body io.Reader, depth int) error {
	if depth+1 > w.lim.MaxDepth {
		return refuse(ErrTooComplex, 554, enhMedia, "MIME parts are nested deeper than %d levels", w.lim.MaxDepth)
	}
	boundary := params["boundary"]
	if boundary == "" || len(boundary) > 70 {
		// RFC 2046 §5.1.1: 1 to 70 characters.
		return refuse(ErrMalformed, 550, enhMedia, "A %s part has no valid boundary", mt)
	}
	if w.onBoundary != nil {
		w.onBoundary(boundary)
	}
	alternative := mt == "multipart/alternative"
	bodyBefore := w.bodySet
	took := false // this alternative already kept its rendering
	mr := textproto.NewMultipartReader(body, boundary)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return refuse(ErrMalformed, 550, enhMedia, "Malformed %s structure: %s", mt, reason(err))
		}
		if took {
			w.parts++
			if w.parts > w.lim.MaxParts {
				return refuse(ErrTooComplex, 554, enhMedia, "The message has more than %d MIME parts", w.lim.MaxParts)
			}
			if _, err := io.Copy(io.Discard, p); err != nil {
				return refuse(ErrMalformed, 550, enhMedia, "Malformed %s structure: %s", mt, reason(err))
			}
			continue
		}
		before := w.bodySet
		if err := w.entity(p.Header, p, depth+1); err != nil {
			return err
		}
		if alternative && (bodyBefore || (w.bodySet && !before)) {
			took = true
		}
	}
}

func (w *walker) leaf(mh message.Header, mt string, params map[string]string, body io.Reader) error {
	disp := ""
	if mh.Has("Content-Disposition") {
		d, _, err := mh.ContentDisposition()
		if err != nil {
			return refuse(ErrMalformed, 550, enhMedia, "Malformed Content-Disposition: %s", reason(err))
		}
		disp = strings.ToLower(d)
	}
	name, err := partFilename(mh)
	if err != nil {
		return err
	}
	decoded, err := transferDecode(mh.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	if !w.bodySet && mt == "text/plain" && disp != "attachment" && name == "" {
		text, err := w.readBody(decoded, params)
		if err != nil {
			return err
		}
		w.out.Body, w.bodySet = text, true
		return nil
	}
	w.out.Attachments++
	if name == "" {
		name = generatedName(w.out.Attachments, mt)
	}
	return w.sink.AddAttachment(name, mt, decoded)
}

// readBody decodes the body part to the letter's body text.
func (w *walker) readBody(r io.Reader, params map[string]string) (string, error) {
	cr, err := decodeCharset(params["charset"], r)
	if err != nil {
		return "", err
	}
	// CRLF → LF shrinks the text; read at most twice the limit.
	limit := 2*w.lim.MaxBodyBytes + 1
	b, err := io.ReadAll(io.LimitReader(cr, limit))
	if err != nil {
		return "", err
	}
	tooBig := refuse(ErrTooLarge, 552, enhTooBig, "The body exceeds %d bytes", w.lim.MaxBodyBytes)
	if int64(len(b)) >= limit {
		return "", tooBig
	}
	// RFC 2046 §4.1.1: CRLF is the canonical line break of text on the wire;
	// the letter's body uses LF, as the HTTP API's JSON does.
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	if strings.EqualFold(params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(params["delsp"], "yes"))
	}
	if int64(len(s)) > w.lim.MaxBodyBytes {
		return "", tooBig
	}
	return s, nil
}

// partFilename is the suggested file name of a part: Content-Disposition's
// filename, else Content-Type's name (RFC 2183 §2.3, RFC 2045 §5.1), with
// RFC 2231 extended values in any charset and RFC 2047 encoded words (as
// Outlook writes them) decoded, and directory parts dropped.
func partFilename(mh message.Header) (string, error) {
	for _, f := range []struct{ field, param string }{{"Content-Disposition", "filename"}, {"Content-Type", "name"}} {
		raw := mh.Get(f.field)
		if raw == "" {
			continue
		}
		if strings.Contains(strings.ToLower(raw), f.param+"*") {
			v, ok, err := param2231(raw, f.param)
			if err != nil {
				return "", err
			}
			if ok {
				return baseName(singleLine(v)), nil
			}
		}
		var params map[string]string
		var err error
		if f.field == "Content-Type" {
			_, params, err = mh.ContentType()
		} else {
			_, params, err = mh.ContentDisposition()
		}
		if err != nil {
			return "", refuse(ErrMalformed, 550, enhMedia, "Malformed %s: %s", f.field, reason(err))
		}
		if v := params[f.param]; v != "" {
			return baseName(singleLine(v)), nil
		}
	}
	return "", nil
}

// transferDecode undoes a Content-Transfer-Encoding (RFC 2045 §6) with
// go-message, and only that: the charset of a text attachment is left alone
// so its bytes stay the sender's.
func transferDecode(cte string, r io.Reader) (io.Reader, error) {
	var h message.Header
	h.Set("Content-Type", "application/octet-stream")
	if cte != "" {
		h.Set("Content-Transfer-Encoding", cte)
	}
	e, err := message.New(h, r)
	if err != nil {
		return nil, refuse(ErrUnsupported, 554, enhMediaUnsupp, "Unsupported Content-Transfer-Encoding %q", truncate(cte, 40))
	}
	return &decodeErrReader{r: e.Body}, nil
}

// decodeErrReader turns decoding failures into refusals that name the
// cause: invalid base64 or quoted-printable, or a part that ends before its
// encoding does (which io.ReadFull callers would otherwise take for a
// normal end).
type decodeErrReader struct{ r io.Reader }

func (d *decodeErrReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	var ce base64.CorruptInputError
	var rf *refusal
	var se *smtp.SMTPError
	switch {
	case errors.As(err, &rf), errors.As(err, &se):
		return n, err
	case errors.As(err, &ce):
		return n, refuse(ErrMalformed, 550, enhMedia, "Invalid base64 in a MIME part")
	case strings.HasPrefix(err.Error(), "quotedprintable:"):
		// mime/quotedprintable's errors have no exported type.
		return n, refuse(ErrMalformed, 550, enhMedia, "Invalid quoted-printable in a MIME part")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, refuse(ErrMalformed, 550, enhMedia, "A MIME part ends before its content does")
	}
	// Stream errors (timeouts, bare line endings) were recorded by the
	// lineReader below, which the session consults first; what is left is
	// the content's own fault.
	return n, refuse(ErrMalformed, 550, enhMedia, "A MIME part does not decode: %s", reason(err))
}

// reason is a parser error's text, bounded, for a reply.
func reason(err error) string {
	return truncate(strings.ReplaceAll(err.Error(), "\n", " "), 200)
}
