package mailbox

import (
	"context"
	"errors"
	"time"
)

// Domain errors returned by every Store implementation. Engines translate
// their own errors (pgx.ErrNoRows, sql.ErrNoRows, unique violations) into
// these at their edge, so the core never sees a driver error.
var (
	// ErrNotFound: the object does not exist, or is not visible to the caller.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness or state precondition failed.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database could not be reached or the transaction
	// could not complete; the caller may retry later. Nothing was committed.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is the persistence seam of npes. One implementation exists per
// database engine (internal/store/postgres, internal/store/sqlite); both pass
// the same conformance suite (internal/store/storetest).
//
// Every write goes through InTx so that a letter, its evidence and its print
// job commit together or not at all.
type Store interface {
	// InTx runs fn in a read-write transaction and commits when fn returns
	// nil. Any error from fn rolls everything back. InTx returns only after
	// the commit is durable.
	InTx(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// SchemaVersion is the highest applied migration.
	SchemaVersion(ctx context.Context) (int64, error)
	// Engine names the database engine ("postgres" or "sqlite").
	Engine() string
	Close() error
}

// Tx is everything that can be done inside one transaction. It grows with
// each domain; every method takes the transaction's context.
type Tx interface {
	StateTx
	CertificateTx
	MailboxTx
	LetterTx
	EvidenceTx
	PrintTx
	OutboxTx
	BatchTx
	SessionTx
	CeremonyTx
	ConsoleTx
}

// StateTx is a small key-value store for server state (for example the
// evidence log's origin or a CRL number).
type StateTx interface {
	// GetState returns ErrNotFound when the key was never written.
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
	// NextCounter atomically increments the named counter and returns the
	// new value (the first call returns 1).
	NextCounter(ctx context.Context, name string) (int64, error)
	// ReserveCounter atomically adds n to the named counter and returns the
	// new value: the caller owns the n values ending there.
	ReserveCounter(ctx context.Context, name string, n int64) (int64, error)
}

// CertificateRecord is the CA's registry entry for one issued certificate.
type CertificateRecord struct {
	Serial     string // uppercase hex, as `openssl x509 -serial` prints it
	Role       string
	Name       string
	IdentityID string
	NotBefore  time.Time
	NotAfter   time.Time
	CertPEM    []byte
	RevokedAt  time.Time // zero when not revoked
	Reason     int       // RFC 5280 §5.3.1 CRLReason, when revoked
}

// Revoked reports whether the certificate has been revoked.
func (c CertificateRecord) Revoked() bool { return !c.RevokedAt.IsZero() }

// CertificateTx is the certificate registry and its revocations.
type CertificateTx interface {
	// AddCertificate records an issued certificate; ErrConflict if the
	// serial exists.
	AddCertificate(ctx context.Context, c CertificateRecord) error
	// RevokeCertificate marks the certificate revoked. ErrNotFound for an
	// unknown serial; revoking twice keeps the first time and reason.
	RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time) (CertificateRecord, error)
	GetCertificate(ctx context.Context, serial string) (CertificateRecord, error)
	ListCertificates(ctx context.Context) ([]CertificateRecord, error)
	// RevokedCertificates lists revoked certificates, oldest first.
	RevokedCertificates(ctx context.Context) ([]CertificateRecord, error)
}

// MailboxTx stores mailboxes and the credentials bound to them.
type MailboxTx interface {
	// CreateMailbox returns ErrConflict when the holder already has a
	// mailbox at this delivery point (kind, holder key, match key).
	CreateMailbox(ctx context.Context, m Mailbox) error
	GetMailbox(ctx context.Context, id string) (Mailbox, error)
	// LockMailbox reads a mailbox and locks its row until commit, so that a
	// read-modify-write of it (an activation attempt) is serialized across
	// transactions and processes: a concurrent transaction waits and then
	// reads the committed result.
	LockMailbox(ctx context.Context, id string) (Mailbox, error)
	// UpdateMailbox writes status, email, activation hash, attempts and
	// activation time.
	UpdateMailbox(ctx context.Context, m Mailbox) error
	// ReaddressMailbox writes a mailbox's address (raw, normalized, match
	// key, postcode) and address rules version with the fields
	// UpdateMailbox writes. ErrConflict when the holder has another mailbox
	// at the new match key.
	ReaddressMailbox(ctx context.Context, m Mailbox) error
	// MailboxesToRecheck lists up to limit mailboxes whose address was
	// checked against rules older than the given version, by id.
	MailboxesToRecheck(ctx context.Context, rules, limit int) ([]Mailbox, error)
	// LockHolder serializes the transactions of one mailbox holder (kind,
	// holder key) until commit, so that counting the holder's pending
	// mailboxes and activation letters and adding one are atomic.
	LockHolder(ctx context.Context, kind, holderKey string) error
	// PendingMailboxes counts the holder's pending mailboxes.
	PendingMailboxes(ctx context.Context, kind, holderKey string) (int, error)
	// ActivationLetters counts the activation print jobs of a mailbox.
	ActivationLetters(ctx context.Context, mailboxID string) (int, error)
	// HolderActivationLetters counts the activation print jobs created
	// after since for all mailboxes of the holder.
	HolderActivationLetters(ctx context.Context, kind, holderKey string, since time.Time) (int, error)
	// MailboxesByMatchKey lists every mailbox at a delivery point.
	MailboxesByMatchKey(ctx context.Context, matchKey string) ([]Mailbox, error)
	// MailboxesByMatchKeys lists every mailbox at several delivery points
	// in one statement, by match key (each list as MailboxesByMatchKey
	// orders it; a key without mailboxes is absent).
	MailboxesByMatchKeys(ctx context.Context, matchKeys []string) (map[string][]Mailbox, error)
	// GetMailboxes reads the mailboxes with these ids in one statement
	// (missing ones are left out), in id order; with lock they are
	// read-locked until commit, in that order: no other transaction
	// changes them or locks them (LockMailbox) meanwhile, while others
	// may read-lock them too.
	GetMailboxes(ctx context.Context, ids []string, lock bool) ([]Mailbox, error)
	// BindCredential binds (or re-binds) an identity to a mailbox.
	BindCredential(ctx context.Context, c Credential) error
	// UnbindCredential ends a binding; ErrNotFound if it is not bound.
	UnbindCredential(ctx context.Context, mailboxID, identityID string, at time.Time) error
	// SetCredentialLabel changes the label of a binding in force;
	// ErrNotFound if it is not bound.
	SetCredentialLabel(ctx context.Context, mailboxID, identityID, label string) error
	// MailboxesOfIdentity lists the mailboxes the identity is bound to now,
	// oldest first.
	MailboxesOfIdentity(ctx context.Context, identityID string) ([]Mailbox, error)
	// Credentials lists a mailbox's bindings, current and ended.
	Credentials(ctx context.Context, mailboxID string) ([]Credential, error)
	// CredentialsOf lists the bindings of several mailboxes in one
	// statement, by mailbox (each list as Credentials orders it).
	CredentialsOf(ctx context.Context, mailboxIDs []string) (map[string][]Credential, error)
	// MailboxesOfIdentities lists, in one statement, the mailboxes each
	// identity is bound to now, by identity (each list as
	// MailboxesOfIdentity orders it; an identity without one is absent).
	MailboxesOfIdentities(ctx context.Context, identityIDs []string) (map[string][]Mailbox, error)
	// Mailboxes lists up to limit mailboxes with ids greater than afterID,
	// in id order (for audits and the log backfill).
	Mailboxes(ctx context.Context, afterID string, limit int) ([]Mailbox, error)
	RecoveryTx
}

// RecoveryTx stores mailbox recoveries. Callers serialize the changes of
// one mailbox's recoveries by locking the mailbox row (LockMailbox) first.
type RecoveryTx interface {
	// CreateRecovery stores a pending recovery; ErrConflict when the
	// mailbox has one pending already.
	CreateRecovery(ctx context.Context, r Recovery) error
	// SupersedeRecoveries ends the mailbox's pending recovery, if any
	// (status superseded).
	SupersedeRecoveries(ctx context.Context, mailboxID string) error
	// GetRecovery reads a recovery; ErrNotFound when there is none.
	GetRecovery(ctx context.Context, id string) (Recovery, error)
	// UpdateRecovery writes status, attempts and completion time.
	UpdateRecovery(ctx context.Context, r Recovery) error
	// RecoveriesOfIdentity lists the recoveries the identity started,
	// pending ones only when pendingOnly, newest first.
	RecoveriesOfIdentity(ctx context.Context, identityID string, pendingOnly bool) ([]Recovery, error)
}

// LetterQuery selects a page of letters, newest first.
type LetterQuery struct {
	Mailboxes []string // the caller's mailboxes
	Folder    string   // "inbox" (recipient) or "sent" (sender)
	// Cursor: letters strictly older than (BeforeTime, BeforeID).
	BeforeTime time.Time
	BeforeID   string
	Limit      int
	// Search is a NormalizeSearch'ed text matched as a substring of the
	// letter's SearchText, or, upper-cased, of its tracking number.
	Search string
	// States keeps letters in one of these states (none: any).
	States []string
	// Registered: 1 registered only, -1 simple only, 0 both.
	Registered int
	// Since and Until bound created_at: Since <= created_at < Until (zero:
	// unbounded).
	Since, Until time.Time
}

// LetterTx stores letters and their encrypted content.
type LetterTx interface {
	CreateLetter(ctx context.Context, l Letter) error
	// CreateLetters inserts several letters in one round trip. The store
	// may hold the rows back and send them with the transaction's next
	// statement (a constraint violation is then returned there).
	CreateLetters(ctx context.Context, ls []Letter) error
	// GetLetter reads a letter; with lock it is locked until commit.
	GetLetter(ctx context.Context, id string, lock bool) (Letter, error)
	// GetLetters reads the letters with these ids in one statement (missing
	// ones are left out), locked in the database's id order with lock.
	GetLetters(ctx context.Context, ids []string, lock bool) ([]Letter, error)
	// UpdateLetter writes the mutable fields: tracking, route, route reason,
	// state, recipient mailbox, read time, last evidence, evidence count,
	// notification id.
	UpdateLetter(ctx context.Context, l Letter) error
	// UpdateLetters writes the fields of UpdateLetter of several letters in
	// one statement (ids distinct); ErrNotFound if one is missing. Like
	// CreateLetters it may be held back: the error may come from the
	// transaction's next statement.
	UpdateLetters(ctx context.Context, ls []Letter) error
	ListLetters(ctx context.Context, q LetterQuery) ([]Letter, error)
	// LetterIDs lists up to limit letter ids greater than afterID, in
	// order (for audits).
	LetterIDs(ctx context.Context, afterID string, limit int) ([]string, error)
	// ThreadLetters lists the letter threadID and every letter whose
	// ThreadID is threadID, oldest first, at most limit.
	ThreadLetters(ctx context.Context, threadID string, limit int) ([]Letter, error)
	// DueLetters returns registered letters awaiting acceptance whose
	// deadline has passed, locked, skipping letters another transaction
	// holds (so several processes expire each letter once).
	DueLetters(ctx context.Context, now time.Time, limit int) ([]Letter, error)
	// PutChunk inserts one chunk at once: data may be reused after it
	// returns.
	PutChunk(ctx context.Context, letterID string, part, chunk int, data []byte) error
	// PutChunks inserts several chunks in one round trip. Like
	// CreateLetters it may be held back to the next statement: the
	// chunks' data must not change until the transaction ends.
	PutChunks(ctx context.Context, cs []Chunk) error
	// Chunks calls fn for each stored chunk of a part, in order.
	Chunks(ctx context.Context, letterID string, part int, fn func(chunk int, data []byte) error) error
	// PutIdempotencyKey returns ErrConflict when the key was used.
	PutIdempotencyKey(ctx context.Context, sender, key, requestHash, letterID string, at time.Time) error
	// TryPutIdempotencyKey stores the key unless it exists, and reports
	// whether it did; an existing key is not an error (so a batch
	// transaction is not aborted by one retried submission).
	TryPutIdempotencyKey(ctx context.Context, sender, key, requestHash, letterID string, at time.Time) (bool, error)
	GetIdempotencyKey(ctx context.Context, sender, key string) (requestHash, letterID string, err error)
	// IdempotencyKeys reads several keys in one statement: the stored ones
	// among ks (by Sender and Key), each once.
	IdempotencyKeys(ctx context.Context, ks []IdempotencyKey) ([]IdempotencyKey, error)
	// TryPutIdempotencyKeys stores, in one statement, those of ks that do
	// not exist yet and returns them; of two equal keys (Sender, Key) in
	// ks only the first is stored. An existing key is not an error.
	TryPutIdempotencyKeys(ctx context.Context, ks []IdempotencyKey) ([]IdempotencyKey, error)
}

// IdempotencyKey is a sender's idempotency key and the letter it names.
type IdempotencyKey struct {
	Sender, Key, RequestHash, LetterID string
	CreatedAt                          time.Time
}

// EvidenceTx stores evidence envelopes and the evidence log. The log's
// writes (SetLogHead, PutLogNodes, AddEvidences, SetLetterChains,
// PutCheckpoint) may be held back and sent with the transaction's next
// statement or its commit, in one round trip: their errors then come from
// that statement or from the commit (InTx), which fail the transaction.
type EvidenceTx interface {
	// LockLogHead reads the log head and locks it until commit: appends
	// from every process serialize here.
	LockLogHead(ctx context.Context) (LogHead, error)
	// HoldsLogHead tells whether LockLogHead succeeded in this
	// transaction: an append that holds the head must not wait for
	// another's turn (logOrder).
	HoldsLogHead() bool
	// GetLogHead reads the head without locking.
	GetLogHead(ctx context.Context) (LogHead, error)
	SetLogHead(ctx context.Context, h LogHead) error
	PutLogNodes(ctx context.Context, nodes []LogNode) error
	// LogNodes returns the hashes of the given nodes in order; ErrNotFound
	// if one is missing.
	LogNodes(ctx context.Context, ids []LogNode) ([][]byte, error)
	AddEvidence(ctx context.Context, e EvidenceRecord) error
	// AddEvidences inserts several evidence records in one round trip.
	AddEvidences(ctx context.Context, es []EvidenceRecord) error
	// EvidenceOf lists a letter's evidence in order.
	EvidenceOf(ctx context.Context, letterID string) ([]EvidenceRecord, error)
	// EvidenceSummaries lists the evidence of several letters, without the
	// envelopes, ordered by letter and sequence.
	EvidenceSummaries(ctx context.Context, letterIDs []string) ([]EvidenceRecord, error)
	// EvidenceByIndex lists every log entry with log index in [from, to):
	// letter evidence and mailbox entries, in index order.
	EvidenceByIndex(ctx context.Context, from, to uint64) ([]EvidenceRecord, error)
	// AddMailboxEntries stores mailbox log entries (records with MailboxID
	// set and no LetterID).
	AddMailboxEntries(ctx context.Context, es []EvidenceRecord) error
	// MailboxEntriesOf lists a mailbox's log entries in order.
	MailboxEntriesOf(ctx context.Context, mailboxID string) ([]EvidenceRecord, error)
	// SetLetterChains writes the last evidence hash and evidence count of
	// existing letters; ErrNotFound if one is missing.
	SetLetterChains(ctx context.Context, ls []Letter) error
	// PutCheckpoint stores a signed checkpoint (once per size).
	PutCheckpoint(ctx context.Context, size uint64, note []byte, at time.Time) error
	// LatestCheckpoint returns the checkpoint of the largest size.
	LatestCheckpoint(ctx context.Context) (size uint64, note []byte, err error)
	// CheckpointAtLeast returns the stored checkpoint of the smallest size
	// ≥ size; ErrNotFound if none.
	CheckpointAtLeast(ctx context.Context, size uint64) (uint64, []byte, error)
	// Checkpoints calls fn for every stored checkpoint, smallest first.
	Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error
}

// PrintTx stores print jobs.
type PrintTx interface {
	CreatePrintJob(ctx context.Context, j PrintJob) error
	GetPrintJob(ctx context.Context, id string, lock bool) (PrintJob, error)
	PrintJobsOfLetter(ctx context.Context, letterID string) ([]PrintJob, error)
	// PrintJobs lists up to limit jobs with ids greater than afterID, in id
	// order (for audits).
	PrintJobs(ctx context.Context, afterID string, limit int) ([]PrintJob, error)
	// GetPrintJobs reads the jobs with these ids (missing ones are left
	// out), in id order; with lock they are locked until commit.
	GetPrintJobs(ctx context.Context, ids []string, lock bool) ([]PrintJob, error)
	// UpdatePrintJob writes state, attempts, availability, lease, PDF facts,
	// error and times.
	UpdatePrintJob(ctx context.Context, j PrintJob) error
	// UpdatePrintJobs writes the same fields of several jobs in one
	// statement (ids distinct); ErrNotFound if one is missing. It may be
	// held back like UpdateLetters.
	UpdatePrintJobs(ctx context.Context, js []PrintJob) error
	// LeasePrintJobs claims up to max jobs of the regions that are queued
	// and available, or leased with an expired lease, giving each a new
	// fencing token and lease (FOR UPDATE SKIP LOCKED on PostgreSQL).
	// A job whose expired lease was taken over comes back with TakenOver.
	LeasePrintJobs(ctx context.Context, regions []string, owner string, max int, now, expires time.Time) ([]PrintJob, error)
	// PrintQueueStats counts the jobs that are not posted (posted jobs only
	// accumulate) by region and state, ordered by region then state.
	PrintQueueStats(ctx context.Context) ([]PrintJobGroup, error)
	// PostedJobs lists jobs of the regions posted in [from, to), ordered by
	// postcode then tracking (the manifest's presort).
	PostedJobs(ctx context.Context, regions []string, from, to time.Time) ([]PrintJob, error)
	// PutBlob and GetBlob keep rendered PDFs (encrypted by the caller).
	PutBlob(ctx context.Context, key string, data []byte) error
	GetBlob(ctx context.Context, key string) ([]byte, error)
	// DeleteBlob removes a blob; a missing one is not an error.
	DeleteBlob(ctx context.Context, key string) error
}

// BatchTx stores bulk submissions and the outcome of each of their lines.
type BatchTx interface {
	// CreateBatch stores a new batch; ErrConflict when the sender already
	// used its idempotency key.
	CreateBatch(ctx context.Context, b LetterBatch) error
	GetBatch(ctx context.Context, id string) (LetterBatch, error)
	// BatchByKey finds a sender's batch by idempotency key.
	BatchByKey(ctx context.Context, sender, key string) (LetterBatch, error)
	// SetBatchState records a batch's state (and when it finished).
	SetBatchState(ctx context.Context, id, state string, finishedAt time.Time) error
	// PutBatchResults stores line outcomes; a line stored before keeps its
	// first outcome.
	PutBatchResults(ctx context.Context, batchID string, rs []BatchResult) error
	// BatchResults lists a batch's line outcomes in line order.
	BatchResults(ctx context.Context, batchID string) ([]BatchResult, error)
	// UnfinishedBatches lists up to limit batches that are running or
	// interrupted, oldest first.
	UnfinishedBatches(ctx context.Context, limit int) ([]LetterBatch, error)
}
