package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/npes/npes/mailbox"
)

type mailboxView struct {
	M mailbox.Mailbox
	// Credentials are the bound certificates; Passkeys the bound
	// passkeys; Pending the passkeys made but not endorsed yet.
	Credentials []mailbox.Credential
	Passkeys    []passkeyView
	Pending     []pendingView
	// Self is the identity of the session's certificate (not removable
	// from here: that would lock the holder out mid-session).
	Self string
}

// passkeyView is a bound passkey as the mailbox page lists it.
type passkeyView struct {
	ID, Label string
	BoundAt   string
	Short     string // the credential id's start, to tell unlabelled ones apart
}

type mailboxPage struct {
	Mailboxes  []mailboxView
	Recoveries []mailbox.Recovery
	Activated  string // the mailbox just activated
	// Done is the catalogue key of what just succeeded.
	Done string
	// Error is a catalogue key (or, for passkey steps, the service's
	// message); Detail the service's own words; ErrorBox the mailbox (or
	// recovery) and Field the form the error belongs to ("" for passkey
	// steps).
	Error, Detail, ErrorBox, Field string
	// Address is what was typed into the recovery form.
	Address string
	// ErrorPending is the pending passkey the error is about.
	ErrorPending string
	// PasskeysOn: the server has a WebAuthn relying party.
	PasskeysOn bool
	// CanAddPasskey: the session was opened with the certificate.
	CanAddPasskey bool
	// Notice is a catalogue key of a passkey step that just succeeded.
	Notice string
	// Command is the endorse command shown for a pending passkey.
	Command string
}

// mailboxDone are the notices the page shows after a redirect (?done=).
var mailboxDone = map[string]string{
	"email":     "The notification e-mail was saved.",
	"noemail":   "Notifications by e-mail are off.",
	"unbound":   "The certificate was removed from the mailbox.",
	"recovery":  "A letter with a recovery code is on its way to the mailbox's address. Enter the code below when it arrives.",
	"recovered": "The mailbox is yours again: this certificate is bound to it and the old ones are removed.",
}

// mailboxes shows the holder's mailboxes: address, proof state, activation
// code entry for a pending one, the bound certificates, the notification
// e-mail, and the recovery of a mailbox whose certificates are lost.
func (p *Portal) mailboxes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := mailboxPage{Activated: q.Get("activated"), Done: mailboxDone[q.Get("done")]}
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
		v := mailboxView{M: m, Self: c.Identity.ID}
		for _, cr := range creds {
			if !cr.UnboundAt.IsZero() {
				continue
			}
			if raw, ok := passkeyOf(cr); ok {
				id := b64(raw)
				v.Passkeys = append(v.Passkeys, passkeyView{ID: id, Label: cr.Label, BoundAt: l.Date(cr.BoundAt), Short: id[:min(8, len(id))]})
				continue
			}
			v.Credentials = append(v.Credentials, cr)
		}
		for _, pv := range pending {
			if pv.Mailbox == m.ID {
				v.Pending = append(v.Pending, pv)
			}
		}
		page.Mailboxes = append(page.Mailboxes, v)
	}
	if page.Recoveries, err = p.Service.MyRecoveries(r.Context(), c); err != nil {
		p.serviceError(w, r, err)
		return
	}
	p.render(w, r, status, "mailbox", "Mailbox", page)
}

// formError shows a domain error on the mailbox page next to the form it
// concerns; anything else is the error page.
func (p *Portal) formError(w http.ResponseWriter, r *http.Request, err error, box, field, fallback string, page mailboxPage) {
	var de *mailbox.Error
	if errors.As(err, &de) {
		page.Error, page.Detail, page.ErrorBox, page.Field = errorKey(err, fallback), de.Message, box, field
		p.renderMailboxes(w, r, statusOf(err), page)
		return
	}
	p.serviceError(w, r, err)
}

// activate enters the activation code of the letter that proved the
// address; the service counts and caps the attempts, as for the API.
func (p *Portal) activate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	code := strings.TrimSpace(r.PostFormValue("code"))
	if _, err := p.Service.ActivateMailbox(r.Context(), caller(r), id, code); err != nil {
		if errors.Is(err, mailbox.ErrNotFound) {
			p.serviceError(w, r, err)
			return
		}
		p.formError(w, r, err, id, "activate", "The code was not accepted.", mailboxPage{})
		return
	}
	http.Redirect(w, r, "/mailbox?activated="+id, http.StatusSeeOther)
}

// setEmail is POST /mailbox/{id}/email: the notification address, checked
// as at registration; an empty one turns notifications off.
func (p *Portal) setEmail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	email := strings.TrimSpace(r.PostFormValue("email"))
	if len(email) > 320 {
		email = email[:320]
	}
	if _, err := p.Service.SetEmail(r.Context(), caller(r), id, email); err != nil {
		if errors.Is(err, mailbox.ErrNotFound) {
			p.serviceError(w, r, err)
			return
		}
		p.formError(w, r, err, id, "email", "The e-mail address was not saved.", mailboxPage{})
		return
	}
	done := "email"
	if email == "" {
		done = "noemail"
	}
	http.Redirect(w, r, "/mailbox?done="+done, http.StatusSeeOther)
}

// unbind is POST /mailbox/{id}/unbind: removes a certificate from the
// mailbox (a CredentialUnbound log entry), as the API does. The session's
// own certificate cannot be removed here.
func (p *Portal) unbind(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	identity := r.PostFormValue("identity")
	if err := p.Service.UnbindCredential(r.Context(), caller(r), id, identity); err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && de.Code == "mailbox_not_found" {
			p.serviceError(w, r, err)
			return
		}
		p.formError(w, r, err, id, "unbind", "The certificate was not removed.", mailboxPage{})
		return
	}
	// The removed certificate's portal sessions end at once.
	if _, err := p.EndSessions(r.Context(), identity); err != nil {
		p.Logger.WarnContext(r.Context(), "ending the sessions of an unbound certificate", "err", err)
	}
	http.Redirect(w, r, "/mailbox?done=unbound", http.StatusSeeOther)
}

// startRecovery is POST /recovery: the holder, signed in with a
// new certificate (the old ones lost or revoked), asks for a recovery code
// by paper to the mailbox's address (Service.StartRecovery, as
// POST /v1/mailboxes/recoveries). The certificate must be presented on
// this very request.
func (p *Portal) startRecovery(w http.ResponseWriter, r *http.Request) {
	address := strings.TrimSpace(r.PostFormValue("address"))
	if len(address) > 1000 {
		address = address[:1000]
	}
	address = oneLine(address)
	if _, err := p.Service.StartRecovery(r.Context(), caller(r), address); err != nil {
		p.formError(w, r, err, "recovery", "address", "The recovery could not be started.", mailboxPage{Address: address})
		return
	}
	http.Redirect(w, r, "/mailbox?done=recovery", http.StatusSeeOther)
}

// completeRecovery is POST /recovery/{id}/complete: the code from
// the letter AND the certificate that started the recovery, presented on
// this request — never the code alone.
func (p *Portal) completeRecovery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	code := strings.TrimSpace(r.PostFormValue("code"))
	if _, err := p.Service.CompleteRecovery(r.Context(), caller(r), id, code); err != nil {
		p.formError(w, r, err, id, "recover", "The code was not accepted.", mailboxPage{})
		return
	}
	http.Redirect(w, r, "/mailbox?done=recovered", http.StatusSeeOther)
}
