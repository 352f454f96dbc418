package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/npes/npes/signing/tlog"
)

// TestFrontierGuard: the remembered compact range is handed out only for
// the tree it was taken at (its size and its root). Nodes of an append
// whose transaction rolled back are not the log's, and the head then
// differs from what was remembered: by size, or, when another append of
// the same size committed instead, by root.
func TestFrontierGuard(t *testing.T) {
	store := tlog.NewMemoryStore()
	leaf := func(i int) []byte { h := sha256.Sum256([]byte{byte(i)}); return tlog.LeafHash(h[:]) }
	known := map[tlog.NodeID][]byte{}
	var root []byte
	for i := range 5 {
		nodes, r, err := tlog.AppendBatch(t.Context(), store, uint64(i), [][]byte{leaf(i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Write(uint64(i+1), nodes); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			known[n.ID] = n.Hash
		}
		root = r
	}
	var f frontier
	f.remember(5, root, known)
	for _, c := range []struct {
		name string
		head LogHead
		want bool
	}{
		{"the tree it was taken at", LogHead{Size: 5, Root: root}, true},
		{"another tree of that size", LogHead{Size: 5, Root: bytes.Repeat([]byte{1}, 32)}, false},
		{"a smaller tree (an append rolled back)", LogHead{Size: 4, Root: root}, false},
		{"a larger tree (another process appended)", LogHead{Size: 6, Root: root}, false},
	} {
		m := map[tlog.NodeID][]byte{}
		if got := f.seed(c.head, m); got != c.want || (len(m) > 0) != c.want {
			t.Errorf("%s: seeded %v with %d nodes, want %v", c.name, got, len(m), c.want)
		}
	}
	// Seeded, the range is the tree's: the next append reads nothing and
	// computes the root the store's nodes give.
	m := map[tlog.NodeID][]byte{}
	f.seed(LogHead{Size: 5, Root: root}, m)
	_, got, err := tlog.AppendBatch(t.Context(), mapReader(m), 5, [][]byte{leaf(5)})
	if err != nil {
		t.Fatal(err)
	}
	_, want, err := tlog.AppendBatch(t.Context(), store, 5, [][]byte{leaf(5)})
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("root from the remembered range %x, from the store %x (%v)", got, want, err)
	}
	// A range known only in part is not remembered.
	delete(known, tlog.RangeNodes(5)[0])
	f.remember(5, root, known)
	if f.seed(LogHead{Size: 5, Root: root}, map[tlog.NodeID][]byte{}) {
		t.Error("a range known in part was handed out")
	}
}

// mapReader reads nodes from a map only: a node it lacks is an error.
type mapReader map[tlog.NodeID][]byte

func (r mapReader) ReadNodes(_ context.Context, ids []tlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := r[id]
		if !ok {
			return nil, fmt.Errorf("node %v was read", id)
		}
		out[i] = h
	}
	return out, nil
}
