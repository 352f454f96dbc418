package signing

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/npes/npes/signing/tlog"
)

// BundleVersion is the bundle format this package writes: 2, with a
// status note. Version 1 bundles (no status) still verify their records,
// but their completeness is not proven.
const BundleVersion = 2

// MaxBundleEvidence bounds the evidence of one bundle; a letter has a few
// dozen at most.
const MaxBundleEvidence = 4096

// A Bundle is everything needed to check a letter's evidence offline,
// against pinned trust (Trust): the envelopes in chain order with an
// inclusion proof each, the recipient mailbox's log entries (key
// bindings) with theirs, a checkpoint co-signed with Ed25519 and
// ML-DSA-65, and a status note naming what the bundle must contain.
//
//	{"v":2, "letter":"<id>", "checkpoint":"<signed note>", "status":"<signed note>",
//	 "evidence":[{"envelope":{General JSON JWS}, "leaf_index":n,
//	              "inclusion_proof":["<base64>",...]}, ...],
//	 "mailbox_entries":[{same shape}, ...]}
//
// Version 1 bundles also carried the operator keys and note keys; a
// verifier never trusts them, so version 2 leaves them out.
//
// The log leaf of an evidence is the canonical serialization of its
// envelope (Envelope.Bytes), so the envelope travels as a plain JSON
// object and any whitespace a tool adds to the file is harmless. Proof
// hashes are standard base64, like the checkpoint's root hash.
type Bundle struct {
	V      int    `json:"v"`
	Letter string `json:"letter"`
	// Keys, NoteVerifierKey and NoteCosignerKey are read from version 1
	// bundles only, and never trusted.
	Keys            *JWKS            `json:"keys,omitempty"`
	NoteVerifierKey string           `json:"note_verifier_key,omitempty"`
	NoteCosignerKey string           `json:"note_cosigner_key,omitempty"`
	Checkpoint      string           `json:"checkpoint"`
	Status          string           `json:"status,omitempty"`
	Evidence        []BundleEvidence `json:"evidence"`
	MailboxEntries  []BundleEvidence `json:"mailbox_entries,omitempty"`
}

// A Receipt is the sender's proof of submission (the receipt of the 201
// reply of POST /v1/letters and of GET /v1/letters/{id}/receipt): every
// envelope sealed at submission with its inclusion proof into the
// co-signed checkpoint stored in the same transaction. It proves what
// was submitted and when, not what happened afterwards.
type Receipt struct {
	Checkpoint string           `json:"checkpoint"`
	Evidence   []BundleEvidence `json:"evidence"`
}

// BundleEvidence is one envelope with its place in the log.
type BundleEvidence struct {
	Envelope       Envelope `json:"envelope"`
	LeafIndex      uint64   `json:"leaf_index"`
	InclusionProof []string `json:"inclusion_proof"`
}

// NewBundleEvidence makes a bundle item from an envelope as stored in the
// log (its exact leaf bytes), its leaf index and its inclusion proof.
// Stored bytes that are not canonical are refused: they would hash to
// another leaf than the one a verifier recomputes.
func NewBundleEvidence(leaf []byte, leafIndex uint64, proof [][]byte) (BundleEvidence, error) {
	env, err := ParseEnvelope(leaf)
	if err != nil {
		return BundleEvidence{}, err
	}
	if !bytes.Equal(env.Bytes(), leaf) {
		return BundleEvidence{}, fmt.Errorf("%w: stored envelope is not in canonical form", ErrMalformedJWS)
	}
	p := make([]string, len(proof))
	for i, h := range proof {
		if len(h) != tlog.HashSize {
			return BundleEvidence{}, fmt.Errorf("proof hash %d: %w", i, tlog.ErrHashSize)
		}
		p[i] = base64.StdEncoding.EncodeToString(h)
	}
	return BundleEvidence{Envelope: env, LeafIndex: leafIndex, InclusionProof: p}, nil
}

// AddEvidence appends a letter evidence (see NewBundleEvidence).
func (b *Bundle) AddEvidence(leaf []byte, leafIndex uint64, proof [][]byte) error {
	it, err := NewBundleEvidence(leaf, leafIndex, proof)
	if err != nil {
		return err
	}
	b.Evidence = append(b.Evidence, it)
	return nil
}

// Marshal returns the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	return json.MarshalIndent(b, "", "  ")
}

// VerifyOptions is what the verifier knows beyond the file.
type VerifyOptions struct {
	// Trust pins the operator keys and identity CAs. Without it nothing
	// is verified (ErrNoTrust).
	Trust *Trust
	// Body, when non-nil, must match content.body_sha256.
	Body []byte
	// Attachments maps attachment names to their raw bytes; each must
	// match the size and sha256 the evidence lists under that name. When
	// non-nil, every attachment the evidence lists must be in it.
	Attachments map[string][]byte
	// Checkpoint is a signed checkpoint the verifier already holds (from
	// GET /v1/log/checkpoint, a witness or an earlier bundle). The
	// bundle's checkpoint must be of the same log: equal at equal size,
	// else Consistency must prove the smaller tree a prefix of the larger
	// (RFC 9162 §2.1.4, as GET /v1/log/proof/consistency serves it).
	Checkpoint  []byte
	Consistency [][]byte
}

// A Report describes a file that verified.
type Report struct {
	// Kind is "bundle" or "receipt".
	Kind string
	// Version is the bundle format (1 or 2; 2 for receipts).
	Version    int
	Letter     string
	Checkpoint tlog.Checkpoint
	// Status is the verified status of a version 2 bundle, nil otherwise.
	// When set, the records are exactly those it names: the bundle is
	// complete as of Status.Time.
	Status *Status
	// KeyIDs are the pinned operator keys that signed envelopes.
	KeyIDs      []string
	Evidence    []EvidenceReport
	Attachments []AttachmentReport
	// BodyChecked is true when VerifyOptions.Body was given and matched.
	BodyChecked bool
	// MailboxEntries are the verified log entries of the recipient's
	// mailbox the bundle carries.
	MailboxEntries []*MailboxEntry
	// RecipientSignatures are the recipients' own signatures checked.
	RecipientSignatures []RecipientSignatureReport
	// HeldCheckpoint is the verifier's own checkpoint the bundle's was
	// proven consistent with, if one was given.
	HeldCheckpoint *tlog.Checkpoint
}

// Complete reports whether the bundle is proven complete (a version 2
// bundle whose status matched).
func (r *Report) Complete() bool { return r.Status != nil }

// EvidenceReport is one verified evidence.
type EvidenceReport struct {
	Event     Event
	ID        string
	Time      time.Time
	LeafIndex uint64
	// Version is the envelope format: 2 (EdDSA, proven by inclusion into
	// the co-signed checkpoint) or 1 (EdDSA and ML-DSA-65).
	Version int
	// Hash is Envelope.Hash, the value the next evidence names as prev.
	Hash string
	// Evidence is the verified payload.
	Evidence *Evidence
}

// RecipientSignatureReport is one checked recipient signature.
type RecipientSignatureReport struct {
	Event     Event
	Decision  string
	Signer    string // subject of the recipient's certificate
	Serial    string // its serial number, upper-case hex
	Statement *Statement
	// BindingProven is true when a CredentialBound entry of the bundle
	// binds the key to the recipient's mailbox before the decision (always,
	// except in version 1 bundles, which carry no mailbox entries); BoundBy
	// is its log index.
	BindingProven bool
	BoundBy       uint64
	// Passkey is the credential id of a decision signed with a passkey
	// (WebAuthn), "" for one signed with the certificate; Signer and
	// Serial then name the certificate that endorsed the passkey.
	Passkey string
}

// AttachmentReport is one attachment the evidence lists.
type AttachmentReport struct {
	Name    string
	Size    int64
	SHA256  string
	Checked bool // the bytes were given and matched
}

// An EvidenceError is a failure of one evidence of a bundle.
type EvidenceError struct {
	// Index is the position in the bundle's evidence array, from 0.
	Index int
	// Event is the event the payload names, if it could be read and is a
	// known event (it may be unverified: it only labels the message).
	Event Event
	Err   error
}

func (e *EvidenceError) Error() string {
	if e.Event != "" {
		return fmt.Sprintf("evidence %d (%s): %v", e.Index, e.Event, e.Err)
	}
	return fmt.Sprintf("evidence %d: %v", e.Index, e.Err)
}

func (e *EvidenceError) Unwrap() error { return e.Err }

// VerifyBundle checks a bundle or a receipt offline against pinned trust
// and returns a report, or the first failure:
//   - trust is pinned: an Ed25519 and an ML-DSA-65 operator key (and
//     identity CAs when the bundle holds a recipient signature); keys in
//     the file are never used;
//   - the file parses strictly (bundle version 1 or 2, or a receipt);
//   - the checkpoint carries an Ed25519 signature and an ML-DSA-65
//     cosignature by pinned keys;
//   - every envelope is a valid v2 (one EdDSA signature) or v1 (EdDSA and
//     ML-DSA-65) envelope by pinned keys, of the format its payload
//     states, with an inclusion proof to the checkpoint root: a v2
//     envelope counts only with that proof (DESIGN §4);
//   - every payload names the letter; the first has prev "", every other
//     has prev = hash of the previous envelope; the log index signed into
//     the payload equals leaf_index and increases;
//   - mailbox entries (version 2) are the recipient mailbox's, chained
//     from its first entry, each included in the checkpoint;
//   - the status note (version 2) is co-signed by pinned keys and names
//     exactly these records, mailbox entries and checkpoint size;
//   - a recipient's signature of acceptance or refusal verifies, its
//     certificate chains to a pinned identity CA at the statement's time,
//     the strictly parsed statement names this letter, its notification
//     and its content digest within MaxStatementSkew of the recording
//     evidence, and the key is bound to the recipient's mailbox by a log
//     entry before the decision;
//   - a held checkpoint (VerifyOptions.Checkpoint) is consistent;
//   - given body and attachments match their digests.
//
// A version 1 bundle verifies its records but Report.Complete is false:
// the caller must say that completeness is not proven.
func VerifyBundle(b []byte, opts VerifyOptions) (*Report, error) {
	roots, err := opts.Trust.roots()
	if err != nil {
		return nil, err
	}
	// One strict pass decodes either form: a bundle has "v", a receipt
	// only "checkpoint" and "evidence". The outer V hides Bundle.V.
	var wire struct {
		V *int `json:"v"`
		Bundle
	}
	if err := unmarshalStrict(b, &wire); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBundle, err)
	}
	bundle := wire.Bundle
	rep := &Report{Kind: "bundle"}
	if wire.V != nil {
		bundle.V = *wire.V
		switch {
		case bundle.V != 1 && bundle.V != 2:
			return nil, fmt.Errorf("%w: version %d, want 1 or 2", ErrMalformedBundle, bundle.V)
		case bundle.Letter == "":
			return nil, fmt.Errorf("%w: missing letter", ErrMalformedBundle)
		case bundle.V == 2 && bundle.Status == "":
			return nil, fmt.Errorf("%w: version 2 bundle without status", ErrMalformedBundle)
		case bundle.V == 2 && (bundle.Keys != nil || bundle.NoteVerifierKey != "" || bundle.NoteCosignerKey != ""):
			return nil, fmt.Errorf("%w: version 2 bundles carry no keys", ErrMalformedBundle)
		case bundle.V == 1 && (bundle.Status != "" || len(bundle.MailboxEntries) > 0):
			return nil, fmt.Errorf("%w: status and mailbox_entries need version 2", ErrMalformedBundle)
		}
	} else {
		if bundle.Letter != "" || bundle.Status != "" || bundle.Keys != nil || bundle.NoteVerifierKey != "" ||
			bundle.NoteCosignerKey != "" || bundle.MailboxEntries != nil {
			return nil, fmt.Errorf("%w: neither a bundle (no \"v\") nor a receipt (only checkpoint and evidence)", ErrMalformedBundle)
		}
		rep.Kind = "receipt"
		bundle.V = BundleVersion
		if len(bundle.Evidence) > 0 {
			// A receipt names no letter: its first evidence does, and
			// every other must name the same.
			if l, err := peekLetter(bundle.Evidence[0].Envelope); err == nil {
				bundle.Letter = l
			}
		}
	}
	switch {
	case len(bundle.Evidence) == 0:
		return nil, fmt.Errorf("%w: no evidence", ErrMalformedBundle)
	case len(bundle.Evidence) > MaxBundleEvidence || len(bundle.MailboxEntries) > MaxBundleEvidence:
		return nil, fmt.Errorf("%w: too many records", ErrMalformedBundle)
	}
	rep.Version, rep.Letter = bundle.V, bundle.Letter
	v := &verifier{trust: opts.Trust, roots: roots, rep: rep, signers: map[string]bool{}}
	if rep.Checkpoint, err = OpenCheckpoint([]byte(bundle.Checkpoint), opts.Trust); err != nil {
		return nil, err
	}
	attachments := newAttachmentCheck(opts)
	prevHash := ""
	var prevIndex uint64
	for i, ev := range bundle.Evidence {
		fail := func(err error) error {
			return &EvidenceError{Index: i, Event: peekEvent(ev.Envelope), Err: err}
		}
		payload, version, err := v.leaf(ev, prevIndex, i > 0)
		if err != nil {
			return nil, fail(err)
		}
		e, err := ParseEvidence(payload)
		if err != nil {
			return nil, fail(err)
		}
		switch {
		case e.V != version:
			return nil, fail(fmt.Errorf("%w: payload version %d in a v%d envelope", ErrSignatureSet, e.V, version))
		case e.Letter != bundle.Letter:
			return nil, fail(fmt.Errorf("%w: %q", ErrLetterMismatch, e.Letter))
		case e.Prev != prevHash && i == 0:
			return nil, fail(fmt.Errorf("%w: first evidence has prev %q, want \"\"", ErrChainBroken, e.Prev))
		case e.Prev != prevHash:
			return nil, fail(fmt.Errorf("%w: prev %q is not the hash %q of evidence %d", ErrChainBroken, e.Prev, prevHash, i-1))
		case e.LogIndex != ev.LeafIndex:
			return nil, fail(fmt.Errorf("%w: payload says %d, bundle says %d", ErrLogIndexMismatch, e.LogIndex, ev.LeafIndex))
		}
		if err := v.included(ev); err != nil {
			return nil, fail(err)
		}
		if err := attachments.check(e.Content); err != nil {
			return nil, fail(err)
		}
		prevHash = ev.Envelope.Hash()
		prevIndex = ev.LeafIndex
		rep.Evidence = append(rep.Evidence, EvidenceReport{
			Event: e.Event, ID: e.ID, Time: e.Time, LeafIndex: ev.LeafIndex, Version: version, Hash: prevHash, Evidence: e,
		})
	}
	if err := attachments.finish(rep); err != nil {
		return nil, err
	}
	if err := v.mailboxEntries(bundle.MailboxEntries); err != nil {
		return nil, err
	}
	if bundle.V == 2 && rep.Kind == "bundle" {
		if err := v.status([]byte(bundle.Status)); err != nil {
			return nil, err
		}
	}
	if err := v.recipientSignatures(); err != nil {
		return nil, err
	}
	if opts.Checkpoint != nil {
		held, err := checkHeld(rep.Checkpoint, opts)
		if err != nil {
			return nil, err
		}
		rep.HeldCheckpoint = &held
	}
	for kid := range v.signers {
		rep.KeyIDs = append(rep.KeyIDs, kid)
	}
	slices.Sort(rep.KeyIDs)
	return rep, nil
}

// verifier holds the state of one VerifyBundle call.
type verifier struct {
	trust   *Trust
	roots   *x509.CertPool // the pinned identity CAs
	rep     *Report
	signers map[string]bool
	// entryIndex is the leaf index of each mailbox entry, in order.
	entryIndex []uint64
	lastEntry  string
}

// leaf verifies an envelope's signatures with the pinned keys and that
// its leaf index is after prev.
func (v *verifier) leaf(ev BundleEvidence, prev uint64, hasPrev bool) (payload []byte, version int, err error) {
	if hasPrev && ev.LeafIndex <= prev {
		return nil, 0, fmt.Errorf("%w: leaf %d is not after leaf %d", ErrLogIndexMismatch, ev.LeafIndex, prev)
	}
	payload, err = ev.Envelope.Verify(v.trust.Keys)
	if err != nil {
		return nil, 0, err
	}
	for _, s := range ev.Envelope.Signatures {
		if h, err := parseProtected(s.Protected); err == nil {
			v.signers[h.Kid] = true
		}
	}
	return payload, ev.Envelope.Version(), nil
}

// included verifies an envelope's inclusion proof into the checkpoint.
func (v *verifier) included(ev BundleEvidence) error {
	proof := make([][]byte, len(ev.InclusionProof))
	for j, s := range ev.InclusionProof {
		var err error
		if proof[j], err = decodeB64Std(s); err != nil {
			return fmt.Errorf("%w: proof hash %d: %w", ErrInclusion, j, err)
		}
	}
	cp := v.rep.Checkpoint
	if err := tlog.VerifyInclusion(tlog.LeafHash(ev.Envelope.Bytes()), ev.LeafIndex, cp.Size, proof, cp.Hash); err != nil {
		return fmt.Errorf("%w: leaf %d in checkpoint of size %d: %w", ErrInclusion, ev.LeafIndex, cp.Size, err)
	}
	return nil
}

// mailboxEntries verifies the recipient mailbox's log entries: v2
// envelopes by pinned keys, included in the checkpoint, of one mailbox
// (the letter's recipient), chained by prev from the mailbox's first
// entry.
func (v *verifier) mailboxEntries(items []BundleEvidence) error {
	recipient := ""
	for _, e := range v.rep.Evidence {
		if e.Evidence.Recipient.Mailbox != "" {
			recipient = e.Evidence.Recipient.Mailbox
		}
	}
	prevHash := ""
	var prevIndex uint64
	for i, it := range items {
		fail := func(err error) error {
			return fmt.Errorf("mailbox entry %d: %w", i, err)
		}
		payload, version, err := v.leaf(it, prevIndex, i > 0)
		if err != nil {
			return fail(err)
		}
		m, err := ParseMailboxEntry(payload)
		if err != nil {
			return fail(err)
		}
		switch {
		case version != 2:
			return fail(fmt.Errorf("%w: mailbox entries are v2 envelopes", ErrSignatureSet))
		case m.Mailbox != recipient:
			return fail(fmt.Errorf("%w: entry of mailbox %q, the letter's recipient is %q", ErrLetterMismatch, m.Mailbox, recipient))
		case m.Prev != prevHash:
			return fail(fmt.Errorf("%w: prev %q is not the hash %q of the previous entry", ErrChainBroken, m.Prev, prevHash))
		case m.LogIndex != it.LeafIndex:
			return fail(fmt.Errorf("%w: payload says %d, bundle says %d", ErrLogIndexMismatch, m.LogIndex, it.LeafIndex))
		}
		if err := v.included(it); err != nil {
			return fail(err)
		}
		prevHash, prevIndex = it.Envelope.Hash(), it.LeafIndex
		v.rep.MailboxEntries = append(v.rep.MailboxEntries, m)
		v.entryIndex = append(v.entryIndex, it.LeafIndex)
	}
	v.lastEntry = prevHash
	return nil
}

// status checks that the status note is co-signed by pinned keys and
// names exactly the bundle's records, mailbox entries and checkpoint.
func (v *verifier) status(note []byte) error {
	st, err := OpenStatus(note, v.trust)
	if err != nil {
		return err
	}
	rep := v.rep
	last := rep.Evidence[len(rep.Evidence)-1]
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrIncomplete, fmt.Sprintf(format, args...))
	}
	recipient := ""
	if len(rep.MailboxEntries) > 0 {
		recipient = rep.MailboxEntries[0].Mailbox
	}
	switch {
	case st.Letter != rep.Letter:
		return mismatch("status is for letter %q", st.Letter)
	case st.Records != len(rep.Evidence):
		return mismatch("status names %d records, the bundle has %d", st.Records, len(rep.Evidence))
	case st.Last != last.Hash:
		return mismatch("the last record is not the one the status names")
	case st.CheckpointSize != rep.Checkpoint.Size:
		return mismatch("status refers to checkpoint size %d, the bundle's is %d", st.CheckpointSize, rep.Checkpoint.Size)
	case st.MailboxEntries != len(rep.MailboxEntries):
		return mismatch("status names %d mailbox entries, the bundle has %d", st.MailboxEntries, len(rep.MailboxEntries))
	case st.MailboxLast != v.lastEntry:
		return mismatch("the last mailbox entry is not the one the status names")
	case recipient != "" && st.Mailbox != recipient:
		return mismatch("status names mailbox %q, the entries are of %q", st.Mailbox, recipient)
	}
	rep.Status = &st
	return nil
}

// recipientSignatures checks every recipient signature of acceptance or
// refusal the evidence embeds.
func (v *verifier) recipientSignatures() error {
	var notification *Evidence
	for i, er := range v.rep.Evidence {
		e := er.Evidence
		if e.Event == EventNotificationForAcceptance {
			notification = e
		}
		decision := map[Event]string{EventConsignmentAcceptance: DecisionAccept, EventConsignmentRejection: DecisionRefuse}[e.Event]
		if decision == "" {
			if e.RecipientSignature != "" || e.RecipientWebAuthn != nil {
				return &EvidenceError{Index: i, Event: e.Event, Err: fmt.Errorf("%w: %s carries a recipient signature", ErrMalformedEvidence, e.Event)}
			}
			continue
		}
		r, err := v.recipientSignature(er, decision, notification)
		if err != nil {
			return &EvidenceError{Index: i, Event: e.Event, Err: err}
		}
		v.rep.RecipientSignatures = append(v.rep.RecipientSignatures, r)
	}
	return nil
}

func (v *verifier) recipientSignature(er EvidenceReport, decision string, notification *Evidence) (RecipientSignatureReport, error) {
	e := er.Evidence
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRecipientSignature, fmt.Sprintf(format, args...))
	}
	switch {
	case e.RecipientSignature == "" && e.RecipientWebAuthn == nil:
		return RecipientSignatureReport{}, bad("%s without the recipient's signature", e.Event)
	case e.RecipientSignature != "" && e.RecipientWebAuthn != nil:
		return RecipientSignatureReport{}, bad("%s carries two recipient signatures", e.Event)
	case !v.trust.hasCAs():
		return RecipientSignatureReport{}, fmt.Errorf("%w: the recipient's signature cannot be checked without a pinned identity CA", ErrNoTrust)
	case e.RecipientWebAuthn != nil:
		return v.passkeySignature(er, decision, notification)
	}
	cj, err := ParseCompact(e.RecipientSignature)
	if err != nil {
		return RecipientSignatureReport{}, bad("%v", err)
	}
	payload, leaf, err := cj.Verify()
	if err != nil {
		return RecipientSignatureReport{}, bad("%v", err)
	}
	st, err := ParseStatement(payload)
	if err != nil {
		return RecipientSignatureReport{}, err
	}
	if err := checkDecisionStatement(st, decision, e, notification); err != nil {
		return RecipientSignatureReport{}, err
	}
	inter := x509.NewCertPool()
	for _, c := range cj.Chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: st.Time,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return RecipientSignatureReport{}, bad("the certificate does not chain to a pinned identity CA at %s: %v", st.Time.Format(time.RFC3339), err)
	}
	jwk, err := NewJWK(leaf.PublicKey)
	if err != nil {
		return RecipientSignatureReport{}, bad("%v", err)
	}
	r := RecipientSignatureReport{Event: e.Event, Decision: decision, Signer: leaf.Subject.CommonName,
		Serial: strings.ToUpper(leaf.SerialNumber.Text(16)), Statement: st}
	if v.rep.Version == 1 {
		// A version 1 bundle carries no mailbox entries: the binding
		// cannot be shown, and the bundle is reported incomplete anyway.
		return r, nil
	}
	if r.BoundBy, err = v.boundBefore(jwk.Thumbprint(), e.Recipient.Mailbox, er); err != nil {
		return RecipientSignatureReport{}, err
	}
	r.BindingProven = true
	return r, nil
}

// checkDecisionStatement checks that a signed statement is the decision
// evidence e records: its decision, letter, notification and content,
// within MaxStatementSkew of the evidence time.
func checkDecisionStatement(st *Statement, decision string, e *Evidence, notification *Evidence) error {
	stErr := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrStatement, fmt.Sprintf(format, args...))
	}
	switch {
	case st.Decision != decision:
		return stErr("the statement says %q in %s", st.Decision, e.Event)
	case st.Letter != e.Letter:
		return stErr("the statement is for another letter")
	case notification == nil:
		return stErr("no NotificationForAcceptance precedes the decision")
	case st.Notification != notification.ID:
		return stErr("the statement names notification %q, not %q", st.Notification, notification.ID)
	case notification.Content == nil || st.ContentSHA256 != ContentDigest(notification.Content):
		return stErr("the statement names other content than the notification")
	case !st.WithinSkew(e.Time):
		return stErr("statement time %s is more than %s from the evidence time %s",
			st.Time.Format(time.RFC3339), MaxStatementSkew, e.Time.Format(time.RFC3339))
	case st.Mailbox != "" && st.Mailbox != e.Recipient.Mailbox:
		return stErr("the statement names mailbox %q, the letter's recipient is %q", st.Mailbox, e.Recipient.Mailbox)
	}
	return nil
}

// passkeySignature checks a decision signed with a passkey: the passkey
// bound to the recipient's mailbox before the decision (by a CredentialBound
// entry endorsed by a certificate itself bound to the mailbox before that
// entry), the assertion against the pinned relying party, and the statement.
func (v *verifier) passkeySignature(er EvidenceReport, decision string, notification *Evidence) (RecipientSignatureReport, error) {
	e := er.Evidence
	a := e.RecipientWebAuthn
	if v.trust.WebAuthn == nil {
		return RecipientSignatureReport{}, fmt.Errorf("%w: a passkey signature cannot be checked without a pinned WebAuthn relying party (trust file \"webauthn\")", ErrNoTrust)
	}
	if v.rep.Version == 1 {
		return RecipientSignatureReport{}, fmt.Errorf("%w: a passkey signature in a version 1 bundle", ErrMalformedBundle)
	}
	bound, boundAt := v.bindingBefore(e.Recipient.Mailbox, er, func(m *MailboxEntry) bool {
		return m.Identity != nil && m.Identity.Passkey == a.CredentialID
	})
	if bound == nil {
		return RecipientSignatureReport{}, fmt.Errorf("%w: no log entry binds passkey %q to mailbox %q before the decision", ErrRecipientSignature, a.CredentialID, e.Recipient.Mailbox)
	}
	endorser, _, err := VerifyEndorsement(bound, v.roots)
	if err != nil {
		return RecipientSignatureReport{}, err
	}
	endorserKey, err := NewJWK(endorser.PublicKey)
	if err != nil {
		return RecipientSignatureReport{}, fmt.Errorf("%w: passkey endorsement: %v", ErrRecipientSignature, err)
	}
	if _, err := v.boundBefore(endorserKey.Thumbprint(), e.Recipient.Mailbox, EvidenceReport{LeafIndex: boundAt, Version: er.Version, Time: bound.Time}); err != nil {
		return RecipientSignatureReport{}, fmt.Errorf("%w: the certificate that endorsed the passkey was not bound to the mailbox", ErrRecipientSignature)
	}
	st, _, err := VerifyWebAuthn(a, *bound.JWK, *v.trust.WebAuthn)
	if err != nil {
		return RecipientSignatureReport{}, err
	}
	if st.Mailbox != e.Recipient.Mailbox {
		return RecipientSignatureReport{}, fmt.Errorf("%w: the statement names mailbox %q, the letter's recipient is %q", ErrStatement, st.Mailbox, e.Recipient.Mailbox)
	}
	if err := checkDecisionStatement(st, decision, e, notification); err != nil {
		return RecipientSignatureReport{}, err
	}
	return RecipientSignatureReport{Event: e.Event, Decision: decision, Signer: endorser.Subject.CommonName,
		Serial: strings.ToUpper(endorser.SerialNumber.Text(16)), Statement: st, Passkey: a.CredentialID,
		BindingProven: true, BoundBy: boundAt}, nil
}

// boundBefore finds the log entry that binds the key with the given
// thumbprint to mailbox before the decision er, with no unbinding of it
// in between. For a v2 decision "before" is log order. A v1 decision was
// recorded before the log held mailbox entries: the entries written for
// the bindings that existed then (authorized_by "migration") are ordered
// by their signed time instead.
func (v *verifier) boundBefore(thumbprint, mailbox string, er EvidenceReport) (uint64, error) {
	bound, boundAt := v.bindingBefore(mailbox, er, func(m *MailboxEntry) bool {
		return m.JWK != nil && m.JWK.Thumbprint() == thumbprint
	})
	if bound == nil {
		return 0, fmt.Errorf("%w: no log entry binds the signing key to mailbox %q before the decision", ErrRecipientSignature, mailbox)
	}
	return boundAt, nil
}

// bindingBefore returns the CredentialBound entry of mailbox matching
// credential that is in force before er (no CredentialUnbound of it in
// between), and its log index; nil if there is none.
func (v *verifier) bindingBefore(mailbox string, er EvidenceReport, credential func(*MailboxEntry) bool) (*MailboxEntry, uint64) {
	var bound *MailboxEntry
	var boundAt uint64
	for i, m := range v.rep.MailboxEntries {
		before := v.entryIndex[i] < er.LeafIndex
		if er.Version == 1 && m.AuthorizedBy == "migration" {
			before = !m.Time.After(er.Time)
		}
		if !before || m.Mailbox != mailbox || m.JWK == nil {
			continue
		}
		same := credential(m)
		switch {
		case m.Event == EventMailboxRecovered && !same:
			bound = nil // a recovery unbinds every other key
		case !same:
		case m.Event == EventCredentialBound || m.Event == EventMailboxRecovered:
			bound, boundAt = m, v.entryIndex[i]
		case m.Event == EventCredentialUnbound:
			bound = nil
		}
	}
	return bound, boundAt
}

// checkHeld proves the bundle's checkpoint consistent with one the
// verifier holds.
func checkHeld(cp tlog.Checkpoint, opts VerifyOptions) (tlog.Checkpoint, error) {
	held, err := OpenCheckpoint(opts.Checkpoint, opts.Trust)
	if err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("held checkpoint: %w", err)
	}
	if held.Origin != cp.Origin {
		return tlog.Checkpoint{}, fmt.Errorf("%w: held checkpoint is of log %q, the bundle's of %q", ErrConsistency, held.Origin, cp.Origin)
	}
	small, large := cp, held
	if held.Size < cp.Size {
		small, large = held, cp
	}
	if small.Size == large.Size {
		if !bytes.Equal(small.Hash, large.Hash) {
			return tlog.Checkpoint{}, fmt.Errorf("%w: two roots for tree size %d: the log forked", ErrConsistency, small.Size)
		}
		return held, nil
	}
	if opts.Consistency == nil {
		return tlog.Checkpoint{}, fmt.Errorf("%w: sizes %d and %d differ and no consistency proof was given", ErrConsistency, small.Size, large.Size)
	}
	if err := tlog.VerifyConsistency(small.Size, large.Size, opts.Consistency, small.Hash, large.Hash); err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("%w: size %d to %d: %w", ErrConsistency, small.Size, large.Size, err)
	}
	return held, nil
}

// peekLetter reads the letter an unverified payload names (a receipt's
// letter; the verification that follows checks it).
func peekLetter(env Envelope) (string, error) {
	raw, err := decodeB64URL(env.Payload)
	if err != nil {
		return "", err
	}
	var p struct {
		Letter string `json:"letter"`
	}
	err = json.Unmarshal(raw, &p)
	return p.Letter, err
}

// peekEvent reads the event name of an unverified payload for error
// messages; only known names are returned, so a hostile payload cannot put
// arbitrary text (terminal escapes) into the message.
func peekEvent(env Envelope) Event {
	raw, err := decodeB64URL(env.Payload)
	if err != nil || !utf8.Valid(raw) {
		return ""
	}
	var p struct {
		Event Event `json:"event"`
	}
	if json.Unmarshal(raw, &p) != nil || !p.Event.Known() {
		return ""
	}
	return p.Event
}

// attachmentCheck compares given content with the digests evidence lists.
type attachmentCheck struct {
	body        []byte
	bodyChecked bool
	given       map[string][]byte
	listed      map[string]*AttachmentReport
	order       []string
}

func newAttachmentCheck(opts VerifyOptions) *attachmentCheck {
	return &attachmentCheck{body: opts.Body, given: opts.Attachments, listed: make(map[string]*AttachmentReport)}
}

func (a *attachmentCheck) check(c *Content) error {
	if c == nil {
		return nil
	}
	if a.body != nil {
		if got := DigestHex(a.body); got != c.BodySHA256 {
			return fmt.Errorf("%w: body has sha256 %s, evidence says %s", ErrAttachment, got, c.BodySHA256)
		}
		a.bodyChecked = true
	}
	for _, att := range c.Attachments {
		r, ok := a.listed[att.Name]
		if !ok {
			r = &AttachmentReport{Name: att.Name, Size: att.Size, SHA256: att.SHA256}
			a.listed[att.Name] = r
			a.order = append(a.order, att.Name)
		}
		data, given := a.given[att.Name]
		if !given {
			continue
		}
		if int64(len(data)) != att.Size {
			return fmt.Errorf("%w: %q has %d bytes, evidence says %d", ErrAttachment, att.Name, len(data), att.Size)
		}
		if got := DigestHex(data); got != att.SHA256 {
			return fmt.Errorf("%w: %q has sha256 %s, evidence says %s", ErrAttachment, att.Name, got, att.SHA256)
		}
		r.Checked = true
	}
	return nil
}

func (a *attachmentCheck) finish(rep *Report) error {
	for name := range a.given {
		if _, ok := a.listed[name]; !ok {
			return fmt.Errorf("%w: %q is not an attachment of this letter", ErrAttachment, name)
		}
	}
	for _, name := range a.order {
		if a.given != nil && !a.listed[name].Checked {
			return fmt.Errorf("%w: %q is listed in the evidence but was not given", ErrAttachment, name)
		}
	}
	if a.body != nil && !a.bodyChecked {
		return fmt.Errorf("%w: no evidence commits to the body", ErrAttachment)
	}
	rep.BodyChecked = a.bodyChecked
	for _, name := range a.order {
		rep.Attachments = append(rep.Attachments, *a.listed[name])
	}
	return nil
}
