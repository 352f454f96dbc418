package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/npes/npes/mailbox"
)

type mailboxView struct {
	M            mailbox.Mailbox
	Certificates []mailbox.Credential
	Passkeys     []passkeyView
	Pending      []pendingView
}

// passkeyView is a bound passkey as the mailbox page lists it.
type passkeyView struct {
	ID, Label string
	BoundAt   string
	Short     string // the credential id's start, to tell unlabelled ones apart
}

type mailboxPage struct {
	Mailboxes []mailboxView
	Activated string // the mailbox just activated
	Error     string // a domain error's message
	ErrorBox  string
	// ErrorPending is the pending passkey the error is about.
	ErrorPending string
	// PasskeysOn: the server has a WebAuthn relying party.
	PasskeysOn bool
	// CanAddPasskey: the session was opened with the certificate.
	CanAddPasskey bool
	// Notice is a catalogue key of what just happened.
	Notice string
	// Command is the endorse command shown for a pending passkey.
	Command string
}

// mailboxes shows the holder's mailboxes: address, proof state, activation
// code entry for a pending one, and the bound certificates.
func (p *Portal) mailboxes(w http.ResponseWriter, r *http.Request) {
	page := mailboxPage{Activated: r.URL.Query().Get("activated")}
	q := r.URL.Query()
	switch {
	case q.Get("bound") != "":
		page.Notice = "The passkey is added. You can sign in and sign for letters with it."
	case q.Get("pending") != "":
		page.Notice = "The passkey is made. Now endorse it with your certificate: the steps are below."
	case q.Get("renamed") != "":
		page.Notice = "The passkey is renamed."
	case q.Get("removed") != "":
		page.Notice = "The passkey is removed. It no longer signs in or signs for letters."
	}
	p.renderMailboxes(w, r, http.StatusOK, page)
}

func (p *Portal) renderMailboxes(w http.ResponseWriter, r *http.Request, status int, page mailboxPage) {
	c := caller(r)
	boxes, err := p.Service.MyMailboxes(r.Context(), c)
	if err != nil {
		p.serviceError(w, r, err)
		return
	}
	pending, _, err := p.pendingOf(r)
	if err != nil {
		p.serverError(w, r, err)
		return
	}
	l := p.locale(w, r)
	page.PasskeysOn = p.rp != nil
	page.CanAddPasskey = p.rp != nil && sessionFrom(r).Method == "certificate"
	page.Command = "npes mailbox endorse-passkey --request npes-passkey-request.json --id DIR"
	for _, m := range boxes {
		creds, err := p.Service.Credentials(r.Context(), c, m.ID)
		if err != nil {
			p.serviceError(w, r, err)
			return
		}
		v := mailboxView{M: m}
		for _, cr := range creds {
			if !cr.UnboundAt.IsZero() {
				continue
			}
			if raw, ok := passkeyOf(cr); ok {
				id := b64(raw)
				v.Passkeys = append(v.Passkeys, passkeyView{ID: id, Label: cr.Label, BoundAt: l.Date(cr.BoundAt), Short: id[:min(8, len(id))]})
				continue
			}
			v.Certificates = append(v.Certificates, cr)
		}
		for _, pv := range pending {
			if pv.Mailbox == m.ID {
				v.Pending = append(v.Pending, pv)
			}
		}
		page.Mailboxes = append(page.Mailboxes, v)
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
