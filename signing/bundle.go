package signing

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"

	"github.com/npes/npes/signing/tlog"
)

// BundleVersion is the bundle format this package writes and verifies.
const BundleVersion = 1

// MaxBundleEvidence bounds the evidence of one bundle; a letter has a few
// dozen at most.
const MaxBundleEvidence = 4096

// A Bundle is everything needed to check a letter's evidence offline:
// the envelopes in chain order, the operator keys, a signed checkpoint
// and an inclusion proof of every envelope against that checkpoint.
//
//	{"v":1, "letter":"<id>", "keys":{JWKS},
//	 "note_verifier_key":"<vkey>", "note_cosigner_key":"<vkey>",
//	 "checkpoint":"<signed note>",
//	 "evidence":[{"envelope":{General JSON JWS}, "leaf_index":n,
//	              "inclusion_proof":["<base64>",...]}, ...]}
//
// The log leaf of an evidence is the canonical serialization of its
// envelope (Envelope.Bytes), so the envelope travels as a plain JSON
// object and any whitespace a tool adds to the file is harmless. Proof
// hashes are standard base64, like the checkpoint's root hash.
type Bundle struct {
	V               int    `json:"v"`
	Letter          string `json:"letter"`
	Keys            JWKS   `json:"keys"`
	NoteVerifierKey string `json:"note_verifier_key"`
	// NoteCosignerKey, when present, must also have signed the checkpoint
	// (the ML-DSA-65 cosignature).
	NoteCosignerKey string           `json:"note_cosigner_key,omitempty"`
	Checkpoint      string           `json:"checkpoint"`
	Evidence        []BundleEvidence `json:"evidence"`
}

// BundleEvidence is one envelope with its place in the log.
type BundleEvidence struct {
	Envelope       Envelope `json:"envelope"`
	LeafIndex      uint64   `json:"leaf_index"`
	InclusionProof []string `json:"inclusion_proof"`
}

// AddEvidence appends an envelope as stored in the log (its exact leaf
// bytes), its leaf index and its inclusion proof against the bundle's
// checkpoint. Stored bytes that are not canonical are refused: they would
// hash to another leaf than the one the verifier recomputes.
func (b *Bundle) AddEvidence(leaf []byte, leafIndex uint64, proof [][]byte) error {
	env, err := ParseEnvelope(leaf)
	if err != nil {
		return err
	}
	if !bytes.Equal(env.Bytes(), leaf) {
		return fmt.Errorf("%w: stored envelope is not in canonical form", ErrMalformedJWS)
	}
	p := make([]string, len(proof))
	for i, h := range proof {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("proof hash %d: %w", i, tlog.ErrHashSize)
		}
		p[i] = base64.StdEncoding.EncodeToString(h)
	}
	b.Evidence = append(b.Evidence, BundleEvidence{Envelope: env, LeafIndex: leafIndex, InclusionProof: p})
	return nil
}

// Marshal returns the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	return json.MarshalIndent(b, "", "  ")
}

// VerifyOptions adds what the verifier knows beyond the bundle.
type VerifyOptions struct {
	// TrustedJWKS pins the operator keys: every key of the bundle must be
	// in it, and, unless TrustedNoteKey or TrustedCosignerKey pin them
	// separately, the checkpoint keys must be note keys of these operator
	// keys (the log signs with the operator keys, see
	// Sealer.SignCheckpoint). Without any pin the bundle's own keys are
	// used, which proves the evidence is consistent but not who made it.
	TrustedJWKS *JWKS
	// TrustedNoteKey and TrustedCosignerKey pin the checkpoint keys: the
	// bundle must name exactly these (and so be signed by them).
	TrustedNoteKey     string
	TrustedCosignerKey string
	// Body, when non-nil, must match content.body_sha256.
	Body []byte
	// Attachments maps attachment names to their raw bytes; each must
	// match the size and sha256 the evidence lists under that name.
	Attachments map[string][]byte
}

// A Report describes a bundle that verified.
type Report struct {
	Letter      string
	Checkpoint  tlog.Checkpoint
	KeyIDs      []string
	Evidence    []EvidenceReport
	Attachments []AttachmentReport
	// BodyChecked is true when VerifyOptions.Body was given and matched.
	BodyChecked bool
}

// EvidenceReport is one verified evidence.
type EvidenceReport struct {
	Event     Event
	ID        string
	Time      time.Time
	LeafIndex uint64
	// Hash is Envelope.Hash, the value the next evidence names as prev.
	Hash string
	// Evidence is the verified payload.
	Evidence *Evidence
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

// VerifyBundle checks a bundle offline and returns a report, or the first
// failure:
//   - the bundle parses (strict JSON, version 1) and its keys match the
//     pinned ones, if any;
//   - the checkpoint is signed by note_verifier_key (and by
//     note_cosigner_key when present), and its origin is theirs;
//   - every envelope carries a valid EdDSA and a valid ML-DSA-65
//     signature by keys of the set;
//   - every payload names the bundle's letter; the first has prev "",
//     every other has prev = hash of the previous envelope; the log index
//     signed into the payload equals leaf_index and increases;
//   - every envelope's inclusion proof leads to the checkpoint root;
//   - given body and attachments match their digests.
func VerifyBundle(b []byte, opts VerifyOptions) (*Report, error) {
	var bundle Bundle
	if err := unmarshalStrict(b, &bundle); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBundle, err)
	}
	switch {
	case bundle.V != BundleVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformedBundle, bundle.V, BundleVersion)
	case bundle.Letter == "":
		return nil, fmt.Errorf("%w: missing letter", ErrMalformedBundle)
	case len(bundle.Keys.Keys) == 0:
		return nil, fmt.Errorf("%w: missing keys", ErrMalformedBundle)
	case len(bundle.Evidence) == 0:
		return nil, fmt.Errorf("%w: no evidence", ErrMalformedBundle)
	case len(bundle.Evidence) > MaxBundleEvidence:
		return nil, fmt.Errorf("%w: %d evidence", ErrMalformedBundle, len(bundle.Evidence))
	}

	if err := checkPins(&bundle, opts); err != nil {
		return nil, err
	}
	rep := &Report{Letter: bundle.Letter}
	for _, k := range bundle.Keys.Keys {
		rep.KeyIDs = append(rep.KeyIDs, k.Kid)
	}

	var more []string
	if bundle.NoteCosignerKey != "" {
		more = append(more, bundle.NoteCosignerKey)
	}
	cp, err := tlog.OpenCheckpoint([]byte(bundle.Checkpoint), bundle.NoteVerifierKey, more...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	rep.Checkpoint = cp

	attachments := newAttachmentCheck(opts)
	prevHash := ""
	var prevIndex uint64
	for i, ev := range bundle.Evidence {
		fail := func(err error) error {
			return &EvidenceError{Index: i, Event: peekEvent(ev.Envelope), Err: err}
		}
		leaf := ev.Envelope.Bytes()
		payload, err := ev.Envelope.Verify(bundle.Keys)
		if err != nil {
			return nil, fail(err)
		}
		e, err := ParseEvidence(payload)
		if err != nil {
			return nil, fail(err)
		}
		switch {
		case e.Letter != bundle.Letter:
			return nil, fail(fmt.Errorf("%w: %q", ErrLetterMismatch, e.Letter))
		case e.Prev != prevHash && i == 0:
			return nil, fail(fmt.Errorf("%w: first evidence has prev %q, want \"\"", ErrChainBroken, e.Prev))
		case e.Prev != prevHash:
			return nil, fail(fmt.Errorf("%w: prev %q is not the hash %q of evidence %d", ErrChainBroken, e.Prev, prevHash, i-1))
		case e.LogIndex != ev.LeafIndex:
			return nil, fail(fmt.Errorf("%w: payload says %d, bundle says %d", ErrLogIndexMismatch, e.LogIndex, ev.LeafIndex))
		case i > 0 && ev.LeafIndex <= prevIndex:
			return nil, fail(fmt.Errorf("%w: leaf %d is not after leaf %d of evidence %d", ErrLogIndexMismatch, ev.LeafIndex, prevIndex, i-1))
		}
		proof := make([][]byte, len(ev.InclusionProof))
		for j, s := range ev.InclusionProof {
			if proof[j], err = decodeB64Std(s); err != nil {
				return nil, fail(fmt.Errorf("%w: proof hash %d: %w", ErrInclusion, j, err))
			}
		}
		if err := tlog.VerifyInclusion(tlog.LeafHash(leaf), ev.LeafIndex, cp.Size, proof, cp.Hash); err != nil {
			return nil, fail(fmt.Errorf("%w: leaf %d in checkpoint of size %d: %w", ErrInclusion, ev.LeafIndex, cp.Size, err))
		}
		if err := attachments.check(e.Content); err != nil {
			return nil, fail(err)
		}
		prevHash = DigestHex(leaf)
		prevIndex = ev.LeafIndex
		rep.Evidence = append(rep.Evidence, EvidenceReport{
			Event: e.Event, ID: e.ID, Time: e.Time, LeafIndex: ev.LeafIndex, Hash: prevHash, Evidence: e,
		})
	}
	if err := attachments.finish(rep); err != nil {
		return nil, err
	}
	return rep, nil
}

// checkPins compares the bundle's keys with the pinned ones.
func checkPins(bundle *Bundle, opts VerifyOptions) error {
	if opts.TrustedJWKS != nil {
		for _, k := range bundle.Keys.Keys {
			if !opts.TrustedJWKS.Contains(k) {
				return fmt.Errorf("%w: operator key %q", ErrUntrusted, k.Kid)
			}
		}
	}
	switch {
	case opts.TrustedNoteKey != "":
		if opts.TrustedNoteKey != bundle.NoteVerifierKey {
			return fmt.Errorf("%w: checkpoint key %q", ErrUntrusted, bundle.NoteVerifierKey)
		}
	case opts.TrustedJWKS != nil:
		if !isNoteKeyOf(bundle.NoteVerifierKey, *opts.TrustedJWKS) {
			return fmt.Errorf("%w: checkpoint key %q is not a trusted operator key", ErrUntrusted, bundle.NoteVerifierKey)
		}
	}
	switch {
	case opts.TrustedCosignerKey != "":
		if opts.TrustedCosignerKey != bundle.NoteCosignerKey {
			return fmt.Errorf("%w: checkpoint cosigner key", ErrUntrusted)
		}
	case opts.TrustedJWKS != nil:
		// A trusted ML-DSA-65 operator key means the log cosigns its
		// checkpoints: a bundle without the cosignature lost its
		// post-quantum protection and is refused.
		if bundle.NoteCosignerKey == "" && len(opts.TrustedJWKS.Select(AlgMLDSA65).Keys) > 0 {
			return fmt.Errorf("%w: checkpoint lacks the ML-DSA-65 cosignature", ErrUntrusted)
		}
		if bundle.NoteCosignerKey != "" && !isNoteKeyOf(bundle.NoteCosignerKey, *opts.TrustedJWKS) {
			return fmt.Errorf("%w: checkpoint cosigner key is not a trusted operator key", ErrUntrusted)
		}
	}
	return nil
}

// isNoteKeyOf reports whether vkey is the note verifier key of one of the
// operator keys in set, under the name vkey states.
func isNoteKeyOf(vkey string, set JWKS) bool {
	name, _, ok := strings.Cut(vkey, "+")
	if !ok {
		return false
	}
	for _, k := range set.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			continue
		}
		var derived string
		switch p := pub.(type) {
		case ed25519.PublicKey:
			derived, err = tlog.Ed25519VerifierKey(name, p)
		case *mldsa65.PublicKey:
			derived, err = tlog.MLDSA65VerifierKey(name, p)
		default:
			continue
		}
		if err == nil && derived == vkey {
			return true
		}
	}
	return false
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
	if a.body != nil && !a.bodyChecked {
		return fmt.Errorf("%w: no evidence commits to the body", ErrAttachment)
	}
	rep.BodyChecked = a.bodyChecked
	for _, name := range a.order {
		rep.Attachments = append(rep.Attachments, *a.listed[name])
	}
	return nil
}
