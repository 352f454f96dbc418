package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/npes/npes/internal/bench"
)

// runBench runs one load scenario with its same-run baseline:
//
//	npes bench SCENARIO [--count N] [--duration D] [--concurrency C] [--database-url URL] [--json]
//
// The table (or, with --json, one JSON object) goes to standard output,
// progress lines to standard error.
func runBench(ctx context.Context, e *Env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		benchUsage(e.Stdout)
		return nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		benchUsage(e.Stderr)
		return usagef("missing SCENARIO")
	}
	name := args[0]
	sc, ok := bench.Lookup(name)
	if !ok {
		benchUsage(e.Stderr)
		return usagef("unknown scenario %q", name)
	}
	var o bench.Options
	fs := newFlags(e, "bench "+name, "bench "+name+" [flags]   ("+sc.Summary+")")
	fs.Int64Var(&o.Count, "count", 0, "items to measure (0: the scenario's default unless --duration is given)")
	fs.DurationVar(&o.Duration, "duration", 0, "bound each measured phase in time (e.g. 30s)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "clients or workers (0: accept 32, bulk 1 batch in flight, smtp 20, lease 4 agents, render and verify GOMAXPROCS, seed 1)")
	fs.StringVar(&o.DatabaseURL, "database-url", e.Getenv("NPES_DATABASE_URL"), "PostgreSQL URL of a scratch database (one holding data npes bench did not create is refused); empty means SQLite in a temporary directory (NPES_DATABASE_URL)")
	jsonOut := fs.Bool("json", false, "print one JSON object: the figures, \"baseline\" and \"ratio\"")
	fs.BoolVar(&o.NoBaseline, "no-baseline", false, "skip the baseline")
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the measured phase (the in-process server included) to FILE")
	traceFile := fs.String("trace", "", "write a runtime execution trace of the measured phase to FILE (go tool trace -pprof=net|sync FILE shows where the server waits)")
	quiet := fs.Bool("quiet", false, "no progress lines")
	rate := func() {
		fs.Float64Var(&o.Rate, "rate", 0, "offer this many letters per second (open loop; latency from each letter's due time) instead of as fast as possible")
	}
	switch name {
	case "accept":
		rate()
		fs.StringVar(&o.Server, "server", "", "measure an external server at this URL instead of starting one")
		fs.StringVar(&o.CredentialDir, "id", "", "with --server: credential directory of a sender with an active mailbox")
		fs.StringVar(&o.RecipientName, "to-name", "", "with --server: the recipient's name")
		fs.StringVar(&o.RecipientAddress, "to-address", "", "with --server: the recipient's address (an active mailbox, for the electronic route)")
		fs.IntVar(&o.BodyBytes, "body-bytes", 10<<10, "body size in bytes")
		fs.IntVar(&o.Recipients, "recipients", 16, "recipient mailboxes the letters are spread over")
	case "bulk":
		fs.IntVar(&o.BodyBytes, "body-bytes", 10<<10, "body size in bytes")
		fs.IntVar(&o.Recipients, "recipients", 16, "recipient mailboxes the letters are spread over")
	case "smtp":
		rate()
		fs.IntVar(&o.BodyBytes, "body-bytes", 10<<10, "body size in bytes")
		fs.IntVar(&o.Recipients, "recipients", 16, "recipient mailboxes the letters are spread over")
	case "render":
		fs.IntVar(&o.Pages, "pages", 1, "pages of the rendered letter (1 or 3 in BENCHMARKS.md)")
	case "lease":
		fs.IntVar(&o.Batch, "batch", 100, "jobs per lease")
		fs.StringVar(&o.Report, "report", "batch", "what agents report: batch (the lease reported printed in one request, POST /v1/print/reports), printed (one request per job) or none (lease only)")
	case "verify":
		fs.IntVar(&o.Bundles, "bundles", 20, "distinct bundles to build and verify round-robin")
	case "seed":
		fs.Int64Var(&o.Seed.Letters, "letters", 1_000_000, "letters to insert (this run adds to the database)")
		fs.Int64Var(&o.Seed.Heavy, "heavy", 50_000, "of them, letters to the measured mailbox")
		fs.IntVar(&o.Seed.Mailboxes, "mailboxes", 10_000, "other recipient mailboxes")
		fs.IntVar(&o.Seed.Evidence, "evidence", 2, "evidence records per letter of the measured mailbox (-1: none)")
		fs.IntVar(&o.Seed.PageSize, "page-size", 50, "inbox page size")
	}
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.Count < 0 || o.Duration < 0 || o.Concurrency < 0 || o.Rate < 0 {
		return usagef("--count, --duration, --concurrency and --rate must not be negative")
	}
	if o.Server != "" && name != "accept" {
		return usagef("--server is for accept only")
	}
	if !*quiet {
		o.Progress = e.Stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.CPUProfile = f
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		o.Trace = f
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := sc.Run(ctx, o)
	if errors.Is(err, bench.ErrUsage) {
		return usagef("%s", strings.TrimPrefix(err.Error(), bench.ErrUsage.Error()+": "))
	}
	if err != nil {
		return err
	}
	if *jsonOut {
		return bench.WriteJSON(e.Stdout, res)
	}
	return bench.WriteTable(e.Stdout, res)
}

func benchUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: npes bench SCENARIO [--count N] [--duration D] [--concurrency C] [--database-url URL] [--json] [--cpuprofile FILE] [--trace FILE]")
	fmt.Fprintln(w, "\nEach scenario measures npes and, in the same run, a baseline; the ratio is throughput ÷ baseline throughput.")
	fmt.Fprintln(w, "The database is written to: give a scratch database (an empty one, or one npes bench used before);")
	fmt.Fprintln(w, "a database holding data the bench did not create is refused. Scenarios (npes bench SCENARIO --help for their flags):")
	for _, s := range bench.Scenarios() {
		fmt.Fprintf(w, "  %-8s %s\n", s.Name, s.Summary)
	}
}
