package mailbox

import (
	"context"
	"sync"
	"sync/atomic"
)

// Sealing ahead of the log head lock.
//
// An envelope names its log index (DESIGN §4), so it could only be sealed
// once the log head was locked: every append of every process queued on
// that lock while the one holding it made its Ed25519 signatures (100 of
// them for a batch of print reports), and a new letter's row was written
// twice (once without its evidence chain, then again with it).
//
// Instead, the appends of one process reserve their log indexes from a
// predicted tail, in the order they will lock the head (a ticket each),
// seal before taking the lock, and write their letters with the chain the
// sealing produced. Under the lock the prediction is checked against the
// head: when it holds (one process, appends in ticket order) nothing more
// is done; when it does not (another process appended, or an earlier
// append of this one rolled back) the chains are sealed again under the
// lock and the letters' chains written again — exactly what every append
// did before. A wrong prediction costs time, never correctness: what is
// stored is always sealed with the index it has in the log.
//
// Deadlock freedom: an append waits for its turn only between reserving
// and locking the head, and never while it holds the head (HoldsLogHead).
// The appends ahead of it, in that same interval, do only writes that
// cannot wait for another transaction (inserts of new rows, updates of
// rows they have locked already) before they lock the head, and the
// holder of the head waits for no row after taking it.
type logOrder struct {
	mu    sync.Mutex
	known bool   // tail has been learnt from a locked head
	tail  uint64 // predicted log size once every reservation has appended
	// shift is the sum of the corrections made to the tail so far: a
	// reservation's prediction, corrected since, is first+shift-its shift.
	shift   uint64
	next    uint64 // next ticket
	serving uint64 // the ticket whose turn it is to lock the head
	gone    map[uint64]bool
	turn    chan struct{} // closed and replaced whenever serving advances

	hits, misses atomic.Uint64
}

// reservation is one append's place in the order and its predicted first
// log index.
type reservation struct {
	o      *logOrder
	ticket uint64
	first  uint64 // predicted index of the append's first entry
	shift  uint64 // logOrder.shift when it was reserved
	known  bool   // first is a prediction (the tail was known)
	n      uint64 // entries the append adds
	// sealed: the chains were sealed with the predicted indexes.
	sealed bool
	done   bool // the turn was taken (locked) or given up (release)
}

// reserve takes the next ticket and n log indexes from the predicted tail.
func (o *logOrder) reserve(n uint64) *reservation {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.turn == nil {
		o.turn, o.gone = make(chan struct{}), map[uint64]bool{}
	}
	r := &reservation{o: o, ticket: o.next, first: o.tail, shift: o.shift, known: o.known, n: n}
	o.next++
	o.tail += n
	return r
}

// wait blocks until every earlier reservation has locked the head or
// given up its turn.
func (r *reservation) wait(ctx context.Context) error {
	o := r.o
	for {
		o.mu.Lock()
		if o.serving == r.ticket {
			o.mu.Unlock()
			return nil
		}
		turn := o.turn
		o.mu.Unlock()
		select {
		case <-turn:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// locked records that the append holds the head, which had size entries:
// the turn passes on, and the tail is corrected by how far the prediction
// (with the corrections made since it) was off. The reservations after
// this one were predicted from the same tail: they are off by as much,
// and find out under the lock.
func (r *reservation) locked(size uint64) (hit bool) {
	o := r.o
	o.mu.Lock()
	defer o.mu.Unlock()
	hit = r.known && r.first == size
	if !r.done {
		r.done = true
		// Unsigned arithmetic wraps: a correction may be negative.
		delta := size - (r.first + o.shift - r.shift)
		o.tail += delta
		o.shift += delta
		o.known = true
		o.advance()
	}
	if r.sealed {
		if hit {
			o.hits.Add(1)
		} else {
			o.misses.Add(1)
		}
	}
	return hit
}

// release gives up the turn of a reservation that did not lock the head
// (an error before it); a no-op once locked. Safe on a nil reservation.
func (r *reservation) release() {
	if r == nil {
		return
	}
	o := r.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	// Its indexes will not be used: the appends after it will find the
	// head short of their prediction and seal again.
	if o.serving == r.ticket {
		o.advance()
		return
	}
	o.gone[r.ticket] = true
}

// advance passes the turn to the next ticket still waiting. o.mu is held.
func (o *logOrder) advance() {
	o.serving++
	for o.gone[o.serving] {
		delete(o.gone, o.serving)
		o.serving++
	}
	close(o.turn)
	o.turn = make(chan struct{})
}
