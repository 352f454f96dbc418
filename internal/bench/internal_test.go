package bench

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

func TestPercentiles(t *testing.T) {
	t.Parallel()
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: percentiles must sort
	}
	for _, tc := range []struct {
		name          string
		in            []time.Duration
		p50, p95, p99 time.Duration
	}{
		{"empty", nil, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"nearest rank of 100", ms(hundred...), 50 * time.Millisecond, 95 * time.Millisecond, 99 * time.Millisecond},
		{"outlier", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 1000), time.Millisecond, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p50, p95, p99 := percentiles(tc.in)
			if p50 != tc.p50 || p95 != tc.p95 || p99 != tc.p99 {
				t.Fatalf("percentiles = %v %v %v, want %v %v %v", p50, p95, p99, tc.p50, tc.p95, tc.p99)
			}
		})
	}
}

// TestMeasureBounds: a count bound measures exactly that many items over
// all workers; a duration bound stops the workers; both give figures.
func TestMeasureBounds(t *testing.T) {
	t.Parallel()
	work := func(ctx context.Context, w int, rec *recorder) error {
		for {
			if _, ok := rec.claim(ctx); !ok {
				return nil
			}
			t0 := time.Now()
			time.Sleep(100 * time.Microsecond)
			rec.observe(w, time.Since(t0))
		}
	}
	res, err := measure(t.Context(), phase{name: "count", workers: 4, count: 37, worker: work})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items != 37 || res.Throughput <= 0 || res.P50 <= 0 || res.P99 < res.P50 || res.PeakRSS <= 0 {
		t.Fatalf("count-bounded result %+v", res)
	}
	res, err = measure(t.Context(), phase{name: "duration", workers: 2, dur: 50 * time.Millisecond, worker: work})
	if err != nil {
		t.Fatal(err)
	}
	if res.Items == 0 || res.Seconds < 0.05 {
		t.Fatalf("duration-bounded result: %d items in %.3fs", res.Items, res.Seconds)
	}
}

// TestMeasureError: the first worker error stops the phase and is returned.
func TestMeasureError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	var stopped atomic.Int32
	_, err := measure(t.Context(), phase{name: "failing", workers: 3, count: 1000,
		worker: func(ctx context.Context, w int, rec *recorder) error {
			for {
				i, ok := rec.claim(ctx)
				if !ok {
					stopped.Add(1)
					return nil
				}
				if i == 10 {
					return boom
				}
				time.Sleep(time.Millisecond)
				rec.observe(w, time.Millisecond)
			}
		}})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "failing") {
		t.Fatalf("err = %v, want boom named after the phase", err)
	}
	if stopped.Load() != 2 {
		t.Fatalf("%d other workers stopped, want 2", stopped.Load())
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	var done atomic.Int64
	done.Store(5)
	w := &firstWrite{wrote: make(chan struct{})}
	stop := progress(w, "x", time.Now(), &done)
	// The line comes on the first tick; wait for it, not for a duration.
	select {
	case <-w.wrote:
	case <-time.After(time.Minute):
		t.Fatal("no progress line within a minute")
	}
	stop()
	// stop waits for the progress goroutine: reading buf after it is safe.
	if !strings.Contains(w.buf.String(), "x:") || !strings.Contains(w.buf.String(), "5 items") {
		t.Fatalf("progress wrote %q", w.buf.String())
	}
}

// firstWrite is a writer that closes wrote after its first write.
type firstWrite struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	once  sync.Once
	wrote chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.once.Do(func() { close(w.wrote) })
	return w.buf.Write(p)
}

func TestLetterBody(t *testing.T) {
	t.Parallel()
	filler := bodyFiller(20 << 10)
	for _, n := range []int{0, 5, 30, 1000, 10 << 10, 10<<10 + 1} {
		b := letterBody(filler, n, 123)
		if len(b) != n || !utf8.ValidString(b) {
			t.Errorf("body of %d bytes: got %d bytes, valid UTF-8 %v", n, len(b), utf8.ValidString(b))
		}
	}
	if letterBody(filler, 100, 1) == letterBody(filler, 100, 2) {
		t.Error("two letters have the same body")
	}
}

// TestSMTPMessage: CRLF only, no line over 998 octets (RFC 5321
// §4.5.3.1.6), the headers the gateway requires.
func TestSMTPMessage(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("ў", 3000) + "\nкороткая строка\n"
	m := smtpMessage("a@npes.localhost", "b@npes.localhost", "Тема", body)
	if bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\n")) || bytes.Contains(bytes.ReplaceAll(m, []byte("\r\n"), nil), []byte("\r")) {
		t.Fatal("bare CR or LF in the message")
	}
	for _, line := range bytes.Split(m, []byte("\r\n")) {
		if len(line) > 998 || !utf8.Valid(line) {
			t.Fatalf("line of %d octets (valid UTF-8 %v)", len(line), utf8.Valid(line))
		}
	}
	for _, h := range []string{"From: <a@npes.localhost>\r\n", "Message-ID: <", "X-Npes-Registered: yes\r\n", "Subject: =?utf-8?"} {
		if !bytes.Contains(m, []byte(h)) {
			t.Errorf("no %q in the message", h)
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	o := Options{}
	o.defaults(100, 8)
	if o.Count != 100 || o.Concurrency != 8 || o.BodyBytes != 10<<10 || o.Recipients != 16 {
		t.Fatalf("defaults: %+v", o)
	}
	o = Options{Duration: time.Second, Concurrency: 3}
	o.defaults(100, 8)
	if o.Count != 0 || o.Concurrency != 3 {
		t.Fatalf("a duration bound must not get a default count: %+v", o)
	}
}

// TestOpenLoop: in an open-loop phase item i is due at start + i/rate,
// and its latency runs from then, not from when it was sent.
func TestOpenLoop(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	r := &recorder{start: start, rate: 200}
	if got := r.due(10); !got.Equal(start.Add(50 * time.Millisecond)) {
		t.Fatalf("due(10) = %v", got)
	}
	r.start = time.Now().Add(-time.Second) // item 0 was due a second ago
	sent := time.Now()
	if d := r.since(0, sent); d < time.Second {
		t.Fatalf("open-loop latency %v does not count the time the item waited", d)
	}
	closed := &recorder{}
	if d := closed.since(0, sent); d >= time.Second {
		t.Fatalf("closed-loop latency %v", d)
	}
	// A due time past the deadline ends the phase.
	late := &recorder{start: time.Now(), rate: 1, deadline: time.Now().Add(500 * time.Millisecond)}
	if _, ok := late.claim(t.Context()); !ok {
		t.Fatal("item 0 refused")
	}
	if _, ok := late.claim(t.Context()); ok {
		t.Fatal("item 1, due after the deadline, was handed out")
	}
}

// TestInterrupted: a phase whose context is cancelled from outside is an
// error, not a short result.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	_, err := measure(ctx, phase{name: "interrupted", workers: 2, worker: func(ctx context.Context, w int, rec *recorder) error {
		for {
			if _, ok := rec.claim(ctx); !ok {
				return nil
			}
			if rec.done.Load() == 5 {
				cancel()
			}
			rec.observe(w, time.Microsecond)
		}
	}})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v", err)
	}
}
