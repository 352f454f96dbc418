package web

import (
	"testing"
	"time"
)

func TestHeldStore(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	closed := map[string]bool{}
	h := newHeldStore(3, 100, func() time.Time { return now })
	put := func(owner string, size int64, v string) string {
		return h.put(owner, size, v, func() { closed[v] = true })
	}
	a := put("alice", 10, "a")
	if got := h.get("alice", a); got != "a" {
		t.Fatalf("get = %v", got)
	}
	if got := h.get("bob", a); got != nil {
		t.Errorf("another identity reads alice's item: %v", got)
	}
	if got := h.get("alice", "unknown"); got != nil {
		t.Errorf("unknown token: %v", got)
	}
	// The count bound drops the oldest.
	b, c, d := put("alice", 10, "b"), put("alice", 10, "c"), put("alice", 10, "d")
	if h.get("alice", a) != nil || !closed["a"] {
		t.Error("the oldest item outlived the count bound, or was not closed")
	}
	// The byte bound drops as many as needed.
	e := put("bob", 85, "e")
	if h.get("alice", b) != nil || h.get("alice", c) != nil || h.get("alice", d) != "d" || h.get("bob", e) != "e" {
		t.Errorf("byte bound: b=%v c=%v d=%v e=%v", h.get("alice", b), h.get("alice", c), h.get("alice", d), h.get("bob", e))
	}
	// Items expire.
	now = now.Add(heldTTL)
	if h.get("bob", e) != nil || !closed["e"] || !closed["d"] {
		t.Error("an item outlived its time")
	}
	if len(h.items) != 0 || len(h.order) != 0 || h.bytes != 0 {
		t.Errorf("after expiry: %d items, %d in order, %d bytes", len(h.items), len(h.order), h.bytes)
	}
}
