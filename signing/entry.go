package signing

import (
	"encoding/json"
	"fmt"
	"time"
)

// A MailboxEntry is the signed payload of a mailbox log entry: the events
// that decide who may read a mailbox's post. It is sealed like letter
// evidence (Sealer.SealV2) and appended to the same log, so a recipient's
// key binding is evidence as strong as the decision it authorizes, and a
// bundle can prove that the key that signed an acceptance was bound to the
// recipient's mailbox before the decision.
type MailboxEntry struct {
	V     int    `json:"v"`
	ID    string `json:"id"`
	Event Event  `json:"event"`
	// Time is when the event happened, UTC.
	Time    time.Time `json:"time"`
	Mailbox string    `json:"mailbox"`
	// Identity names the credential (CredentialBound, CredentialUnbound;
	// MailboxRecovered: the one bound in place of all others).
	Identity *CredentialIdentity `json:"identity,omitempty"`
	// JWK is the credential's public key (CredentialBound,
	// CredentialUnbound): what an offline verifier compares with the key
	// of a recipient signature.
	JWK *JWK `json:"jwk,omitempty"`
	// AuthorizedBy names who authorized the event (an identity id, an
	// operator, or "migration" for entries written for existing state).
	AuthorizedBy string `json:"authorized_by"`
	// How says how the address was proven (MailboxActivated,
	// MailboxRecovered: "recovery-code" or "counter").
	How string `json:"how,omitempty"`
	// Holder ("pn:<personal number>" or "unp:<UNP>") and MatchKey (the
	// delivery point's match key) are what MailboxActivated proved: the
	// facts routing and access rely on, so an audit can compare the
	// mailbox row with the log.
	Holder   string `json:"holder,omitempty"`
	MatchKey string `json:"match_key,omitempty"`
	// Prev is Envelope.Hash of the mailbox's previous entry, "" for the
	// first: a bundle cannot leave an entry out of the middle.
	Prev string `json:"prev"`
	// LogIndex is the leaf index of this entry in the evidence log.
	LogIndex uint64 `json:"log_index"`
	// Endorsement, on the CredentialBound of a passkey, is the holder's
	// compact JWS (x5c) of a PasskeyEndorsement of it.
	Endorsement string `json:"endorsement,omitempty"`
}

// CredentialIdentity names a credential: an X.509 certificate by issuer
// and serial, or a WebAuthn passkey by its credential id.
type CredentialIdentity struct {
	// ID is the npes identity key of a certificate (certs.Identity.ID:
	// hash of the issuer's encoded name and the serial), the key access
	// rows use.
	ID      string `json:"id,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
	Serial  string `json:"serial,omitempty"`
	Passkey string `json:"passkey,omitempty"`
}

// Validate checks the fields every mailbox entry must have.
func (m *MailboxEntry) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: mailbox entry: %s", ErrMalformedEvidence, fmt.Sprintf(format, args...))
	}
	switch {
	case m.V != EvidenceVersion:
		return bad("version %d, want %d", m.V, EvidenceVersion)
	case m.ID == "":
		return bad("missing id")
	case !m.Event.MailboxEvent():
		return bad("event %q is not a mailbox event", m.Event)
	case m.Time.IsZero():
		return bad("missing time")
	case m.Mailbox == "":
		return bad("missing mailbox")
	case m.AuthorizedBy == "":
		return bad("missing authorized_by")
	case m.Prev != "" && !isHexDigest(m.Prev):
		return bad("prev is not a hex SHA-256")
	}
	if _, off := m.Time.Zone(); off != 0 {
		return bad("time is not UTC")
	}
	credential := m.Event == EventCredentialBound || m.Event == EventCredentialUnbound || m.Event == EventMailboxRecovered
	switch {
	case credential && (m.JWK == nil || m.Identity == nil):
		return bad("%s needs identity and jwk", m.Event)
	case credential && m.Identity.Passkey == "" && (m.Identity.Issuer == "" || m.Identity.Serial == ""):
		return bad("identity needs issuer and serial, or passkey")
	case m.Event == EventCredentialBound && m.Identity.Passkey != "" && m.Endorsement == "":
		return bad("the CredentialBound of a passkey needs the holder's endorsement")
	case m.Endorsement != "" && (m.Event != EventCredentialBound || m.Identity.Passkey == ""):
		return bad("only the CredentialBound of a passkey carries an endorsement")
	case !credential && (m.JWK != nil || m.Identity != nil):
		return bad("%s has no identity or jwk", m.Event)
	case (m.Event == EventMailboxActivated || m.Event == EventMailboxDeactivated || m.Event == EventMailboxRecovered) && m.How == "":
		return bad("%s needs how", m.Event)
	case m.Event == EventMailboxRecovered && m.Holder == "":
		return bad("%s needs holder", m.Event)
	}
	if m.JWK != nil {
		if _, err := m.JWK.PublicKey(); err != nil {
			return bad("jwk: %v", err)
		}
	}
	return nil
}

// Marshal validates the entry and returns its payload bytes.
func (m *MailboxEntry) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

// ParseMailboxEntry decodes a mailbox entry payload strictly (no
// duplicate or unknown members) and validates it.
func ParseMailboxEntry(payload []byte) (*MailboxEntry, error) {
	var m MailboxEntry
	if err := unmarshalStrict(payload, &m); err != nil {
		return nil, fmt.Errorf("%w: mailbox entry: %w", ErrMalformedEvidence, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
