package mailbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// Content encryption at rest (DESIGN §8): every letter has its own
// AES-256-GCM data key; the data key is stored wrapped (AES-256-GCM, random
// nonce, the letter id as associated data) under the master key, so a copied
// database without the master key reveals no content, and a wrapped key moved
// to another letter does not unwrap.
//
// Content is sealed in chunks of ChunkSize bytes so that a 25 MiB attachment
// streams through bounded memory. Each chunk's nonce is (part, chunk index):
// unique because the key is unique to the letter and each (part, chunk) is
// written once. The associated data binds letter id, part, index and a
// "last chunk" flag, so chunks cannot be reordered, moved between letters or
// parts, or truncated without detection (the STREAM construction of Hoang,
// Reyhanitabar, Rogaway and Vizár, as used by age and Tink).
const ChunkSize = 256 << 10

// ErrCorruptContent means stored content failed authentication.
var ErrCorruptContent = errors.New("stored content failed authentication")

// Keyring holds the master key.
type Keyring struct {
	master cipher.AEAD
}

// NewKeyring builds a keyring from a 32-byte master key.
func NewKeyring(masterKey []byte) (*Keyring, error) {
	if len(masterKey) != 32 {
		return nil, fmt.Errorf("master key must be 32 bytes, got %d", len(masterKey))
	}
	a, err := newGCM(masterKey)
	if err != nil {
		return nil, err
	}
	return &Keyring{master: a}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// NewLetterKey makes a fresh data key for a letter and its wrapped form.
func (k *Keyring) NewLetterKey(letterID string) (cipher.AEAD, []byte, error) {
	dek := make([]byte, 32)
	if _, err := rand.Read(dek); err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, k.master.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	wrapped := k.master.Seal(nonce, nonce, dek, []byte("npes letter key "+letterID))
	a, err := newGCM(dek)
	return a, wrapped, err
}

// LetterKey unwraps a letter's data key.
func (k *Keyring) LetterKey(letterID string, wrapped []byte) (cipher.AEAD, error) {
	ns := k.master.NonceSize()
	if len(wrapped) < ns {
		return nil, ErrCorruptContent
	}
	dek, err := k.master.Open(nil, wrapped[:ns], wrapped[ns:], []byte("npes letter key "+letterID))
	if err != nil {
		return nil, fmt.Errorf("letter %s: %w: key does not unwrap (wrong master key?)", letterID, ErrCorruptContent)
	}
	return newGCM(dek)
}

func chunkNonce(part, chunk int) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint32(n[0:4], uint32(part))
	binary.BigEndian.PutUint64(n[4:12], uint64(chunk))
	return n
}

func chunkAAD(letterID string, part, chunk int, last bool) []byte {
	aad := make([]byte, 0, len(letterID)+16)
	aad = append(aad, letterID...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(part))
	aad = binary.BigEndian.AppendUint64(aad, uint64(chunk))
	if last {
		aad = append(aad, 1)
	} else {
		aad = append(aad, 0)
	}
	return aad
}

// sealChunk encrypts one chunk. The stored form is one flag byte (1 = last)
// followed by the GCM ciphertext.
func sealChunk(a cipher.AEAD, letterID string, part, chunk int, last bool, plain []byte) []byte {
	out := make([]byte, 1, 1+len(plain)+a.Overhead())
	if last {
		out[0] = 1
	}
	return a.Seal(out, chunkNonce(part, chunk), plain, chunkAAD(letterID, part, chunk, last))
}

// openChunk decrypts one stored chunk and reports whether it was the last.
func openChunk(a cipher.AEAD, letterID string, part, chunk int, stored []byte) ([]byte, bool, error) {
	if len(stored) < 1+a.Overhead() {
		return nil, false, ErrCorruptContent
	}
	last := stored[0] == 1
	plain, err := a.Open(nil, chunkNonce(part, chunk), stored[1:], chunkAAD(letterID, part, chunk, last))
	if err != nil {
		return nil, false, fmt.Errorf("letter %s part %d chunk %d: %w", letterID, part, chunk, ErrCorruptContent)
	}
	return plain, last, nil
}
