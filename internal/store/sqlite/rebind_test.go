package sqlite

import (
	"fmt"
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE id = $1", "SELECT a FROM t WHERE id = ?1"},
		{"VALUES ($1, $2, $10, $123)", "VALUES (?1, ?2, ?10, ?123)"},
		{"SELECT '$' || $2", "SELECT '$' || ?2"},
		{"x$", "x$"},
		{"$a $ $1", "$a $ ?1"},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRebindCacheBounded feeds the statement rewriter batch statements of
// many sizes, as the group committer does: the cache must stay bounded and
// every rewrite still be right once the cache is full.
func TestRebindCacheBounded(t *testing.T) {
	for n := 1; n <= 3*maxRebound; n++ {
		var in, want strings.Builder
		in.WriteString("SELECT hash FROM log_nodes WHERE ")
		want.WriteString("SELECT hash FROM log_nodes WHERE ")
		for i := range n {
			if i > 0 {
				in.WriteString(" OR ")
				want.WriteString(" OR ")
			}
			fmt.Fprintf(&in, "idx = $%d", i+1)
			fmt.Fprintf(&want, "idx = ?%d", i+1)
		}
		if got := rebind(in.String()); got != want.String() {
			t.Fatalf("batch of %d rewritten wrong: %q", n, got)
		}
	}
	rebound.mu.RLock()
	size := len(rebound.m)
	rebound.mu.RUnlock()
	if size > maxRebound {
		t.Fatalf("rewrite cache holds %d statements, bound is %d", size, maxRebound)
	}
}
