package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/npes/npes/mailbox"
)

type writePage struct {
	// Key is the form's idempotency key: a second press of Send (or a
	// reload of the POST) returns the first letter instead of a copy.
	Key                          string
	Name, Address, Subject, Body string
	Registered                   bool
	Error                        string // a domain error's message
}

// writeForm is GET /write: a text letter to a person or organization by
// postal address, simple or registered.
func (p *Portal) writeForm(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "write", "Write a letter", writePage{Key: newFormKey()})
}

// writeSend is POST /write. The service validates, routes and records the
// letter exactly as for POST /v1/letters.
func (p *Portal) writeSend(w http.ResponseWriter, r *http.Request) {
	lim := p.Service.Limits()
	r.Body = http.MaxBytesReader(w, r.Body, 4*lim.MaxBodyBytes+64<<10)
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusRequestEntityTooLarge, "write", "Write a letter", writePage{Key: newFormKey(),
			Error: "the letter is too long"})
		return
	}
	page := writePage{Key: r.PostFormValue("key"), Name: r.PostFormValue("name"), Address: r.PostFormValue("address"),
		Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body"), Registered: r.PostFormValue("registered") == "on"}
	if len(page.Key) != 22 {
		page.Key = newFormKey()
	}
	draft, err := p.Service.NewDraft()
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	defer draft.Close()
	v, _, err := p.Service.Submit(r.Context(), caller(r), mailbox.Submission{
		RecipientName: page.Name, RecipientAddress: page.Address, Registered: page.Registered,
		Subject: page.Subject, Body: page.Body, IdempotencyKey: "web-" + page.Key, Channel: mailbox.ChannelWeb,
	}, draft)
	if err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) {
			page.Error = de.Message
			p.render(w, r, statusOf(err), "write", "Write a letter", page)
			return
		}
		p.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/letters/"+v.ID, http.StatusSeeOther)
}

func newFormKey() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
