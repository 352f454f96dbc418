package mailbox

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/npes/npes/signing/tlog"
)

// frontier is the compact range of the evidence log (RFC 6962 §2.1: the
// roots of the perfect subtrees along the tree's right edge) as this
// process's last append left it. It is all an append needs to extend the
// tree and to prove the new entries, so an append that finds the head as
// this process left it reads no node from the store while it holds the
// head (appendSealed): one round trip fewer in the section every append of
// every process waits for.
//
// It is used only when the locked head has the size and the root it was
// taken at. A size and a root name one compact range (two would need a
// SHA-256 collision), so an append by another process, or one of this
// process's whose transaction rolled back, is never built on: the head
// then differs, and the range is read from the store as before.
type frontier struct {
	mu    sync.Mutex
	size  uint64
	root  []byte
	nodes map[tlog.NodeID][]byte

	hits, misses atomic.Uint64
}

// seed copies the range into m when head is the tree it was taken at, and
// reports whether it did.
func (f *frontier) seed(head LogHead, m map[tlog.NodeID][]byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nodes == nil || f.size != head.Size || !bytes.Equal(f.root, head.Root) {
		f.misses.Add(1)
		return false
	}
	f.hits.Add(1)
	for id, h := range f.nodes {
		m[id] = h
	}
	return true
}

// remember keeps the compact range of the tree of this size and root,
// from known, which holds its nodes (those an append read and wrote). A
// range known only in part is forgotten.
func (f *frontier) remember(size uint64, root []byte, known map[tlog.NodeID][]byte) {
	ids := tlog.RangeNodes(size)
	nodes := make(map[tlog.NodeID][]byte, len(ids))
	for _, id := range ids {
		h, ok := known[id]
		if !ok {
			nodes = nil
			break
		}
		nodes[id] = bytes.Clone(h)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.size, f.root, f.nodes = size, bytes.Clone(root), nodes
}
