// Package bench runs the load scenarios of `npes bench` (DESIGN §11).
// Each scenario measures one path of npes end to end and, in the same
// process, on the same machine and the same database, a baseline that does
// the bare minimum of the same work (a raw durable INSERT, a bare SKIP
// LOCKED claim, an fsync per message, a renderer without its font cache,
// the Ed25519 signatures alone). The ratio of the two throughputs is the
// figure that can be compared across machines and over time; absolute
// numbers on a shared two-core machine are not.
//
// A scenario is bounded by a count of items and/or a duration, prints a
// progress line every second, and returns a Result with throughput,
// latency percentiles, CPU seconds per item (getrusage, whole process) and
// peak RSS. Self-started servers run in this process: their CPU and memory
// are in the figures, PostgreSQL's are not.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Errors of the harness.
var (
	// ErrUsage: the options do not make sense for the scenario.
	ErrUsage = errors.New("bench: bad options")
	// ErrCheck: the scenario ran but its outcome is wrong (a letter took
	// another route than the one measured, a job was leased twice, a
	// rendering differs from its reference). Its figures are not valid.
	ErrCheck = errors.New("bench: check failed")
)

// Result is what one measured phase produced. Throughput is items per
// second of wall time; latencies are per item (what an item is, and what
// its latency covers, is in Params["item"] and Params["latency"]).
type Result struct {
	Scenario   string
	Items      int64
	Seconds    float64
	Throughput float64
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	// CPUSecondsPerItem is user + system CPU time of the whole process
	// (getrusage RUSAGE_SELF) during the phase, divided by Items.
	CPUSecondsPerItem float64
	// PeakRSS is the highest resident set size during the phase, in bytes
	// (VmHWM after resetting it through /proc/self/clear_refs; where that
	// is impossible, the process's lifetime peak: see Params["peak_rss"]).
	PeakRSS int64
	// Baseline is the same-run baseline, nil when it was not run.
	Baseline *Result
	// Ratio is Throughput / Baseline.Throughput (0 without a baseline).
	Ratio  float64
	Params map[string]any
}

// setBaseline attaches b and computes the ratio.
func (r *Result) setBaseline(b *Result) {
	r.Baseline = b
	if b != nil && b.Throughput > 0 {
		r.Ratio = r.Throughput / b.Throughput
	}
}

// Options configure a scenario. Zero values take the scenario's defaults;
// fields a scenario does not use are ignored.
type Options struct {
	// Count bounds the measured items (and the baseline's). With neither
	// Count nor Duration set, the scenario's default count applies.
	Count int64
	// Duration bounds each measured phase in wall time.
	Duration time.Duration
	// Concurrency is the number of concurrent clients or workers.
	Concurrency int
	// Rate, when positive, makes `accept` and `smtp` offer items at this
	// many per second (open loop) instead of as fast as the clients go:
	// item i is due at start + i/Rate and its latency runs from then, so
	// queueing behind a saturated server counts (no coordinated
	// omission). It needs enough Concurrency to keep up. The baseline
	// still runs flat out: the ratio is then offered load ÷ baseline.
	Rate float64
	// DatabaseURL selects PostgreSQL; empty means SQLite in a temporary
	// data directory. The database is written to (letters, evidence,
	// scratch tables): use a scratch database, never a production one.
	DatabaseURL string
	// Server and CredentialDir run `accept` against an external server
	// with an org credential that has an active mailbox; the recipient is
	// then RecipientName at RecipientAddress.
	Server           string
	CredentialDir    string
	RecipientName    string
	RecipientAddress string
	// NoBaseline skips the baseline (Result.Baseline nil, Ratio 0).
	NoBaseline bool
	// Progress receives a progress line every second (nil: none).
	Progress io.Writer
	// CPUProfile, when set, receives a pprof CPU profile of the measured
	// phase of the scenario (not of its set-up or its baseline).
	CPUProfile io.Writer
	// Trace, when set, receives a runtime execution trace of the measured
	// phase: where the server's goroutines wait (go tool trace
	// -pprof=net|sync|syscall|sched FILE), which a CPU profile cannot show.
	Trace io.Writer
	// TempDir is where data directories and scratch files go ("" means
	// the system's temporary directory).
	TempDir string

	// BodyBytes is the body size of `accept` and `smtp` letters (10 KiB).
	BodyBytes int
	// Recipients is the number of recipient mailboxes `accept` and `smtp`
	// spread their letters over (16).
	Recipients int
	// Pages is the page count of the `render` letter (1).
	Pages int
	// Batch is the `lease` batch size (100).
	Batch int
	// Report is what `lease` agents report for each job: "printed" (the
	// default: a Printed evidence per job) or "none" (lease only).
	Report string
	// Bundles is the number of distinct bundles `verify` builds (20).
	Bundles int
	// Seed configures `seed`.
	Seed SeedOptions
}

// SeedOptions configure the `seed` scenario.
type SeedOptions struct {
	// Letters to insert (1,000,000).
	Letters int64
	// Heavy is how many of them go to the measured mailbox (50,000).
	Heavy int64
	// Mailboxes is the number of other recipient mailboxes (10,000).
	Mailboxes int
	// Evidence is the number of evidence records per letter of the heavy
	// mailbox (2, as a registered letter has after submission).
	Evidence int
	// PageSize is the inbox page size asked for (50, the API default).
	PageSize int
}

func (o *Options) defaults(count int64, concurrency int) {
	if o.Count == 0 && o.Duration == 0 {
		o.Count = count
	}
	if o.Concurrency <= 0 {
		o.Concurrency = concurrency
	}
	if o.BodyBytes <= 0 {
		o.BodyBytes = 10 << 10
	}
	if o.Recipients <= 0 {
		o.Recipients = 16
	}
}

// Scenario is one named scenario.
type Scenario struct {
	Name    string
	Summary string
	Run     func(context.Context, Options) (*Result, error)
}

// Scenarios lists every scenario.
func Scenarios() []Scenario {
	return []Scenario{
		{"accept", "registered 10 KiB letters over mTLS HTTP keep-alive vs raw durable INSERTs", Accept},
		{"bulk", "registered 10 KiB letters in batches of 1,000 (POST /v1/letter-batches) vs raw durable INSERTs", Bulk},
		{"smtp", "10 KiB letters over TLS SMTP connections vs a go-smtp server that fsyncs each message", SMTP},
		{"render", "Cyrillic letters rendered to PDF per second and per core vs fonts loaded per document", Render},
		{"lease", "print jobs leased and reported by agents vs a bare FOR UPDATE SKIP LOCKED claim loop", Lease},
		{"verify", "evidence bundles verified vs their Ed25519 signatures alone", Verify},
		{"seed", "insert many letters, then inbox pages through the API vs the bare page query", Seed},
	}
}

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// recorder is shared by the workers of one phase: it hands out items up
// to the count and the deadline, and collects completions and latencies.
type recorder struct {
	count    int64 // 0: no count bound
	deadline time.Time
	start    time.Time
	rate     float64 // items per second offered; 0: closed loop
	claimed  atomic.Int64
	done     atomic.Int64
	lats     [][]time.Duration // per worker, no locking
}

// claim reserves the next item; false when the count is reached, the
// deadline has passed or ctx is done.
func (r *recorder) claim(ctx context.Context) (int64, bool) {
	if ctx.Err() != nil || r.expired() {
		return 0, false
	}
	i := r.claimed.Add(1) - 1
	if r.count > 0 && i >= r.count {
		return 0, false
	}
	if r.rate > 0 {
		due := r.due(i)
		if !r.deadline.IsZero() && !due.Before(r.deadline) {
			return 0, false
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, false
			case <-t.C:
			}
		}
	}
	return i, true
}

// due is when item i is offered in an open-loop phase.
func (r *recorder) due(i int64) time.Time {
	return r.start.Add(time.Duration(float64(i) / r.rate * float64(time.Second)))
}

// since is the latency of item i that was sent at sent: from its due time
// in an open-loop phase, else from sent.
func (r *recorder) since(i int64, sent time.Time) time.Duration {
	if r.rate > 0 {
		return time.Since(r.due(i))
	}
	return time.Since(sent)
}

// expired reports that the phase's deadline has passed.
func (r *recorder) expired() bool {
	return !r.deadline.IsZero() && !time.Now().Before(r.deadline)
}

// observe records one finished item of worker w and its latency.
func (r *recorder) observe(w int, d time.Duration) {
	r.lats[w] = append(r.lats[w], d)
	r.done.Add(1)
}

// latencyOnly records a latency that is not an item (lease calls when the
// items are the jobs).
func (r *recorder) latencyOnly(w int, d time.Duration) {
	r.lats[w] = append(r.lats[w], d)
}

// addItems counts items that finished without a latency of their own.
func (r *recorder) addItems(n int64) { r.done.Add(n) }

// phase describes one measured run of workers.
type phase struct {
	name    string
	workers int
	count   int64
	dur     time.Duration
	// progress, profile, trace: see Options.
	progress io.Writer
	profile  io.Writer
	trace    io.Writer
	// rate: see Options.Rate (0: closed loop).
	rate float64
	// client marks the workers as the client side of a client/server
	// scenario (see clientSide).
	client bool
	// worker runs one worker until rec.claim says stop (or its own end).
	worker func(ctx context.Context, w int, rec *recorder) error
}

// clientSide runs fn with the pprof label side=client, which the
// goroutines it starts (an HTTP transport's connection loops) inherit, so
// that a CPU profile of an in-process server can leave the load generator
// out: go tool pprof -tagignore side=client.
func clientSide(ctx context.Context, fn func(ctx context.Context) error) error {
	var err error
	pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) { err = fn(ctx) })
	return err
}

// measure runs the phase and returns its figures. The first worker error
// cancels the others and is returned.
func measure(ctx context.Context, p phase) (*Result, error) {
	if p.workers <= 0 {
		p.workers = 1
	}
	rec := &recorder{count: p.count, rate: p.rate, lats: make([][]time.Duration, p.workers)}
	// Start every phase from the same state: a collected heap, memory
	// returned, the peak RSS reset.
	runtime.GC()
	debug.FreeOSMemory()
	peakScope := "phase"
	if err := resetPeakRSS(); err != nil {
		peakScope = "process lifetime (" + err.Error() + ")"
	}
	if p.profile != nil {
		if err := pprof.StartCPUProfile(p.profile); err != nil {
			return nil, fmt.Errorf("starting the CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if p.trace != nil {
		if err := trace.Start(p.trace); err != nil {
			return nil, fmt.Errorf("starting the trace: %w", err)
		}
		defer trace.Stop()
	}
	cpu0 := cpuTime()
	start := time.Now()
	rec.start = start
	if p.dur > 0 {
		rec.deadline = start.Add(p.dur)
	}
	stopProgress := progress(p.progress, p.name, start, &rec.done)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for w := range p.workers {
		wg.Go(func() {
			run := func(ctx context.Context) error { return p.worker(ctx, w, rec) }
			var err error
			if p.client {
				err = clientSide(ctx, run)
			} else {
				err = run(ctx)
			}
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	stopProgress()
	if firstErr != nil {
		return nil, fmt.Errorf("%s: %w", p.name, firstErr)
	}
	if err := parent.Err(); err != nil {
		return nil, fmt.Errorf("%s: interrupted after %d items: %w", p.name, rec.done.Load(), err)
	}
	r := &Result{Scenario: p.name, Items: rec.done.Load(), Seconds: elapsed.Seconds(), PeakRSS: peakRSS(),
		Params: map[string]any{"workers": p.workers}}
	if peakScope != "phase" {
		r.Params["peak_rss"] = peakScope
	}
	if r.Items > 0 {
		r.Throughput = float64(r.Items) / r.Seconds
		r.CPUSecondsPerItem = cpu.Seconds() / float64(r.Items)
	}
	var all []time.Duration
	for _, l := range rec.lats {
		all = append(all, l...)
	}
	r.P50, r.P95, r.P99 = percentiles(all)
	return r, nil
}

// percentiles returns the nearest-rank 50th, 95th and 99th percentiles.
func percentiles(d []time.Duration) (p50, p95, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	slices.Sort(d)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return rank(0.50), rank(0.95), rank(0.99)
}

// progress prints a line every second until the returned func is called.
func progress(w io.Writer, name string, start time.Time, done *atomic.Int64) func() {
	if w == nil {
		return func() {}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				n := done.Load()
				secs := now.Sub(start).Seconds()
				fmt.Fprintf(w, "%s: %4.0fs %9d items %9.1f/s (last second %.1f/s)\n", name, secs, n, float64(n)/secs, float64(n-last))
				last = n
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets the kernel's peak RSS of this process to its current
// RSS (Linux ≥ 4.0: writing 5 to /proc/PID/clear_refs, see proc(5)).
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is VmHWM from /proc/self/status, or getrusage's ru_maxrss.
func peakRSS() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				f := strings.Fields(v)
				if len(f) == 2 && f[1] == "kB" {
					if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						return n << 10
					}
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) << 10 // kilobytes on Linux
}

// checkf returns an ErrCheck.
func checkf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCheck, fmt.Sprintf(format, args...))
}

// usagef returns an ErrUsage.
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, args...))
}
