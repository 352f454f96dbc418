package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/npes/npes/mailbox"
	"github.com/npes/npes/signing"
)

// letterPart is the JSON part "letter" of a submission (a contract).
type letterPart struct {
	Recipient struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"recipient"`
	Registered           bool   `json:"registered"`
	Subject              string `json:"subject"`
	Body                 string `json:"body"`
	Language             string `json:"language"`
	PrintIfUnsignedAfter string `json:"print_if_unsigned_after"`
	AcceptancePeriod     string `json:"acceptance_period"`
	From                 string `json:"from"`
	InReplyTo            string `json:"in_reply_to"`
}

// submission is the letter part as the service takes it.
func (lp *letterPart) submission(key string) (mailbox.Submission, error) {
	piu, err := parsePeriod("print_if_unsigned_after", lp.PrintIfUnsignedAfter)
	if err != nil {
		return mailbox.Submission{}, err
	}
	ap, err := parsePeriod("acceptance_period", lp.AcceptancePeriod)
	if err != nil {
		return mailbox.Submission{}, err
	}
	return mailbox.Submission{
		RecipientName: lp.Recipient.Name, RecipientAddress: lp.Recipient.Address, Registered: lp.Registered,
		Subject: lp.Subject, Body: lp.Body, Language: lp.Language, PrintIfUnsignedAfter: piu, AcceptancePeriod: ap,
		IdempotencyKey: key, FromMailbox: lp.From, Channel: mailbox.ChannelAPI, InReplyTo: lp.InReplyTo,
	}, nil
}

func parsePeriod(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := mailbox.ParsePeriod(v)
	if err != nil {
		return 0, mailbox.Errorf(mailbox.ErrInvalid, "bad_period", "%s: %v", field, err)
	}
	return d, nil
}

// submitLetter reads a multipart/form-data submission as a stream: the
// "letter" JSON part and any number of "attachment" file parts, in any
// order. Attachments go straight into the draft (encrypted temp files), so
// memory stays bounded whatever their size; the whole request is capped.
func (s *server) submitLetter(w http.ResponseWriter, r *http.Request) {
	// A submission refused before Submit is counted here; Submit counts
	// its own refusals.
	refuse := func(err error) { s.Service.SubmissionRefused(err); s.writeError(w, r, err) }
	lim := s.Service.Limits()
	// The JSON part may escape every character of the body (\uXXXX: 6
	// bytes), plus multipart framing for each attachment.
	maxJSON := 6*lim.MaxBodyBytes + 64<<10
	r.Body = http.MaxBytesReader(w, r.Body, lim.MaxAttachmentBytes+maxJSON+int64(lim.MaxAttachments+1)*16<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		refuse(mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "the body must be multipart/form-data with a part named letter"))
		return
	}
	draft, err := s.Service.NewDraft()
	if err != nil {
		refuse(err)
		return
	}
	defer draft.Close()
	var lp *letterPart
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			refuse(bodyError(err))
			return
		}
		switch part.FormName() {
		case "letter":
			if lp != nil {
				refuse(mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "more than one letter part"))
				return
			}
			lp = new(letterPart)
			// MaxBytesReader, not LimitReader: a part over the limit is 413,
			// not a truncated document answered as bad JSON.
			if err := unmarshalJSON(http.MaxBytesReader(w, io.NopCloser(part), maxJSON), lp); err != nil {
				refuse(orBodyError(err, mailbox.Errorf(mailbox.ErrInvalid, "bad_json", "the letter part is not the expected JSON: %v", err)))
				return
			}
		case "attachment":
			// The raw file name: Part.FileName strips directories, and a
			// client that sends "../x" should hear that it is refused.
			_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
			name := params["filename"]
			if name == "" {
				refuse(mailbox.Errorf(mailbox.ErrInvalid, "bad_attachment_name", "an attachment part needs a filename"))
				return
			}
			if err := draft.AddAttachment(name, part.Header.Get("Content-Type"), part); err != nil {
				refuse(orBodyError(err, err))
				return
			}
		default:
			refuse(mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "unexpected part %q (want letter or attachment)", part.FormName()))
			return
		}
	}
	if lp == nil {
		refuse(mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "the part named letter is missing"))
		return
	}
	sub, err := lp.submission(r.Header.Get("Idempotency-Key"))
	if err != nil {
		refuse(err)
		return
	}
	v, replayed, err := s.Service.Submit(r.Context(), caller(r), sub, draft)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	evs := v.Envelopes
	if evs == nil { // a replayed submission: read the receipts back
		if evs, err = s.Service.Evidence(r.Context(), caller(r), v.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", "/v1/letters/"+v.ID)
	writeJSON(w, http.StatusCreated, submitReply{LetterView: v, Evidence: evs})
}

// submitReply is the 201 answer: the letter and its signed evidence
// envelopes (the sender's receipts).
type submitReply struct {
	mailbox.LetterView
	Evidence []json.RawMessage `json:"evidence"`
}

// bodyError maps a failure reading the request body.
func bodyError(err error) error {
	if errors.Is(err, errBodyTimeout) {
		return errBodyTimeout
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mailbox.Errorf(mailbox.ErrTooLarge, "too_large", "the submission exceeds %d bytes", mbe.Limit)
	}
	return mailbox.Errorf(mailbox.ErrInvalid, "bad_request", "reading the request: %v", err)
}

func orBodyError(err, otherwise error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errBodyTimeout) {
		return bodyError(err)
	}
	return otherwise
}

func (s *server) listLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 200 {
			s.writeError(w, r, mailbox.Errorf(mailbox.ErrInvalid, "bad_limit", "limit must be 1..200"))
			return
		}
		limit = n
	}
	ls, next, err := s.Service.ListLetters(r.Context(), caller(r), q.Get("folder"), q.Get("cursor"), limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ls == nil {
		ls = []mailbox.LetterView{}
	}
	writeJSON(w, http.StatusOK, struct {
		Letters    []mailbox.LetterView `json:"letters"`
		NextCursor string               `json:"next_cursor,omitempty"`
	}{ls, next})
}

func (s *server) getLetter(w http.ResponseWriter, r *http.Request) {
	v, err := s.Service.GetLetter(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *server) recallLetter(w http.ResponseWriter, r *http.Request) {
	v, err := s.Service.Recall(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *server) letterThread(w http.ResponseWriter, r *http.Request) {
	ls, err := s.Service.Thread(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Letters []mailbox.LetterView `json:"letters"`
	}{ls})
}

func (s *server) letterContent(w http.ResponseWriter, r *http.Request) {
	c, err := s.Service.Content(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *server) letterAttachment(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	n, err := strconv.Atoi(chi.URLParam(r, "n"))
	if err != nil {
		s.writeError(w, r, mailbox.Errorf(mailbox.ErrNotFound, "attachment_not_found", "attachments are numbered from 1"))
		return
	}
	meta, err := s.Service.AttachmentInfo(r.Context(), caller(r), id, n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	// Only types npes verified by content are labelled as such; the browser
	// must not sniff, and the file is always a download (never rendered in
	// the API's origin).
	h.Set("Content-Type", meta.ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.Name}))
	h.Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	if sum, err := hex.DecodeString(meta.SHA256); err == nil {
		// RFC 9530 §3: the digest of the representation.
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	}
	if _, err := s.Service.Attachment(r.Context(), caller(r), id, n, w); err != nil {
		// Headers are gone: cut the connection so the client sees a
		// truncated body rather than a complete-looking wrong one.
		s.log.ErrorContext(r.Context(), "streaming attachment failed", "letter", id, "n", n, "err", err)
		panic(http.ErrAbortHandler)
	}
}

func (s *server) decide(accept bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			JWS      string                     `json:"jws"`
			WebAuthn *signing.WebAuthnAssertion `json:"webauthn"`
		}
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
		var v mailbox.LetterView
		var err error
		switch {
		case (req.JWS == "") == (req.WebAuthn == nil):
			err = mailbox.Errorf(mailbox.ErrInvalid, "bad_signature", "give exactly one of jws and webauthn")
		case req.WebAuthn != nil && accept:
			v, err = s.Service.AcceptWithPasskey(r.Context(), caller(r), chi.URLParam(r, "id"), *req.WebAuthn)
		case req.WebAuthn != nil:
			v, err = s.Service.RefuseWithPasskey(r.Context(), caller(r), chi.URLParam(r, "id"), *req.WebAuthn)
		case accept:
			v, err = s.Service.Accept(r.Context(), caller(r), chi.URLParam(r, "id"), req.JWS)
		default:
			v, err = s.Service.Refuse(r.Context(), caller(r), chi.URLParam(r, "id"), req.JWS)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (s *server) letterEvidence(w http.ResponseWriter, r *http.Request) {
	evs, err := s.Service.Evidence(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence []json.RawMessage `json:"evidence"`
	}{evs})
}

func (s *server) letterBundle(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	b, err := s.Service.Bundle(r.Context(), caller(r), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "npes-bundle-" + id + ".json"}))
	_, _ = w.Write(b)
}

// letterReceipt returns the sender's submission receipt, the same object
// as the 201 reply's "receipt" (SMTP senders fetch theirs here).
func (s *server) letterReceipt(w http.ResponseWriter, r *http.Request) {
	rc, err := s.Service.Receipt(r.Context(), caller(r), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// Public evidence-log routes.

func (s *server) keys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=300")
	keys := s.Service.JWKS()
	if alg := r.URL.Query().Get("alg"); alg != "" {
		keys = keys.Select(alg)
	}
	writeJSON(w, http.StatusOK, keys)
}

func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	_, note, err := s.Service.Checkpoint(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// C2SP tlog-checkpoint: a signed note, served as text.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(note)
}

func uintParam(q url.Values, name string) (uint64, error) {
	v, err := strconv.ParseUint(q.Get(name), 10, 64)
	if err != nil {
		return 0, mailbox.Errorf(mailbox.ErrInvalid, "bad_"+name, "%s must be a non-negative integer", name)
	}
	return v, nil
}

func (s *server) inclusionProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	index, err := uintParam(q, "index")
	if err == nil {
		var size uint64
		if size, err = uintParam(q, "size"); err == nil {
			var p [][]byte
			if p, err = s.Service.InclusionProof(r.Context(), index, size); err == nil {
				writeJSON(w, http.StatusOK, map[string]any{"index": index, "size": size, "proof": p})
				return
			}
		}
	}
	s.writeError(w, r, err)
}

func (s *server) consistencyProof(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := uintParam(q, "from")
	if err == nil {
		var to uint64
		if to, err = uintParam(q, "to"); err == nil {
			var p [][]byte
			if p, err = s.Service.ConsistencyProof(r.Context(), from, to); err == nil {
				writeJSON(w, http.StatusOK, map[string]any{"from": from, "to": to, "proof": p})
				return
			}
		}
	}
	s.writeError(w, r, err)
}
