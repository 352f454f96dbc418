package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/npes/npes/internal/app"
)

func runAudit(ctx context.Context, e *Env, args []string) error {
	var cfg app.Config
	fs := newFlags(e, "audit", "audit [--data DIR] [--database-url URL] [--master-key-file FILE] [--checkpoint FILE]...")
	dataFlags(fs, e, &cfg)
	masterKeyFlag(fs, &cfg)
	var cps stringList
	fs.Var(&cps, "checkpoint", "a checkpoint published earlier (signed note file) that the log must still contain; repeatable")
	if err := parse(fs, args); err != nil {
		return err
	}
	var external [][]byte
	for _, p := range cps {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		external = append(external, b)
	}
	rep, err := app.Audit(ctx, cfg, external)
	if err != nil {
		fmt.Fprintf(e.Stdout, "FAIL: %v\n", err)
		return exitError{1}
	}
	fmt.Fprintf(e.Stdout, "OK: %d leaves, %d letters, %d mailboxes, %d print jobs as the log says, %d stored and %d external checkpoints consistent, root %s\n",
		rep.Leaves, rep.Letters, rep.Mailboxes, rep.PrintJobs, rep.Checkpoints, rep.External, rep.Root)
	return nil
}
