package pool_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/npes/npes/hybrid/pool"
	"github.com/npes/npes/mailbox"
)

func codeOf(err error) string {
	var e *mailbox.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestBusy: with every worker taken, Acquire fails as unavailable with
// the code and the worker count of its pool — at once without a wait,
// after the wait with one.
func TestBusy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, code, what string
		workers          int
		wait             time.Duration
		msg              string
	}{
		{"renders", "render_busy", "renderers", 2, 0, "all 2 renderers are busy; retry later"},
		{"conversions", "conversion_busy", "document converters", 1, -time.Second, "all 1 document converters are busy; retry later"},
		{"after waiting", "render_busy", "renderers", 1, time.Millisecond, "all 1 renderers are busy; retry later"},
		{"no workers means one", "conversion_busy", "document converters", 0, 0, "all 1 document converters are busy; retry later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := pool.New(tc.workers, tc.wait, tc.code, tc.what)
			for range p.Workers() {
				if _, err := p.Acquire(t.Context()); err != nil {
					t.Fatalf("free worker: %v", err)
				}
			}
			_, err := p.Acquire(t.Context())
			if !errors.Is(err, mailbox.ErrUnavailable) || codeOf(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("full pool: %v, want %s (%q)", err, tc.code, tc.msg)
			}
			if p.Busy() != p.Workers() {
				t.Errorf("%d of %d busy after a refusal", p.Busy(), p.Workers())
			}
		})
	}
}

// TestCancelled: a job whose context has ended gets no worker, free or
// not, and a job waiting for a worker gives up when its context ends.
func TestCancelled(t *testing.T) {
	t.Parallel()
	p := pool.New(1, time.Hour, "render_busy", "renderers")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled, worker free: %v", err)
	}
	if p.Busy() != 0 {
		t.Errorf("a cancelled job took a worker")
	}
	release, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel = context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { _, err := p.Acquire(ctx); done <- err }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while waiting: %v", err)
	}
}

// TestWaitAndRelease: a waiting job gets the worker another releases;
// releasing twice gives back one worker only.
func TestWaitAndRelease(t *testing.T) {
	t.Parallel()
	p := pool.New(2, time.Hour, "render_busy", "renderers")
	first, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		release func()
		err     error
	}
	done := make(chan got, 1)
	go func() { r, err := p.Acquire(t.Context()); done <- got{r, err} }()
	first()
	third := <-done
	if third.err != nil {
		t.Fatalf("waiting job: %v", third.err)
	}
	first() // again: must not free the waiting job's worker
	if p.Busy() != 2 {
		t.Errorf("%d busy after releasing twice, want 2", p.Busy())
	}
	second()
	third.release()
	if p.Busy() != 0 {
		t.Errorf("%d busy after all released", p.Busy())
	}
}
