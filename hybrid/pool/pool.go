// Package pool bounds how many expensive jobs of one kind run at once —
// renders, document conversions — so that together they stay within the
// machine's cores and memory. A job waits a bounded time for a worker and
// is then refused as busy with a mailbox.ErrUnavailable error (HTTP 503
// with Retry-After), which the caller names with its own code.
package pool

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/npes/npes/mailbox"
)

// Pool is a bounded set of workers. It is safe for concurrent use.
type Pool struct {
	slots chan struct{}
	wait  time.Duration
	code  string // error code when every worker is busy
	what  string // the workers, plural, for the message
}

// New returns a pool of workers (at least 1) for which Acquire waits at
// most wait (0 or less: not at all). When every worker stays busy,
// Acquire fails with code: "all <workers> <what> are busy; retry later".
func New(workers int, wait time.Duration, code, what string) *Pool {
	return &Pool{slots: make(chan struct{}, max(workers, 1)), wait: max(wait, 0), code: code, what: what}
}

// Workers is the number of jobs that may run at once.
func (p *Pool) Workers() int { return cap(p.slots) }

// Busy is the number of workers taken now.
func (p *Pool) Busy() int { return len(p.slots) }

// Acquire takes a worker: at once if one is free, else waiting at most
// the pool's wait. It fails with ctx's error if ctx ends first (or has
// ended), and with the pool's busy error when the wait runs out. release
// gives the worker back; calling it more than once has no further effect.
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var released atomic.Bool
	release = func() {
		if !released.Swap(true) {
			<-p.slots
		}
	}
	select {
	case p.slots <- struct{}{}:
		return release, nil
	default:
	}
	if p.wait > 0 {
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.slots <- struct{}{}:
			return release, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return nil, mailbox.Errorf(mailbox.ErrUnavailable, p.code,
		"all %d %s are busy; retry later", cap(p.slots), p.what)
}
