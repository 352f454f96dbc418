package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// ErrNodeNotFound: MemoryStore holds no node with the requested id.
var ErrNodeNotFound = errors.New("node not found")

// MemoryStore is an in-memory log: a NodeReader plus the size and the
// write side a database would provide. Tests use it, and so can the
// offline verifier to recompute a log from its leaves. It is safe for
// concurrent use.
//
// Perfect-subtree nodes at level L are written in index order, so each
// level is one contiguous byte slice: 32 bytes per node and no per-node
// allocation (a million leaves take about 64 MB).
type MemoryStore struct {
	mu     sync.RWMutex
	size   uint64
	levels [][]byte // levels[L][32*i:32*(i+1)] is node (L, i)
}

// NewMemoryStore returns an empty log.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{}
}

// Size returns the number of leaves.
func (m *MemoryStore) Size() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.size
}

// ReadNodes implements NodeReader; it returns copies.
func (m *MemoryStore) ReadNodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.readLocked(ids)
}

func (m *MemoryStore) readLocked(ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	buf := make([]byte, HashSize*len(ids))
	for i, id := range ids {
		if id.Level >= uint(len(m.levels)) || id.Index >= uint64(len(m.levels[id.Level])/HashSize) {
			return nil, fmt.Errorf("%w: (%d,%d)", ErrNodeNotFound, id.Level, id.Index)
		}
		off := id.Index * HashSize
		out[i] = buf[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
		copy(out[i], m.levels[id.Level][off:off+HashSize])
	}
	return out, nil
}

// readerFunc adapts the locked read for use while the write lock is held.
type readerFunc func(ids []compact.NodeID) ([][]byte, error)

func (f readerFunc) ReadNodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	return f(ids)
}

// Write stores nodes and the new size, as a caller's transaction would
// after Append. A node may be rewritten only with the same hash; nodes
// must arrive without gaps in their level. Write fails without changing
// anything on a conflict.
func (m *MemoryStore) Write(newSize uint64, nodes []Node) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writeLocked(newSize, nodes)
}

func (m *MemoryStore) writeLocked(newSize uint64, nodes []Node) error {
	if newSize < m.size {
		return fmt.Errorf("%w: size would shrink from %d to %d", ErrIndex, m.size, newSize)
	}
	// Check everything first so a failed write changes nothing.
	next := make(map[uint]uint64) // level -> next free index after this batch
	for _, n := range nodes {
		if len(n.Hash) != HashSize {
			return fmt.Errorf("node (%d,%d): %w", n.ID.Level, n.ID.Index, ErrHashSize)
		}
		if n.ID.Level >= 64 {
			return fmt.Errorf("%w: node level %d", ErrIndex, n.ID.Level)
		}
		have := uint64(0)
		if n.ID.Level < uint(len(m.levels)) {
			have = uint64(len(m.levels[n.ID.Level]) / HashSize)
		}
		want, ok := next[n.ID.Level]
		if !ok {
			want = have
		}
		switch {
		case n.ID.Index < have:
			off := n.ID.Index * HashSize
			if !bytes.Equal(m.levels[n.ID.Level][off:off+HashSize], n.Hash) {
				return fmt.Errorf("%w: node (%d,%d) would change", ErrIndex, n.ID.Level, n.ID.Index)
			}
		case n.ID.Index == want:
			next[n.ID.Level] = want + 1
		default:
			return fmt.Errorf("%w: node (%d,%d) leaves a gap", ErrIndex, n.ID.Level, n.ID.Index)
		}
	}
	for _, n := range nodes {
		for n.ID.Level >= uint(len(m.levels)) {
			m.levels = append(m.levels, nil)
		}
		if n.ID.Index == uint64(len(m.levels[n.ID.Level])/HashSize) {
			m.levels[n.ID.Level] = append(m.levels[n.ID.Level], n.Hash...)
		}
	}
	m.size = newSize
	return nil
}

// Append adds leaf hashes to the log and returns the new size and root.
func (m *MemoryStore) Append(ctx context.Context, leafHashes ...[]byte) (size uint64, root []byte, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	nodes, root, err := AppendBatch(ctx, readerFunc(m.readLocked), m.size, leafHashes)
	if err != nil {
		return 0, nil, err
	}
	newSize := m.size + uint64(len(leafHashes))
	if err := m.writeLocked(newSize, nodes); err != nil {
		return 0, nil, err
	}
	return newSize, root, nil
}
