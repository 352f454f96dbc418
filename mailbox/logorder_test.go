package mailbox

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// TestLogOrderTurns: a reservation waits for every earlier one to lock the
// head or give up; giving up out of turn is remembered, so the turn skips
// it.
func TestLogOrderTurns(t *testing.T) {
	var o logOrder
	r0, r1, r2 := o.reserve(2), o.reserve(1), o.reserve(3)
	if err := r0.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- r2.wait(context.Background()) }()
	r1.release() // out of turn: r2 must still wait for r0
	select {
	case err := <-waited:
		t.Fatalf("r2 got its turn before r0 locked the head (%v)", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := r2.wait(ctx); err == nil {
		t.Fatal("r2's wait returned before its turn")
	}
	if hit := r0.locked(0); hit {
		t.Fatal("the first reservation of a process cannot have a known index")
	}
	if err := <-waited; err != nil {
		t.Fatalf("r2's turn after r0 locked and r1 gave up: %v", err)
	}
	r0.release() // after locking: a no-op
	// r1's index was never used: r2 predicted 3, the head is at 2.
	if hit := r2.locked(2); hit {
		t.Fatal("r2 hit although r1 gave up the index before it")
	}
	if r := o.reserve(1); !r.known || r.first != 5 {
		t.Fatalf("after r2 appended 3 entries at size 2, the next prediction is %d (known %v); want 5", r.first, r.known)
	}
	var nilRes *reservation
	nilRes.release() // a nil reservation (the head was held already) releases nothing
}

// TestLogOrderPredicts is a property test of the prediction against a
// model log: appends of this process (reserve, then lock in turn, then
// commit or roll back, or give up before locking), other processes'
// appends and rollbacks in any order. Whatever happened, an append whose
// prediction is called a hit is at exactly the size it predicted, and once
// every reservation is settled the next one made after a committed append
// of this process, with nothing foreign since, is exact.
func TestLogOrderPredicts(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var o logOrder
		size := uint64(0) // the model log's committed size
		for range 50 {
			// A few appends in flight at once, in ticket order.
			k := 1 + rng.IntN(4)
			rs := make([]*reservation, k)
			for i := range rs {
				rs[i] = o.reserve(uint64(1 + rng.IntN(5)))
			}
			clean := true
			for _, r := range rs {
				if rng.IntN(10) == 0 {
					size += uint64(1 + rng.IntN(3)) // another process appended
					clean = false
				}
				if rng.IntN(8) == 0 {
					r.release()
					clean = false
					continue
				}
				if err := r.wait(context.Background()); err != nil {
					t.Fatal(err)
				}
				hit := r.locked(size)
				if hit && r.first != size {
					t.Fatalf("seed %d: a hit at size %d predicted %d", seed, size, r.first)
				}
				if rng.IntN(8) == 0 {
					clean = false // rolled back
					continue
				}
				size += r.n
			}
			if next := o.reserve(0); clean && next.known && next.first != size {
				t.Fatalf("seed %d: after clean appends the prediction is %d; the log has %d", seed, next.first, size)
			} else {
				next.release()
			}
		}
	}
}
