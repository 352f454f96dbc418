package tlog

import "github.com/transparency-dev/merkle/compact"

// NodeID addresses a perfect subtree by level and index. It is an alias of
// compact.NodeID so that storage adapters can implement NodeReader without
// importing the merkle module themselves.
type NodeID = compact.NodeID
