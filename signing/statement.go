package signing

import (
	"fmt"
	"time"
)

// Decisions a recipient signs.
const (
	DecisionAccept = "accept"
	DecisionRefuse = "refuse"
)

// StatementVersion is the version of the recipient statement format.
const StatementVersion = 1

// MaxStatementSkew bounds |statement time − time of the evidence that
// records it|. A statement is signed just before it is submitted; one
// signed long before or after its recording was not made for that
// decision (a replayed or back-dated signature).
const MaxStatementSkew = 5 * time.Minute

// A Statement is what a recipient signs (compact JWS, ES256 or EdDSA,
// x5c) to accept or refuse a registered letter. It names the letter, the
// notification evidence and the content digest (ContentDigest), so a
// signature for one letter can never be replayed for another, and the
// recipient commits to exactly the content they receive.
type Statement struct {
	V             int       `json:"v"`
	Decision      string    `json:"decision"`
	Letter        string    `json:"letter"`
	Notification  string    `json:"notification"`
	ContentSHA256 string    `json:"content_sha256"`
	Reason        string    `json:"reason,omitempty"`
	Time          time.Time `json:"time"`
	// A statement signed with a passkey (WebAuthnAssertion) names the
	// recipient's mailbox, the passkey's credential id (base64url) and the
	// relying party's RP ID: the passkey key is bound to one mailbox, and
	// the assertion is valid for one RP.
	Mailbox      string `json:"mailbox,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
	RPID         string `json:"rp_id,omitempty"`
}

// ParseStatement decodes a signed statement strictly: one JSON value and
// nothing after it, no duplicate or unknown members, version 1, a known
// decision, letter and notification present, a hex SHA-256 content digest
// and a time. Two verifiers must never read one signed statement
// differently (RFC 8259 §4 leaves duplicate members undefined).
func ParseStatement(payload []byte) (*Statement, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrStatement, fmt.Sprintf(format, args...))
	}
	var st Statement
	if err := unmarshalStrict(payload, &st); err != nil {
		return nil, bad("%v", err)
	}
	switch {
	case st.V != StatementVersion:
		return nil, bad("version %d, want %d", st.V, StatementVersion)
	case st.Decision != DecisionAccept && st.Decision != DecisionRefuse:
		return nil, bad("unknown decision %q", st.Decision)
	case st.Letter == "":
		return nil, bad("missing letter")
	case st.Notification == "":
		return nil, bad("missing notification")
	case !isHexDigest(st.ContentSHA256):
		return nil, bad("content_sha256 is not a hex SHA-256")
	case st.Time.IsZero():
		return nil, bad("missing time")
	}
	return &st, nil
}

// WithinSkew reports whether the statement's time is within
// MaxStatementSkew of t.
func (st *Statement) WithinSkew(t time.Time) bool {
	d := st.Time.Sub(t)
	return -MaxStatementSkew <= d && d <= MaxStatementSkew
}
