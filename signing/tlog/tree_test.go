package tlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/npes/npes/signing/tlog"
)

// Naive RFC 6962 §2.1 definitions, written from the RFC text, as the
// reference the tree is compared with.

func h(parts ...[]byte) []byte {
	d := sha256.New()
	for _, p := range parts {
		d.Write(p)
	}
	return d.Sum(nil)
}

func split(n int) int { // largest power of two smaller than n
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

func mth(d [][]byte) []byte {
	switch len(d) {
	case 0:
		return h()
	case 1:
		return h([]byte{0}, d[0])
	}
	k := split(len(d))
	return h([]byte{1}, mth(d[:k]), mth(d[k:]))
}

func path(m int, d [][]byte) [][]byte {
	if len(d) <= 1 {
		return nil
	}
	k := split(len(d))
	if m < k {
		return append(path(m, d[:k]), mth(d[k:]))
	}
	return append(path(m-k, d[k:]), mth(d[:k]))
}

func subproof(m int, d [][]byte, b bool) [][]byte {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return [][]byte{mth(d)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(m, d[:k], b), mth(d[k:]))
	}
	return append(subproof(m-k, d[k:], false), mth(d[:k]))
}

func consistency(m int, d [][]byte) [][]byte {
	if m == 0 || m == len(d) {
		return nil
	}
	return subproof(m, d, true)
}

// mapStore is the simplest storage a caller could write: a map filled
// with the nodes Append returns.
type mapStore struct {
	mu    sync.Mutex
	nodes map[compact.NodeID][]byte
	reads int
}

func (s *mapStore) ReadNodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads += len(ids)
	out := make([][]byte, len(ids))
	for i, id := range ids {
		v, ok := s.nodes[id]
		if !ok {
			return nil, fmt.Errorf("no node %v", id)
		}
		out[i] = v
	}
	return out, nil
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestTreeAgainstRFC6962 appends leaves one by one and in random batches
// up to 300, and compares every root, and inclusion and consistency
// proofs at random sizes, with the naive RFC 6962 definitions.
func TestTreeAgainstRFC6962(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seed := uint64(20240601)
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)

	const max = 300
	leaves := make([][]byte, max)
	hashes := make([][]byte, max)
	for i := range leaves {
		leaves[i] = []byte(fmt.Sprintf(`{"payload":"leaf %d"}`, i))
		hashes[i] = tlog.LeafHash(leaves[i])
	}
	store := &mapStore{nodes: make(map[compact.NodeID][]byte)}
	roots := [][]byte{tlog.EmptyRoot()}
	size := 0
	for size < max {
		n := 1
		if rng.IntN(3) == 0 {
			n = 1 + rng.IntN(min(17, max-size))
		}
		var nodes []tlog.Node
		var root []byte
		var err error
		reads := store.reads
		if n == 1 {
			nodes, root, err = tlog.Append(ctx, store, uint64(size), hashes[size])
		} else {
			nodes, root, err = tlog.AppendBatch(ctx, store, uint64(size), hashes[size:size+n])
		}
		if err != nil {
			t.Fatalf("append at %d: %v", size, err)
		}
		if got := store.reads - reads; got > 64 {
			t.Fatalf("append at %d read %d nodes", size, got)
		}
		for _, nd := range nodes {
			if _, dup := store.nodes[nd.ID]; dup {
				t.Fatalf("node %v returned twice", nd.ID)
			}
			store.nodes[nd.ID] = nd.Hash
		}
		for i := 1; i <= n; i++ {
			roots = append(roots, mth(leaves[:size+i]))
		}
		size += n
		if !bytes.Equal(root, roots[size]) {
			t.Fatalf("root after %d leaves differs from RFC 6962", size)
		}
	}
	// Only perfect-subtree nodes are stored: 2n - popcount(n) of them.
	if want := 2*max - bitsSet(max); len(store.nodes) != want {
		t.Errorf("%d stored nodes, want %d", len(store.nodes), want)
	}

	for trial := 0; trial < 400; trial++ {
		sz := 1 + rng.IntN(max)
		root, err := tlog.RootAt(ctx, store, uint64(sz))
		if err != nil || !bytes.Equal(root, roots[sz]) {
			t.Fatalf("RootAt(%d) = %x, %v", sz, root, err)
		}
		idx := rng.IntN(sz)
		p, err := tlog.InclusionProof(ctx, store, uint64(idx), uint64(sz))
		if err != nil {
			t.Fatal(err)
		}
		if !equalProofs(p, path(idx, leaves[:sz])) {
			t.Fatalf("inclusion proof %d/%d differs from RFC 6962 PATH", idx, sz)
		}
		if err := tlog.VerifyInclusion(hashes[idx], uint64(idx), uint64(sz), p, root); err != nil {
			t.Fatalf("inclusion %d/%d: %v", idx, sz, err)
		}
		if sz > 1 {
			other := (idx + 1) % sz
			if err := tlog.VerifyInclusion(hashes[other], uint64(idx), uint64(sz), p, root); !errors.Is(err, tlog.ErrProof) {
				t.Fatalf("wrong leaf verified: %v", err)
			}
			if err := tlog.VerifyInclusion(hashes[idx], uint64(other), uint64(sz), p, root); err == nil {
				t.Fatalf("wrong index verified")
			}
		}
		if err := tlog.VerifyInclusion(hashes[idx], uint64(idx), uint64(sz), p, roots[sz-1]); err == nil && sz > 1 {
			t.Fatalf("wrong root verified")
		}

		sz1 := rng.IntN(sz + 1)
		cp, err := tlog.ConsistencyProof(ctx, store, uint64(sz1), uint64(sz))
		if err != nil {
			t.Fatal(err)
		}
		if !equalProofs(cp, consistency(sz1, leaves[:sz])) {
			t.Fatalf("consistency proof %d→%d differs from RFC 6962 PROOF", sz1, sz)
		}
		if err := tlog.VerifyConsistency(uint64(sz1), uint64(sz), cp, roots[sz1], roots[sz]); err != nil {
			t.Fatalf("consistency %d→%d: %v", sz1, sz, err)
		}
		if sz1 > 0 && sz1 < sz {
			if err := tlog.VerifyConsistency(uint64(sz1), uint64(sz), cp, roots[sz1-1], roots[sz]); err == nil {
				t.Fatalf("consistency with a wrong old root verified")
			}
		}
		if len(cp) > 0 {
			bad := append([][]byte(nil), cp...)
			bad[0] = bytes.Repeat([]byte{7}, 32)
			if err := tlog.VerifyConsistency(uint64(sz1), uint64(sz), bad, roots[sz1], roots[sz]); !errors.Is(err, tlog.ErrProof) {
				t.Fatalf("tampered consistency proof: %v", err)
			}
		}
	}
}

func bitsSet(n int) int {
	c := 0
	for ; n > 0; n &= n - 1 {
		c++
	}
	return c
}

func TestTreeArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := tlog.NewMemoryStore()
	leaf := tlog.LeafHash([]byte("a"))
	if _, _, err := m.Append(ctx, leaf, leaf); err != nil {
		t.Fatal(err)
	}
	if _, err := tlog.InclusionProof(ctx, m, 2, 2); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("index == size: %v", err)
	}
	if _, err := tlog.ConsistencyProof(ctx, m, 3, 2); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("size1 > size2: %v", err)
	}
	if _, err := tlog.RootAt(ctx, m, 3); !errors.Is(err, tlog.ErrNodeNotFound) {
		t.Errorf("RootAt beyond the log: %v", err)
	}
	if _, _, err := tlog.Append(ctx, m, 2, leaf[:31]); !errors.Is(err, tlog.ErrHashSize) {
		t.Errorf("short leaf hash: %v", err)
	}
	if _, _, err := tlog.AppendBatch(ctx, m, 2, nil); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("empty batch: %v", err)
	}
	if err := tlog.VerifyInclusion(leaf, 0, 1, [][]byte{leaf[:16]}, leaf); !errors.Is(err, tlog.ErrProof) {
		t.Errorf("short proof hash: %v", err)
	}
	if err := tlog.VerifyInclusion(leaf, 1, 1, nil, leaf); !errors.Is(err, tlog.ErrProof) {
		t.Errorf("index == size: %v", err)
	}
	// A proof leading elsewhere names both roots in hex on one line.
	other := tlog.LeafHash([]byte("b"))
	err := tlog.VerifyInclusion(leaf, 0, 1, nil, other)
	if want := fmt.Sprintf("calculated root %x does not match expected root %x", leaf, other); !errors.Is(err, tlog.ErrProof) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("wrong root: %v", err)
	}
	if err := tlog.VerifyConsistency(1, 1, nil, leaf, other); !errors.Is(err, tlog.ErrProof) || !strings.Contains(err.Error(), fmt.Sprintf("%x", other)) {
		t.Errorf("inconsistent roots: %v", err)
	}
	if root, err := tlog.RootAt(ctx, m, 0); err != nil || !bytes.Equal(root, h()) {
		t.Errorf("empty root = %x, %v", root, err)
	}
	// A reader that returns garbage is caught.
	bad := badReader{}
	if _, _, err := tlog.Append(ctx, bad, 3, leaf); !errors.Is(err, tlog.ErrNodes) {
		t.Errorf("bad reader: %v", err)
	}
}

type badReader struct{}

func (badReader) ReadNodes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	return make([][]byte, len(ids)), nil // nil hashes
}

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := tlog.NewMemoryStore()
	ref := &mapStore{nodes: make(map[compact.NodeID][]byte)}
	var leaves [][]byte
	for i := 0; i < 70; i++ {
		leaf := []byte{byte(i)}
		leaves = append(leaves, leaf)
		size, root, err := m.Append(ctx, tlog.LeafHash(leaf))
		if err != nil {
			t.Fatal(err)
		}
		if size != uint64(i+1) || m.Size() != size || !bytes.Equal(root, mth(leaves)) {
			t.Fatalf("after %d: size %d, root mismatch", i, size)
		}
		nodes, _, err := tlog.Append(ctx, ref, uint64(i), tlog.LeafHash(leaf))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			ref.nodes[n.ID] = n.Hash
		}
	}
	// Every node the map holds, the memory store holds identically.
	for id, want := range ref.nodes {
		got, err := m.ReadNodes(ctx, []compact.NodeID{id})
		if err != nil || !bytes.Equal(got[0], want) {
			t.Fatalf("node %v: %v", id, err)
		}
	}
	// Writes that would rewrite history or leave gaps are refused.
	if err := m.Write(70, []tlog.Node{{ID: compact.NewNodeID(0, 3), Hash: make([]byte, 32)}}); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("rewrite: %v", err)
	}
	if err := m.Write(72, []tlog.Node{{ID: compact.NewNodeID(0, 71), Hash: make([]byte, 32)}}); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("gap: %v", err)
	}
	if err := m.Write(69, nil); !errors.Is(err, tlog.ErrIndex) {
		t.Errorf("shrink: %v", err)
	}
	if m.Size() != 70 {
		t.Errorf("failed writes changed the size to %d", m.Size())
	}
	// Returned hashes are copies.
	got, _ := m.ReadNodes(ctx, []compact.NodeID{compact.NewNodeID(0, 0)})
	got[0][0] ^= 0xff
	again, _ := m.ReadNodes(ctx, []compact.NodeID{compact.NewNodeID(0, 0)})
	if again[0][0] == got[0][0] {
		t.Error("ReadNodes returned internal storage")
	}
}
