package signing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// EvidenceVersion is the payload format version of new evidence: 2, sealed
// with one EdDSA signature (Sealer.SealV2). Version 1 payloads, sealed with
// EdDSA and ML-DSA-65, still verify.
const EvidenceVersion = 2

// Event names an evidence event. The names follow the ETSI EN 319 522-2
// evidence vocabulary; the physical events of the hybrid path are npes's
// own (the UPU EMSEVT code, where one exists, goes in Details["emsevt"]).
type Event string

// ETSI EN 319 522 events.
const (
	EventSubmissionAcceptance      Event = "SubmissionAcceptance"
	EventSubmissionRejection       Event = "SubmissionRejection"
	EventContentConsignment        Event = "ContentConsignment"
	EventNotificationForAcceptance Event = "NotificationForAcceptance"
	EventConsignmentAcceptance     Event = "ConsignmentAcceptance"
	EventConsignmentRejection      Event = "ConsignmentRejection"
	EventAcceptanceRejectionExpiry Event = "AcceptanceRejectionExpiry"
	EventContentHandover           Event = "ContentHandover"
	EventContentAccessTracking     Event = "ContentAccessTracking"
	// EventRelayToNonERDS: the letter left the electronic path for print.
	EventRelayToNonERDS Event = "RelayToNonERDS"
)

// Physical events of the hybrid (print) path.
const (
	EventPrinted          Event = "Printed"
	EventPosted           Event = "Posted"
	EventDelivered        Event = "Delivered"
	EventDeliveryFailed   Event = "DeliveryFailed"
	EventReturnedToSender Event = "ReturnedToSender"
)

// EventRecalled: the sender withdrew the letter before the recipient had
// its content (npes's own event; ETSI EN 319 522 has no withdrawal). It
// names the print job it cancelled, if any, in Details["print_job"].
const EventRecalled Event = "Recalled"

// EventPrintRetried: a print job that died (DeliveryFailed at the print
// stage) was put back into the queue by its print centre or an operator
// (npes's own event). Details name the job ("print_job"), the attempts it
// had used ("attempts") and who retried it ("by_role").
const EventPrintRetried Event = "PrintRetried"

// Mailbox log entries (MailboxEntry): a mailbox's address was proven, or
// its proof withdrawn (the address fails rules it was not checked
// against); a credential key was bound to it or unbound from it; the
// holder, having lost every working credential, proved the address again
// with a recovery code and bound a new one in place of all the others.
const (
	EventMailboxActivated   Event = "MailboxActivated"
	EventMailboxDeactivated Event = "MailboxDeactivated"
	EventCredentialBound    Event = "CredentialBound"
	EventCredentialUnbound  Event = "CredentialUnbound"
	// EventMailboxRecovered unbinds every bound credential (certificates
	// and passkeys) and binds the one it names, in one entry: no state in
	// between exists where the old and new keys are both bound or neither.
	EventMailboxRecovered Event = "MailboxRecovered"
)

// MailboxEvent reports whether e is an event of a mailbox log entry.
func (e Event) MailboxEvent() bool {
	return e == EventMailboxActivated || e == EventMailboxDeactivated || e == EventCredentialBound ||
		e == EventCredentialUnbound || e == EventMailboxRecovered
}

// Known reports whether e is one of the letter events above.
func (e Event) Known() bool {
	switch e {
	case EventSubmissionAcceptance, EventSubmissionRejection, EventContentConsignment,
		EventNotificationForAcceptance, EventConsignmentAcceptance, EventConsignmentRejection,
		EventAcceptanceRejectionExpiry, EventContentHandover, EventContentAccessTracking,
		EventRelayToNonERDS, EventPrinted, EventPosted, EventDelivered, EventDeliveryFailed,
		EventReturnedToSender, EventRecalled, EventPrintRetried:
		return true
	}
	return false
}

// Evidence is the signed payload of an evidence envelope (DESIGN §4). The
// server fills it, marshals it with encoding/json and seals the bytes;
// the verifier decodes the same type. Digests are lowercase hex SHA-256.
type Evidence struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	Event Event  `json:"event"`
	// Time is when the event happened, UTC, RFC 3339.
	Time      time.Time `json:"time"`
	Letter    string    `json:"letter"`
	Tracking  string    `json:"tracking,omitempty"` // UPU S10 id of registered letters
	Sender    Party     `json:"sender"`
	Recipient Party     `json:"recipient"`
	Content   *Content  `json:"content,omitempty"`
	Route     string    `json:"route,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	// Prev is Envelope.Hash of the letter's previous evidence, "" for the
	// first: it chains a letter's evidence so none can be cut out.
	Prev string `json:"prev"`
	// LogIndex is the leaf index of this envelope in the evidence log.
	LogIndex uint64 `json:"log_index"`
	// PDFSHA256 is the digest of the rendered PDF (RelayToNonERDS).
	PDFSHA256 string `json:"pdf_sha256,omitempty"`
	// RecipientSignature is the recipient's compact JWS of acceptance or
	// refusal (ConsignmentAcceptance, ConsignmentRejection).
	RecipientSignature string `json:"recipient_signature,omitempty"`
	// RecipientWebAuthn is the decision signed with a passkey instead.
	RecipientWebAuthn *WebAuthnAssertion `json:"recipient_webauthn,omitempty"`
	Details           map[string]string  `json:"details,omitempty"`
}

// A Party is the sender or the recipient as known at the event.
type Party struct {
	Mailbox string `json:"mailbox,omitempty"`
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// Content commits to the letter's content by digest only: evidence never
// holds the content itself.
type Content struct {
	BodySHA256  string       `json:"body_sha256"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is the digest of one attachment's raw bytes.
type Attachment struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// RenditionSHA256 is the digest of the PDF rendition an office
	// document was printed from (the original's is SHA256).
	RenditionSHA256 string `json:"rendition_sha256,omitempty"`
}

// ContentDigest is the digest a recipient's statement names as
// content_sha256: the SHA-256 of the content commitment as encoding/json
// writes it.
func ContentDigest(c *Content) string {
	b, err := json.Marshal(c)
	if err != nil {
		// Content holds only strings and integers: Marshal cannot fail.
		panic(err)
	}
	return DigestHex(b)
}

// DigestHex returns the lowercase hex SHA-256 of b, the digest format of
// evidence payloads.
func DigestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Marshal validates the evidence and returns its payload bytes.
func (e *Evidence) Marshal() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(e)
}

// ParseEvidence decodes a payload strictly (no duplicate members) and
// validates it. Members this version does not know are ignored so a
// verifier reads later minor additions.
func ParseEvidence(payload []byte) (*Evidence, error) {
	if err := checkJSON(payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvidence, err)
	}
	var e Evidence
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedEvidence, err)
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// Validate checks the fields every evidence must have.
func (e *Evidence) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformedEvidence, fmt.Sprintf(format, args...))
	}
	switch {
	case e.V != 1 && e.V != 2:
		return bad("version %d, want 1 or 2", e.V)
	case e.ID == "":
		return bad("missing id")
	case !e.Event.Known():
		return bad("unknown event %q", e.Event)
	case e.Time.IsZero():
		return bad("missing time")
	case e.Letter == "":
		return bad("missing letter")
	case e.Prev != "" && !isHexDigest(e.Prev):
		return bad("prev is not a hex SHA-256")
	case e.PDFSHA256 != "" && !isHexDigest(e.PDFSHA256):
		return bad("pdf_sha256 is not a hex SHA-256")
	}
	if _, off := e.Time.Zone(); off != 0 {
		return bad("time is not UTC")
	}
	if e.Content != nil {
		if !isHexDigest(e.Content.BodySHA256) {
			return bad("content.body_sha256 is not a hex SHA-256")
		}
		seen := make(map[string]bool, len(e.Content.Attachments))
		for i, a := range e.Content.Attachments {
			switch {
			case a.Name == "" || seen[a.Name]:
				return bad("attachment %d: empty or repeated name %q", i, a.Name)
			case a.Size < 0:
				return bad("attachment %q: negative size", a.Name)
			case !isHexDigest(a.SHA256):
				return bad("attachment %q: sha256 is not a hex SHA-256", a.Name)
			}
			seen[a.Name] = true
		}
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
