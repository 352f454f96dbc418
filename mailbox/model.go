package mailbox

import (
	"time"
)

// Mailbox status.
const (
	StatusPending = "pending" // address not yet proven
	StatusActive  = "active"  // receives electronic post
)

// Mailbox kinds follow the certificate roles that may hold one.
const (
	KindPerson = "person"
	KindOrg    = "org"
)

// Mailbox is a person's or organization's mailbox at one postal address.
type Mailbox struct {
	ID         string
	Kind       string
	HolderName string
	PersonalID string // persons
	UNP        string // organizations
	// HolderKey identifies the holder across certificate renewals: the
	// personal number of a person, the UNP of an organization. One holder has
	// at most one mailbox per delivery point (match key).
	HolderKey      string
	OwnerIdentity  string // certs.Identity.ID of the registering certificate
	Address        string // as written at registration
	AddressJSON    []byte // the normalized addressing.Address
	MatchKey       string
	Postcode       string
	Email          string
	Status         string
	ActivationHash []byte // SHA-256 of the activation code, bound to the id
	Attempts       int    // failed activation attempts
	// AddressRules is the version of the address rules the address was
	// last checked against (AddressRules); older ones are rechecked at
	// start-up (RecheckAddresses).
	AddressRules int
	CreatedAt    time.Time
	ActivatedAt  time.Time
}

// Credential binds a certificate identity to a mailbox.
type Credential struct {
	MailboxID  string
	IdentityID string
	Serial     string
	SPKISHA256 string
	BoundAt    time.Time
	UnboundAt  time.Time // zero while bound
	// NotAfter is when the certificate expires; zero for bindings made
	// before it was recorded.
	NotAfter time.Time
	// Label tells an organization's certificates apart ("accounts",
	// "front desk"); empty for a person's.
	Label string
}

// Languages of a printed letter's labels.
const (
	LanguageBelarusian = "be"
	LanguageRussian    = "ru"
)

// Letter routes.
const (
	RouteElectronic = "electronic"
	RoutePrint      = "print"
)

// Reasons recorded with a print route (DESIGN §1, flow 3).
const (
	ReasonNoMailbox       = "no-mailbox"
	ReasonAmbiguous       = "ambiguous"
	ReasonPendingAddress  = "pending-address"
	ReasonPrintIfUnsigned = "print-if-unsigned"
)

// Letter states. Electronic simple letters go delivered → read; registered
// ones awaiting_acceptance → accepted | refused | expired (→ print_queued
// when the sender asked for print-if-unsigned); printed ones print_queued →
// printed → posted → delivered | returned, or failed → dead.
const (
	StateDelivered           = "delivered"
	StateRead                = "read"
	StateAwaitingAcceptance  = "awaiting_acceptance"
	StateAccepted            = "accepted"
	StateRefused             = "refused"
	StateExpired             = "expired"
	StatePrintQueued         = "print_queued"
	StatePrinted             = "printed"
	StatePosted              = "posted"
	StatePhysicallyDelivered = "delivered_physical"
	StateDeliveryFailed      = "delivery_failed"
	StateReturned            = "returned"
	StatePrintDead           = "print_dead"
	// StateRecalled: the sender withdrew the letter (Recall); the
	// recipient sees that it existed, never its content.
	StateRecalled = "recalled"
)

// Letter is the stored letter: metadata, digests and the wrapped content key.
// The content itself is in encrypted chunks.
type Letter struct {
	ID                string
	Tracking          string // UPU S10 id of registered letters
	SenderMailbox     string
	SenderName        string
	SenderAddress     string
	RecipientName     string
	RecipientAddress  string // as written by the sender
	RecipientJSON     []byte // normalized addressing.Address
	RecipientKey      string // match key
	RecipientPostcode string
	RecipientMailbox  string // set when routed electronically
	// RecipientByMailbox: the sender named the recipient by mailbox id
	// only (SMTP); RecipientName and RecipientAddress are then the holder's,
	// which the sender must not learn from the letter (see senderView).
	RecipientByMailbox bool
	Registered         bool
	Subject            string
	// Language of the printed labels the sender chose ("" detects it from
	// the text when the letter is rendered).
	Language        string
	Route           string
	RouteReason     string
	State           string
	Deadline        time.Time // registered electronic letters
	PrintIfUnsigned time.Duration
	ContentJSON     []byte // the evidence "content" object (digests)
	ContentDigest   string // hex SHA-256 of ContentJSON
	ContentKey      []byte // wrapped data key
	Attachments     []AttachmentMeta
	CreatedAt       time.Time
	ReadAt          time.Time
	LastEvidence    string // hex SHA-256 of the letter's last evidence leaf
	EvidenceCount   int
	NotificationID  string // evidence id of NotificationForAcceptance
	// InReplyTo is the letter this one answers ("" if none); ThreadID the
	// first letter of its thread ("" for a letter that starts one).
	InReplyTo string
	ThreadID  string
	// SentByID and SentByName are the identity that submitted the letter
	// and its certificate's name: several employees' certificates may
	// share an organization's mailbox. Shown to the sender's side only.
	SentByID   string
	SentByName string
}

// AttachmentMeta describes one attachment. Part numbers start at 1; part 0
// is the body.
type AttachmentMeta struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	Chunks      int    `json:"chunks"`
	// An office document printed through a PDF rendition: the rendition's
	// digest, size and chunks, stored as part RenditionPart(n).
	RenditionSHA256 string `json:"rendition_sha256,omitempty"`
	RenditionSize   int64  `json:"rendition_size,omitempty"`
	RenditionChunks int    `json:"rendition_chunks,omitempty"`
}

// EvidenceRecord is one stored log entry: a letter's evidence (LetterID
// set) or a mailbox entry (MailboxID set).
type EvidenceRecord struct {
	ID        string
	LetterID  string
	MailboxID string
	Seq       int
	Event     string
	LogIndex  uint64
	Envelope  []byte // the leaf: exactly the bytes that were hashed into the log
	CreatedAt time.Time
}

// PrintJob is one physical letter to print.
type PrintJob struct {
	ID             string
	Kind           string // "letter" or "activation"
	LetterID       string // for letters
	MailboxID      string // for activation letters
	Tracking       string
	Region         string // postcode prefix (3 digits)
	Postcode       string
	RecipientName  string
	State          string
	Attempts       int
	AvailableAt    time.Time
	LeaseToken     int64
	LeaseOwner     string
	LeaseExpiresAt time.Time
	PDFSHA256      string
	Pages          int
	Sheets         int
	LastError      string
	CreatedAt      time.Time
	PrintedAt      time.Time
	PostedAt       time.Time
	// PrintedBy is the identity that held the lease when the job was
	// reported printed: the centre that answers for it in the post.
	PrintedBy string
	// TakenOver is set by LeasePrintJobs (it is not stored): the job was
	// leased because its previous lease had expired.
	TakenOver bool
}

// PrintJobGroup counts the print jobs of one region in one state, with the
// creation time of the oldest (the operator's queue gauges).
type PrintJobGroup struct {
	Region string
	State  string
	Count  int64
	Oldest time.Time
}

// Print job kinds and states.
const (
	JobLetter     = "letter"
	JobActivation = "activation"

	JobQueued  = "queued"
	JobLeased  = "leased"
	JobPrinted = "printed"
	JobPosted  = "posted"
	JobFailed  = "failed"
	JobDead    = "dead"
	// JobCancelled: the letter was recalled while the job was queued; no
	// print centre leases it again.
	JobCancelled = "cancelled"
)

// LogHead is the evidence log's current size and root.
type LogHead struct {
	Size uint64
	Root []byte
}

// LogNode is one stored node of the evidence Merkle tree: a perfect subtree
// at (Level, Index).
type LogNode struct {
	Level uint
	Index uint64
	Hash  []byte
}

// Chunk is one stored, encrypted piece of a letter's content.
type Chunk struct {
	LetterID string
	Part     int
	Index    int
	Data     []byte
}
