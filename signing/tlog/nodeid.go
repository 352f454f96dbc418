package tlog

import "github.com/transparency-dev/merkle/compact"

// NodeID addresses a perfect subtree by level and index. It is an alias of
// compact.NodeID so that storage adapters can implement NodeReader without
// importing the merkle module themselves.
type NodeID = compact.NodeID

// RangeNodes lists the nodes of the compact range of a tree of the given
// size: the roots of the perfect subtrees along its right edge, left to
// right, from which the tree can be extended and its root computed.
func RangeNodes(size uint64) []NodeID {
	return compact.RangeNodes(0, size, nil)
}
