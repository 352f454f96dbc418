package mailbox

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/npes/npes/signing"
	"github.com/npes/npes/signing/tlog"
)

func toLogNodes(nodes []tlog.Node) []LogNode {
	out := make([]LogNode, len(nodes))
	for i, n := range nodes {
		out[i] = LogNode{Level: n.ID.Level, Index: n.ID.Index, Hash: n.Hash}
	}
	return out
}

// nodeReader reads log nodes through a transaction.
type nodeReader struct{ tx Tx }

func (r nodeReader) ReadNodes(ctx context.Context, ids []tlog.NodeID) ([][]byte, error) {
	q := make([]LogNode, len(ids))
	for i, id := range ids {
		q[i] = LogNode{Level: id.Level, Index: id.Index}
	}
	return r.tx.LogNodes(ctx, q)
}

// JWKS is the operator's public evidence keys (GET /v1/keys).
func (s *Service) JWKS() signing.JWKS { return s.cfg.Sealer.JWKS() }

// NoteVerifierKey is the checkpoint verifier key in note format.
func (s *Service) NoteVerifierKey() (string, error) { return s.cfg.Sealer.NoteVerifierKey(s.origin) }

// Checkpoint returns the latest stored checkpoint. Every transaction that
// appends stores the checkpoint of its new size, so this only reads: no
// public request signs or writes anything. ErrNotFound before the first
// append (and before the startup step has stored one for an older log).
func (s *Service) Checkpoint(ctx context.Context) (size uint64, note []byte, err error) {
	err = s.cfg.Store.View(ctx, func(tx Tx) error {
		size, note, err = tx.LatestCheckpoint(ctx)
		if errors.Is(err, ErrNotFound) {
			return Errorf(ErrNotFound, "no_checkpoint", "the evidence log is empty: no checkpoint yet")
		}
		return err
	})
	return size, note, err
}

// InclusionProof proves that leaf index is in the tree of the given size.
func (s *Service) InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error) {
	var proof [][]byte
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		head, err := tx.GetLogHead(ctx)
		if err != nil {
			return err
		}
		if size == 0 || size > head.Size || index >= size {
			return Errorf(ErrInvalid, "bad_range", "need index < size ≤ %d", head.Size)
		}
		proof, err = tlog.InclusionProof(ctx, nodeReader{tx}, index, size)
		return err
	})
	return proof, err
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to.
func (s *Service) ConsistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	var proof [][]byte
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		head, err := tx.GetLogHead(ctx)
		if err != nil {
			return err
		}
		if from == 0 || from > to || to > head.Size {
			return Errorf(ErrInvalid, "bad_range", "need 0 < from ≤ to ≤ %d", head.Size)
		}
		proof, err = tlog.ConsistencyProof(ctx, nodeReader{tx}, from, to)
		return err
	})
	return proof, err
}

// LogEntry returns the leaf (envelope bytes) at an index. Evidence payloads
// name letters and parties, so entries are not public: only the operator
// reads them (for audits).
func (s *Service) LogEntries(ctx context.Context, c Caller, from, to uint64) ([]EvidenceRecord, error) {
	if c.Identity.Role != "operator" {
		return nil, Errorf(ErrForbidden, "forbidden", "only an operator reads log entries")
	}
	var out []EvidenceRecord
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		var err error
		out, err = tx.EvidenceByIndex(ctx, from, to)
		return err
	})
	return out, err
}

// sealBlob encrypts a stored document (a rendered PDF) under its own data
// key: wrapped key length (2 bytes), wrapped key, one sealed chunk.
func (s *Service) sealBlob(id string, data []byte) ([]byte, error) {
	a, wrapped, err := s.cfg.Keys.NewLetterKey(id)
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(wrapped)))
	out = append(out, wrapped...)
	return append(out, sealChunk(a, id, 0, 0, true, data)...), nil
}

func (s *Service) openBlob(id string, blob []byte) ([]byte, error) {
	if len(blob) < 2 {
		return nil, ErrCorruptContent
	}
	n := int(binary.BigEndian.Uint16(blob))
	if len(blob) < 2+n {
		return nil, ErrCorruptContent
	}
	a, err := s.cfg.Keys.LetterKey(id, blob[2:2+n])
	if err != nil {
		return nil, err
	}
	plain, _, err := openChunk(a, id, 0, 0, blob[2+n:])
	return plain, err
}

func pdfBlobKey(jobID string) string { return "pdf/" + jobID }

// encodeProof renders proof hashes as base64 strings for JSON.
func encodeProof(p [][]byte) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

func tlogInclusion(ctx context.Context, tx Tx, index, size uint64) ([][]byte, error) {
	return tlog.InclusionProof(ctx, nodeReader{tx}, index, size)
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.now() }
