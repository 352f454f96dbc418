package tlog

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

var (
	// ErrMalformedCheckpoint: the note or its text is not a checkpoint.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
	// ErrCheckpointSignature: a required signature is missing or invalid.
	ErrCheckpointSignature = errors.New("checkpoint signature invalid")
	// ErrOriginMismatch: the checkpoint's origin is not the name of the
	// key that must sign it.
	ErrOriginMismatch = errors.New("checkpoint origin does not match verifier key")
)

// maxNoteSize bounds a checkpoint note. An Ed25519 signature line is ~100
// bytes and an ML-DSA-65 one ~4.5 KB; the bound leaves room for a dozen
// witness cosignatures.
const maxNoteSize = 64 << 10

// A Checkpoint is a commitment to a tree state (c2sp.org/tlog-checkpoint):
//
//	<origin>\n<decimal size>\n<base64 root hash>\n[<extension line>\n]...
type Checkpoint struct {
	Origin     string
	Size       uint64
	Hash       []byte
	Extensions []string // optional extension lines, without their newline
}

// Text returns the checkpoint's note text.
func (c Checkpoint) Text() (string, error) {
	if !validName(c.Origin) {
		// The origin is also the note key name, so it obeys both rules.
		return "", fmt.Errorf("%w: origin %q", ErrKeyName, c.Origin)
	}
	if len(c.Hash) != HashSize {
		return "", fmt.Errorf("%w: root %w", ErrMalformedCheckpoint, ErrHashSize)
	}
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		if e == "" || strings.ContainsAny(e, "\n") {
			return "", fmt.Errorf("%w: extension line %q", ErrMalformedCheckpoint, e)
		}
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// ParseCheckpoint parses checkpoint note text strictly: the size is
// decimal without sign or leading zeros, the root is canonical base64 of
// 32 bytes, and extension lines are non-empty.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, fmt.Errorf("%w: text does not end in a newline", ErrMalformedCheckpoint)
	}
	if strings.IndexFunc(text, func(r rune) bool { return r < 0x20 && r != '\n' }) >= 0 {
		// c2sp.org/signed-note: no control characters but newline.
		return Checkpoint{}, fmt.Errorf("%w: control character in text", ErrMalformedCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: %d lines, want at least 3", ErrMalformedCheckpoint, len(lines))
	}
	c := Checkpoint{Origin: lines[0]}
	if !validName(c.Origin) {
		return Checkpoint{}, fmt.Errorf("%w: origin %q", ErrMalformedCheckpoint, c.Origin)
	}
	sz := lines[1]
	if sz == "" || (len(sz) > 1 && sz[0] == '0') || strings.TrimLeft(sz, "0123456789") != "" {
		return Checkpoint{}, fmt.Errorf("%w: size %q", ErrMalformedCheckpoint, sz)
	}
	var err error
	if c.Size, err = strconv.ParseUint(sz, 10, 64); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: size %q", ErrMalformedCheckpoint, sz)
	}
	if c.Hash, err = base64.StdEncoding.Strict().DecodeString(lines[2]); err != nil || len(c.Hash) != HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash %q", ErrMalformedCheckpoint, lines[2])
	}
	for _, e := range lines[3:] {
		if e == "" {
			return Checkpoint{}, fmt.Errorf("%w: empty extension line", ErrMalformedCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint returns the checkpoint as a signed note, with one
// signature line per signer in order.
func SignCheckpoint(c Checkpoint, signers ...note.Signer) ([]byte, error) {
	if len(signers) == 0 {
		return nil, fmt.Errorf("%w: no signer", ErrCheckpointSignature)
	}
	text, err := c.Text()
	if err != nil {
		return nil, err
	}
	for _, s := range signers {
		if s.Name() != c.Origin {
			return nil, fmt.Errorf("%w: signer %q for origin %q", ErrOriginMismatch, s.Name(), c.Origin)
		}
	}
	msg, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint and returns it. Every given
// verifier key (note verifier key strings, see NewNoteVerifier) must have
// a valid signature on the note: pass the log's Ed25519 key, and its
// ML-DSA-65 cosigner key to require the post-quantum signature too.
// Signatures by other keys (witnesses) are ignored. The origin line must
// equal the keys' name, so a checkpoint of one log never passes for
// another's.
func OpenCheckpoint(msg []byte, verifierKey string, moreKeys ...string) (Checkpoint, error) {
	if len(msg) > maxNoteSize {
		return Checkpoint{}, fmt.Errorf("%w: note of %d bytes", ErrMalformedCheckpoint, len(msg))
	}
	keys := append([]string{verifierKey}, moreKeys...)
	verifiers := make([]note.Verifier, 0, len(keys))
	for _, k := range keys {
		v, err := NewNoteVerifier(k)
		if err != nil {
			return Checkpoint{}, err
		}
		verifiers = append(verifiers, v)
	}
	n, err := openNote(msg, verifiers)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, v := range verifiers {
		found := false
		for _, s := range n.Sigs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				found = true
				break
			}
		}
		if !found {
			return Checkpoint{}, fmt.Errorf("%w: no signature by %s+%08x", ErrCheckpointSignature, v.Name(), v.KeyHash())
		}
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, v := range verifiers {
		if v.Name() != c.Origin {
			return Checkpoint{}, fmt.Errorf("%w: origin %q, key %q", ErrOriginMismatch, c.Origin, v.Name())
		}
	}
	return c, nil
}

// OpenCoSigned verifies a signed note that must carry a valid signature
// by one of edKeys AND a valid signature by one of mlKeys (note verifier
// keys, see NewNoteVerifier): the Ed25519 signature and its ML-DSA-65
// cosignature. Either list empty is an error, never a weaker check, so a
// verifier that lost its post-quantum pin fails closed. Signatures by
// other keys (witnesses) are ignored; an invalid signature by a listed key
// fails.
func OpenCoSigned(msg []byte, edKeys, mlKeys []string) (*note.Note, error) {
	if len(msg) > maxNoteSize {
		return nil, fmt.Errorf("%w: note of %d bytes", ErrMalformedCheckpoint, len(msg))
	}
	if len(edKeys) == 0 || len(mlKeys) == 0 {
		return nil, fmt.Errorf("%w: need both an Ed25519 and an ML-DSA-65 verifier key", ErrCheckpointSignature)
	}
	type id struct {
		name string
		hash uint32
	}
	role := make(map[id]int) // 1: Ed25519, 2: ML-DSA-65
	var verifiers []note.Verifier
	for r, keys := range [][]string{edKeys, mlKeys} {
		for _, k := range keys {
			v, err := NewNoteVerifier(k)
			if err != nil {
				return nil, err
			}
			if _, dup := role[id{v.Name(), v.KeyHash()}]; dup {
				continue
			}
			role[id{v.Name(), v.KeyHash()}] = r + 1
			verifiers = append(verifiers, v)
		}
	}
	n, err := openNote(msg, verifiers)
	if err != nil {
		return nil, err
	}
	var have [3]bool
	for _, s := range n.Sigs {
		have[role[id{s.Name, s.Hash}]] = true
	}
	switch {
	case !have[1]:
		return nil, fmt.Errorf("%w: no Ed25519 signature by a pinned key", ErrCheckpointSignature)
	case !have[2]:
		return nil, fmt.Errorf("%w: no ML-DSA-65 cosignature by a pinned key", ErrCheckpointSignature)
	}
	return n, nil
}

// openNote opens a signed note with the given verifiers, telling a bad or
// missing signature (ErrCheckpointSignature) from a malformed note.
func openNote(msg []byte, verifiers []note.Verifier) (*note.Note, error) {
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		var invalid *note.InvalidSignatureError
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &invalid) || errors.As(err, &unverified) {
			return nil, fmt.Errorf("%w: %w", ErrCheckpointSignature, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformedCheckpoint, err)
	}
	return n, nil
}
