package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// subcommand is one verb of a command with several (`npes mailbox show`).
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

// isHelp says whether an argument asks for help, as the flag package
// understands it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// runSubcommand runs the subcommand named by args[0]. Help goes to standard
// output and succeeds; a missing or unknown subcommand is a usage error with
// the list on standard error.
func runSubcommand(ctx context.Context, e *Env, cmd string, subs []subcommand, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		subcommandUsage(e.Stdout, cmd, subs)
		return nil
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	want := strings.Join(names, ", ")
	if len(args) == 0 {
		subcommandUsage(e.Stderr, cmd, subs)
		return usagef("missing subcommand: %s", want)
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	return usagef("unknown subcommand %q: want %s (npes %s --help)", args[0], want, cmd)
}

func subcommandUsage(w io.Writer, cmd string, subs []subcommand) {
	fmt.Fprintf(w, "Usage: npes %s SUBCOMMAND [flags]   (npes %s SUBCOMMAND --help for its flags)\n\nSubcommands:\n", cmd, cmd)
	for _, s := range subs {
		fmt.Fprintf(w, "  %-15s %s\n", s.name, s.summary)
	}
}
