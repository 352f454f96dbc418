package web

import (
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"strconv"

	"github.com/npes/npes/mailbox"
)

type letterPage struct {
	L        mailbox.LetterView
	Awaiting bool
	Content  *mailbox.Content
	// PasskeysOn and Passkeys offer signing with a passkey of the
	// recipient's mailbox.
	PasskeysOn bool
	Passkeys   []passkeyView
	// Decided is a catalogue key after a decision.
	Decided string
	letterMore
}

// letter shows one letter: its metadata, deadline, evidence timeline and,
// when the service hands it over, its content. Opening a simple letter is
// reading it: the service records ContentAccessTracking on the first read,
// as for the API.
func (p *Portal) letter(w http.ResponseWriter, r *http.Request) {
	p.showLetter(w, r, http.StatusOK, "", r.URL.Query().Get("done"))
}

// showLetter renders the letter page with an error (a catalogue key) or a
// notice of what was just done.
func (p *Portal) showLetter(w http.ResponseWriter, r *http.Request, status int, errKey, done string) {
	id := r.PathValue("id")
	c := caller(r)
	v, err := p.Service.GetLetter(r.Context(), c, id)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	page := letterPage{L: v, Awaiting: awaitingMe(v), PasskeysOn: p.rp != nil}
	switch r.URL.Query().Get("decided") {
	case mailbox.DecisionAccept:
		page.Decided = "You accepted the letter with your passkey signature."
	case mailbox.DecisionRefuse:
		page.Decided = "You refused the letter with your passkey signature."
	}
	if page.Awaiting && page.PasskeysOn {
		creds, err := p.Service.Credentials(r.Context(), c, v.Recipient.Mailbox)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		for _, cr := range creds {
			if raw, ok := passkeyOf(cr); ok && cr.UnboundAt.IsZero() {
				id := b64(raw)
				page.Passkeys = append(page.Passkeys, passkeyView{ID: id, Label: cr.Label, Short: id[:min(8, len(id))]})
			}
		}
	}
	if v.ContentVisible {
		content, err := p.Service.Content(r.Context(), c, id)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		page.Content = &content
		// The view after the read, so the state shows it.
		if v, err = p.Service.GetLetter(r.Context(), c, id); err != nil {
			p.serviceError(w, r, err)
			return
		}
		page.L = v
	}
	if err := p.letterMore(r, &page, errKey, done); err != nil {
		p.serviceError(w, r, err)
		return
	}
	p.render(w, r, status, "letter", v.Subject, page)
}

// bundle downloads the letter's evidence bundle, the same bytes as
// GET /v1/letters/{id}/bundle.
func (p *Portal) bundle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	data, err := p.Service.Bundle(r.Context(), caller(r), id)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "npes-bundle-" + id + ".json"}))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// attachment downloads one attachment, always as a download: the portal's
// origin never renders a sender's file (it could carry script).
func (p *Portal) attachment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		p.errorPage(w, r, http.StatusNotFound, "Page not found.")
		return
	}
	c := caller(r)
	meta, err := p.Service.AttachmentInfo(r.Context(), c, id, n)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", meta.ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.Name}))
	h.Set("Content-Length", strconv.FormatInt(meta.Size, 10))
	h.Set("Cache-Control", "no-store")
	if sum, err := hex.DecodeString(meta.SHA256); err == nil {
		// RFC 9530 §3: the digest of the representation.
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	}
	if _, err := p.Service.Attachment(r.Context(), c, id, n, w); err != nil {
		// Headers are gone: cut the connection so the browser sees a
		// truncated download rather than a complete-looking wrong one.
		p.Logger.ErrorContext(r.Context(), "streaming attachment failed", "letter", id, "n", n, "err", err)
		panic(http.ErrAbortHandler)
	}
}
