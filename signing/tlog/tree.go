// Package tlog is the npes evidence log: an append-only Merkle tree with
// RFC 6962 hashing (github.com/transparency-dev/merkle), inclusion and
// consistency proofs, and checkpoints in the C2SP tlog-checkpoint format
// signed as notes (golang.org/x/mod/sumdb/note).
//
// Storage belongs to the caller. The tree is kept as the hashes of its
// perfect subtrees ("nodes", addressed by level and index as in
// compact.NodeID): leaves are level 0, and a node at level L and index i
// covers leaves [i·2^L, (i+1)·2^L). A node is written once, when its last
// leaf arrives, and never changes, which is what makes the log
// append-only in storage as well as in proofs. Every operation reads
// O(log n) nodes through NodeReader and computes the rest:
//
//   - Append / AppendBatch read the compact range of the current size
//     (at most 64 nodes), append, and return the new nodes and root; the
//     caller writes them and the new size in one transaction, under a
//     lock on the log head so concurrent writers (several server
//     processes on one database) serialize on it;
//   - InclusionProof, ConsistencyProof and RootAt read the nodes
//     proof.Inclusion, proof.Consistency and compact.RangeNodes name.
package tlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// HashSize is the size of every node hash (SHA-256).
const HashSize = sha256.Size

var (
	// ErrIndex: a leaf index or tree size out of range.
	ErrIndex = errors.New("index out of range")
	// ErrNodes: the reader returned missing or malformed node hashes.
	ErrNodes = errors.New("bad node hashes from storage")
	// ErrProof: a proof does not verify.
	ErrProof = errors.New("proof invalid")
	// ErrHashSize: a hash argument is not HashSize bytes.
	ErrHashSize = errors.New("hash must be 32 bytes")
)

// NodeReader reads stored node hashes. ReadNodes returns one hash per id,
// in order, or an error; a missing node is an error.
type NodeReader interface {
	ReadNodes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

// Node is a perfect-subtree node hash to persist.
type Node struct {
	ID   compact.NodeID
	Hash []byte
}

// LeafHash is the RFC 6962 §2.1 leaf hash SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(leaf)
}

// EmptyRoot is the root of the empty tree, SHA-256 of the empty string
// (RFC 6962 §2.1).
func EmptyRoot() []byte {
	return rfc6962.DefaultHasher.EmptyRoot()
}

func newFactory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
}

// readNodes calls the reader and checks its answer.
func readNodes(ctx context.Context, r NodeReader, ids []compact.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	hashes, err := r.ReadNodes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read %d nodes: %w", len(ids), err)
	}
	if len(hashes) != len(ids) {
		return nil, fmt.Errorf("%w: asked %d, got %d", ErrNodes, len(ids), len(hashes))
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("%w: node (%d,%d) has %d bytes", ErrNodes, ids[i].Level, ids[i].Index, len(h))
		}
	}
	return hashes, nil
}

// compactRange rebuilds the compact range [0, size) from storage.
func compactRange(ctx context.Context, f *compact.RangeFactory, r NodeReader, size uint64) (*compact.Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := readNodes(ctx, r, ids)
	if err != nil {
		return nil, err
	}
	return f.NewRange(0, size, hashes)
}

// Append adds one leaf hash to a tree of the given size. It returns the
// nodes to store (the leaf and every perfect subtree it completes) and
// the root of the tree of size+1. The caller persists the nodes and the
// new size atomically; Append itself writes nothing.
func Append(ctx context.Context, r NodeReader, size uint64, leafHash []byte) (newNodes []Node, newRoot []byte, err error) {
	return AppendBatch(ctx, r, size, [][]byte{leafHash})
}

// AppendBatch adds several leaf hashes, in order, to a tree of the given
// size with a single read of the compact range; see Append.
func AppendBatch(ctx context.Context, r NodeReader, size uint64, leafHashes [][]byte) (newNodes []Node, newRoot []byte, err error) {
	if len(leafHashes) == 0 {
		return nil, nil, fmt.Errorf("%w: no leaves to append", ErrIndex)
	}
	if size+uint64(len(leafHashes)) < size {
		return nil, nil, fmt.Errorf("%w: tree size overflows", ErrIndex)
	}
	for i, h := range leafHashes {
		if len(h) != HashSize {
			return nil, nil, fmt.Errorf("leaf %d: %w", i, ErrHashSize)
		}
	}
	f := newFactory()
	rng, err := compactRange(ctx, f, r, size)
	if err != nil {
		return nil, nil, err
	}
	// A leaf and its completed ancestors: about two nodes per leaf.
	newNodes = make([]Node, 0, 2*len(leafHashes)+1)
	visit := func(id compact.NodeID, hash []byte) {
		newNodes = append(newNodes, Node{ID: id, Hash: hash})
	}
	for _, h := range leafHashes {
		// Copy: the range keeps the slice, and the caller's must not alias it.
		if err := rng.Append(append([]byte(nil), h...), visit); err != nil {
			return nil, nil, err
		}
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, nil, err
	}
	return newNodes, root, nil
}

// RootAt returns the root hash of the tree of the given size (which must
// not exceed the stored size).
func RootAt(ctx context.Context, r NodeReader, size uint64) ([]byte, error) {
	if size == 0 {
		return EmptyRoot(), nil
	}
	rng, err := compactRange(ctx, newFactory(), r, size)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

// InclusionProof returns the RFC 6962 §2.1.1 audit path of leaf index in
// the tree of the given size.
func InclusionProof(ctx context.Context, r NodeReader, index, size uint64) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d in tree of size %d", ErrIndex, index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIndex, err)
	}
	return fetchProof(ctx, r, nodes)
}

// ConsistencyProof returns the RFC 6962 §2.1.2 proof that the tree of
// size1 is a prefix of the tree of size2.
func ConsistencyProof(ctx context.Context, r NodeReader, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("%w: size1 %d > size2 %d", ErrIndex, size1, size2)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIndex, err)
	}
	return fetchProof(ctx, r, nodes)
}

func fetchProof(ctx context.Context, r NodeReader, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := readNodes(ctx, r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = [][]byte{}
	}
	return p, nil
}

// VerifyInclusion checks that leafHash is leaf index of the tree of the
// given size and root.
func VerifyInclusion(leafHash []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	if len(leafHash) != HashSize || len(root) != HashSize {
		return ErrHashSize
	}
	if index >= size {
		return fmt.Errorf("%w: %w: leaf %d in tree of size %d", ErrProof, ErrIndex, index, size)
	}
	if err := checkProofHashes(proofHashes); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, proofHashes, root); err != nil {
		return proofError(err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size1 and root1 is a prefix of
// the tree of size2 and root2: nothing logged before size1 was changed.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	if len(root1) != HashSize || len(root2) != HashSize {
		return ErrHashSize
	}
	if err := checkProofHashes(proofHashes); err != nil {
		return err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, proofHashes, root1, root2); err != nil {
		return proofError(err)
	}
	return nil
}

// proofError wraps a failed proof in ErrProof. The merkle package prints a
// root mismatch as decimal byte lists over several lines; roots are written
// in hex everywhere else (checkpoints, `npes audit`), so they are here too.
func proofError(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("%w: calculated root %x does not match expected root %x", ErrProof, rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return fmt.Errorf("%w: %w", ErrProof, err)
}

// checkProofHashes refuses proof elements that are not node hashes: the
// merkle package hashes whatever it is given, and a verifier should not
// depend on that being harmless.
func checkProofHashes(p [][]byte) error {
	if len(p) > 128 {
		return fmt.Errorf("%w: %d proof hashes", ErrProof, len(p))
	}
	for i, h := range p {
		if len(h) != HashSize {
			return fmt.Errorf("%w: proof hash %d: %w", ErrProof, i, ErrHashSize)
		}
	}
	return nil
}
