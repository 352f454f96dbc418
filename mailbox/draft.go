package mailbox

import (
	"bufio"
	"bytes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/npes/npes/signing"
)

// Draft stages a submission's attachments while the request streams in.
// Each attachment is encrypted with the letter's data key as it arrives and
// written to a temporary file, so memory does not grow with attachment size
// and no plaintext content touches the disk. Submit moves the sealed chunks
// into the store inside the letter's transaction; Close removes the files.
type Draft struct {
	letterID string
	aead     cipher.AEAD
	wrapped  []byte
	limits   Limits
	tempDir  string
	parts    []*stagedPart
	total    int64
}

type stagedPart struct {
	meta AttachmentMeta
	file *os.File
	// An office document's PDF rendition: the plaintext for rendering
	// and the sealed chunks the commit stores.
	rendition       []byte
	renditionChunks []Chunk
}

// renditionPart is the stored part of attachment n's rendition: far above
// any attachment's part number, so a rendition never takes an original's
// place and electronic recipients, who read parts 1..n, never see it.
func renditionPart(n int) int { return 1<<16 + n }

// NewDraft starts a submission.
func (s *Service) NewDraft() (*Draft, error) {
	id := uuid.NewString()
	a, wrapped, err := s.cfg.Keys.NewLetterKey(id)
	if err != nil {
		return nil, err
	}
	return &Draft{letterID: id, aead: a, wrapped: wrapped, limits: s.cfg.Limits, tempDir: s.cfg.TempDir}, nil
}

// Close removes the staged files. It is safe to call more than once.
func (d *Draft) Close() error {
	var errs []error
	for _, p := range d.parts {
		if p.file != nil {
			name := p.file.Name()
			errs = append(errs, p.file.Close(), os.Remove(name))
			p.file = nil
		}
	}
	return errors.Join(errs...)
}

// Allowed attachment types. Any type travels electronically; only these can
// be printed, and the office formats (OfficeFormats) through a rendition.
var printableTypes = map[string]bool{"application/pdf": true, "image/png": true, "image/jpeg": true, "text/plain": true}

// printableFormats names what can be printed, for messages.
const printableFormats = "PDF, PNG, JPEG, plain text, DOCX, DOC, ODT, RTF, XLSX, XLS and ODS"

// AddAttachment streams one attachment into the draft.
func (d *Draft) AddAttachment(name, contentType string, r io.Reader) error {
	name, err := AttachmentName(name)
	if err != nil {
		return err
	}
	for _, p := range d.parts {
		if SameFileName(p.meta.Name, name) {
			return Errorf(ErrInvalid, "duplicate_attachment", "two attachments are named %q and %q: one file on a case-insensitive file system", p.meta.Name, name)
		}
	}
	if len(d.parts) >= d.limits.MaxAttachments {
		return Errorf(ErrTooLarge, "too_many_attachments", "at most %d attachments", d.limits.MaxAttachments)
	}
	f, err := os.CreateTemp(d.tempDir, "npes-part-*")
	if err != nil {
		return fmt.Errorf("staging attachment: %w", err)
	}
	p := &stagedPart{file: f, meta: AttachmentMeta{Name: name}}
	d.parts = append(d.parts, p)
	part := len(d.parts) // part 0 is the body

	h := sha256.New()
	w := bufio.NewWriterSize(f, 64<<10)
	buf := make([]byte, ChunkSize)
	var sniff []byte
	var chunk int
	var utf8ok = true
	var carry []byte // an incomplete UTF-8 sequence at a chunk boundary
	// Read one chunk ahead so the last chunk can be flagged as last.
	n, rerr := io.ReadFull(r, buf)
	for {
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return rerr
		}
		data := buf[:n]
		d.total += int64(n)
		p.meta.Size += int64(n)
		if d.total > d.limits.MaxAttachmentBytes {
			return Errorf(ErrTooLarge, "attachments_too_large", "attachments exceed %d bytes in total", d.limits.MaxAttachmentBytes)
		}
		if sniff == nil {
			sniff = bytes.Clone(data[:min(len(data), 512)])
		}
		h.Write(data)
		if utf8ok {
			carry, utf8ok = validUTF8Stream(carry, data)
		}
		var next []byte
		last := rerr != nil
		var nn int
		var nerr error
		if !last {
			next = make([]byte, ChunkSize)
			nn, nerr = io.ReadFull(r, next)
			if nn == 0 && nerr != nil {
				last = true
				if !errors.Is(nerr, io.EOF) {
					return nerr
				}
			}
		}
		sealed := sealChunk(d.aead, d.letterID, part, chunk, last, data)
		if err := binary.Write(w, binary.BigEndian, uint32(len(sealed))); err != nil {
			return err
		}
		if _, err := w.Write(sealed); err != nil {
			return fmt.Errorf("staging attachment: %w", err)
		}
		chunk++
		if last {
			break
		}
		buf, n, rerr = next, nn, nerr
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("staging attachment: %w", err)
	}
	p.meta.Chunks = chunk
	p.meta.SHA256 = hex.EncodeToString(h.Sum(nil))
	p.meta.ContentType = detectType(contentType, name, sniff, utf8ok && len(carry) == 0)
	return nil
}

// detectType decides an attachment's type from its bytes: a declared type is
// believed only when the content agrees, so a client cannot have an
// executable printed or displayed as a PDF.
func detectType(declared, name string, sniff []byte, validUTF8 bool) string {
	switch {
	case bytes.HasPrefix(sniff, []byte("%PDF-")):
		return "application/pdf"
	case bytes.HasPrefix(sniff, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(sniff, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	}
	// Office documents by name and container, whatever type the client
	// declared (the CLI sends application/octet-stream); the members are
	// checked before printing (recognizeOffice).
	if t, ok := sniffOffice(name, sniff); ok {
		return t
	}
	declared = strings.ToLower(strings.TrimSpace(strings.SplitN(declared, ";", 2)[0]))
	ext := strings.ToLower(path.Ext(name))
	if validUTF8 && !bytes.ContainsRune(sniff, 0) && (declared == "text/plain" || ext == ".txt" || declared == "") {
		return "text/plain"
	}
	return "application/octet-stream"
}

// validUTF8Stream validates data as the continuation of a UTF-8 stream,
// carrying an incomplete trailing sequence into the next call.
func validUTF8Stream(carry, data []byte) ([]byte, bool) {
	b := append(carry, data...)
	// Keep up to 3 trailing bytes that may start an incomplete rune.
	cut := len(b)
	for i := 1; i <= 3 && i <= len(b); i++ {
		c := b[len(b)-i]
		if c < 0x80 {
			break
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				cut = len(b) - i
			}
			break
		}
	}
	if !utf8.Valid(b[:cut]) {
		return nil, false
	}
	return bytes.Clone(b[cut:]), true
}

// stagedChunks calls fn with each sealed chunk of an attachment.
func (p *stagedPart) stagedChunks(fn func(chunk int, sealed []byte) error) error {
	if _, err := p.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(p.file, 64<<10)
	for i := 0; i < p.meta.Chunks; i++ {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); err != nil {
			return fmt.Errorf("staged attachment: %w", err)
		}
		if n > ChunkSize+64 {
			return fmt.Errorf("staged attachment: chunk of %d bytes", n)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return fmt.Errorf("staged attachment: %w", err)
		}
		if err := fn(i, b); err != nil {
			return err
		}
	}
	return nil
}

// plaintext decrypts a staged attachment (for rendering a printed letter).
func (d *Draft) plaintext(i int) ([]byte, error) {
	p := d.parts[i]
	out := make([]byte, 0, p.meta.Size)
	err := p.stagedChunks(func(c int, sealed []byte) error {
		plain, _, err := openChunk(d.aead, d.letterID, i+1, c, sealed)
		out = append(out, plain...)
		return err
	})
	return out, err
}

func (d *Draft) attachments() []AttachmentMeta {
	out := make([]AttachmentMeta, len(d.parts))
	for i, p := range d.parts {
		out[i] = p.meta
	}
	return out
}

// printAttachments decrypts the staged attachments for the renderer.
func (d *Draft) printAttachments() ([]PrintAttachment, error) {
	out := make([]PrintAttachment, len(d.parts))
	for i, p := range d.parts {
		data, err := d.plaintext(i)
		if err != nil {
			return nil, err
		}
		out[i] = PrintAttachment{Name: p.meta.Name, ContentType: p.meta.ContentType, Data: data}
		if p.rendition != nil {
			out[i].ContentType, out[i].Data = "application/pdf", p.rendition
		}
	}
	return out, nil
}

// setRendition keeps attachment i's PDF rendition, sealed with the
// letter's key like the content, and records its digest.
func (d *Draft) setRendition(i int, pdf []byte) {
	p := d.parts[i]
	p.rendition = pdf
	p.renditionChunks = sealPart(d.letterID, d, renditionPart(i+1), pdf)
	p.meta.RenditionSHA256 = signing.DigestHex(pdf)
	p.meta.RenditionSize = int64(len(pdf))
	p.meta.RenditionChunks = len(p.renditionChunks)
}
