package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/npes/npes/internal/printagent"
)

// runPrintAgent is `npes print-agent`: the print centre's agent (DESIGN.md
// §6). Logs go to standard error (JSON with --json), progress lines to
// standard output. SIGINT or SIGTERM stops it after the job in hand.
func runPrintAgent(ctx context.Context, e *Env, args []string) error {
	var o clientOpts
	fs := newFlags(e, "print-agent", "print-agent --server URL --id DIR --spool DIR [--printer lp:QUEUE] [--once] [--batch N] [--lease-seconds S] [--json]")
	clientFlags(fs, e, &o)
	fs.Lookup("json").Usage = "log as JSON lines instead of text"
	spool := fs.String("spool", "", "spool directory: printed PDFs (without --printer), journal.jsonl, manifest-YYYY-MM-DD.csv")
	printer := fs.String("printer", "", "print with CUPS: lp:QUEUE runs lp -d QUEUE for each letter (default: write PDFs into the spool directory)")
	once := fs.Bool("once", false, "print what is queued now, then exit")
	batch := fs.Int("batch", printagent.DefaultBatch, "jobs per lease (1..500)")
	leaseSeconds := fs.Int("lease-seconds", printagent.DefaultLeaseSeconds, "lease length in seconds (10..3600)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if *spool == "" {
		return usagef("--spool DIR is required")
	}
	if *batch < 1 || *batch > 500 {
		return usagef("--batch must be 1..500")
	}
	if *leaseSeconds < 10 || *leaseSeconds > 3600 {
		return usagef("--lease-seconds must be 10..3600")
	}
	c, err := o.client()
	if err != nil {
		return err
	}
	var h slog.Handler = slog.NewTextHandler(e.Stderr, nil)
	if o.json {
		h = slog.NewJSONHandler(e.Stderr, nil)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = printagent.Run(ctx, printagent.Options{
		Client: c, Spool: *spool, Printer: *printer, Batch: *batch, LeaseSeconds: *leaseSeconds,
		Once: *once, Logger: slog.New(h), Progress: e.Stdout,
	})
	if errors.Is(err, printagent.ErrBadPrinter) {
		return usagef("%v", err)
	}
	return err
}
