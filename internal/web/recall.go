package web

import (
	"errors"
	"net/http"

	"github.com/npes/npes/mailbox"
)

// recallInfo is what the letter page says about recalling a sent letter.
type recallInfo struct {
	Allowed bool
	// Why is the catalogue key of the reason it is not allowed.
	Why string
}

// recallOf decides whether the page offers the recall button, with the
// service's own rule (mailbox.RecallRefusal): the same reasons as the API.
func recallOf(v mailbox.LetterView) *recallInfo {
	if v.Folder != "sent" {
		return nil
	}
	err := mailbox.RecallRefusal(v.State)
	if err == nil {
		return &recallInfo{Allowed: true}
	}
	return &recallInfo{Why: errorKey(err, "The letter can no longer be recalled.")}
}

// recall is POST /letters/{id}/recall: the sender withdraws the letter
// (Service.Recall, as POST /v1/letters/{id}/recall). A refusal is shown on
// the letter page, in the reader's language.
func (p *Portal) recall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := p.Service.Recall(r.Context(), caller(r), id); err != nil {
		var de *mailbox.Error
		if errors.As(err, &de) && errors.Is(err, mailbox.ErrConflict) {
			p.showLetter(w, r, http.StatusConflict, errorKey(err, "The letter can no longer be recalled."), "")
			return
		}
		p.serviceError(w, r, err)
		return
	}
	http.Redirect(w, r, "/letters/"+id+"?done=recalled", http.StatusSeeOther)
}

// errorKeys are the catalogue keys of the domain error codes the portal
// explains in the reader's language.
var errorKeys = map[string]string{
	"already_recalled":    "The letter was already withdrawn.",
	"already_accepted":    "The recipient accepted the letter and has its content: it can no longer be withdrawn.",
	"content_handed_over": "The recipient has read the letter: it can no longer be withdrawn.",
	"print_leased":        "The letter is being printed or is on paper: it can no longer be withdrawn.",
	"not_recallable":      "The letter can no longer be recalled.",
	// Submissions (Write).
	"missing_recipient_name": "Enter the recipient's name.",
	"bad_recipient_name":     "The recipient's name is too long or holds characters that cannot be used.",
	"missing_address":        "Enter the postal address.",
	"bad_address":            "The postal address could not be read. Write it as on an envelope: postcode, town, street, house, flat.",
	"postcode_required":      "Enter the postcode: the letter may be printed and posted.",
	"bad_subject":            "The subject is too long or holds characters that cannot be used.",
	"body_too_large":         "The text is too long.",
	"bad_body":               "The text holds characters that cannot be used.",
	"attachments_too_large":  "The attachments are too large together.",
	"too_many_attachments":   "Too many attachments.",
	"duplicate_attachment":   "Two attachments have the same name.",
	"bad_attachment_name":    "An attachment's file name cannot be used. Rename the file.",
	"unprintable_attachment": "This type of file cannot be sent: the letter may have to be printed. Attach PDF, JPEG or PNG files.",
	"conversion_failed":      "An attachment could not be converted for printing.",
	"no_active_mailbox":      "You need an active mailbox to send letters: enter the activation code on the Mailbox page.",
	// Mailbox page.
	"bad_email":              "Enter an e-mail address like name@example.by.",
	"wrong_code":             "The code is wrong. Check it and try again.",
	"activation_locked":      "Too many wrong codes. Please go to a post office counter.",
	"recovery_locked":        "Too many wrong codes. Please go to a post office counter.",
	"own_credential":         "You are signed in with this certificate: remove it while signed in with another one.",
	"already_bound":          "Your certificate is already bound to this mailbox: there is nothing to recover.",
	"no_certificate":         "Your browser did not present a certificate on this request. Reload the page and choose your certificate.",
	"recovery_superseded":    "A newer recovery replaced this one: use the code from its letter.",
	"recovery_completed":     "This recovery is already completed.",
	"certificate_expired":    "The certificate that started this recovery has expired: start a new one.",
	"certificate_revoked":    "The certificate is revoked.",
	"mailbox_not_found":      "You have no mailbox at this address.",
	"missing_holder_name":    "Your certificate carries no name.",
	"credential_not_found":   "This certificate is not bound to the mailbox.",
	"idempotency_key_reused": "This form was already sent with other content. Reload the page and try again.",
	"in_reply_to_not_found":  "The letter you reply to was not found.",
}

// fieldOf names the form field a submission error belongs to, so the
// message is shown next to it (WCAG 3.3.1).
func fieldOf(err error) string {
	var de *mailbox.Error
	if !errors.As(err, &de) {
		return ""
	}
	switch de.Code {
	case "missing_recipient_name", "bad_recipient_name":
		return "name"
	case "missing_address", "bad_address", "postcode_required", "mailbox_not_found":
		return "address"
	case "bad_subject":
		return "subject"
	case "body_too_large", "bad_body":
		return "body"
	case "attachments_too_large", "too_many_attachments", "duplicate_attachment", "bad_attachment_name",
		"unprintable_attachment", "conversion_failed":
		return "attachments"
	case "bad_email":
		return "email"
	}
	return ""
}

// errorKey is the catalogue key explaining a domain error, or fallback.
func errorKey(err error, fallback string) string {
	var de *mailbox.Error
	if errors.As(err, &de) {
		if k, ok := errorKeys[de.Code]; ok {
			return k
		}
	}
	return fallback
}
