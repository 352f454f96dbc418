package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/npes/npes/mailbox"
)

type mailboxView struct {
	M           mailbox.Mailbox
	Credentials []mailbox.Credential
}

type mailboxPage struct {
	Mailboxes []mailboxView
	Activated string // the mailbox just activated
	Error     string // a domain error's message
	ErrorBox  string
}

// mailboxes shows the holder's mailboxes: address, proof state, activation
// code entry for a pending one, and the bound certificates.
func (p *Portal) mailboxes(w http.ResponseWriter, r *http.Request) {
	p.renderMailboxes(w, r, http.StatusOK, mailboxPage{Activated: r.URL.Query().Get("activated")})
}

func (p *Portal) renderMailboxes(w http.ResponseWriter, r *http.Request, status int, page mailboxPage) {
	c := caller(r)
	boxes, err := p.Service.MyMailboxes(r.Context(), c)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	for _, m := range boxes {
		creds, err := p.Service.Credentials(r.Context(), c, m.ID)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		page.Mailboxes = append(page.Mailboxes, mailboxView{M: m, Credentials: creds})
	}
	p.render(w, r, status, "mailbox", "Mailbox", page)
}

// activate enters the activation code of the letter that proved the
// address; the service counts and caps the attempts, as for the API.
func (p *Portal) activate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	code := strings.TrimSpace(r.PostFormValue("code"))
	if _, err := p.Service.ActivateMailbox(r.Context(), caller(r), id, code); err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && !errors.Is(err, mailbox.ErrNotFound) {
			p.renderMailboxes(w, r, statusOf(err), mailboxPage{Error: de.Message, ErrorBox: id})
			return
		}
		p.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, "/mailbox?activated="+id, http.StatusSeeOther)
}
